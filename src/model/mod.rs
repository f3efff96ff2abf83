//! Expression classifiers behind one trait, so new architectures (the ResNet-18
//! multi-region model, FaceExpressionNet) plug in without touching the other stages: a
//! classifier declares its input geometry, colour, normalisation, alignment template and
//! class order, and which optional outputs (valence/arousal, uncertainty) it has.
pub mod manifest;
pub mod mini_xception;
pub mod onnx_classifier;
pub mod resnet_mra;
pub mod weights;

use crate::config::Engine;
use crate::error::{Error, Result};
use crate::messages::{ClassOutput, Crop};
use manifest::Manifest;
use std::path::Path;
use tch::{Device, Kind, Tensor};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorMode {
    Gray,
    Rgb,
}

impl ColorMode {
    pub fn channels(self) -> u32 {
        match self {
            ColorMode::Gray => 1,
            ColorMode::Rgb => 3,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct InputSpec {
    pub width: u32,
    pub height: u32,
    pub color: ColorMode,
    /// Per-channel mean and std on the 0..255 scale: x' = (x - mean) / std.
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    /// Luma weights for gray models (R, G, B).
    pub gray_weights: [f32; 3],
    /// Alignment target of the 5 landmarks in [0, 1] crop coordinates.
    pub template: [[f32; 2]; 5],
}

#[cfg(test)]
impl InputSpec {
    /// A gray spec with identity normalisation, for unit tests of the stages around models.
    pub(crate) fn test_gray(width: u32, height: u32, template: [[f32; 2]; 5]) -> Self {
        Self {
            width,
            height,
            color: ColorMode::Gray,
            mean: vec![0.0],
            std: vec![1.0],
            gray_weights: [0.299, 0.587, 0.114],
            template,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ClassifierSpec {
    pub name: String,
    /// Class names in output order.
    pub classes: Vec<String>,
    pub input: InputSpec,
    pub has_valence_arousal: bool,
    pub has_uncertainty: bool,
}

impl ClassifierSpec {
    /// The spec a manifest describes, with the given optional outputs.
    pub fn from_manifest(m: &Manifest, valence_arousal: bool, uncertainty: bool) -> Result<Self> {
        Ok(Self {
            name: m.name.clone(),
            classes: m.classes.clone(),
            input: input_spec(m)?,
            has_valence_arousal: valence_arousal,
            has_uncertainty: uncertainty,
        })
    }
}

pub trait Classifier: Send {
    fn spec(&self) -> &ClassifierSpec;
    /// Classifies a batch of aligned crops made to `spec().input`.
    fn classify(&mut self, crops: &[&Crop]) -> Result<Vec<ClassOutput>>;
    /// What runs it: "torch" or "onnxruntime".
    fn engine(&self) -> &'static str {
        "torch"
    }
}

/// "auto" | "cpu" | "cuda" | "cuda:N" -> a device, or a config error naming the value.
pub fn parse_device(s: &str) -> Result<Device> {
    match s {
        "auto" => Ok(Device::cuda_if_available()),
        "cpu" => Ok(Device::Cpu),
        "cuda" => Ok(Device::Cuda(0)),
        _ => s
            .strip_prefix("cuda:")
            .and_then(|n| n.parse().ok())
            .map(Device::Cuda)
            .ok_or_else(|| Error::Config(format!("model.device '{s}' is not auto, cpu, cuda or cuda:N"))),
    }
}

/// Resolves the configured device, failing clearly when CUDA was asked for but is absent.
pub fn select_device(s: &str) -> Result<Device> {
    let d = parse_device(s)?;
    if let Device::Cuda(i) = d {
        let n = tch::Cuda::device_count();
        if i as i64 >= n {
            return Err(Error::Config(format!("model.device '{s}': {n} CUDA device(s) available")));
        }
    }
    Ok(d)
}

pub fn input_spec(m: &Manifest) -> Result<InputSpec> {
    let p = &m.preprocessing;
    let bad = |r: &str| Error::Model { name: m.name.clone(), reason: r.into() };
    let color = match p.color.as_str() {
        "gray" => ColorMode::Gray,
        "rgb" => ColorMode::Rgb,
        other => return Err(bad(&format!("unsupported input colour '{other}'"))),
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

/// Loads the classifier a manifest describes, on ONNX Runtime or torch as `engine` and the
/// device decide (`threads`: ORT intra-op threads).
pub fn load_classifier(
    dir: &Path,
    name: &str,
    device: Device,
    engine: Engine,
    threads: usize,
) -> Result<Box<dyn Classifier>> {
    let m = Manifest::load(dir, name)?;
    if m.kind != "classifier" {
        return Err(Error::Model { name: name.into(), reason: format!("is a {}, not a classifier", m.kind) });
    }
    let onnx = m.onnx.as_ref().map(|o| dir.join(&o.file));
    if let Some(path) = onnx.filter(|p| crate::onnx::chosen(engine, device, &m.name, Some(p)).unwrap_or(false)) {
        return Ok(Box::new(onnx_classifier::OnnxClassifier::load(&m, &path, threads.max(1))?));
    }
    if engine == Engine::Onnxruntime {
        return Err(Error::Model { name: name.into(), reason: "the manifest names no ONNX file".into() });
    }
    match m.architecture.as_str() {
        "mini-xception" => Ok(Box::new(mini_xception::MiniXception::load(&m, dir, device, compute_kind(device))?)),
        "resnet18-mra" => {
            Ok(Box::new(resnet_mra::MraClassifier::load(&m, &dir.join(&m.weights), device, compute_kind(device))?))
        }
        other => Err(Error::Model { name: name.into(), reason: format!("unknown architecture '{other}'") }),
    }
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
    match m.architecture.as_str() {
        "resnet18-mra" => Ok(Box::new(resnet_mra::MraClassifier::load(&m, weights, device, compute_kind(device))?)),
        other => Err(Error::Model { name, reason: format!("--model takes trained checkpoints, not '{other}'") }),
    }
}

/// The floating-point kind the tch networks compute in: half precision on CUDA (tensor
/// cores, half the memory traffic), f32 on the CPU.
pub fn compute_kind(device: Device) -> Kind {
    if device.is_cuda() {
        Kind::Half
    } else {
        Kind::Float
    }
}

/// Host bytes to `device`: through pinned (page-locked) memory and a non-blocking copy on
/// CUDA, so the transfer overlaps with queued GPU work; a plain copy elsewhere.
pub fn upload_u8(bytes: &[u8], device: Device) -> Tensor {
    let t = Tensor::from_slice(bytes);
    if device.is_cuda() {
        t.pin_memory(device).to_device_(device, Kind::Uint8, true, false)
    } else {
        t.to_device(device)
    }
}

/// Stacks crops into a normalised [N, C, H, W] float tensor on `device`.
pub fn crops_to_tensor(crops: &[&Crop], spec: &InputSpec, device: Device) -> Result<Tensor> {
    let (w, h, c) = (spec.width as i64, spec.height as i64, spec.color.channels() as i64);
    let mut buf = Vec::with_capacity(crops.len() * (w * h * c) as usize);
    for crop in crops {
        if (crop.width as i64, crop.height as i64, crop.channels as i64) != (w, h, c) {
            return Err(Error::Model {
                name: "classifier".into(),
                reason: format!(
                    "crop {}x{}x{} does not match input {w}x{h}x{c}",
                    crop.width, crop.height, crop.channels
                ),
            });
        }
        buf.extend_from_slice(&crop.data);
    }
    let mean = Tensor::from_slice(&spec.mean).view([1, c, 1, 1]).to_device(device);
    let std = Tensor::from_slice(&spec.std).view([1, c, 1, 1]).to_device(device);
    let x = upload_u8(&buf, device).view([crops.len() as i64, h, w, c]).permute([0, 3, 1, 2]).to_kind(Kind::Float);
    Ok(((x - mean) / std).contiguous())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_strings() {
        assert_eq!(parse_device("cpu").unwrap(), Device::Cpu);
        assert_eq!(parse_device("cuda:1").unwrap(), Device::Cuda(1));
        assert!(parse_device("gpu").is_err());
    }

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
        let t = crops_to_tensor(&[&crop], &spec, Device::Cpu).unwrap();
        assert_eq!(t.size(), [1, 3, 1, 2]);
        let v = Vec::<f32>::try_from(&t.view([-1])).unwrap();
        assert_eq!(v, [1.0, 2.0, 1.0, 2.0, 2.0, 4.0]);
    }
}
