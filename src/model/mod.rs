//! Expression classifiers behind one trait, so new architectures (the ResNet-18
//! multi-region model, FaceExpressionNet) plug in without touching the other stages: a
//! classifier declares its input geometry, colour, normalisation, alignment template and
//! class order, and which optional outputs (valence/arousal, uncertainty) it has.
pub mod ensemble;
#[cfg(feature = "torch")]
pub mod mini_xception;
pub mod onnx_classifier;
#[cfg(feature = "torch")]
pub mod resnet_mra;

use crate::assets::manifest::{Architecture, Manifest, ModelKind, PixelOrder};
use crate::error::{Error, Result};
use crate::messages::{ClassOutput, ClassifierSpec, ColorMode, Crop, InputSpec};
use crate::runtime::buckets::Buckets;
#[cfg(feature = "torch")]
use crate::runtime::{buckets::pad_rows, compute_kind, staging::StagingRing};
use crate::runtime::{Device, Engine, EngineKind};
use std::path::Path;
#[cfg(feature = "torch")]
use tch::{Kind, Tensor};

impl ClassifierSpec {
    /// The spec a manifest describes, with the given optional outputs.
    pub fn from_manifest(m: &Manifest, valence_arousal: bool, uncertainty: bool) -> Result<Self> {
        Ok(Self {
            name: m.name.clone(),
            classes: m.classes.clone(),
            input: input_spec(m)?,
            has_valence_arousal: valence_arousal,
            has_uncertainty: uncertainty,
            sha256: m.sha256.clone(),
        })
    }
}

pub trait Classifier: Send {
    fn spec(&self) -> &ClassifierSpec;
    /// Classifies a batch of aligned crops made to `spec().input`.
    fn classify(&mut self, crops: &[&Crop]) -> Result<Vec<ClassOutput>>;
    /// Crops it runs at once when it cuts a batch into passes (ONNX Runtime on the CPU,
    /// `[model] pass_faces`); None where a batch is one run, as on a GPU.
    fn pass_faces(&self) -> Option<usize> {
        None
    }
    /// What runs it.
    fn engine(&self) -> EngineKind {
        EngineKind::Torch
    }
    /// The libtorch device it computes on; None for engines outside libtorch.
    fn device(&self) -> Option<Device> {
        None
    }
    /// Classifies crops already on `device()`: [N, C, H, W] float, 0..255 (not yet
    /// normalised), as the device-side alignment makes them.
    #[cfg(feature = "torch")]
    fn classify_device(&mut self, _crops: &Tensor) -> Result<Vec<ClassOutput>> {
        Err(Error::Model { name: self.spec().name.clone(), reason: "takes host crops only".into() })
    }
    /// Takes the batch shapes to run at (None: exact shapes) and runs each shape up to
    /// `max_batch` once, so no shape is new once frames flow. Returns the shapes it ran.
    fn warm_up(&mut self, _buckets: Option<Buckets>, _max_batch: usize) -> Result<Vec<usize>> {
        Ok(Vec::new())
    }
}

/// What every tch classifier shares: its device and compute kind, the upload ring, and the
/// batch shapes it runs at.
#[cfg(feature = "torch")]
pub struct TorchRunner {
    pub device: Device,
    pub kind: Kind,
    ring: StagingRing,
    buckets: Option<Buckets>,
    /// The input spec's mean and std as [1, C, 1, 1] tensors on the device, made once (a
    /// copy from pageable host memory per batch would wait for the device's queue).
    norm: Option<(Tensor, Tensor)>,
}

#[cfg(feature = "torch")]
impl TorchRunner {
    pub fn new(device: Device, kind: Kind) -> Self {
        Self { device, kind, ring: StagingRing::new(device, 2), buckets: None, norm: None }
    }

    /// Pads batches to `buckets` from now on (None: exact shapes).
    pub fn set_buckets(&mut self, buckets: Option<Buckets>) {
        self.buckets = buckets;
    }

