//! The one run path of `process`, `live` and `bench`: settle the config (defaults <
//! `--config` < the command's flags, validated), load the models it names, run the
//! pipeline under the Ctrl-C handler, log the summary, report an interruption. Each
//! subcommand only opens its source and picks its sinks.
use super::{base_config, Cli, Interrupted};
use crate::config::Config;
use crate::detect::{Detector, Expect};
use crate::model::Classifier;
use crate::pipeline::{self, Models, Progress, RunSummary, Streams};
use crate::sink::Sink;
use anyhow::Context;
use std::path::Path;

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
    #[cfg(not(feature = "torch"))]
    if let Some(what) = crate::pipeline::torch_needed(&cfg) {
        return Err(super::torch::HandOver::error(what));
    }
    Ok(cfg)
}

/// What the input at `input` will give the detector first, told before it is opened:
/// photos (a folder of them, an image sequence read as `stills`, an image file), a video
/// (any other file, a stream's URL), or not known (standard input, a pattern of frames),
/// which prepares for either.
pub fn expect_input(input: &Path, stills: bool) -> Expect {
    if input.is_dir() || stills {
        return Expect::Stills;
    }
    if input.to_str().is_some_and(crate::source::network::is_url) {
        return Expect::Video;
    }
    match crate::source::video::looks_still(input) {
        Some(true) => Expect::Stills,
        Some(false) => Expect::Video,
        None => Expect::Unknown,
    }
}

impl Run {
    /// Loads the detector and classifier `cfg` names (see [`load_models`]).
    pub fn load(cfg: Config) -> anyhow::Result<Self> {
        Self::load_expecting(cfg, Expect::Unknown)
    }

    /// [`Self::load`], the detector prepared for what `expect` says the input is
    /// ([`Models::load_expecting`]).
    pub fn load_expecting(cfg: Config, expect: Expect) -> anyhow::Result<Self> {
        let Models { detector, classifier } = Models::load_expecting(&cfg, expect)?;
        Ok(Self { cfg, detector, classifier })
    }

    /// For a command whose process ends next: the models' memory goes back to the OS with
    /// the process instead of session by session, arena by arena (~20 ms of a `process`
    /// run's wall time on two cores, BENCHMARKS.md). Nothing is left to write by then:
    /// sinks and outputs are finished inside [`Self::execute`].
    pub fn leave(self) {
        std::mem::forget(self);
    }

    /// Runs `streams` (one source, or several named ones) into `sink` to the end, a
    /// closed output or Ctrl-C; logs `ended` with the summary. `report` sees the summary before an interruption is turned into the
    /// error that gives exit 130's message (so what was measured is still reported).
    pub fn execute(
        &mut self,
        streams: impl Into<Streams>,
        sink: Box<dyn Sink>,
        progress: Box<dyn Progress>,
        ended: &str,
        report: impl FnOnce(&RunSummary) -> anyhow::Result<()>,
    ) -> anyhow::Result<RunSummary> {
        super::install_stop_handler();
        let (detector, classifier) = (&mut self.detector, self.classifier.as_mut());
        let summary = pipeline::run_streams(&self.cfg, streams.into(), detector, classifier, sink, progress)?;
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
