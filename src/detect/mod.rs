//! Face detection: scale the frame down when it is large, run RetinaFace, decode, filter by
//! score, suppress overlaps, map back to full resolution, drop faces too small to read.
//! Two engines run the same network: ONNX Runtime on the CPU (faster there, the original
//! graph) and tch (CUDA, and the fallback where ORT cannot be loaded). With the torch
//! engine on CUDA the steps around the network run on the device too (`device_post`): a
//! GPU that needs microseconds per network pass must not wait on a CPU resize or decode.
pub mod ahead;
pub mod anchors;
#[cfg(feature = "torch")]
pub mod device_post;
mod int8;
pub mod keyframe;
pub mod nms;
pub mod onnx_net;
#[cfg(feature = "torch")]
pub mod retinaface;

use crate::assets::manifest::AnchorConfig;
use crate::assets::manifest::{Architecture, Manifest};
#[cfg(feature = "torch")]
use crate::assets::weights::Weights;
use crate::error::{Error, Result};
use crate::messages::{Detection, DeviceTensor, RgbImage};
#[cfg(feature = "torch")]
use crate::runtime::{compute_kind, staging::StagingRing};
use crate::runtime::{Device, Engine, EngineKind, Preprocess};
pub use int8::{cpu_has_vnni, Int8Search};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
#[cfg(feature = "torch")]
use tch::{Kind, Tensor};

/// What a detector will see first, for [`Detector::prepare`]: which of its sessions to
/// build before the first frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Not known (a library caller, a service): the whole frame's f32 session, as any
    /// frame may need it.
    Unknown,
    /// Frames that stand alone: photos, a folder of them, an image sequence read as stills.
    Stills,
    /// A video or a stream: frames that follow each other.
    Video,
}

pub struct Detector {
    net: Net,
    cfg: DetectConfig,
    anchors: AnchorConfig,
    priors: HashMap<(u32, u32), Vec<[f32; 4]>>,
    /// Whole frames scaled for the network, by size pair, reused frame to frame.
    resamplers: keyframe::Resamplers,
    /// Keyframes and the faces to follow between them (see `keyframe`).
    schedule: keyframe::Schedule,
    /// The regions' search: with ONNX Runtime in a session of its own (`region_threads`).
    regions: keyframe::RegionSearch,
    /// The network's mean colour (RGB): what a region's input is padded with, which the
    /// network then sees as zeros.
    fill_rgb: [u8; 3],
    /// The INT8 graph for searches that only find faces (`search_int8`), built on first use.
    find: Option<onnx_net::OnFirstUse>,
}

enum Net {
    #[cfg(feature = "torch")]
    Torch {
        net: retinaface::RetinaFace,
        /// BGR mean as a [1, 3, 1, 1] tensor on the device, made once.
        mean_bgr: Tensor,
        device: Device,
        /// Frames reach the device through this ring (see `runtime::staging`).
        ring: StagingRing,
        /// Resize, decoding and suppression on the device, the frame kept there.
        on_device: bool,
        /// Priors per input size as device tensors, for decoding on the device.
        priors: HashMap<(u32, u32), Tensor>,
    },
    /// Built at load, except where [`Detector::load_for_finding`] never needs it.
    Onnx(onnx_net::OnFirstUse),
}