    /// Host crops to [N, C, H, W] float 0..255 on the device, through the ring.
    pub fn upload_crops(&mut self, crops: &[&Crop], spec: &InputSpec) -> Result<Tensor> {
        let (w, h, c) = (spec.width as i64, spec.height as i64, spec.color.channels() as i64);
        let mut buf = Vec::with_capacity(crops.len() * (w * h * c) as usize);
        for crop in crops {
            check_crop(crop, spec)?;
            buf.extend_from_slice(&crop.data);
        }
        Ok(self.ring.upload(&buf).view([crops.len() as i64, h, w, c]).permute([0, 3, 1, 2]).to_kind(Kind::Float))
    }

    /// Normalises 0..255 crops, pads them to their bucket, runs `forward` in no-grad mode
    /// and hands back its outputs cut to the real rows, on the CPU in f32.
    pub fn run(&mut self, x: &Tensor, spec: &InputSpec, forward: impl Fn(&Tensor) -> Vec<Tensor>) -> Vec<Tensor> {
        let n = x.size()[0];
        let c = spec.color.channels() as i64;
        let device = self.device;
        let (mean, std) = self.norm.get_or_insert_with(|| {
            let t = |v: &[f32]| Tensor::from_slice(v).view([1, c, 1, 1]).to_device(device);
            (t(&spec.mean), t(&spec.std))
        });
        let x = ((x.to_device(device).to_kind(Kind::Float) - &*mean) / &*std).to_kind(self.kind);
        let x = match &self.buckets {
            Some(b) => pad_rows(&x, b.fit(n as usize)),
            None => x,
        };
        let outs = tch::no_grad(|| forward(&x));
        outs.into_iter().map(|t| t.narrow(0, 0, n).to_device(Device::Cpu).to_kind(Kind::Float).contiguous()).collect()
    }

    /// Runs `forward` once at every bucket size up to `max_batch` (or at `max_batch` alone
    /// without buckets), on zeros, and waits for the device.
    pub fn warm_up(
        &mut self,
        spec: &InputSpec,
        max_batch: usize,
        forward: impl Fn(&Tensor) -> Vec<Tensor>,
    ) -> Vec<usize> {
        let sizes = match &self.buckets {
            Some(b) => b.sizes().iter().copied().filter(|&s| s <= max_batch.max(1)).collect(),
            None => vec![max_batch.max(1)],
        };
        let (w, h, c) = (spec.width as i64, spec.height as i64, spec.color.channels() as i64);
        for &s in &sizes {
            let x = Tensor::zeros([s as i64, c, h, w], (Kind::Float, self.device));
            let _ = self.run(&x, spec, &forward);
        }
        crate::runtime::synchronize(self.device);
        sizes
    }
}

#[cfg(feature = "torch")]
fn check_crop(crop: &Crop, spec: &InputSpec) -> Result<()> {
    let (w, h, c) = (spec.width, spec.height, spec.color.channels());
    if (crop.width, crop.height, crop.channels) != (w, h, c) {
        return Err(Error::Model {
            name: "classifier".into(),
            reason: format!("crop {}x{}x{} does not match input {w}x{h}x{c}", crop.width, crop.height, crop.channels),
        });
    }
    Ok(())
}

pub fn input_spec(m: &Manifest) -> Result<InputSpec> {
    let p = &m.preprocessing;
    let bad = |r: &str| Error::Model { name: m.name.clone(), reason: r.into() };
    let color = match p.color {
        PixelOrder::Gray => ColorMode::Gray,
        PixelOrder::Rgb => ColorMode::Rgb,
        PixelOrder::Bgr => return Err(bad("unsupported input colour 'bgr' (classifiers take gray or rgb)")),
    };
    let c = color.channels() as usize;
    if p.mean.len() != c || p.std.len() != c || p.std.iter().any(|&s| s <= 0.0) {
        return Err(bad("preprocessing mean/std must have one value per channel, std > 0"));
    }
    Ok(InputSpec {
        width: p.width.ok_or_else(|| bad("preprocessing.width missing"))?,
        height: p.height.ok_or_else(|| bad("preprocessing.height missing"))?,
        color,
        mean: p.mean.clone(),
        std: p.std.clone(),
        gray_weights: p.gray_weights.unwrap_or([0.299, 0.587, 0.114]),
        template: p.template.as_ref().ok_or_else(|| bad("preprocessing.template missing"))?.points,
    })
}

