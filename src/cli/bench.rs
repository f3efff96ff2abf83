//! `fer-rt bench`: the real pipeline on a video (or generated frames with N faces at a
//! chosen size), reporting per-stage and end-to-end latency percentiles, throughput, drops
//! and batch sizes. A human table goes to stderr; `--json` puts the report on stdout.
use super::run::{settle, ApplyFlags, Run};
use super::{Cli, ModelFlags, TuningFlags};
use crate::config::Config;
use crate::detect::Expect;
use crate::filter::FilterKind;
use crate::messages::RgbImage;
use crate::pipeline;
use crate::sink::bench::{BenchSink, Report, RunContext};
use crate::sink::video::VideoSink;
use crate::sink::{RunInfo, Sink, StreamLabel};
use crate::source::paced::PacedSource;
use crate::source::synthetic::SyntheticSource;
use crate::source::{FrameSource, VideoSource};
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Video file to run; without it, frames are generated (see --faces, --size).
    pub input: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelFlags,
    /// Generated input: faces per frame; with --streams, a comma list gives each stream
    /// its own (10,1: the first 10, the second 1, and so on round).
    #[arg(long, default_value = "1", value_delimiter = ',', value_name = "K[,K...]")]
    pub faces: Vec<usize>,
    /// Generated input: run N live streams in one process (shared models, batches across
    /// streams) and report each stream's throughput, latency and drops.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub streams: usize,
    /// With --streams: every stream delivers its frames at the same instants (by default
    /// they are spread over a frame period, as independent cameras' clocks are): the
    /// worst case for latency and fairness.
    #[arg(long)]
    pub in_phase: bool,
    /// Generated input: frame size WIDTHxHEIGHT.
    #[arg(long, default_value = "640x360", value_parser = parse_size)]
    pub size: (u32, u32),
    /// Generated input: number of frames.
    #[arg(long, default_value_t = 300)]
    pub frames: u64,
    /// Generated input: frame rate (live mode releases frames at this rate).
    #[arg(long, default_value_t = 30.0)]
    pub fps: f64,
    /// Generated input: the photo whose (largest) face is repeated.
    /// Default: single_face.jpg from the media setup fetched ($FER_RT_MEDIA).
    #[arg(long, value_name = "FILE")]
    pub face_image: Option<PathBuf>,
    /// Generated input: also write it to this video file (H.264), e.g. to run the
    /// reference pipeline on the very same frames.
    #[arg(long, value_name = "FILE")]
    pub save_input: Option<PathBuf>,
    /// Live mode: frames arrive in real time and the pipeline drops the oldest when behind.
    #[arg(long)]
    pub live: bool,
    /// Leading frames left out of the figures (model warm-up).
    #[arg(long, default_value_t = 10)]
    pub warmup: u64,
    #[command(flatten)]
    pub tuning: TuningFlags,
    /// The report as JSON on stdout (the table still goes to stderr).
    #[arg(long)]
    pub json: bool,
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(|| format!("'{s}': expected WIDTHxHEIGHT, e.g. 1280x720"))?;
    let p = |v: &str| v.trim().parse::<u32>().map_err(|_| format!("'{s}': expected WIDTHxHEIGHT, e.g. 1280x720"));
    let (w, h) = (p(w)?, p(h)?);
    if w < 32 || h < 32 || w > 16384 || h > 16384 {
        return Err(format!("'{s}': each side must be in 32..=16384"));
    }
    Ok((w, h))
}

fn default_face_image() -> PathBuf {
    crate::runtime::paths::media_dir().join("single_face.jpg")
}

