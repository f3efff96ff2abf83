//! Command-line interface: argument parsing and the subcommands. Library errors get their
//! context here, once; `main` prints the chain on one line.
pub mod batch;
pub mod bench;
pub mod doctor;
pub mod entry;
#[cfg(feature = "torch")]
pub mod eval;
pub mod harvest;
pub mod live;
pub mod output;
pub mod process;
pub mod report;
pub mod run;
pub mod serve;
pub mod streams;
pub mod summary;
pub mod synth;
pub mod torch;
#[cfg(feature = "torch")]
pub mod train;

use crate::config::Config;
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "fer-rt",
    version,
    about = "Real-time facial expression recognition: faces, landmarks and expressions as JSON lines"
)]
pub struct Cli {
    /// TOML config file (see configs/default.toml); flags override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// More log output on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Process a video file or image: one JSON line per frame on stdout.
    Process(process::ProcessArgs),
    /// Many inputs into an output folder: resumable, shardable (Slurm, Kubernetes), Parquet.
    Batch(batch::BatchArgs),
    /// Label distributions, mean valence/arousal and face counts of a batch folder.
    Summary(summary::SummaryArgs),
    /// One HTML page of a run's results (per track timelines, V/A, quality), and figures.
    Report(report::ReportArgs),
    /// Aligned face crops of your own videos (PNG + faces.csv), to train a student on.
    Harvest(harvest::HarvestArgs),
    /// Webcam (or a file at its own pace) with a live window and/or JSON lines.
    Live(live::LiveArgs),
    /// An HTTP/WebSocket service: analyze images, sessions of a client's frames, sources, a live page.
    Serve(serve::ServeArgs),
    /// Report libtorch, CUDA, models and cameras.
    Doctor(doctor::DoctorArgs),
    /// Measure the pipeline: per-stage and end-to-end latency percentiles, throughput, drops.
    Bench(bench::BenchArgs),
    /// Train the ResNet-18 multi-region attention model (CE, SCN or RUL; ensembles).
    #[cfg(feature = "torch")]
    Train(train::TrainArgs),
    /// Train the ResNet-18 multi-region attention model (CE, SCN or RUL; ensembles).
    #[cfg(not(feature = "torch"))]
    Train(torch::Forwarded),
    /// Score a trained checkpoint: accuracy, macro-F1, confusion, calibration, saliency.
    #[cfg(feature = "torch")]
    Eval(eval::EvalArgs),
    /// Score a trained checkpoint: accuracy, macro-F1, confusion, calibration, saliency.
    #[cfg(not(feature = "torch"))]
    Eval(torch::Forwarded),
    /// Write the synthetic expression dataset (optionally with label noise) as image folders.
    Synth(synth::SynthArgs),
}

/// The model, analysis and tuning flags together: what every command that runs the whole
/// pipeline (`process`, `batch`, `live`, `serve`) takes, laid over the config in one call.
#[derive(Debug, clap::Args)]
pub struct RunFlags {
    #[command(flatten)]
    pub model: ModelFlags,
    #[command(flatten)]
    pub analysis: AnalysisFlags,
    #[command(flatten)]
    pub tuning: TuningFlags,
}

impl RunFlags {
    pub fn apply(&self, cfg: &mut Config) {
        self.model.apply(cfg);
        self.analysis.apply(cfg);
        self.tuning.apply(cfg);
    }
}

/// Flags shared by the commands that run models.
#[derive(Debug, clap::Args)]
pub struct ModelFlags {
    /// Folder with model manifests and weights.
    #[arg(long, value_name = "DIR")]
    pub models_dir: Option<PathBuf>,
    /// Classifier manifest name (e.g. fer_mini_xception).
    #[arg(long)]
    pub classifier: Option<String>,
    /// A checkpoint trained with `fer-rt train` (OUT/best.safetensors) as the classifier.
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// auto | cpu | cuda | cuda:N
    #[arg(long, value_name = "DEVICE")]
    pub device: Option<crate::runtime::DeviceChoice>,
    /// libtorch threads (0 = auto, see pipeline.torch_threads in configs/default.toml).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Detector engine (auto: ONNX Runtime on the CPU when it loads, else torch).
    #[arg(long, value_enum)]
    pub detect_backend: Option<crate::runtime::Engine>,
    /// Classifier engine (auto: ONNX Runtime on the CPU when the model has an ONNX file).
    #[arg(long, value_enum)]
    pub classifier_backend: Option<crate::runtime::Engine>,
    /// Where resize, decoding, suppression and alignment run with the torch engines
    /// (auto: on the device with CUDA).
    #[arg(long, value_enum)]
    pub preprocess: Option<crate::runtime::Preprocess>,
    /// Batch shapes of the torch networks (auto: fixed buckets on CUDA, exact on the CPU).
    #[arg(long, value_enum)]
    pub batch_shapes: Option<crate::runtime::buckets::ShapePolicy>,
}

