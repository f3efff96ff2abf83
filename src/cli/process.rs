//! `fer-rt process INPUT`: a video file or image through the pipeline, JSON lines on stdout.
use super::run::{settle, ApplyFlags, Run};
use super::{Cli, InputFlags, ModelFlags, TuningFlags};
use crate::config::Config;
use crate::messages::SourceInfo;
use crate::pipeline::Progress;
use crate::sink::csv::CsvSink;
use crate::sink::jsonl::JsonlSink;
use crate::sink::video::VideoSink;
use crate::sink::{Sink, Tee};
use crate::source::VideoSource;
use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct ProcessArgs {
    /// Video file, image, or image sequence pattern like frames/%04d.jpg.
    pub input: PathBuf,
    #[command(flatten)]
    pub model: ModelFlags,
    /// Minimum detector score.
    #[arg(long)]
    pub score_threshold: Option<f32>,
    #[command(flatten)]
    pub tuning: TuningFlags,
    /// Temporal filter: none, ema or uncertainty.
    #[arg(long, value_enum)]
    pub filter: Option<crate::filter::FilterKind>,
    /// stdout format: JSON lines (default) or CSV (one row per face per frame).
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: Format,
    /// Also write the video with overlays to this file (H.264; container from the extension).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
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
}

impl ApplyFlags for ProcessArgs {
    fn apply(&self, cfg: &mut Config) -> anyhow::Result<()> {
        self.model.apply(cfg);
        if let Some(v) = self.score_threshold {
            cfg.detect.score_threshold = v;
        }
        self.tuning.apply(cfg);
        if let Some(v) = self.filter {
            cfg.filter.kind = v;
        }
        self.input_flags.apply(cfg);
        Ok(())
    }
}

pub fn run(cli: &Cli, args: &ProcessArgs) -> anyhow::Result<()> {
    let cfg = settle(cli, args)?;
    // the input first: a missing or unreadable file fails before the models load
    let mut source = match args.input.to_str().filter(|s| crate::source::network::is_url(s)) {
        Some(url) => VideoSource::open_url(url, &cfg.network)?,
        None => VideoSource::open(&args.input)?,
    };
    source.set_strict(args.input_flags.strict);
    source.set_autorotate(!args.input_flags.no_autorotate);
    let mut run = Run::load(cfg)?;
    tracing::info!(input = %args.input.display(), "processing");
    let show = !args.no_progress && std::io::stderr().is_terminal();
    let mut sinks: Vec<Box<dyn Sink>> = vec![match args.format {
        Format::Jsonl => Box::new(JsonlSink::new(std::io::stdout())),
        Format::Csv => Box::new(CsvSink::new(std::io::stdout())),
    }];
    if let Some(out) = &args.output {
        sinks.push(Box::new(VideoSink::create(out, source.info()).context("--output")?));
    }
    run.execute(Box::new(source), Box::new(Tee(sinks)), Box::new(Bar::new(show)), "done", |_| Ok(()))?;
    Ok(())
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
