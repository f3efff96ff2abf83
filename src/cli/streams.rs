//! `fer-rt live` with several streams (`--source A --source B --camera 0`), and `process
//! A B --together`: every stream is opened at once (a network source may wait for its
//! timeout; the others do not wait for it), a stream that cannot be opened is a warning
//! and the rest run, and the run is `pipeline::run_streams` with one set of models.
//! Results on stdout name their stream; `--output DIR/` records one annotated video per
//! stream; the window tiles the streams. What each stream is and how it is read stays its
//! command's (`pipeline::open_live`, `pipeline::open_input`).
use super::live::{LiveArgs, LiveFormat};
use super::output::AnnotatedOutput;
use super::run::{settle, Run};
use super::Cli;
use crate::detect::Expect;
use crate::pipeline::{open_live, parse_camera_spec, LiveInput, SourceSpec, Streams};
use crate::sink::csv::CsvSink;
use crate::sink::jsonl::JsonlSink;
use crate::sink::window::WindowSink;
use crate::sink::{PerStream, Sink, StreamLabel, Tee};
use crate::source::FrameSource;
use std::path::{Path, PathBuf};

/// One stream as the flags name it.
pub(super) struct Wanted {
    pub label: StreamLabel,
    pub input: Input,
}

pub(super) enum Input {
    Path(PathBuf),
    Camera(String),
}

/// The streams the flags name, sources first, in flag order; names unique.
fn wanted(args: &LiveArgs) -> anyhow::Result<Vec<Wanted>> {
    let mut out = Vec::new();
    for (k, s) in args.source.iter().enumerate() {
        let spec = SourceSpec::parse(s, k)?;
        let source = spec.input.display().to_string();
        out.push(Wanted { label: StreamLabel { name: spec.name, source }, input: Input::Path(spec.input) });
    }
    for c in &args.camera {
        let (name, camera) = parse_camera_spec(c)?;
        out.push(Wanted { label: StreamLabel { name, source: camera.clone() }, input: Input::Camera(camera) });
    }
    let mut names: Vec<&str> = out.iter().map(|w| w.label.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        anyhow::bail!(crate::Error::Config(format!(
            "two streams are named '{}'; name them with NAME=INPUT (e.g. --source left={})",
            w[0], w[0]
        )));
    }
    Ok(out)
}

/// `--output DIR/`: one NAME.mp4 per stream in DIR, each checked against every input.
pub(super) fn outputs(dir: &Path, wanted: &[Wanted]) -> anyhow::Result<Vec<AnnotatedOutput>> {
    if dir.exists() && !dir.is_dir() {
        anyhow::bail!(crate::Error::Config(format!(
            "--output {}: with several streams --output is a folder (one NAME.mp4 per stream), and this is a file",
            dir.display()
        )));
    }
    if !dir.exists() && !dir.as_os_str().to_string_lossy().ends_with('/') {
        anyhow::bail!(crate::Error::Config(format!(
            "--output {}: with several streams --output is a folder; end it with / to have it made",
            dir.display()
        )));
    }
    let inputs: Vec<&Path> = wanted
        .iter()
        .filter_map(|w| match &w.input {
            Input::Path(p) => Some(p.as_path()),
            Input::Camera(_) => None,
        })
        .collect();
    wanted
        .iter()
        .map(|w| {
            let path = dir.join(format!("{}.mp4", w.label.name));
            for i in &inputs {
                AnnotatedOutput::check(&path, Some(i))?;
            }
            AnnotatedOutput::check(&path, None)
        })
        .collect()
}

/// The opened streams: their place among those wanted, what was wanted, the source.
pub(super) type Opened = Vec<(usize, Wanted, Box<dyn FrameSource>)>;