/// Detection and filtering flags of every command that runs the pipeline (`process`,
/// `batch`, `harvest`, `live`, `bench`): one definition, so no command lacks one.
#[derive(Debug, clap::Args)]
pub struct AnalysisFlags {
    #[arg(long, value_name = "0-1", help = with_default("Minimum detector score for a face ([detect] score_threshold)", Config::default().detect.score_threshold))]
    pub score_threshold: Option<f32>,
    #[arg(long, value_enum, help = with_default("Temporal filter: none, ema or uncertainty ([filter] kind)", Config::default().filter.kind.as_str()))]
    pub filter: Option<crate::filter::FilterKind>,
}

impl AnalysisFlags {
    pub fn apply(&self, cfg: &mut Config) {
        if let Some(v) = self.score_threshold {
            cfg.detect.score_threshold = v;
        }
        if let Some(v) = self.filter {
            cfg.filter.kind = v;
        }
    }
}

/// Pipeline tuning flags shared by `process`, `batch`, `harvest`, `live` and `bench`.
#[derive(Debug, clap::Args)]
pub struct TuningFlags {
    /// Longer side frames are scaled to for detection (0 = full size).
    #[arg(long)]
    pub detect_max_side: Option<u32>,
    #[arg(long, value_name = "PX", help = with_default("Smallest face wanted, in source pixels: smaller faces are dropped, and keyframes search for new faces at the smallest scale that still finds it ([detect] min_face_px)", Config::default().detect.min_face_px))]
    pub min_face_px: Option<f32>,
    #[arg(long, value_name = "FRAMES", help = with_default("Full-frame detection every this many frames, the regions around known faces in between; 1 = every frame ([detect] keyframe_interval)", Config::default().detect.keyframe_interval))]
    pub keyframe_interval: Option<u32>,
    /// Most face crops per classifier batch.
    #[arg(long)]
    pub max_batch: Option<usize>,
    /// Longest a crop waits for a batch to fill, in ms (file and live sources alike).
    #[arg(long)]
    pub max_wait_ms: Option<u64>,
}

/// How file and network inputs are read, shared by `process`, `batch` and `harvest`.
#[derive(Debug, clap::Args)]
pub struct InputFlags {
    /// Any damaged packet makes that input fail (exit 1) after everything decodable was
    /// written; by default damage the decoder recovers from is a warning and exit 0.
    #[arg(long)]
    pub strict: bool,
    /// Keep frames as stored instead of turning them upright as the video's display
    /// rotation (phone videos) asks; sizes, boxes and landmarks are then in stored pixels.
    #[arg(long)]
    pub no_autorotate: bool,
    /// Network input: longest an open or read may wait for data, in seconds.
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
    #[command(flatten)]
    pub limits: LimitFlags,
}

impl InputFlags {
    pub fn apply(&self, cfg: &mut Config) {
        if let Some(t) = self.timeout {
            cfg.network.timeout_s = t;
        }
        self.limits.apply(cfg);
    }
}

/// How large an input may be (`[limits]`, see `source::limits`): every command that reads
/// media takes these.
#[derive(Debug, clap::Args)]
pub struct LimitFlags {
    #[arg(long, value_name = "PIXELS", help = with_default("Largest frame in pixels, declared or decoded ([limits] max_frame_pixels)", Config::default().limits.max_frame_pixels))]
    pub max_frame_pixels: Option<u64>,
    #[arg(long, value_name = "PX", help = with_default("Largest frame side in pixels ([limits] max_frame_side)", Config::default().limits.max_frame_side))]
    pub max_frame_side: Option<u32>,
    #[arg(long, value_name = "MIB", help = with_default("Memory the frames in flight may take, in MiB, 0 = no budget ([limits] max_memory_mb)", Config::default().limits.max_memory_mb))]
    pub max_memory_mb: Option<u64>,
}

