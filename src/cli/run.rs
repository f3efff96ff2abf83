//! The one run path of `process`, `live` and `bench`: settle the config (defaults <
//! `--config` < the command's flags, validated), load the models it names, run the
//! pipeline under the Ctrl-C handler, log the summary, report an interruption. Each
//! subcommand only opens its source and picks its sinks.
use super::{base_config, Cli, Interrupted};
use crate::config::Config;
use crate::detect::Detector;
use crate::model::Classifier;
use crate::pipeline::{self, Progress, RunSummary};
use crate::sink::Sink;
use crate::source::FrameSource;
use anyhow::Context;

/// A subcommand's flags, laid over the config.
pub trait ApplyFlags {
    fn apply(&self, cfg: &mut Config) -> anyhow::Result<()>;
}

/// A run with its models loaded, ready for a source and sinks.
pub struct Run {
    pub cfg: Config,
    pub detector: Detector,
    pub classifier: Box<dyn Classifier>,
}

/// Defaults, the config file, then the command's flags; refused if any value is out of range.
pub fn settle(cli: &Cli, flags: &dyn ApplyFlags) -> anyhow::Result<Config> {
    let mut cfg = base_config(cli)?;
    flags.apply(&mut cfg)?;
    cfg.validate().context("invalid option")?;
    Ok(cfg)
}

impl Run {
    /// Loads the detector and classifier `cfg` names (see [`load_models`]).
    pub fn load(cfg: Config) -> anyhow::Result<Self> {
        let (detector, classifier) = load_models(&cfg)?;
        Ok(Self { cfg, detector, classifier })
    }

    /// Runs `source` into `sink` to the end, a closed output or Ctrl-C; logs `ended` with
    /// the summary. `report` sees the summary before an interruption is turned into the
    /// error that gives exit 130's message (so what was measured is still reported).
    pub fn execute(
        self,
        source: Box<dyn FrameSource>,
        sink: Box<dyn Sink>,
        progress: Box<dyn Progress>,
        ended: &str,
        report: impl FnOnce(&RunSummary) -> anyhow::Result<()>,
    ) -> anyhow::Result<RunSummary> {
        super::install_stop_handler();
        let summary = pipeline::run(&self.cfg, source, self.detector, self.classifier, sink, progress)?;
        tracing::info!(
            frames = summary.frames,
            faces = summary.faces,
            dropped = summary.dropped,
            damaged_packets = summary.damaged_packets,
            fps = format!("{:.1}", summary.fps()),
            "{ended}"
        );
        report(&summary)?;
        if summary.interrupted {
            anyhow::bail!(Interrupted { frames: summary.frames });
        }
        Ok(summary)
    }
}

/// The detector and classifier the config names, on its device; then libtorch's thread
/// count (see [`crate::runtime::torch_threads`]). Warm-up happens when a run starts
/// (`pipeline::run`), where the frame size is known.
fn load_models(cfg: &Config) -> anyhow::Result<(Detector, Box<dyn Classifier>)> {
    let device = cfg.model.device.select()?;
    let dir = cfg.models_dir();
    let det_manifest = crate::assets::manifest::Manifest::load(&dir, &cfg.model.detector)?;
    let detector = Detector::load(&det_manifest, &dir, device, cfg.detect.clone(), cfg.pipeline.preprocess)?;
    let ort_threads = crate::runtime::threads_or_cores(cfg.model.threads);
    let classifier = if cfg.model.checkpoint.as_os_str().is_empty() {
        crate::model::load_classifier(&dir, &cfg.model.classifier, device, cfg.model.backend, ort_threads)?
    } else {
        crate::model::load_classifier_file(&cfg.model.checkpoint, device).context("--model")?
    };
    let heavy = !cfg.model.checkpoint.as_os_str().is_empty();
    let threads =
        crate::runtime::torch_threads(cfg.pipeline.torch_threads, detector.engine(), classifier.engine(), heavy);
    tch::set_num_threads(threads as i32);
    tracing::info!(
        device = %crate::runtime::device_name(device),
        detector = %det_manifest.name,
        detect_engine = %detector.engine(),
        classifier = %classifier.spec().name,
        classifier_engine = %classifier.engine(),
        torch_threads = threads,
        "models loaded"
    );
    Ok((detector, classifier))
}