/// The largest face of the photo, with margin, as a square crop.
fn face_patch(path: &Path, detector: &mut crate::detect::Detector) -> anyhow::Result<RgbImage> {
    let mut src = VideoSource::open(path).with_context(|| format!("--face-image {}", path.display()))?;
    let mut img = None;
    src.run(|m| {
        img = Some(m.image);
        false
    })?;
    let img = img.with_context(|| format!("--face-image {}: no frame", path.display()))?;
    let dets = detector.detect(&img)?;
    let best = dets
        .iter()
        .max_by(|a, b| {
            let area = |d: &crate::messages::Detection| (d.bbox[2] - d.bbox[0]) * (d.bbox[3] - d.bbox[1]);
            area(a).total_cmp(&area(b))
        })
        .with_context(|| format!("--face-image {}: no face found", path.display()))?;
    let [x1, y1, x2, y2] = best.bbox;
    let side = ((x2 - x1).max(y2 - y1) * 1.6).min(img.width.min(img.height) as f32).max(1.0);
    let cx = ((x1 + x2) / 2.0 - side / 2.0).clamp(0.0, img.width as f32 - side) as usize;
    let cy = ((y1 + y2) / 2.0 - side / 2.0).clamp(0.0, img.height as f32 - side) as usize;
    let s = side as usize;
    let mut data = Vec::with_capacity(s * s * 3);
    for y in cy..cy + s {
        let row = (y * img.width as usize + cx) * 3;
        data.extend_from_slice(&img.data[row..row + s * 3]);
    }
    Ok(RgbImage::new(s as u32, s as u32, data))
}

/// Writes every generated frame to `path` (no overlays), so other tools can read them.
fn save_input(src: &SyntheticSource, frames: u64, path: &Path) -> anyhow::Result<()> {
    // complete or not at all, like every output (see runtime::files)
    let part = crate::runtime::files::part_path(path);
    let mut sink = VideoSink::create_kind(&part, src.info(), Some(crate::sink::video::OutputKind::of(path)?), None)
        .context("--save-input")?
        .without_overlays();
    let info = RunInfo {
        classifier: String::new(),
        classes: Vec::new(),
        filter: FilterKind::None,
        model_sha256: String::new(),
        streams: Vec::new(),
    };
    for i in 0..frames {
        let msg = src.message(i);
        sink.write_frame(&msg, &info).context("--save-input")?;
    }
    sink.finish().context("--save-input")?;
    drop(sink);
    crate::runtime::files::commit(&part, path).context("--save-input")?;
    tracing::info!(path = %path.display(), frames, "generated input written");
    Ok(())
}

impl ApplyFlags for BenchArgs {
    fn apply(&self, cfg: &mut Config) -> anyhow::Result<()> {
        if self.input.is_some() && self.save_input.is_some() {
            bail!(crate::Error::Config(
                "--save-input writes generated frames; it cannot be used with an input file".into()
            ));
        }
        if self.streams == 0 || self.streams > 256 {
            bail!(crate::Error::Config(format!("--streams {}: expected 1 to 256", self.streams)));
        }
        if self.faces.len() > 1 && self.streams == 1 {
            bail!(crate::Error::Config("--faces K1,K2,...: a list gives each of several --streams its own".into()));
        }
        if self.streams > 1 && (self.input.is_some() || self.save_input.is_some()) {
            bail!(crate::Error::Config(
                "--streams runs generated live streams; it takes no input file or --save-input".into()
            ));
        }
        self.model.apply(cfg);
        self.tuning.apply(cfg);
        Ok(())
    }
}

pub fn run(cli: &Cli, args: &BenchArgs) -> anyhow::Result<()> {
    let expect = args.input.as_deref().map_or(Expect::Video, |p| super::run::expect_input(p, false));
    let mut run = Run::load_expecting(settle(cli, args)?, expect)?;
    let device = crate::runtime::device_name(run.cfg.model.device.select()?);
    let (source, input): (Box<dyn FrameSource>, String) = match &args.input {
        Some(p) => {
            let opts = run.cfg.open_options();
            let v = VideoSource::open_with(p, &opts)?;
            let name = p.display().to_string();
            if args.live {
                (Box::new(PacedSource::new(v)), name)
            } else {
                (Box::new(v), name)
            }
        }
        None => {
            let face_path = args.face_image.clone().unwrap_or_else(default_face_image);
            let face = face_patch(&face_path, &mut run.detector)?;
            let (w, h) = args.size;
            if args.streams > 1 {
                return run_streams(&mut run, args, &face, device);
            }
            let faces = args.faces[0];
            let src = SyntheticSource::new(&face, faces, w, h, args.frames, args.fps, args.live)?;
            if let Some(out) = &args.save_input {
                save_input(&src, args.frames, out)?;
            }
            (Box::new(src), format!("generated ({faces} faces)"))
        }
    };
    let info = source.info().clone();
    let live = source.is_live();
    let ctx = context(&run, input, &info, live, device);
    let (sink, samples) = BenchSink::new();
    run.execute(source, Box::new(sink), Box::new(pipeline::NoProgress), "bench run ended", |summary| {
        let samples = samples.lock().unwrap_or_else(|e| e.into_inner());
        if samples.is_empty() {
            bail!("no frame reached the output; nothing to report");
        }
        let ctx = RunContext { preprocess: preprocess(summary), warm_up_ms: summary.warm_up_ms, ..ctx };
        report(&Report::new(ctx, summary.dropped, args.warmup, &samples), args.json)
    })?;
    Ok(())
}