impl LimitFlags {
    pub fn apply(&self, cfg: &mut Config) {
        if let Some(v) = self.max_frame_pixels {
            cfg.limits.max_frame_pixels = v;
        }
        if let Some(v) = self.max_frame_side {
            cfg.limits.max_frame_side = v;
        }
        if let Some(v) = self.max_memory_mb {
            cfg.limits.max_memory_mb = v;
        }
    }
}

impl TuningFlags {
    pub fn apply(&self, cfg: &mut Config) {
        if let Some(v) = self.detect_max_side {
            cfg.detect.max_side = v;
        }
        if let Some(v) = self.min_face_px {
            cfg.detect.min_face_px = v;
        }
        if let Some(v) = self.keyframe_interval {
            cfg.detect.keyframe_interval = v;
        }
        if let Some(v) = self.max_batch {
            cfg.batch.max_faces = v;
        }
        if let Some(v) = self.max_wait_ms {
            cfg.batch.max_wait_ms = v;
            cfg.batch.live_max_wait_ms = v;
        }
    }
}

impl ModelFlags {
    pub fn apply(&self, cfg: &mut Config) {
        if let Some(d) = &self.models_dir {
            cfg.model.dir = d.clone();
        }
        if let Some(c) = &self.classifier {
            cfg.model.classifier = c.clone();
        }
        if let Some(m) = &self.model {
            cfg.model.checkpoint = m.clone();
        }
        if let Some(d) = self.device {
            cfg.model.device = d;
        }
        if let Some(p) = self.preprocess {
            cfg.pipeline.preprocess = p;
        }
        if let Some(b) = self.batch_shapes {
            cfg.batch.shapes = b;
        }
        if let Some(t) = self.threads {
            cfg.pipeline.torch_threads = t;
        }
        if let Some(b) = self.detect_backend {
            cfg.detect.backend = b;
        }
        if let Some(b) = self.classifier_backend {
            cfg.model.backend = b;
        }
    }
}

/// A flag's help line ending in its default, taken from the built-in defaults of the
/// setting it overrides, so the help cannot drift from what a run uses.
pub(crate) fn with_default(text: &str, default: impl std::fmt::Display) -> String {
    format!("{text} [default: {default}]")
}

/// The one progress-bar style of every subcommand: a bar with position, length and ETA when
/// the length is known, a spinner otherwise; `{msg}` carries the rate and the command's own
/// figures (fps rounded to one decimal, faces per frame, loss).
pub fn progress_style(known_length: bool) -> indicatif::ProgressStyle {
    let t = if known_length {
        "{spinner} {prefix}[{bar:30}] {pos}/{len} {msg} [{elapsed_precise}, ETA {eta}]"
    } else {
        "{spinner} {prefix}{pos} {msg} [{elapsed_precise}]"
    };
    indicatif::ProgressStyle::with_template(t)
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// Defaults, then the config file.
pub fn base_config(cli: &Cli) -> anyhow::Result<Config> {
    match &cli.config {
        Some(p) => Config::from_file(p).context("loading --config"),
        None => Ok(Config::default()),
    }
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    crate::source::init_ffmpeg(cli.verbose > 0);
    match &cli.command {
        Command::Process(a) => process::run(&cli, a),
        Command::Batch(a) => batch::run(&cli, a),
        Command::Summary(a) => summary::run(&cli, a),
        Command::Report(a) => report::run(&cli, a),
        Command::Harvest(a) => harvest::run(&cli, a),
        Command::Live(a) => live::run(&cli, a),
        Command::Serve(a) => serve::run(&cli, a),
        Command::Doctor(a) => doctor::run(&cli, a),
        Command::Bench(a) => bench::run(&cli, a),
        #[cfg(feature = "torch")]
        Command::Train(a) => train::run(&cli, a),
        #[cfg(feature = "torch")]
        Command::Eval(a) => eval::run(&cli, a),
        #[cfg(not(feature = "torch"))]
        Command::Train(_) => Err(torch::HandOver::error("fer-rt train")),
        #[cfg(not(feature = "torch"))]
        Command::Eval(_) => Err(torch::HandOver::error("fer-rt eval")),
        Command::Synth(a) => synth::run(&cli, a),
    }
}

/// Ctrl-C / SIGTERM: stop reading input, finish and write what was read, finalise files.
/// More signals change nothing, except that a run still not done `FORCED_EXIT_GRACE`
/// after the second one is ended then, between two output lines, with the interruption
/// line and exit 130 (see `runtime::stop`).
pub fn install_stop_handler() {
    let _ = ctrlc::set_handler(|| {
        if crate::runtime::signal_received() == 2 {
            let grace = crate::runtime::FORCED_EXIT_GRACE;
            crate::runtime::force_exit_after_grace(
                grace,
                format!(
                    "error: interrupted; the run did not wind down within {} s of a second signal, so outputs may be incomplete",
                    grace.as_secs()
                ),
                130,
            );
        }
    });
}

/// The run was stopped by the user; what was processed has been written.
#[derive(Debug)]
pub struct Interrupted {
    pub frames: u64,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "interrupted after {} frames; everything processed was written", self.frames)
    }
}

