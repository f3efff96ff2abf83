//! What flows between pipeline stages. A frame is created by the source and enriched by
//! each stage in turn (detections, crops, classifier outputs, timings), so one value can
//! be followed from capture to sink. Units are in field names.
//!
//! This is the ground floor of the crate: it imports nothing from the stages, and every
//! stage, sink and tool imports from it (see ARCHITECTURE.md).
mod analysis;
mod spec;

pub use analysis::{Affect, AffectSource, FaceAnalysis, FilterState, QualityInputs, TrackEvent, Uncertainty};
pub use spec::{ClassifierSpec, ColorMode, InputSpec, SourceInfo, SourceSummary};

use std::sync::Arc;
use std::time::Instant;

/// Packed 8-bit RGB, row-major, no padding.
/// Default: an empty 0x0 image (a placeholder that owns no pixels).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl RgbImage {
    pub fn new(width: u32, height: u32, data: Vec<u8>) -> Self {
        assert_eq!(data.len(), width as usize * height as usize * 3, "RGB buffer size");
        Self { width, height, data }
    }

    /// A frame's size without its pixels: what travels on past alignment when no sink reads
    /// pixels (`Sink::needs_pixels`), so that the buffer goes back to the decoder at once.
    pub fn size_only(width: u32, height: u32) -> Self {
        Self { width, height, data: Vec::new() }
    }
}

/// Identity and timing of one frame as the source saw it.
#[derive(Clone, Debug)]
pub struct FrameMeta {
    /// 0-based index in decode order of the frames the source emitted.
    pub index: u64,
    /// Presentation timestamp in milliseconds, when the container gives one.
    pub pts_ms: Option<f64>,
    /// The same timestamp in the source stream's time base (see `SourceInfo::time_base`).
    pub pts: Option<i64>,
    /// Frames the source dropped before this one (live sources only), cumulative.
    pub dropped_before: u64,
    /// When the source had the decoded frame in hand; latency is measured from here.
    pub captured_at: Instant,
    /// This frame is unrelated to the one before (the next photo of a folder, `--stills`):
    /// no track continues across it and no filter carries over.
    pub independent: bool,
    /// The file this frame came from, when a source reads several (a folder of photos).
    pub file: Option<std::sync::Arc<str>>,
    /// Which of the run's streams this frame belongs to (0 in a run of one source); the
    /// stream's name is in `RunInfo::streams`. Set by the pipeline, not by sources.
    pub stream: usize,
}

impl FrameMeta {
    /// A frame as a source hands it on: its index and timestamps, captured now, following
    /// the frame before it in stream 0 (the pipeline sets the stream), nothing dropped.
    pub fn new(index: u64, pts_ms: Option<f64>, pts: Option<i64>) -> Self {
        Self {
            index,
            pts_ms,
            pts,
            dropped_before: 0,
            captured_at: Instant::now(),
            independent: false,
            file: None,
            stream: 0,
        }
    }
}

/// A face found by the detector, in full-frame pixel coordinates.
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    /// x1, y1, x2, y2.
    pub bbox: [f32; 4],
    /// Left eye, right eye, nose, left mouth corner, right mouth corner (image left/right).
    pub landmarks: [[f32; 2]; 5],
    pub score: f32,
}

impl Detection {
    /// The box's shorter side in pixels: the face size the detector's minimum and the
    /// quality score use.
    pub fn short_side_px(&self) -> f32 {
        (self.bbox[2] - self.bbox[0]).min(self.bbox[3] - self.bbox[1])
    }

    /// The box's area in square pixels (0 for a degenerate box).
    pub fn area_px(&self) -> f32 {
        box_area(&self.bbox)
    }
}

fn box_area(r: &[f32; 4]) -> f32 {
    (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0)
}

/// Intersection over union of two x1, y1, x2, y2 boxes (0 when both are empty).
pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union = box_area(a) + box_area(b) - inter;
    if union <= 0.0 {
        0.0
    } else {
        inter / union
    }
}

/// An aligned face crop in the classifier's input geometry: `channels` is 1 (gray) or 3 (RGB).
#[derive(Clone, Debug, PartialEq)]
pub struct Crop {
    pub width: u32,
    pub height: u32,
    pub channels: u32,
    pub data: Vec<u8>,
}

/// What a classifier says about one face.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassOutput {
    /// Probabilities in the classifier's class order; they sum to 1.
    pub probs: Vec<f32>,
    /// Valence and arousal in [-1, 1], for models with a V/A head.
    pub valence_arousal: Option<[f32; 2]>,
    /// Variance of valence and arousal, for models that predict one.
    pub valence_arousal_var: Option<[f32; 2]>,
    /// Model-reported uncertainty (e.g. RUL log-variance), for models that have one.
    pub uncertainty: Option<f32>,
    /// How much an ensemble's members disagree on this face: the mutual information
    /// between the prediction and the member, H(mean p) - mean H(p_m), in nats (0 when
    /// they agree). None for a single model.
    pub disagreement: Option<f32>,
}