/// What detection found in one frame: faces in full-frame pixels, and with device-side
/// preprocessing the frame itself on the device ([1, 3, H, W] f32 RGB, 0..255), uploaded once
/// and kept for alignment.
pub struct Detected {
    pub faces: Vec<Detection>,
    pub frame: Option<DeviceTensor>,
    /// The whole frame was searched (not only the regions around known faces).
    pub keyframe: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectConfig {
    /// Frames whose longer side exceeds this are scaled down for detection; results are
    /// mapped back to full resolution. 0 disables scaling.
    pub max_side: u32,
    /// Minimum face probability for a detection to be kept.
    pub score_threshold: f32,
    /// Boxes overlapping a higher-scoring box by more than this IoU are suppressed.
    pub nms_iou: f32,
    /// The smallest face wanted, in source pixels (MTCNN's `minsize`). Smaller faces are
    /// dropped, and a keyframe's search for new faces, which their regions then place, is
    /// scaled down as far as this allows: until a face of this size reaches
    /// `face_input_px` (never up, never over `max_side`). Whole frames whose boxes are the
    /// output (photos, `keyframe_interval = 1`) are searched at the placing scale
    /// ([`placing_scale`]).
    pub min_face_px: f32,
    /// The face side, in detector input pixels, that RetinaFace still finds reliably: its
    /// smallest anchor (16 px at stride 8) with margin. Only used with `min_face_px`.
    pub face_input_px: f32,
    /// Full-frame detection every this many frames (1 = every frame); between keyframes
    /// only the regions around the last frame's faces are searched (`keyframe`).
    pub keyframe_interval: u32,
    /// A keyframe also comes once this much video time has passed since the last (ms;
    /// 0 = frames only), so a face entering is found as fast at 24 fps as at 60.
    pub keyframe_max_ms: f64,
    /// In a run of several streams, spread the streams' keyframes over the keyframe period
    /// (`keyframe::Schedule::staggered`) instead of all streams searching whole frames in
    /// the same frame period.
    pub stagger_keyframes: bool,
    /// A file of one stream on the CPU: the whole-frame searches of its scheduled keyframes
    /// run on a thread of their own, ahead of the detector (`ahead`), with
    /// `search_ahead_threads` ONNX Runtime threads. The faces are the same either way.
    pub search_ahead: bool,
    /// ONNX Runtime threads of that search's session (0 = one per core).
    pub search_ahead_threads: usize,
    /// The keyframes' whole-frame search, which only finds faces (they are placed by
    /// float searches: the placing scale's and their regions'), through the detector's
    /// INT8 graph (the model's `onnx.int8` file, quantised at setup): "auto" where the CPU
    /// multiplies 8-bit integers natively (AVX-512 VNNI or AVX-VNNI), "on", "off".
    pub search_int8: Int8Search,
    /// Between keyframes a face is searched in a square of this many times its longer
    /// box side, centred on its last box.
    pub region_expand: f32,
    /// Largest side of the detector input for one region (px): regions are scaled down to
    /// fit it, never finer than the placing scale, and batched (padded to the batch's
    /// largest, in steps of 8).
    pub region_input_px: u32,
    /// Between keyframes a face is searched at a scale that makes its longer side about
    /// this many detector input pixels (never finer than the placing scale, never over
    /// `region_input_px`): its size is known from the frame before, and RetinaFace places
    /// a face of this size (between its 64 and 128 px anchors) as steadily as a larger one
    /// (BENCHMARKS.md, issue 25: landmark jitter unchanged at 96, up 1.5-4x at 32-64).
    /// 0 = as large as `region_input_px` allows.
    pub region_face_px: f32,
    /// A region whose face is at least this many detector input pixels (its longer side,
    /// as the last box gives it) is searched by the graph without RetinaFace's finest level
    /// (stride 8, anchors 16 and 32 px; the model's `onnx.coarse` file): a face this large
    /// is found at stride 16 or 32, and the finest level is ~40 % of the work on a region.
    /// Smaller faces, and every whole frame, go through the whole graph. 0 = never.
    pub region_coarse_face_px: f32,
    /// A region's best face continues the last one only with at least this IoU with its
    /// last box; otherwise the face counts as lost and the frame becomes a keyframe.
    pub region_min_iou: f32,
    /// ONNX Runtime threads of the regions' session (0 = one per core).
    pub region_threads: usize,
    /// At most this many faces per frame (highest scores first).
    pub max_faces: usize,
    /// Engine for the detector network: "auto" (ONNX Runtime on the CPU when it can be
    /// loaded, else torch), "onnxruntime", or "torch" (the only one that runs on CUDA).
    pub backend: Engine,
    /// ONNX Runtime intra-op threads for detection; 0 = one per core.
    pub threads: usize,
    /// Most above-threshold candidates (highest scores first) that enter suppression.
    pub max_candidates: usize,
}

impl Default for DetectConfig {
    fn default() -> Self {
        Self {
            max_side: 640,
            score_threshold: 0.75,
            nms_iou: 0.4,
            min_face_px: 32.0,
            face_input_px: 16.0,
            keyframe_interval: 6,
            keyframe_max_ms: 200.0,
            stagger_keyframes: true,
            search_ahead: true,
            search_ahead_threads: 1,
            search_int8: Int8Search::Auto,
            region_expand: 1.5,
            region_input_px: 192,
            region_face_px: 96.0,
            region_coarse_face_px: 64.0,
            region_min_iou: 0.3,
            region_threads: 1,
            max_faces: 64,
            backend: Engine::Auto,
            threads: 0,
            max_candidates: 5000,
        }
    }
}

/// Factor (<= 1) at which faces are placed (their boxes and landmarks measured): the
/// frame's longer side fits `max_side`.
pub fn placing_scale(width: u32, height: u32, cfg: &DetectConfig) -> f32 {
    let longer = width.max(height);
    if cfg.max_side == 0 || longer <= cfg.max_side {
        1.0
    } else {
        cfg.max_side as f32 / longer as f32
    }
}

/// Factor (<= 1) at which a whole frame is searched for faces: the placing scale, or less
/// as long as a face of `min_face_px` still reaches `face_input_px` in the detector input.
pub fn detection_scale(width: u32, height: u32, cfg: &DetectConfig) -> f32 {
    let by_face = if cfg.min_face_px > 0.0 { (cfg.face_input_px / cfg.min_face_px).min(1.0) } else { 1.0 };
    placing_scale(width, height, cfg).min(by_face)
}

/// The size a `width` x `height` frame is searched at.
pub fn detection_size(width: u32, height: u32, cfg: &DetectConfig) -> (u32, u32) {
    scaled_size(width, height, detection_scale(width, height, cfg))
}

fn scaled_size(width: u32, height: u32, s: f32) -> (u32, u32) {
    if s < 1.0 {
        (((width as f32 * s).round() as u32).max(1), ((height as f32 * s).round() as u32).max(1))
    } else {
        (width, height)
    }
}

impl Detector {
    /// `preprocess` decides where resize, decoding and suppression run for the torch
    /// engine (the ONNX Runtime engine always runs them on the host).
    pub fn load(
        manifest: &Manifest,
        dir: &Path,
        device: Device,
        cfg: DetectConfig,
        preprocess: Preprocess,
    ) -> Result<Self> {
        Self::load_expecting(manifest, dir, device, cfg, preprocess, Expect::Unknown)
    }