impl std::error::Error for Interrupted {}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// clap's own consistency checks over every subcommand (duplicate flags such as the two
    /// `--device` of `live` once were, conflicting short names, bad defaults). Release
    /// builds skip them at run time, so this test is where they run.
    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Every flag of the training and measuring commands says what it does, and every one
    /// that takes a setting says its default (issue 21: `--epochs`, `--batch`, `--lr` had
    /// none). Flags naming a path, a list or a model have no default by nature.
    #[test]
    fn training_and_bench_flags_have_help_with_defaults() {
        let no_default = [
            "out",
            "train_config",
            "dataset", // eval: required, so no default
            "data",
            "teacher",
            "labelled",
            "model",
            "saliency",
            "preset",
            "config",
            "models_dir",
            "classifier",
            "face_image",
            "save_input",
            "input",
            "inputs",
            "shard",
            "shard_count",
            "ext",
            "timeout",
            "input_timeout",
            "device",
            "threads",
            "detect_backend",
            "classifier_backend",
            "preprocess",
            "batch_shapes",
            "detect_max_side",
            "max_batch",
            "max_wait_ms",
        ];
        let mut missing = Vec::new();
        let cmd = Cli::command();
        // train and eval are parsed by fer-rt-torch; without libtorch they take any arguments
        let subs: &[&str] = if cfg!(feature = "torch") {
            &["train", "eval", "synth", "harvest", "bench"]
        } else {
            &["synth", "harvest", "bench"]
        };
        for &sub in subs {
            let c = cmd.find_subcommand(sub).unwrap();
            for a in c.get_arguments() {
                let id = a.get_id().as_str();
                if matches!(id, "help" | "version" | "verbose") {
                    continue;
                }
                let help = a.get_long_help().or(a.get_help()).map(|h| h.to_string()).unwrap_or_default();
                if help.trim().is_empty() {
                    missing.push(format!("{sub} --{id}: no help"));
                    continue;
                }
                let takes_value = a.get_num_args().is_some_and(|n| n.takes_values()) || a.get_action().takes_values();
                let shows_default = help.contains("[default:") || !a.get_default_values().is_empty();
                if takes_value && !shows_default && !no_default.contains(&id) {
                    missing.push(format!("{sub} --{id}: no default shown"));
                }
            }
        }
        assert!(missing.is_empty(), "{missing:#?}");
    }

    #[test]
    fn live_takes_a_camera_and_a_compute_device() {
        use clap::Parser;
        let cli = Cli::try_parse_from(["fer-rt", "live", "--camera", "/dev/video2", "--device", "cpu"]).unwrap();
        match cli.command {
            super::Command::Live(a) => {
                assert_eq!(a.camera, ["/dev/video2"]);
                assert_eq!(a.run.model.device, Some(crate::runtime::DeviceChoice::Cpu));
            }
            other => panic!("parsed as {other:?}"),
        }
    }
}