/// Opens every stream at once with `open`; the ones that fail are warned about and left
/// out, and none opening is the error.
pub(super) fn open_all(
    wanted: Vec<Wanted>,
    open: &(dyn Fn(&Wanted) -> anyhow::Result<Box<dyn FrameSource>> + Sync),
) -> anyhow::Result<Opened> {
    let opened: Vec<anyhow::Result<Box<dyn FrameSource>>> = std::thread::scope(|s| {
        let handles: Vec<_> = wanted.iter().map(|w| s.spawn(move || open(w))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("opening panicked")))).collect()
    });
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for (k, (w, r)) in wanted.into_iter().zip(opened).enumerate() {
        match r {
            Ok(src) => ok.push((k, w, src)),
            Err(e) => {
                tracing::warn!("stream {} not opened: {e:#}", w.label.name);
                failed.push(format!("{}: {e:#}", w.label.name));
            }
        }
    }
    if ok.is_empty() {
        anyhow::bail!(crate::Error::AllStreamsFailed(failed.join("; ")));
    }
    Ok(ok)
}

pub fn run(cli: &Cli, args: &LiveArgs) -> anyhow::Result<()> {
    let cfg = settle(cli, args)?;
    let wanted = wanted(args)?;
    let planned = match &args.output {
        Some(dir) => Some(outputs(dir, &wanted)?),
        None => None,
    };
    let autorotate = !args.no_autorotate;
    let open = |w: &Wanted| -> anyhow::Result<Box<dyn FrameSource>> {
        let input = match &w.input {
            Input::Path(p) => LiveInput::Path(p),
            Input::Camera(c) => LiveInput::Camera(args.webcam(c)?),
        };
        Ok(open_live(input, autorotate, &cfg)?)
    };
    let opened = open_all(wanted, &open)?;
    for (_, w, src) in &opened {
        let i = src.info();
        tracing::info!(stream = %w.label.name, width = i.width, height = i.height, fps = ?i.fps, format = %i.codec, "live source");
    }
    let mut run = Run::load_expecting(cfg, Expect::Video)?;
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    match args.stdout_format() {
        Some(LiveFormat::Jsonl) => sinks.push(Box::new(JsonlSink::new(std::io::stdout()))),
        Some(LiveFormat::Csv) => sinks.push(Box::new(CsvSink::new(std::io::stdout(), ""))),
        None => {}
    }
    let kept = add_stream_videos(&mut sinks, args.output.as_deref(), planned, &opened)?;
    if !args.no_window {
        sinks.push(Box::new(WindowSink::new("fer-rt (q quit, space pause, f filtered/raw)", args.hold)));
    }
    let streams = Streams::named(opened.into_iter().map(|(_, w, src)| (w.label, src)).collect())?;
    let progress = Box::new(crate::pipeline::NoProgress);
    let stdout = args.stdout_format().is_some();
    super::output::execute(&mut run, streams, Box::new(Tee(sinks)), progress, "live run ended", &kept, stdout)
}

/// With `--output DIR/` (`dir` and its `planned` outputs): adds to `sinks` the sink
/// writing one annotated video per opened stream into DIR (made if needed), and returns
/// the outputs to commit when the run ends.
pub(super) fn add_stream_videos(
    sinks: &mut Vec<Box<dyn Sink>>,
    dir: Option<&Path>,
    planned: Option<Vec<AnnotatedOutput>>,
    opened: &Opened,
) -> anyhow::Result<Vec<AnnotatedOutput>> {
    let (Some(dir), Some(planned)) = (dir, planned) else { return Ok(Vec::new()) };
    std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("--output {}: {e}", dir.display()))?;
    let mut planned: Vec<Option<AnnotatedOutput>> = planned.into_iter().map(Some).collect();
    let mut per_stream: Vec<Option<Box<dyn Sink>>> = Vec::new();
    let mut kept = Vec::new();
    for (k, w, src) in opened {
        let o = planned[*k].take().expect("one output per stream");
        let audio = match &w.input {
            Input::Path(p) if p.is_file() => Some(p.as_path()),
            _ => None,
        };
        per_stream.push(Some(Box::new(o.sink(src.info(), audio)?)));
        kept.push(o);
    }
    sinks.push(Box::new(PerStream(per_stream)));
    Ok(kept)
}