    /// [`Self::load`], with the sessions built that the first frames of the input `expect`
    /// says will come ([`Self::prepare`]).
    pub fn load_expecting(
        manifest: &Manifest,
        dir: &Path,
        device: Device,
        cfg: DetectConfig,
        preprocess: Preprocess,
        expect: Expect,
    ) -> Result<Self> {
        let mut det = Self::load_unbuilt(manifest, dir, device, cfg, preprocess)?;
        det.prepare(expect)?;
        Ok(det)
    }

    /// Builds the ONNX Runtime sessions the first frames of `expect` need, so that they are
    /// built while a run starts rather than on its first frame; any other session is still
    /// built when a search first needs it. Photos are searched whole in f32. A video's first
    /// frame is a keyframe: its faces are found by the INT8 graph (searched ahead, on a
    /// detector of its own, for a file) and placed by their regions, which for any face of
    /// 64 px or more in its region's input (`region_coarse_face_px`) is the coarse graph; the
    /// f32 whole-frame session is then only a fallback, and is not built (BENCHMARKS.md,
    /// twentieth pass: ~20 ms of a start and 5 MiB).
    pub fn prepare(&mut self, expect: Expect) -> Result<()> {
        let keyframes = self.cfg.keyframe_interval > 1;
        let whole = match expect {
            Expect::Unknown | Expect::Stills => true,
            Expect::Video => !keyframes || !self.finds_int8(),
        };
        if whole {
            self.build_f32_session()?;
        }
        if expect == Expect::Video && keyframes {
            self.regions.build_coarse()?;
        }
        Ok(())
    }