impl ClassOutput {
    /// An output with class probabilities only (no V/A head, no model uncertainty).
    pub fn probs_only(probs: &[f32]) -> Self {
        Self {
            probs: probs.to_vec(),
            valence_arousal: None,
            valence_arousal_var: None,
            uncertainty: None,
            disagreement: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Face {
    pub detection: Detection,
    pub crop: Option<Crop>,
    /// The face's crop is a row of the frame's `device.crops` instead of `crop`.
    pub device_crop: bool,
    /// Sharpness of the face (see `quality::face_blur`), measured by the align stage.
    pub blur: Option<f32>,
    pub output: Option<ClassOutput>,
    /// Set by the track stage.
    pub track_id: Option<u64>,
    pub analysis: Option<FaceAnalysis>,
}

impl Face {
    /// Whether alignment made a crop for the model, on the host or on the device.
    pub fn has_crop(&self) -> bool {
        self.crop.is_some() || self.device_crop
    }

    pub fn new(detection: Detection) -> Self {
        Self { detection, crop: None, device_crop: false, blur: None, output: None, track_id: None, analysis: None }
    }
}

/// Milliseconds spent in each stage on this frame. The model stage's time is that of the
/// whole batch the frame's faces went into (`batch_faces` says how big it was).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StageTimings {
    pub decode_ms: f64,
    pub detect_ms: f64,
    /// Detection searched the whole frame (a keyframe), not only around known faces.
    pub keyframe: bool,
    /// The whole-frame search run for this frame ahead of the detector, on its own thread
    /// (`detect::ahead`; 0 where none ran).
    pub ahead_ms: f64,
    pub align_ms: f64,
    pub model_ms: f64,
    pub track_ms: f64,
    pub batch_faces: usize,
    /// This frame's share of its batch's model time (`model_ms` / frames in the batch), so
    /// summing over frames counts each batch once.
    pub model_share_ms: f64,
    /// How many streams' frames the batch this frame's faces went into held (1 in a run of
    /// one source): the classifier batching across cameras, made visible.
    pub batch_streams: usize,
}

#[derive(Clone, Debug)]
pub struct FrameMsg {
    pub meta: FrameMeta,
    pub image: Arc<RgbImage>,
    pub faces: Vec<Face>,
    pub timings: StageTimings,
    /// Tracks started or ended at this frame.
    pub track_events: Vec<TrackEvent>,
    /// The faces a whole-frame search found, run ahead of the detector on a frame due to
    /// be a keyframe (`detect::ahead`); what the detector itself would find there.
    pub searched_ahead: Option<Vec<Detection>>,
    /// The frame and its crops on the compute device, when preprocessing runs there.
    pub device: DeviceData,
}

impl FrameMsg {
    /// A frame fresh from its source, before any stage: the one place its other fields
    /// start, for sources, the analyzer and tests alike.
    pub fn new(meta: FrameMeta, image: Arc<RgbImage>) -> Self {
        Self {
            meta,
            image,
            faces: Vec::new(),
            timings: StageTimings::default(),
            track_events: Vec::new(),
            searched_ahead: None,
            device: Default::default(),
        }
    }
}

/// A tensor on the compute device carried by a frame. Cloning shares the storage (the
/// tensor is never written after it is made).
#[cfg(feature = "torch")]
pub struct DeviceTensor(pub tch::Tensor);

/// Without libtorch nothing is ever on a device: the type has no values, so every
/// `DeviceData` field is `None` and the code that would read one is unreachable by type.
#[cfg(not(feature = "torch"))]
#[derive(Clone, Debug)]
pub enum DeviceTensor {}

#[cfg(feature = "torch")]
impl Clone for DeviceTensor {
    fn clone(&self) -> Self {
        Self(self.0.shallow_clone())
    }
}

#[cfg(feature = "torch")]
impl std::fmt::Debug for DeviceTensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceTensor({:?} {:?} on {:?})", self.0.size(), self.0.kind(), self.0.device())
    }
}

/// What a frame holds on the device between detection and the model: set by detect and
/// align with device-side preprocessing, released by the model stage.
#[derive(Clone, Debug, Default)]
pub struct DeviceData {
    /// [1, 3, H, W] f32 RGB 0..255, uploaded once by detection.
    pub frame: Option<DeviceTensor>,
    /// [N, C, h, w] f32 0..255 crops of the faces whose `device_crop` is set, in face order.
    pub crops: Option<DeviceTensor>,
}

pub fn elapsed_ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}
