//! `fer-rt live`: a webcam (or `--source FILE` played at its own frame rate) through the
//! live path: capture never waits, stale frames are dropped and counted, results go to a
//! window and/or JSON lines on stdout, flushed every frame.
use super::run::{settle, ApplyFlags, Run};
use super::{Cli, ModelFlags};
use crate::config::Config;
use crate::pipeline;
use crate::sink::jsonl::JsonlSink;
use crate::sink::window::WindowSink;
use crate::sink::{Sink, Tee};
use crate::source::paced::PacedSource;
use crate::source::webcam::{parse_camera, PixelFormat, Webcam, WebcamConfig};
use crate::source::{FrameSource, VideoSource};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct LiveArgs {
    /// Camera: index (0) or /dev/videoN (`--device` chooses the compute device).
    #[arg(long, default_value = "0", value_name = "INDEX|/dev/videoN")]
    pub camera: String,
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
    /// Play this video file at its own frame rate instead of a camera, or read a network
    /// stream (rtsp://, udp://, srt://, http(s)://) as it arrives.
    #[arg(long, value_name = "FILE|URL")]
    pub source: Option<PathBuf>,
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
    /// JSON lines on stdout, flushed every frame.
    #[arg(long)]
    pub json: bool,
    /// No window (headless).
    #[arg(long)]
    pub no_window: bool,
    /// Keep the window open on the last frame when the input ends, until q / Esc.
    #[arg(long)]
    pub hold: bool,
    /// Temporal filter: none, ema or uncertainty.
    #[arg(long, value_enum)]
    pub filter: Option<crate::filter::FilterKind>,
    #[command(flatten)]
    pub model: ModelFlags,
}

impl ApplyFlags for LiveArgs {
    fn apply(&self, cfg: &mut Config) -> anyhow::Result<()> {
        if self.no_window && !self.json {
            anyhow::bail!(crate::Error::Config("--no-window without --json would output nothing".into()));
        }
        self.model.apply(cfg);
        if let Some(f) = self.filter {
            cfg.filter.kind = f;
        }
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
    let cfg = settle(cli, args)?;
    let source: Box<dyn FrameSource> = match &args.source {
        Some(p) if p.to_str().is_some_and(crate::source::network::is_url) => {
            let url = p.to_str().unwrap_or_default();
            Box::new(crate::source::network::Reconnecting::open(url, cfg.network.clone(), !args.no_autorotate)?)
        }
        Some(p) => {
            let mut v = VideoSource::open(p)?;
            v.set_autorotate(!args.no_autorotate);
            Box::new(PacedSource::new(v))
        }
        None => {
            let index = parse_camera(&args.camera).ok_or_else(|| {
                crate::Error::Config(format!("--camera '{}' is not an index or /dev/videoN", args.camera))
            })?;
            let cam = WebcamConfig {
                index,
                width: args.width,
                height: args.height,
                fps: args.fps,
                pixel_format: args.pixel_format,
            };
            Box::new(Webcam::open(cam)?)
        }
    };
    let info = source.info().clone();
    tracing::info!(width = info.width, height = info.height, fps = ?info.fps, format = %info.codec, "live source");
    let mut run = Run::load(cfg)?;
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    if args.json {
        sinks.push(Box::new(JsonlSink::new(std::io::stdout())));
    }
    if !args.no_window {
        sinks.push(Box::new(WindowSink::new("fer-rt (q quit, space pause, f filtered/raw)", args.hold)));
    }
    run.execute(source, Box::new(Tee(sinks)), Box::new(pipeline::NoProgress), "live run ended", |_| Ok(()))?;
    Ok(())
}
