//! `fer-rt live`: a webcam (or `--source FILE` played at its own frame rate) through the
//! live path: capture never waits, stale frames are dropped and counted, results go to a
//! window and/or JSON lines on stdout, flushed every frame. Several `--source` and
//! `--camera` flags run every stream in one process (`cli::streams`).
use super::output::AnnotatedOutput;
use super::run::{settle, ApplyFlags, Run};
use super::Cli;
use crate::config::Config;
use crate::detect::Expect;
use crate::pipeline;
use crate::pipeline::LiveInput;
use crate::sink::csv::CsvSink;
use crate::sink::jsonl::JsonlSink;
use crate::sink::window::WindowSink;
use crate::sink::{Sink, Tee};
use crate::source::webcam::{parse_camera, PixelFormat, WebcamConfig};
use crate::source::FrameSource;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct LiveArgs {
    /// Camera: index or /dev/videoN (0 when no --source is given; `--device` chooses the
    /// compute device). Repeat for several cameras; NAME=INDEX names the stream.
    #[arg(long, value_name = "[NAME=]INDEX|/dev/videoN")]
    pub camera: Vec<String>,
    /// Requested capture width, height and frame rate (the camera's closest mode is used).
    #[arg(long)]
    pub width: Option<u32>,
    #[arg(long)]
    pub height: Option<u32>,
    #[arg(long)]
    pub fps: Option<u32>,
    /// Camera pixel format.
    #[arg(long, value_enum, default_value = "auto")]
    pub pixel_format: PixelFormat,
    /// Play this video file at its own frame rate instead of a camera, read a network
    /// stream (rtsp://, udp://, srt://, http(s)://) as it arrives, or - for standard input.
    /// Repeat (with --camera too) to run several streams in one process, sharing the
    /// models; NAME=INPUT names the stream (else the file's stem, or s0, s1, ...).
    #[arg(long, value_name = "[NAME=]FILE|URL|-")]
    pub source: Vec<String>,
    /// Network source: reopen a lost stream up to N times (waits doubling from 0.5 s to 8 s)
    /// before ending; tracks and the window stay alive through the gap.
    #[arg(long, value_name = "N")]
    pub reconnect: Option<u32>,
    /// Network source: longest an open or read may wait for data, in seconds.
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
    /// With --source: keep frames as stored instead of turning them upright as the video's
    /// display rotation asks.
    #[arg(long)]
    pub no_autorotate: bool,
    /// JSON lines on stdout, flushed every frame (the same as --format jsonl).
    #[arg(long)]
    pub json: bool,
    /// Results on stdout, flushed every frame: jsonl or csv (one row per face).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<LiveFormat>,
    /// Record the session with overlays to this file (H.264; .mp4, .mkv, .mov, .avi, .ts),
    /// written as FILE.part and finalised and renamed when the run ends or on Ctrl-C.
    /// With several streams, a folder (DIR/): one NAME.mp4 per stream.
    #[arg(long, short, value_name = "FILE|DIR/")]
    pub output: Option<PathBuf>,
    /// No window (headless).
    #[arg(long)]
    pub no_window: bool,
    /// Keep the window open on the last frame when the input ends, until q / Esc.
    #[arg(long)]
    pub hold: bool,
    #[command(flatten)]
    pub run: super::RunFlags,
    #[command(flatten)]
    pub limits: super::LimitFlags,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LiveFormat {
    Jsonl,
    Csv,
}

impl LiveArgs {
    /// How many streams the flags name: every --source and --camera, or camera 0 alone.
    fn stream_count(&self) -> usize {
        (self.source.len() + self.camera.len()).max(1)
    }

    /// What goes to stdout, if anything.
    pub(super) fn stdout_format(&self) -> Option<LiveFormat> {
        self.format.or(self.json.then_some(LiveFormat::Jsonl))
    }
}

impl LiveArgs {
    /// The capture settings for camera `camera` (an index or /dev/videoN).
    pub(super) fn webcam(&self, camera: &str) -> anyhow::Result<WebcamConfig> {
        let index = parse_camera(camera)
            .ok_or_else(|| crate::Error::Config(format!("--camera '{camera}' is not an index or /dev/videoN")))?;
        Ok(WebcamConfig {
            index,
            width: self.width,
            height: self.height,
            fps: self.fps,
            pixel_format: self.pixel_format,
        })
    }
}

impl ApplyFlags for LiveArgs {
    fn apply(&self, cfg: &mut Config) -> anyhow::Result<()> {
        if self.no_window && self.stdout_format().is_none() && self.output.is_none() {
            anyhow::bail!(crate::Error::Config(
                "--no-window without --json, --format or --output would output nothing".into()
            ));
        }
        if self.json && self.format == Some(LiveFormat::Csv) {
            anyhow::bail!(crate::Error::Config("--json and --format csv ask for two stdout formats".into()));
        }
        self.run.apply(cfg);
        self.limits.apply(cfg);
        if let Some(n) = self.reconnect {
            cfg.network.reconnect_attempts = n;
        }
        if let Some(t) = self.timeout {
            cfg.network.timeout_s = t;
        }
        Ok(())
    }
}

pub fn run(cli: &Cli, args: &LiveArgs) -> anyhow::Result<()> {
    if args.stream_count() > 1 {
        return super::streams::run(cli, args);
    }
    let cfg = settle(cli, args)?;
    // one stream: a name given to it labels nothing (outputs name streams only when
    // there are several), but is still checked
    let path: Option<PathBuf> =
        args.source.first().map(|s| crate::pipeline::SourceSpec::parse(s, 0)).transpose()?.map(|s| s.input);
    let camera = match args.camera.first() {
        Some(c) => crate::pipeline::parse_camera_spec(c)?.1,
        None => "0".to_string(),
    };
    let output = args.output.as_deref().map(|o| AnnotatedOutput::check(o, path.as_deref())).transpose()?;
    if let Some(o) = &output {
        if !matches!(o.kind, crate::sink::video::OutputKind::Video { .. }) {
            anyhow::bail!(crate::Error::Config(format!(
                "--output {}: a live session is recorded as a video (.mp4, .mkv, .mov, .avi, .ts)",
                o.path().display()
            )));
        }
    }
    let input = match &path {
        Some(p) => LiveInput::Path(p),
        None => LiveInput::Camera(args.webcam(&camera)?),
    };
    let source: Box<dyn FrameSource> = crate::pipeline::open_live(input, !args.no_autorotate, &cfg)?;
    let info = source.info().clone();
    tracing::info!(width = info.width, height = info.height, fps = ?info.fps, format = %info.codec, "live source");
    let mut run = Run::load_expecting(cfg, Expect::Video)?;
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    let name = path.as_deref().map(|p| p.display().to_string()).unwrap_or(camera);
    match args.stdout_format() {
        Some(LiveFormat::Jsonl) => sinks.push(Box::new(JsonlSink::new(std::io::stdout()))),
        Some(LiveFormat::Csv) => sinks.push(Box::new(CsvSink::new(std::io::stdout(), &name))),
        None => {}
    }
    if let Some(o) = &output {
        // a played file's sound goes along; a camera or stream has none to re-read
        let audio = path.as_deref().filter(|p| p.is_file());
        sinks.push(Box::new(o.sink(&info, audio)?));
    }
    if !args.no_window {
        sinks.push(Box::new(WindowSink::new("fer-rt (q quit, space pause, f filtered/raw)", args.hold)));
    }
    let progress = Box::new(pipeline::NoProgress);
    let stdout = args.stdout_format().is_some();
    super::output::execute(
        &mut run,
        source,
        Box::new(Tee(sinks)),
        progress,
        "live run ended",
        output.as_slice(),
        stdout,
    )
}