/// `--streams N`: N generated live streams (faces per `--faces`, round) in one process.
fn run_streams(run: &mut Run, args: &BenchArgs, face: &RgbImage, device: String) -> anyhow::Result<()> {
    let (w, h) = args.size;
    let mut streams = Vec::with_capacity(args.streams);
    for i in 0..args.streams {
        let faces = args.faces[i % args.faces.len()];
        // cameras' clocks are independent: spread their frames over a frame period
        let phase = if args.in_phase { 0.0 } else { i as f64 / args.streams as f64 };
        let src = SyntheticSource::new(face, faces, w, h, args.frames, args.fps, true)?.with_phase(phase);
        let label = StreamLabel { name: format!("s{i}"), source: format!("generated ({faces} faces)") };
        streams.push((label, Box::new(src) as Box<dyn FrameSource>));
    }
    let info = streams[0].1.info().clone();
    let names: Vec<String> = streams.iter().map(|(l, _)| l.name.clone()).collect();
    let input = format!("{} generated streams ({} faces)", args.streams, join(&args.faces));
    let ctx = context(run, input, &info, true, device);
    let (sink, samples) = BenchSink::new();
    let streams = pipeline::Streams::named(streams)?;
    run.execute(streams, Box::new(sink), Box::new(pipeline::NoProgress), "bench run ended", |summary| {
        let samples = samples.lock().unwrap_or_else(|e| e.into_inner());
        if samples.is_empty() {
            bail!("no frame reached the output; nothing to report");
        }
        let ctx = RunContext { preprocess: preprocess(summary), warm_up_ms: summary.warm_up_ms, ..ctx };
        let dropped: Vec<u64> = summary.streams.iter().map(|s| s.dropped).collect();
        report(&Report::with_streams(ctx, &names, &dropped, args.warmup, &samples), args.json)
    })?;
    Ok(())
}

fn join(v: &[usize]) -> String {
    v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",")
}

fn context(run: &Run, input: String, info: &crate::messages::SourceInfo, live: bool, device: String) -> RunContext {
    RunContext {
        input,
        width: info.width,
        height: info.height,
        live,
        source_fps: info.fps,
        device,
        detect_backend: run.detector.engine().to_string(),
        classifier: run.classifier.spec().name.clone(),
        classifier_backend: run.classifier.engine().to_string(),
        preprocess: String::new(),
        warm_up_ms: 0.0,
    }
}

fn preprocess(summary: &pipeline::RunSummary) -> String {
    if summary.device_preprocess { "device" } else { "host" }.into()
}

fn report(report: &Report, json: bool) -> anyhow::Result<()> {
    eprint!("{}", report.table());
    if json {
        println!("{}", serde_json::to_string(report)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_bad_ones_say_why() {
        assert_eq!(parse_size("1920x1080"), Ok((1920, 1080)));
        assert_eq!(parse_size("640X360"), Ok((640, 360)));
        assert!(parse_size("640").unwrap_err().contains("WIDTHxHEIGHT"));
        assert!(parse_size("10x10").unwrap_err().contains("32..=16384"));
    }
}