    /// Whether the whole frame's f32 session has been built (the torch engine's net always is).
    pub fn whole_frame_session_built(&self) -> bool {
        match &self.net {
            #[cfg(feature = "torch")]
            Net::Torch { .. } => true,
            Net::Onnx(net) => net.built(),
        }
    }

    /// [`Self::load`] on the CPU for a detector that only finds faces on whole frames (the
    /// search ahead of a file's keyframes): where `search_int8` does that, only the INT8
    /// session is built (its f32 whole-frame one it would never run), and at once, on the
    /// loading thread, not on the stream's first frame.
    pub fn load_for_finding(
        manifest: &Manifest,
        dir: &Path,
        cfg: DetectConfig,
        preprocess: Preprocess,
    ) -> Result<Self> {
        let mut det = Self::load_unbuilt(manifest, dir, Device::Cpu, cfg, preprocess)?;
        match det.find.as_mut() {
            // its first search is the stream's first frame: built now, while the run starts
            Some(find) => {
                find.get()?;
            }
            None => det.build_f32_session()?,
        }
        Ok(det)
    }

    /// The ONNX Runtime whole-frame session, built now (nothing for torch, built at load).
    fn build_f32_session(&mut self) -> Result<()> {
        #[allow(irrefutable_let_patterns)] // without the torch feature ONNX Runtime is the only engine
        if let Net::Onnx(net) = &mut self.net {
            net.get()?;
        }
        Ok(())
    }

    /// The detector with its ONNX Runtime sessions still to build (each on first use).
    fn load_unbuilt(
        manifest: &Manifest,
        dir: &Path,
        device: Device,
        cfg: DetectConfig,
        preprocess: Preprocess,
    ) -> Result<Self> {
        if manifest.architecture != Architecture::RetinafaceMobilenet025 {
            return Err(Error::Model {
                name: manifest.name.clone(),
                reason: format!("architecture '{}' is not a supported detector", manifest.architecture),
            });
        }
        let p = &manifest.preprocessing;
        let mean_bgr = match p.mean.as_slice() {
            [b, g, r] => [*b, *g, *r],
            _ => {
                return Err(Error::Model {
                    name: manifest.name.clone(),
                    reason: "preprocessing.mean needs 3 values".into(),
                })
            }
        };
        let anchors = manifest.anchors.clone().unwrap_or_default();
        let onnx_path = manifest.onnx.as_ref().map(|o| dir.join(&o.file));
        let (mut region_net, mut region_coarse, mut find) = (None, None, None);
        let use_onnx = crate::runtime::onnx::chosen(cfg.backend, device, &manifest.name, onnx_path.as_deref())?;
        let net = if let Some(path) = onnx_path.filter(|_| use_onnx) {
            if let Some(o) = &manifest.onnx {
                manifest.verify(&path, &o.sha256)?;
            }
            let threads = crate::runtime::threads_or_cores(cfg.threads);
            // the regions' sessions are built when a region first needs them
            // ([`onnx_net::OnFirstUse`]); their files are checked now
            if cfg.keyframe_interval > 1 {
                let t = crate::runtime::threads_or_cores(cfg.region_threads);
                region_net = Some(onnx_net::OnFirstUse::new(&manifest.name, &path, mean_bgr, t));
                let coarse = manifest.onnx.as_ref().and_then(|o| o.coarse.as_ref());
                if let Some(c) = coarse.filter(|_| cfg.region_coarse_face_px > 0.0) {
                    let path = dir.join(&c.file);
                    manifest.verify(&path, &c.sha256)?;
                    let net = onnx_net::OnFirstUse::new(&manifest.name, &path, mean_bgr, t);
                    region_coarse = Some((net, anchors.from_level(c.first_level)));
                }
            }
            // built when a search first needs it: never with keyframes off
            find = int8::graph(manifest, dir, &cfg, mean_bgr, threads)?;
            Net::Onnx(onnx_net::OnFirstUse::new(&manifest.name, &path, mean_bgr, threads))
        } else {
            torch_net(manifest, dir, device, mean_bgr, preprocess)?
        };
        let fill_rgb = [mean_bgr[2], mean_bgr[1], mean_bgr[0]].map(|v| v.round().clamp(0.0, 255.0) as u8);
        Ok(Self {
            net,
            cfg,
            anchors,
            priors: HashMap::new(),
            resamplers: keyframe::Resamplers::default(),
            schedule: Default::default(),
            regions: keyframe::RegionSearch::new(region_net, region_coarse),
            fill_rgb,
            find,
        })
    }

