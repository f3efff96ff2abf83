//! `fer-rt process INPUT`: a video file or image through the pipeline, JSON lines on stdout.
//! `process A B ... --together` runs several recordings of one session (camera angles) as
//! the streams of one run (`cli::streams`), with back-pressure: nothing is dropped.
use super::output::AnnotatedOutput;
use super::run::{settle, ApplyFlags, Run};
use super::{Cli, InputFlags};
use crate::config::Config;
use crate::detect::Expect;
use crate::messages::SourceInfo;
use crate::pipeline::{InputOptions, Progress};
use crate::sink::csv::CsvSink;
use crate::sink::jsonl::JsonlSink;
use crate::sink::parquet::ParquetSink;
use crate::sink::video::OutputKind;
use crate::sink::{Sink, Tee};
use crate::source::FrameSource;
use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct ProcessArgs {
    /// Video file, image, image sequence pattern like frames/%04d.jpg, a folder of
    /// independent photos, a stream URL, or - for standard input.
    pub input: PathBuf,
    /// With --together: more inputs, [NAME=]FILE each, run with INPUT as the streams of
    /// one session.
    #[arg(value_name = "MORE")]
    pub more: Vec<String>,
    /// Run every input as a stream of one run: the models shared and batched across them,
    /// each input's own tracks and filters, every result naming its stream, --output a
    /// folder (DIR/) of one NAME.mp4 per input. For inputs that are unrelated videos, use
    /// `batch`.
    #[arg(long)]
    pub together: bool,
    #[command(flatten)]
    pub run: super::RunFlags,
    /// stdout format: JSON lines, CSV (one row per face per frame) or Parquet (the CSV's
    /// columns with types; stdout must be a file or pipe).
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: Format,
    /// Also write the video with overlays to this file (H.264 in .mp4, .m4v, .mov, .mkv,
    /// .avi or .ts; a still image's annotation in .jpg or .png). Written as FILE.part and
    /// renamed when complete; never the input itself.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Frame rate of an image sequence pattern, for its timestamps (default: 25, FFmpeg's).
    #[arg(long, value_name = "FPS")]
    pub fps: Option<f64>,
    /// The frames of an image sequence pattern are unrelated photos: no tracking or
    /// filtering across them (a folder given as INPUT is always read so).
    #[arg(long)]
    pub stills: bool,
    /// No progress bar on stderr.
    #[arg(long)]
    pub no_progress: bool,
    #[command(flatten)]
    pub input_flags: InputFlags,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Jsonl,
    Csv,
    Parquet,
}

impl ApplyFlags for ProcessArgs {
    fn apply(&self, cfg: &mut Config) -> anyhow::Result<()> {
        self.run.apply(cfg);
        self.input_flags.apply(cfg);
        Ok(())
    }
}

