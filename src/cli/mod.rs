//! Command-line interface: argument parsing and the subcommands. Library errors get their
//! context here, once; `main` prints the chain on one line.
pub mod doctor;
pub mod live;
pub mod process;

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
    /// Webcam (or a file at its own pace) with a live window and/or JSON lines.
    Live(live::LiveArgs),
    /// Report libtorch, CUDA, models and cameras.
    Doctor(doctor::DoctorArgs),
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
    /// auto | cpu | cuda | cuda:N
    #[arg(long)]
    pub device: Option<String>,
    /// libtorch threads (0 = one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Detector engine (auto: ONNX Runtime on the CPU when it loads, else torch).
    #[arg(long, value_enum)]
    pub detect_backend: Option<crate::config::DetectBackend>,
}

impl ModelFlags {
    pub fn apply(&self, cfg: &mut Config) {
        if let Some(d) = &self.models_dir {
            cfg.model.dir = d.clone();
        }
        if let Some(c) = &self.classifier {
            cfg.model.classifier = c.clone();
        }
        if let Some(d) = &self.device {
            cfg.model.device = d.clone();
        }
        if let Some(t) = self.threads {
            cfg.pipeline.torch_threads = t;
        }
        if let Some(b) = self.detect_backend {
            cfg.detect.backend = b;
        }
    }
}

/// The detector and classifier the config names, on its device.
pub fn load_models(cfg: &Config) -> anyhow::Result<(crate::detect::Detector, Box<dyn crate::model::Classifier>)> {
    let device = crate::model::select_device(&cfg.model.device)?;
    let dir = cfg.models_dir();
    let det_manifest = crate::model::manifest::Manifest::load(&dir, &cfg.model.detector)?;
    let detector = crate::detect::Detector::load(&det_manifest, &dir, device, cfg.detect.clone())?;
    let classifier = crate::model::load_classifier(&dir, &cfg.model.classifier, device)?;
    tracing::info!(
        ?device,
        detector = %det_manifest.name,
        detect_backend = detector.backend(),
        classifier = %classifier.spec().name,
        "models loaded"
    );
    Ok((detector, classifier))
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
        Command::Live(a) => live::run(&cli, a),
        Command::Doctor(a) => doctor::run(&cli, a),
    }
}

/// Ctrl-C / SIGTERM: stop reading input, finish and write what was read, finalise files.
/// A second Ctrl-C exits at once.
pub fn install_stop_handler() {
    let _ = ctrlc::set_handler(|| {
        if crate::pipeline::stop_requested() {
            std::process::exit(130);
        }
        crate::pipeline::request_stop();
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

pub fn set_torch_threads(n: usize) {
    let n = if n == 0 { crate::pipeline::cores() } else { n };
    tch::set_num_threads(n as i32);
}