    /// Whether whole-frame searches that only find faces go through the INT8 graph.
    pub fn finds_int8(&self) -> bool {
        self.find.is_some()
    }

    /// Whether the INT8 graph's session has been built (at its first search, or a warm-up).
    pub fn int8_session_built(&self) -> bool {
        self.find.as_ref().is_some_and(|f| f.built())
    }

    /// Which engine runs the network.
    pub fn engine(&self) -> EngineKind {
        match self.net {
            #[cfg(feature = "torch")]
            Net::Torch { .. } => EngineKind::Torch,
            Net::Onnx(_) => EngineKind::Onnxruntime,
        }
    }

    /// The libtorch device of the torch engine; None for ONNX Runtime.
    pub fn device(&self) -> Option<Device> {
        match &self.net {
            #[cfg(feature = "torch")]
            Net::Torch { device, .. } => Some(*device),
            Net::Onnx(_) => None,
        }
    }

    /// The libtorch device when the torch engine preprocesses on it (frames then come back
    /// in [`Detected::frame`]); None otherwise.
    pub fn frame_device(&self) -> Option<Device> {
        match &self.net {
            #[cfg(feature = "torch")]
            Net::Torch { device, on_device: true, .. } => Some(*device),
            _ => None,
        }
    }

    /// Runs detection once on a black frame of the stream's size, so the network's input
    /// shape, the priors and every buffer exist before the first real frame. The whole
    /// frame's f32 search is warmed only where [`Self::prepare`] built its session: a
    /// detector prepared for video finds faces in INT8 and places them by their regions.
    pub fn warm_up(&mut self, width: u32, height: u32) -> Result<()> {
        if width == 0 || height == 0 {
            return Ok(());
        }
        let black = RgbImage::new(width, height, vec![0; width as usize * height as usize * 3]);
        if self.whole_frame_session_built() {
            self.detect_frame(&black)?;
        }
        if self.cfg.keyframe_interval > 1 && self.frame_device().is_none() {
            let side = self.cfg.region_input_px;
            let region = RgbImage::new(side, side, self.fill_rgb.repeat(side as usize * side as usize));
            if self.regions.net.is_some() {
                self.regions.warm_up(&region, &self.cfg, &self.anchors)?;
            } else {
                self.detect_batch(&[&region])?;
            }
            // the INT8 graph's session too, or a live stream's first keyframe builds it
            if self.finds_int8() {
                self.search_frame(&black)?;
            }
        }
        if let Some(device) = self.device() {
            crate::runtime::synchronize(device);
        }
        Ok(())
    }

    /// Faces in full-frame coordinates, best first, at most `max_faces`.
    pub fn detect(&mut self, img: &RgbImage) -> Result<Vec<Detection>> {
        Ok(self.detect_frame(img)?.faces)
    }

    /// [`Self::detect`], plus the frame on the device when preprocessing runs there: the
    /// whole frame searched at the placing scale, whose boxes and landmarks are the output.
    pub fn detect_frame(&mut self, img: &RgbImage) -> Result<Detected> {
        let mut found = self.search_at(img, placing_scale(img.width, img.height, &self.cfg), false)?;
        self.keep_wanted(&mut found.faces);
        Ok(found)
    }

    /// The whole frame searched only to find faces, at the detection scale; they are
    /// placed elsewhere (in their regions, `keyframe`). Faces in frame pixels, before the
    /// size floor and the cap.
    /// With `search_int8`, through the INT8 graph.
    pub(super) fn search_frame(&mut self, img: &RgbImage) -> Result<Detected> {
        let int8 = self.finds_int8();
        self.search_at(img, detection_scale(img.width, img.height, &self.cfg), int8)
    }

