//! Loading the two networks a run needs, with libtorch's thread count set for the pair;
//! and, before that, whether they need libtorch at all.
use crate::assets::manifest::Manifest;
use crate::config::Config;
use crate::detect::{Detector, Expect};
use crate::error::Result;
use crate::model::Classifier;
use crate::runtime::onnx::{pick, Pick};
use crate::runtime::{Device, DeviceChoice};

/// What in `cfg` runs on libtorch, if anything, decided as [`Models::load`] decides it
/// (`runtime::onnx::pick`) but without loading a network or logging. The `fer-rt` binary,
/// which has no libtorch, asks this before it opens any input or output and hands such a
/// run to `fer-rt-torch` (`cli::torch`). A manifest that cannot be read is left for
/// [`Models::load`] to report.
pub fn torch_needed(cfg: &Config) -> Option<String> {
    if let DeviceChoice::Cuda(_) = cfg.model.device {
        return Some(format!("--device {}", cfg.model.device));
    }
    let checkpoints = crate::model::ensemble::checkpoint_paths(&cfg.model.checkpoint).ok()?;
    if let Some(first) = checkpoints.first() {
        return Some(format!("the trained checkpoint {}", first.display()));
    }
    let dir = cfg.models_dir();
    let nets = [
        ("detector", &cfg.model.detector, cfg.detect.backend),
        ("classifier", &cfg.model.classifier, cfg.model.backend),
    ];
    for (role, name, engine) in nets {
        let Ok(m) = Manifest::load(&dir, name) else { continue };
        let onnx = m.onnx.as_ref().map(|o| dir.join(&o.file));
        match pick(engine, Device::Cpu, name, onnx.as_deref()) {
            Ok(Pick::Torch { fallback: Some(why) }) => {
                return Some(format!("the {role} {name} (no ONNX Runtime: {why})"))
            }
            Ok(Pick::Torch { fallback: None }) if onnx.is_none() => {
                return Some(format!("the {role} {name}, which has no ONNX file"))
            }
            Ok(Pick::Torch { fallback: None }) => return Some(format!("the torch engine for the {role} {name}")),
            Ok(Pick::Onnx) | Err(_) => {}
        }
    }
    None
}

/// The detector and classifier of a run. Warm-up happens when a run starts
/// (`pipeline::run`), where the frame size is known.
pub struct Models {
    pub detector: Detector,
    pub classifier: Box<dyn Classifier>,
}

/// A detector as `cfg` names it, on the CPU with `threads` ONNX Runtime threads, that only
/// searches whole frames (no regions' sessions): the search ahead of a file's keyframes.
/// With `search_int8` it holds only the INT8 session, built at its first search.
pub(super) fn load_cpu_detector_for_frames(cfg: &Config, threads: usize) -> Result<Detector> {
    let dir = cfg.models_dir();
    let manifest = Manifest::load(&dir, &cfg.model.detector)?;
    let det_cfg = crate::detect::DetectConfig { threads, keyframe_interval: 1, ..cfg.detect.clone() };
    Detector::load_for_finding(&manifest, &dir, det_cfg, cfg.pipeline.preprocess)
}

impl Models {
    /// The detector and classifier the config names, on its device; then libtorch's
    /// thread count (see [`crate::runtime::torch_threads`]).
    pub fn load(cfg: &Config) -> Result<Self> {
        Self::load_expecting(cfg, Expect::Unknown)
    }

    /// [`Self::load`], with the detector's sessions built for the input `expect` names
    /// ([`Detector::prepare`]).
    pub fn load_expecting(cfg: &Config, expect: Expect) -> Result<Self> {
        let device = cfg.model.device.select()?;
        let dir = cfg.models_dir();
        let det_manifest = Manifest::load(&dir, &cfg.model.detector)?;
        let cpu = crate::model::CpuRun::from_config(cfg.model.threads, cfg.model.pass_faces, crate::runtime::cores());
        let checkpoints = crate::model::ensemble::checkpoint_paths(&cfg.model.checkpoint)?;
        let checkpoint = !checkpoints.is_empty();
        let load_classifier = || -> Result<Box<dyn Classifier>> {
            Ok(match checkpoints.as_slice() {
                [] => crate::model::load_classifier(&dir, &cfg.model.classifier, device, cfg.model.backend, cpu)?,
                [one] => crate::model::load_classifier_file(one, device)?,
                many => {
                    let members = many
                        .iter()
                        .map(|p| crate::model::load_classifier_file(p, device))
                        .collect::<Result<Vec<_>>>()?;
                    Box::new(crate::model::ensemble::Ensemble::new(members)?)
                }
            })
        };
        let load_detector = || {
            Detector::load_expecting(&det_manifest, &dir, device, cfg.detect.clone(), cfg.pipeline.preprocess, expect)
        };
        // on the CPU the classifier loads on a second thread beside the detector (building
        // a session is mostly single-threaded work); a GPU's first use is left to one thread
        let (classifier, detector) = if device == Device::Cpu {
            crate::runtime::side_by_side(load_classifier, load_detector)
        } else {
            let detector = load_detector();
            (load_classifier(), detector)
        };
        let (detector, classifier) = (detector?, classifier?);
        let threads = crate::runtime::torch_threads(
            cfg.pipeline.torch_threads,
            detector.engine(),
            classifier.engine(),
            checkpoint,
        );
        #[cfg(feature = "torch")]
        tch::set_num_threads(threads as i32);
        tracing::info!(
            device = %crate::runtime::device_name(device),
            detector = %det_manifest.name,
            detect_engine = %detector.engine(),
            keyframes_searched_int8 = detector.finds_int8(),
            classifier = %classifier.spec().name,
            classifier_engine = %classifier.engine(),
            torch_threads = threads,
            "models loaded"
        );
        Ok(Self { detector, classifier })
    }
}

/// Another detector as `cfg` names it, on the CPU with `threads` ONNX Runtime threads for
/// whole frames, prepared for video: one of the detect workers of a run of several streams.
pub(super) fn load_cpu_detector(cfg: &Config, threads: usize) -> Result<Detector> {
    let dir = cfg.models_dir();
    let manifest = Manifest::load(&dir, &cfg.model.detector)?;
    let det_cfg = crate::detect::DetectConfig { threads, ..cfg.detect.clone() };
    Detector::load_expecting(&manifest, &dir, Device::Cpu, det_cfg, cfg.pipeline.preprocess, Expect::Video)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Engine;

    #[test]
    fn only_what_runs_on_libtorch_needs_it() {
        let mut cfg = Config::default();
        cfg.model.dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
        assert_eq!(torch_needed(&cfg), None, "the defaults run on ONNX Runtime");
        let needs = |f: &dyn Fn(&mut Config)| {
            let mut c = cfg.clone();
            f(&mut c);
            torch_needed(&c).unwrap_or_default()
        };
        assert!(needs(&|c| c.model.device = DeviceChoice::Cuda(1)).contains("cuda:1"));
        assert!(needs(&|c| c.detect.backend = Engine::Torch).contains("detector"));
        assert!(needs(&|c| c.model.backend = Engine::Torch).contains("classifier"));
        assert!(needs(&|c| c.model.checkpoint = "run/best.safetensors".into()).contains("run/best.safetensors"));
        // ONNX Runtime asked for explicitly, and the CPU: still no libtorch
        assert_eq!(
            torch_needed(&{
                let mut c = cfg.clone();
                c.detect.backend = Engine::Onnxruntime;
                c.model.device = DeviceChoice::Cpu;
                c
            }),
            None
        );
    }
}