/// How ONNX Runtime runs a classifier on the CPU; libtorch ignores it.
///
/// Why passes: ONNX Runtime runs a batch layer by layer, each layer over every crop. For the
/// bundled mini-Xception a crop's activations are ~0.1-0.5 MB a layer, so a batch of 32
/// streams them through memory while a few crops stay in the core's cache: on one thread
/// 0.32-0.39 ms of CPU a crop in passes of 1-6 against 0.47-0.52 ms in one pass of 28-32.
/// And why one thread on small machines: a second thread took 0.41-0.58 ms of CPU a crop
/// for 0.22-0.42 ms of wall time, CPU the pipeline's other stages need (BENCHMARKS.md,
/// twenty-first pass).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuRun {
    /// ONNX Runtime intra-op threads (at least one).
    pub threads: usize,
    /// Most crops a pass: a larger batch runs in passes of at most this many, one after the
    /// other; 0 runs every batch in one pass.
    pub pass_faces: usize,
}

impl CpuRun {
    /// Every batch in one pass on `threads` threads: for a classifier that has the machine
    /// to itself (labelling a corpus, a benchmark of one network).
    pub fn whole(threads: usize) -> Self {
        Self { threads: threads.max(1), pass_faces: 0 }
    }

    /// The config's `threads` (0: [`Self::auto_threads`] of `cores`) and `pass_faces`.
    pub fn from_config(threads: usize, pass_faces: usize, cores: usize) -> Self {
        let threads = if threads == 0 { Self::auto_threads(cores) } else { threads };
        Self { threads, pass_faces }
    }

    /// One thread per four cores, at least one: the classifier is a small share of a run's
    /// work beside the detector and the decoder, which need the cores more. Measured on two
    /// cores only; more threads pay off only where one thread's ~3,000 crops a second
    /// cannot keep up.
    pub fn auto_threads(cores: usize) -> usize {
        (cores / 4).max(1)
    }
}

/// Loads the classifier a manifest describes, on ONNX Runtime or torch as `engine` and the
/// device decide (`cpu`: how ONNX Runtime runs it).
pub fn load_classifier(
    dir: &Path,
    name: &str,
    device: Device,
    engine: Engine,
    cpu: CpuRun,
) -> Result<Box<dyn Classifier>> {
    let m = Manifest::load(dir, name)?;
    if m.kind != ModelKind::Classifier {
        return Err(Error::Model { name: name.into(), reason: format!("is a {}, not a classifier", m.kind) });
    }
    let onnx = m.onnx.as_ref().map(|o| dir.join(&o.file));
    if let Some(path) = onnx.filter(|p| crate::runtime::onnx::chosen(engine, device, &m.name, Some(p)).unwrap_or(false))
    {
        if let Some(o) = &m.onnx {
            m.verify(&path, &o.sha256)?;
        }
        return Ok(Box::new(onnx_classifier::OnnxClassifier::load(&m, &path, cpu)?));
    }
    if engine == Engine::Onnxruntime {
        return Err(Error::Model { name: name.into(), reason: "the manifest names no ONNX file".into() });
    }
    load_torch_classifier(&m, dir, device)
}