    /// The whole frame searched at scale `s`, faces in frame pixels; `int8`: by the INT8
    /// graph.
    fn search_at(&mut self, img: &RgbImage, s: f32, int8: bool) -> Result<Detected> {
        let (w, h) = scaled_size(img.width, img.height, s);
        let (mut faces, frame) = match self.frame_device() {
            #[cfg(feature = "torch")]
            Some(_) => self.detect_on_device(img, w, h)?,
            _ => (self.detect_on_host(img, w, h, int8)?, None),
        };
        if (w, h) != (img.width, img.height) {
            let (sx, sy) = (img.width as f32 / w as f32, img.height as f32 / h as f32);
            for det in &mut faces {
                det.bbox = [det.bbox[0] * sx, det.bbox[1] * sy, det.bbox[2] * sx, det.bbox[3] * sy];
                for p in &mut det.landmarks {
                    *p = [p[0] * sx, p[1] * sy];
                }
            }
        }
        Ok(Detected { faces, frame, keyframe: true })
    }

    /// A frame's faces, best first, cut to the ones wanted: the size floor, then the cap.
    fn keep_wanted(&self, faces: &mut Vec<Detection>) {
        faces.retain(|d| d.short_side_px() >= self.cfg.min_face_px);
        faces.truncate(self.cfg.max_faces);
    }

    /// Host path: the Rust resampler, then the network, then decoding on the CPU.
    fn detect_on_host(&mut self, img: &RgbImage, w: u32, h: u32, int8: bool) -> Result<Vec<Detection>> {
        if (w, h) == (img.width, img.height) {
            return self.detect_unscaled_by(img, int8);
        }
        let mut resamplers = std::mem::take(&mut self.resamplers);
        let found = self.detect_unscaled_by(resamplers.run(((img.width, img.height), (w, h)), img, (0, 0)), int8);
        self.resamplers = resamplers;
        found
    }

    /// Device path: one upload of the frame, resize, network, decoding and the overlap
    /// matrix on the device; detections at the `w` x `h` detection size, and the frame.
    #[cfg(feature = "torch")]
    fn detect_on_device(&mut self, img: &RgbImage, w: u32, h: u32) -> Result<(Vec<Detection>, Option<DeviceTensor>)> {
        let Net::Torch { net, mean_bgr, device, ring, priors, .. } = &mut self.net else {
            unreachable!("detect_on_device runs only for the torch engine")
        };
        let device = *device;
        let (fw, fh) = (img.width as i64, img.height as i64);
        let params = device_post::DecodeParams {
            variances: self.anchors.variances,
            width: w,
            height: h,
            score_threshold: self.cfg.score_threshold,
            nms_iou: self.cfg.nms_iou,
            max_candidates: self.cfg.max_candidates,
        };
        let anchors = &self.anchors;
        let pri = priors.entry((w, h)).or_insert_with(|| device_post::priors_tensor(anchors, w, h, device));
        tch::no_grad(|| {
            let frame = ring.upload(&img.data).view([fh, fw, 3]).permute([2, 0, 1]).unsqueeze(0).to_kind(Kind::Float);
            let small = device_post::resize(&frame, w, h);
            let x = (small.flip([1]) - &*mean_bgr).to_kind(compute_kind(device)).contiguous();
            let out = net.forward(&x);
            let dets = device_post::decode(&out.scores.get(0), &out.loc.get(0), &out.landmarks.get(0), pri, params)?;
            Ok((dets, Some(DeviceTensor(frame))))
        })
    }

    /// [`Self::detect_unscaled`] on several images of one size, in one pass of the network
    /// where the engine takes batches (ONNX Runtime), one by one otherwise.
    pub fn detect_batch(&mut self, imgs: &[&RgbImage]) -> Result<Vec<Vec<Detection>>> {
        #[allow(irrefutable_let_patterns)] // without the torch feature ONNX Runtime is the only engine
        let Net::Onnx(net) = &mut self.net
        else {
            return imgs.iter().map(|img| self.detect_unscaled(img)).collect();
        };
        onnx_batch(net.get()?, imgs, &mut self.priors, &self.anchors, &self.cfg)
    }

