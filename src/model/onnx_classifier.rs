//! Any classifier whose manifest names an ONNX file with one input `input` [N, C, H, W]
//! (normalised as the manifest says) and one output `probabilities` [N, K], run by ONNX
//! Runtime on the CPU. On a small CPU it is several times faster than libtorch eager for
//! these small convnets (BENCHMARKS.md); the tch implementation stays for CUDA and for
//! models with more heads. A batch runs in passes of `pass_faces` crops ([`super::CpuRun`]).
use super::{Classifier, CpuRun};
use crate::assets::manifest::Manifest;
use crate::error::{Error, Result};
use crate::messages::{ClassOutput, ClassifierSpec, Crop};
use ort::session::Session;
use ort::value::TensorRef;
use std::path::Path;

pub struct OnnxClassifier {
    spec: ClassifierSpec,
    session: Session,
    /// Most crops a pass; 0: the whole batch in one.
    pass_faces: usize,
    /// Normalised NCHW pass, reused across calls.
    input: Vec<f32>,
}

impl OnnxClassifier {
    pub fn load(m: &Manifest, onnx: &Path, cpu: CpuRun) -> Result<Self> {
        let spec = ClassifierSpec::from_manifest(m, false, false)?;
        let session = crate::runtime::onnx::session(&m.name, onnx, cpu.threads.max(1))?;
        Ok(Self { spec, session, pass_faces: cpu.pass_faces, input: Vec::new() })
    }

    fn err(&self, reason: impl std::fmt::Display) -> Error {
        Error::Model { name: format!("{} (onnxruntime)", self.spec.name), reason: reason.to_string() }
    }

    /// One forward pass over `crops` (never empty: [`Classifier::classify`] cuts them).
    fn run_pass(&mut self, crops: &[&Crop]) -> Result<Vec<ClassOutput>> {
        let s = &self.spec.input;
        let (w, h, c) = (s.width as usize, s.height as usize, s.color.channels() as usize);
        let plane = w * h;
        self.input.resize(crops.len() * c * plane, 0.0);
        for (n, crop) in crops.iter().enumerate() {
            if (crop.width as usize, crop.height as usize, crop.channels as usize) != (w, h, c) {
                return Err(self.err(format!(
                    "crop {}x{}x{} does not match input {w}x{h}x{c}",
                    crop.width, crop.height, crop.channels
                )));
            }
            // interleaved HWC bytes -> planar CHW, (x - mean) / std per channel
            let out = &mut self.input[n * c * plane..(n + 1) * c * plane];
            for ch in 0..c {
                let (mean, inv_std) = (s.mean[ch], 1.0 / s.std[ch]);
                let dst = &mut out[ch * plane..(ch + 1) * plane];
                for (i, d) in dst.iter_mut().enumerate() {
                    *d = (crop.data[i * c + ch] as f32 - mean) * inv_std;
                }
            }
        }
        let k = self.spec.classes.len();
        let x = TensorRef::from_array_view(([crops.len(), c, h, w], &self.input[..])).map_err(|e| self.err(e))?;
        let out = self
            .session
            .run(ort::inputs!["input" => x])
            .map_err(|e| Error::Model { name: format!("{} (onnxruntime)", self.spec.name), reason: e.to_string() })?;
        let (shape, probs) = out["probabilities"]
            .try_extract_tensor::<f32>()
            .map_err(|e| Error::Model { name: format!("{} (onnxruntime)", self.spec.name), reason: e.to_string() })?;
        if probs.len() != crops.len() * k {
            return Err(Error::Model {
                name: format!("{} (onnxruntime)", self.spec.name),
                reason: format!("output shape {shape:?}, expected [{}, {k}]", crops.len()),
            });
        }
        Ok(probs.chunks(k).map(ClassOutput::probs_only).collect())
    }
}

impl Classifier for OnnxClassifier {
    fn spec(&self) -> &ClassifierSpec {
        &self.spec
    }

    fn engine(&self) -> crate::runtime::EngineKind {
        crate::runtime::EngineKind::Onnxruntime
    }

    fn pass_faces(&self) -> Option<usize> {
        (self.pass_faces > 0).then_some(self.pass_faces)
    }

    fn classify(&mut self, crops: &[&Crop]) -> Result<Vec<ClassOutput>> {
        let pass = if self.pass_faces == 0 { crops.len().max(1) } else { self.pass_faces };
        let mut out = Vec::with_capacity(crops.len());
        for chunk in crops.chunks(pass) {
            out.extend(self.run_pass(chunk)?);
        }
        Ok(out)
    }

    /// One batch of blank crops as large as a pass can be. ONNX Runtime's arena grows to the
    /// largest pass it has run and keeps that memory: without this, resident memory stepped
    /// up by a few megabytes whenever a run first queued more crops than ever before (the
    /// soak test saw steps of 3-6 MB at random frames, each within 10 ms of a new largest
    /// batch). Run here, the peak comes before the first frame and stays flat after. Exact
    /// shapes on the CPU, so there are no buckets to run.
    fn warm_up(&mut self, _buckets: Option<crate::runtime::buckets::Buckets>, max_batch: usize) -> Result<Vec<usize>> {
        let s = &self.spec.input;
        let n = match self.pass_faces {
            0 => max_batch.max(1),
            pass => pass.min(max_batch.max(1)),
        };
        let blank = Crop {
            width: s.width,
            height: s.height,
            channels: s.color.channels(),
            data: vec![0; s.width as usize * s.height as usize * s.color.channels() as usize],
        };
        self.classify(&vec![&blank; n])?;
        Ok(vec![n])
    }
}