pub fn run(cli: &Cli, args: &ProcessArgs) -> anyhow::Result<()> {
    if !args.more.is_empty() && !args.together {
        anyhow::bail!(crate::Error::Config(format!(
            "{} inputs: --together runs them as the streams of one session; `fer-rt batch` runs unrelated videos",
            args.more.len() + 1
        )));
    }
    let cfg = settle(cli, args)?;
    if args.format == Format::Parquet && std::io::stdout().is_terminal() {
        anyhow::bail!(crate::Error::Config(
            "--format parquet writes a binary file to stdout: redirect it (> out.parquet) or pipe it".into()
        ));
    }
    if args.together {
        return together(args, cfg);
    }
    // the output is checked against the input before anything is opened or written
    let output = args.output.as_deref().map(|o| AnnotatedOutput::check(o, Some(&args.input))).transpose()?;
    // the models load while the input opens (its probe decodes frames), on two cores a
    // fifth of a short run's start; a missing or unreadable input still fails with its own
    // error, once the loading thread is joined (the process never exits under it). What the
    // input looks like tells the loading thread which detector sessions its first frames need.
    let loading = {
        let cfg = cfg.clone();
        let expect = super::run::expect_input(&args.input, args.stills);
        let load = move || Run::load_expecting(cfg, expect);
        std::thread::Builder::new().name("load".into()).spawn(load).context("starting a thread")?
    };
    let opened = open_input(args, &cfg);
    let loaded = loading.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
    let (source, still) = opened?;
    if let (Some(OutputKind::Image { .. }), false) = (output.as_ref().map(|o| o.kind), still) {
        anyhow::bail!(crate::Error::Config(format!(
            "--output {}: an image file holds the annotation of one still image, and {} is not one; write the annotated video to .mp4, .mkv, .mov, .avi or .ts",
            args.output.as_deref().unwrap_or(Path::new("")).display(),
            args.input.display()
        )));
    }
    let mut run = loaded?;
    tracing::info!(input = %args.input.display(), "processing");
    let show = !args.no_progress && std::io::stderr().is_terminal();
    let name = args.input.to_string_lossy();
    let mut sinks: Vec<Box<dyn Sink>> = vec![match args.format {
        Format::Jsonl => Box::new(JsonlSink::new(std::io::stdout())),
        Format::Csv => Box::new(CsvSink::new(std::io::stdout(), &name)),
        Format::Parquet => {
            let info = crate::sink::RunInfo::new(run.classifier.spec(), run.cfg.filter.kind);
            let rows = run.cfg.output.parquet_row_group_rows;
            Box::new(ParquetSink::to_writer(std::io::stdout(), Path::new("stdout"), &name, rows, &info)?)
        }
    }];
    if let Some(o) = &output {
        // the sound of a file input goes along (stream copy); streams and stdin have none to re-read
        let audio = args.input.is_file().then_some(args.input.as_path());
        sinks.push(Box::new(o.sink(source.info(), audio)?));
    }
    let r = super::output::execute(
        &mut run,
        source,
        Box::new(Tee(sinks)),
        Box::new(Bar::new(show)),
        "done",
        output.as_slice(),
        true,
    );
    run.leave();
    r
}

/// The source INPUT names (see `pipeline::open_input`); `--output` has no single file to
/// write for a folder of photos.
fn open_input(args: &ProcessArgs, cfg: &Config) -> anyhow::Result<(Box<dyn FrameSource>, bool)> {
    let input = &args.input;
    if input.is_dir() && args.output.is_some() {
        anyhow::bail!(crate::Error::Config(format!(
            "--output: {} is a folder of photos; `fer-rt batch {} --out OUT --video` writes one annotated file per input",
            input.display(),
            input.display()
        )));
    }
    let opts = InputOptions {
        fps: args.fps,
        strict: args.input_flags.strict,
        autorotate: !args.input_flags.no_autorotate,
        stills: args.stills,
    };
    Ok(crate::pipeline::open_input(input, &opts, cfg)?)
}