    /// Runs the network on the image as given: score threshold and NMS only.
    pub fn detect_unscaled(&mut self, img: &RgbImage) -> Result<Vec<Detection>> {
        self.detect_unscaled_by(img, false)
    }

    /// [`Self::detect_unscaled`], through the INT8 graph where `int8` (and it is loaded).
    fn detect_unscaled_by(&mut self, img: &RgbImage, int8: bool) -> Result<Vec<Detection>> {
        let (w, h) = (img.width, img.height);
        let priors = self.priors.entry((w, h)).or_insert_with(|| anchors::priors(&self.anchors, w, h));
        let post = Post { priors, var: self.anchors.variances, cfg: &self.cfg, w, h };
        if let Some(find) = self.find.as_mut().filter(|_| int8) {
            return find.get()?.run(img, |o| post.decode(&o.scores, o.loc, o.landmarks));
        }
        match &mut self.net {
            Net::Onnx(net) => net.get()?.run(img, |o| post.decode(&o.scores, o.loc, o.landmarks)),
            #[cfg(feature = "torch")]
            Net::Torch { net, mean_bgr, device, ring, .. } => {
                // the bytes go up once; flip, subtract and permute happen on the device
                let kind = compute_kind(*device);
                let x = tch::no_grad(|| {
                    ring.upload(&img.data)
                        .view([h as i64, w as i64, 3])
                        .permute([2, 0, 1])
                        .unsqueeze(0)
                        .flip([1]) // RGB -> BGR
                        .to_kind(Kind::Float)
                        .f_sub(mean_bgr)
                        .map(|t| t.to_kind(kind).contiguous())
                })?;
                let out = tch::no_grad(|| net.forward(&x));
                post.decode(&to_vec(&out.scores)?, &to_vec(&out.loc)?, &to_vec(&out.landmarks)?)
            }
        }
    }
}

/// `imgs` (all of one size) through an ONNX Runtime session in one batch: each image's
/// faces in its own pixels, against the priors kept in `priors` for that size. The
/// whole-frame detector's and the regions' sessions both run batches this way.
fn onnx_batch(
    net: &mut onnx_net::OnnxRetinaFace,
    imgs: &[&RgbImage],
    priors: &mut HashMap<(u32, u32), Vec<[f32; 4]>>,
    anchors: &AnchorConfig,
    cfg: &DetectConfig,
) -> Result<Vec<Vec<Detection>>> {
    let Some(first) = imgs.first() else { return Ok(Vec::new()) };
    let (w, h) = (first.width, first.height);
    let priors = priors.entry((w, h)).or_insert_with(|| anchors::priors(anchors, w, h));
    let post = Post { priors, var: anchors.variances, cfg, w, h };
    let mut found = Vec::with_capacity(imgs.len());
    net.run_batch(imgs, |_, o| {
        found.push(post.decode(&o.scores, o.loc, o.landmarks)?);
        Ok(())
    })?;
    Ok(found)
}

/// Decoding shared by both engines: threshold, decode boxes and landmarks against the
/// priors, greedy NMS.
struct Post<'a> {
    priors: &'a [[f32; 4]],
    var: [f32; 2],
    cfg: &'a DetectConfig,
    w: u32,
    h: u32,
}

