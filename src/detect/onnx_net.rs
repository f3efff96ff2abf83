//! RetinaFace's original ONNX graph through ONNX Runtime (see `crate::onnx` for why).
//! The graph's outputs match the tch network's: `loc` [1, A, 4], `conf` [1, A, 2]
//! (softmaxed), `landmarks` [1, A, 10], anchors in the same order.
use crate::error::{Error, Result};
use crate::messages::RgbImage;
use ort::session::Session;
use ort::value::TensorRef;
use std::path::{Path, PathBuf};

pub struct OnnxRetinaFace {
    session: Session,
    mean_bgr: [f32; 3],
    /// Planar BGR input, reused across frames (resized only when the frame size changes).
    input: Vec<f32>,
}

/// Flat outputs for one image: per-anchor face probability, box offsets, landmark offsets.
pub struct Outputs<'a> {
    pub scores: Vec<f32>,
    pub loc: &'a [f32],
    pub landmarks: &'a [f32],
}

impl OnnxRetinaFace {
    pub fn load(name: &str, model: &Path, mean_bgr: [f32; 3], threads: usize) -> Result<Self> {
        let session = crate::runtime::onnx::session(name, model, threads)?;
        Ok(Self { session, mean_bgr, input: Vec::new() })
    }

    /// Runs the graph on one RGB image and hands the flat outputs to `f`.
    pub fn run<T>(&mut self, img: &RgbImage, f: impl FnOnce(Outputs<'_>) -> Result<T>) -> Result<T> {
        let mut f = Some(f);
        let mut out = None;
        self.run_batch(&[img], |_, o| {
            out = Some((f.take().expect("one image, one call"))(o)?);
            Ok(())
        })?;
        Ok(out.expect("the graph ran on the image"))
    }

    /// Runs the graph once on images of one size (a batch of N) and hands each image's
    /// flat outputs to `f` with its index.
    pub fn run_batch(&mut self, imgs: &[&RgbImage], mut f: impl FnMut(usize, Outputs<'_>) -> Result<()>) -> Result<()> {
        let Some(first) = imgs.first() else { return Ok(()) };
        let (w, h) = (first.width as usize, first.height as usize);
        let hw = w * h;
        self.input.resize(3 * hw * imgs.len(), 0.0);
        let [mb, mg, mr] = self.mean_bgr;
        for (img, planes) in imgs.iter().zip(self.input.chunks_exact_mut(3 * hw)) {
            debug_assert_eq!((img.width as usize, img.height as usize), (w, h), "one size per batch");
            let (b, rest) = planes.split_at_mut(hw);
            let (g, r) = rest.split_at_mut(hw);
            for (i, px) in img.data.chunks_exact(3).enumerate() {
                r[i] = px[0] as f32 - mr;
                g[i] = px[1] as f32 - mg;
                b[i] = px[2] as f32 - mb;
            }
        }
        let err = |e: ort::Error| Error::Model { name: "retinaface (onnxruntime)".into(), reason: e.to_string() };
        let x = TensorRef::from_array_view(([imgs.len(), 3, h, w], &self.input[..])).map_err(err)?;
        let out = self.session.run(ort::inputs!["input" => x]).map_err(err)?;
        let (_, loc) = out["loc"].try_extract_tensor::<f32>().map_err(err)?;
        let (_, conf) = out["conf"].try_extract_tensor::<f32>().map_err(err)?;
        let (_, landmarks) = out["landmarks"].try_extract_tensor::<f32>().map_err(err)?;
        let n = conf.len() / 2 / imgs.len();
        for i in 0..imgs.len() {
            let scores = conf[2 * n * i..2 * n * (i + 1)].chunks_exact(2).map(|c| c[1]).collect();
            let loc = &loc[4 * n * i..4 * n * (i + 1)];
            let landmarks = &landmarks[10 * n * i..10 * n * (i + 1)];
            f(i, Outputs { scores, loc, landmarks })?;
        }
        Ok(())
    }
}

/// A session built the first time it runs. The regions' sessions are only needed where
/// faces are followed between keyframes, and the whole graph's only for faces too small
/// for the coarse one: a photo needs neither, a video of large faces only the coarse
/// graph. Built at load, they cost a photo 36 ms of its 162 ms and 6 MiB (BENCHMARKS.md,
/// issue 25). The model file is checked at load all the same.
pub struct OnFirstUse {
    name: String,
    model: PathBuf,
    mean_bgr: [f32; 3],
    threads: usize,
    net: Option<OnnxRetinaFace>,
}

impl OnFirstUse {
    pub fn new(name: &str, model: &Path, mean_bgr: [f32; 3], threads: usize) -> Self {
        Self { name: name.into(), model: model.into(), mean_bgr, threads, net: None }
    }

    /// The session, built now if it was not yet.
    pub fn get(&mut self) -> Result<&mut OnnxRetinaFace> {
        if self.net.is_none() {
            self.net = Some(OnnxRetinaFace::load(&self.name, &self.model, self.mean_bgr, self.threads)?);
        }
        Ok(self.net.as_mut().expect("built above"))
    }

    /// Whether the session has been built.
    pub fn built(&self) -> bool {
        self.net.is_some()
    }
}