/// `--together`: every input a named stream of one run, read with back-pressure.
fn together(args: &ProcessArgs, cfg: Config) -> anyhow::Result<()> {
    use super::streams::{add_stream_videos, open_all, outputs, Input, Wanted};
    let mut wanted = Vec::new();
    let first = args.input.to_string_lossy().into_owned();
    for (k, s) in std::iter::once(&first).chain(&args.more).enumerate() {
        let spec = crate::pipeline::SourceSpec::parse(s, k)?;
        if spec.input.is_dir() || args.stills {
            anyhow::bail!(crate::Error::Config(format!(
                "--together runs videos as streams of one session; {} is a folder or stills (use batch)",
                spec.input.display()
            )));
        }
        let source = spec.input.display().to_string();
        wanted.push(Wanted {
            label: crate::sink::StreamLabel { name: spec.name, source },
            input: Input::Path(spec.input),
        });
    }
    let planned = match &args.output {
        Some(dir) => Some(outputs(dir, &wanted)?),
        None => None,
    };
    let opts = InputOptions {
        fps: args.fps,
        strict: args.input_flags.strict,
        autorotate: !args.input_flags.no_autorotate,
        stills: false,
    };
    let open = |w: &Wanted| -> anyhow::Result<Box<dyn FrameSource>> {
        match &w.input {
            Input::Path(p) => Ok(crate::pipeline::open_input(p, &opts, &cfg)?.0),
            Input::Camera(c) => anyhow::bail!("process reads files and URLs, not camera {c}"),
        }
    };
    let opened = open_all(wanted, &open)?;
    let mut run = Run::load_expecting(cfg, Expect::Video)?;
    let mut info = crate::sink::RunInfo::new(run.classifier.spec(), run.cfg.filter.kind);
    info.streams = opened.iter().map(|(_, w, _)| w.label.clone()).collect();
    let mut sinks: Vec<Box<dyn Sink>> = vec![match args.format {
        Format::Jsonl => Box::new(JsonlSink::new(std::io::stdout())),
        Format::Csv => Box::new(CsvSink::new(std::io::stdout(), "")),
        Format::Parquet => {
            let rows = run.cfg.output.parquet_row_group_rows;
            Box::new(ParquetSink::to_writer(std::io::stdout(), Path::new("stdout"), "", rows, &info)?)
        }
    }];
    let kept = add_stream_videos(&mut sinks, args.output.as_deref(), planned, &opened)?;
    let streams = crate::pipeline::Streams::named(opened.into_iter().map(|(_, w, src)| (w.label, src)).collect())?;
    let progress = Box::new(crate::pipeline::NoProgress);
    let r = super::output::execute(&mut run, streams, Box::new(Tee(sinks)), progress, "done", &kept, true);
    run.leave();
    r
}

/// indicatif progress bar on stderr (hidden when stderr is not a terminal): frames done of
/// the container's count (or duration x frame rate), ETA, fps to one decimal, and faces per
/// frame averaged over the last second or so of frames.
pub(crate) struct Bar {
    bar: ProgressBar,
    start: std::time::Instant,
    frames: u64,
    /// Exponential average of faces per frame (weight 1/30 on the newest frame).
    faces_avg: f64,
}

impl Bar {
    pub(crate) fn new(show: bool) -> Self {
        let bar = ProgressBar::with_draw_target(
            None,
            if show { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() },
        );
        Self { bar, start: std::time::Instant::now(), frames: 0, faces_avg: 0.0 }
    }

    /// The message after `frames` frames in `secs` seconds.
    fn message(frames: u64, secs: f64, faces_avg: f64) -> String {
        let fps = if secs > 0.0 { frames as f64 / secs } else { 0.0 };
        format!("frames {fps:.1} fps, {faces_avg:.1} faces/frame")
    }
}

impl Progress for Bar {
    fn start(&mut self, info: &SourceInfo) {
        if let Some(n) = info.estimated_frames {
            self.bar.set_length(n);
        }
        self.bar.set_style(super::progress_style(info.estimated_frames.is_some()));
        self.start = std::time::Instant::now();
    }

    fn frame(&mut self, faces: usize) {
        self.frames += 1;
        let w = if self.frames == 1 { 1.0 } else { 1.0 / 30.0 };
        self.faces_avg += w * (faces as f64 - self.faces_avg);
        // an estimated length can be short; grow it rather than overflow the bar
        if self.bar.length().is_some_and(|n| self.frames > n) {
            self.bar.set_length(self.frames);
        }
        self.bar.inc(1);
        if self.frames % 5 == 1 {
            self.bar.set_message(Self::message(self.frames, self.start.elapsed().as_secs_f64(), self.faces_avg));
        }
    }

    fn finish(&mut self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::Bar;

    #[test]
    fn progress_message_rounds_fps_and_averages_faces() {
        assert_eq!(Bar::message(1040, 5.91, 1.04), "frames 176.0 fps, 1.0 faces/frame");
        assert_eq!(Bar::message(0, 0.0, 0.0), "frames 0.0 fps, 0.0 faces/frame");
    }
}