/// The classifier a manifest describes, on libtorch.
#[cfg(feature = "torch")]
fn load_torch_classifier(m: &Manifest, dir: &Path, device: Device) -> Result<Box<dyn Classifier>> {
    let name = &m.name;
    m.verify(&dir.join(&m.weights), &m.sha256)?;
    match m.architecture {
        Architecture::MiniXception => {
            Ok(Box::new(mini_xception::MiniXception::load(m, dir, device, compute_kind(device))?))
        }
        Architecture::Resnet18Mra => {
            Ok(Box::new(resnet_mra::MraClassifier::load(m, &dir.join(&m.weights), device, compute_kind(device))?))
        }
        other => {
            Err(Error::Model { name: name.clone(), reason: format!("architecture '{other}' is not a classifier") })
        }
    }
}

#[cfg(not(feature = "torch"))]
fn load_torch_classifier(m: &Manifest, _dir: &Path, _device: Device) -> Result<Box<dyn Classifier>> {
    Err(Error::NeedsTorch { what: format!("classifier {} on the torch engine", m.name) })
}

/// A checkpoint given by path (`--model ckpt.safetensors`): its manifest is the sidecar
/// `ckpt.json` that `fer-rt train` writes beside it.
pub fn load_classifier_file(weights: &Path, device: Device) -> Result<Box<dyn Classifier>> {
    let name = weights.file_stem().and_then(|s| s.to_str()).unwrap_or("model").to_string();
    if !weights.is_file() {
        return Err(Error::Config(format!("checkpoint {}: no such file", weights.display())));
    }
    let sidecar = weights.with_extension("json");
    let m = Manifest::load_file(&sidecar, &name)?;
    m.verify(weights, &m.sha256)?;
    match m.architecture {
        #[cfg(feature = "torch")]
        Architecture::Resnet18Mra => {
            Ok(Box::new(resnet_mra::MraClassifier::load(&m, weights, device, compute_kind(device))?))
        }
        #[cfg(not(feature = "torch"))]
        Architecture::Resnet18Mra => {
            let _ = device;
            Err(Error::NeedsTorch { what: format!("the trained checkpoint {}", weights.display()) })
        }
        other => Err(Error::Model { name, reason: format!("--model takes trained checkpoints, not '{other}'") }),
    }
}

#[cfg(test)]
mod cpu_run_tests {
    use super::CpuRun;

    #[test]
    fn the_classifier_gets_one_thread_per_four_cores_unless_the_config_says() {
        assert_eq!(CpuRun::auto_threads(1), 1);
        assert_eq!(CpuRun::auto_threads(2), 1);
        assert_eq!(CpuRun::auto_threads(7), 1);
        assert_eq!(CpuRun::auto_threads(8), 2);
        assert_eq!(CpuRun::auto_threads(16), 4);
        assert_eq!(CpuRun::from_config(0, 4, 2), CpuRun { threads: 1, pass_faces: 4 });
        assert_eq!(CpuRun::from_config(3, 0, 2), CpuRun { threads: 3, pass_faces: 0 });
        assert_eq!(CpuRun::whole(0), CpuRun { threads: 1, pass_faces: 0 });
    }
}

#[cfg(all(test, feature = "torch"))]
mod tests {
    use super::*;

    #[test]
    fn crops_are_normalised_channel_first() {
        let spec = InputSpec {
            width: 2,
            height: 1,
            color: ColorMode::Rgb,
            mean: vec![0.0, 100.0, 0.0],
            std: vec![1.0, 1.0, 2.0],
            gray_weights: [0.299, 0.587, 0.114],
            template: [[0.0; 2]; 5],
        };
        let crop = Crop { width: 2, height: 1, channels: 3, data: vec![1, 101, 4, 2, 102, 8] };
        // what a classifier's forward pass receives: uploaded, channel-first, normalised
        let mut runner = TorchRunner::new(Device::Cpu, Kind::Float);
        let x = runner.upload_crops(&[&crop], &spec).unwrap();
        let t = runner.run(&x, &spec, |x| vec![x.shallow_clone()]).remove(0);
        assert_eq!(t.size(), [1, 3, 1, 2]);
        let v = Vec::<f32>::try_from(&t.view([-1])).unwrap();
        assert_eq!(v, [1.0, 2.0, 1.0, 2.0, 2.0, 4.0]);
    }
}
