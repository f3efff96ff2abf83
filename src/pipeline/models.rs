//! Loading the two networks a run needs, with libtorch's thread count set for the pair.
use crate::assets::manifest::Manifest;
use crate::config::Config;
use crate::detect::Detector;
use crate::error::Result;
use crate::model::Classifier;

/// The detector and classifier of a run. Warm-up happens when a run starts
/// (`pipeline::run`), where the frame size is known.
pub struct Models {
    pub detector: Detector,
    pub classifier: Box<dyn Classifier>,
}

impl Models {
    /// The detector and classifier the config names, on its device; then libtorch's
    /// thread count (see [`crate::runtime::torch_threads`]).
    pub fn load(cfg: &Config) -> Result<Self> {
        let device = cfg.model.device.select()?;
        let dir = cfg.models_dir();
        let det_manifest = Manifest::load(&dir, &cfg.model.detector)?;
        let detector = Detector::load(&det_manifest, &dir, device, cfg.detect.clone(), cfg.pipeline.preprocess)?;
        let ort_threads = crate::runtime::threads_or_cores(cfg.model.threads);
        let checkpoints = crate::model::ensemble::checkpoint_paths(&cfg.model.checkpoint)?;
        let checkpoint = !checkpoints.is_empty();
        let classifier: Box<dyn Classifier> = match checkpoints.as_slice() {
            [] => crate::model::load_classifier(&dir, &cfg.model.classifier, device, cfg.model.backend, ort_threads)?,
            [one] => crate::model::load_classifier_file(one, device)?,
            many => {
                let members =
                    many.iter().map(|p| crate::model::load_classifier_file(p, device)).collect::<Result<Vec<_>>>()?;
                Box::new(crate::model::ensemble::Ensemble::new(members)?)
            }
        };
        let threads = crate::runtime::torch_threads(
            cfg.pipeline.torch_threads,
            detector.engine(),
            classifier.engine(),
            checkpoint,
        );
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
        Ok(Self { detector, classifier })
    }
}

impl Models {
    /// [`super::run`] on these models: a source through the whole pipeline into `sink`.
    pub fn run(
        &mut self,
        cfg: &Config,
        source: Box<dyn crate::source::FrameSource>,
        sink: Box<dyn crate::sink::Sink>,
        progress: Box<dyn super::Progress>,
    ) -> Result<super::RunSummary> {
        super::run(cfg, source, &mut self.detector, self.classifier.as_mut(), sink, progress)
    }
}