impl Post<'_> {
    fn decode(&self, scores: &[f32], loc: &[f32], lms: &[f32]) -> Result<Vec<Detection>> {
        let (w, h, priors) = (self.w, self.h, self.priors);
        if priors.len() != scores.len() || loc.len() != 4 * scores.len() || lms.len() != 10 * scores.len() {
            return Err(Error::Model {
                name: "detector".into(),
                reason: format!("{} anchors for {} outputs at {w}x{h}", priors.len(), scores.len()),
            });
        }
        let thr = self.cfg.score_threshold;
        let mut cand: Vec<usize> = (0..scores.len()).filter(|&i| scores[i] > thr).collect();
        if cand.len() > self.cfg.max_candidates {
            cand.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
            cand.truncate(self.cfg.max_candidates.max(1));
        }
        if cand.is_empty() {
            return Ok(Vec::new());
        }
        let var = self.var;
        let (fw, fh) = (w as f32, h as f32);
        let boxes: Vec<[f32; 4]> =
            cand.iter().map(|&i| anchors::decode_box(&loc[4 * i..4 * i + 4], &priors[i], var, fw, fh)).collect();
        let cand_scores: Vec<f32> = cand.iter().map(|&i| scores[i]).collect();
        let keep = nms::nms(&boxes, &cand_scores, self.cfg.nms_iou);
        Ok(keep
            .into_iter()
            .map(|k| {
                let i = cand[k];
                Detection {
                    bbox: boxes[k],
                    landmarks: anchors::decode_landmarks(&lms[10 * i..10 * i + 10], &priors[i], var, fw, fh),
                    score: scores[i],
                }
            })
            .collect())
    }
}

/// The torch engine's network, its mean and its upload ring.
#[cfg(feature = "torch")]
fn torch_net(
    manifest: &Manifest,
    dir: &Path,
    device: Device,
    mean_bgr: [f32; 3],
    preprocess: Preprocess,
) -> Result<Net> {
    manifest.verify(&dir.join(&manifest.weights), &manifest.sha256)?;
    let w = Weights::load(&manifest.name, &dir.join(&manifest.weights), device, compute_kind(device))?;
    let net = retinaface::RetinaFace::load(&w)?;
    Ok(Net::Torch {
        net,
        mean_bgr: Tensor::from_slice(&mean_bgr).view([1, 3, 1, 1]).to_device(device),
        device,
        ring: StagingRing::new(device, 2),
        on_device: preprocess.on_device(device),
        priors: HashMap::new(),
    })
}

#[cfg(not(feature = "torch"))]
fn torch_net(manifest: &Manifest, _: &Path, _: Device, _: [f32; 3], _: Preprocess) -> Result<Net> {
    Err(Error::NeedsTorch { what: format!("detector {} on the torch engine", manifest.name) })
}

#[cfg(feature = "torch")]
fn to_vec(t: &Tensor) -> Result<Vec<f32>> {
    let t = t.to_device(Device::Cpu).to_kind(Kind::Float).contiguous().view([-1]);
    Ok(Vec::<f32>::try_from(&t)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(max_side: u32, min_face_px: f32) -> DetectConfig {
        DetectConfig { max_side, min_face_px, ..Default::default() }
    }

    #[test]
    fn scale_only_shrinks() {
        assert_eq!(detection_scale(640, 360, &cfg(640, 12.0)), 1.0);
        assert_eq!(detection_scale(1920, 1080, &cfg(640, 12.0)), 640.0 / 1920.0);
        assert_eq!(detection_scale(1080, 1920, &cfg(0, 0.0)), 1.0);
    }

    #[test]
    fn the_smallest_face_wanted_sets_the_scale() {
        // faces of 64 px and more: a 64 px face is detected at 16 px, a quarter of the frame
        assert_eq!(detection_scale(640, 360, &cfg(0, 64.0)), 0.25);
        assert_eq!(detection_size(640, 360, &cfg(0, 64.0)), (160, 90));
        // max_side shrinks further when it asks for less
        assert_eq!(detection_scale(1920, 1080, &cfg(320, 32.0)), 320.0 / 1920.0);
        // and a face smaller than face_input_px never scales the frame up
        assert_eq!(detection_scale(640, 360, &cfg(0, 8.0)), 1.0);
    }

    #[test]
    fn faces_are_placed_at_the_scale_max_side_allows() {
        assert_eq!(placing_scale(640, 360, &cfg(640, 64.0)), 1.0);
        assert_eq!(placing_scale(1920, 1080, &cfg(640, 64.0)), 640.0 / 1920.0);
        assert_eq!(placing_scale(1920, 1080, &cfg(0, 64.0)), 1.0);
    }
}
