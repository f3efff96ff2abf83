//! Run configuration. Precedence: built-in defaults < `--config FILE` < command-line flags.
//! Every threshold is a named field here; `configs/default.toml` spells out the defaults
//! (a unit test keeps the two equal).
use crate::affect::AffectConfig;
pub use crate::detect::DetectConfig;
use crate::error::{Error, Result};
use crate::filter::FilterConfig;
use crate::quality::QualityConfig;
pub use crate::runtime::buckets::ShapePolicy;
pub use crate::runtime::{DeviceChoice, Engine, Preprocess};
use crate::source::network::NetworkConfig;
use crate::track::TrackConfig;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub detect: DetectConfig,
    pub model: ModelConfig,
    pub batch: BatchConfig,
    pub pipeline: PipelineConfig,
    pub track: TrackConfig,
    pub filter: FilterConfig,
    pub uncertainty: QualityConfig,
    pub affect: AffectConfig,
    pub network: NetworkConfig,
    pub output: OutputConfig,
    pub harvest: crate::sink::faces::HarvestConfig,
    pub limits: crate::source::limits::Limits,
    pub serve: ServeConfig,
    pub report: ReportConfig,
}

/// `fer-rt report` (docs/report.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportConfig {
    /// A face whose quality (the uncertainty model's, 0-1) is below this counts as low
    /// quality: shaded in the quality chart and counted in the index's flagged share.
    pub low_quality: f32,
    /// Points per track and per chart the page draws at most: longer tracks are drawn from
    /// bins of consecutive faces (means, the most frequent label); the numbers beside the
    /// charts are computed from every face.
    pub max_points: usize,
    /// Side of a track's thumbnail (pixels).
    pub thumb_px: u32,
    /// The thumbnail's crop: the face box widened by this fraction on each side.
    pub thumb_margin: f32,
}

impl Default for ReportConfig {
    fn default() -> Self {
        Self { low_quality: 0.3, max_points: 1500, thumb_px: 112, thumb_margin: 0.2 }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutputConfig {
    /// Rows (faces) per Parquet row group: the most a Parquet output holds in memory
    /// before writing, and the unit readers skip by.
    pub parquet_row_group_rows: usize,
}

impl Default for OutputConfig {
    fn default() -> Self {
        Self { parquet_row_group_rows: 32768 }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// Folder holding the model manifests (*.json) and weights (*.safetensors).
    /// Empty: $FER_RT_MODELS, else ./models, else the source checkout's models/.
    pub dir: PathBuf,
    /// Manifest name of the detector.
    pub detector: String,
    /// Manifest name of the expression classifier.
    pub classifier: String,
    /// A trained checkpoint (`train`'s OUT/best.safetensors, its best.json beside it) to use
    /// instead of `classifier`; empty = none.
    pub checkpoint: PathBuf,
    /// "auto" (CUDA when present), "cpu", or "cuda" / "cuda:N".
    pub device: DeviceChoice,
    /// Engine for the classifier: "auto" (ONNX Runtime on the CPU when the manifest names
    /// an ONNX file and ORT loads, else torch), "onnxruntime", or "torch".
    pub backend: Engine,
    /// ONNX Runtime intra-op threads for the classifier; 0 = one per four cores, at least
    /// one ([`crate::model::CpuRun`]).
    pub threads: usize,
    /// ONNX Runtime runs a batch of crops in passes of at most this many, each small
    /// enough to stay in the core's cache; 0 = every batch in one pass.
    pub pass_faces: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatchConfig {
    /// Most face crops classified in one forward pass.
    pub max_faces: usize,
    /// Longest a crop waits for others to join its batch, in milliseconds.
    pub max_wait_ms: u64,
    /// The same for live sources, where waiting is latency.
    pub live_max_wait_ms: u64,
    /// In a live run of several streams: longest a crop waits for the other streams'
    /// crops, so that one batch serves every camera. A batch closes earlier once it holds
    /// a frame of every stream (or `max_faces` crops).
    pub streams_max_wait_ms: u64,
    /// Batch shapes for the torch networks (see `runtime::buckets`).
    pub shapes: ShapePolicy,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// Capacity of each bounded channel between stages, in frames.
    pub channel_capacity: usize,
    /// File sources: each link also holds at most this many MiB of frames (and at least
    /// two frames), so large frames do not multiply memory by the link depth: 8 frames of
    /// 1080p are 50 MiB a link, and the detector's queue is always full.
    pub channel_max_mb: usize,
    /// With `detect.search_ahead`: the link from the search to the detector holds the
    /// frames of one keyframe interval (`keyframe_interval` - 1) within this many MiB, and
    /// never fewer than a link's frames less one (the reader's link then holds that one).
    /// The detector then works through the frames before a keyframe while that keyframe's
    /// search runs, instead of waiting for it.
    pub ahead_max_mb: usize,
    /// Capacity of each link for live sources: short, so no stale frame waits.
    pub live_queue_frames: usize,
    /// The same in a run of several live streams. Their detectors take the streams in
    /// rounds, so a stream's frame may wait for a round of the others' (a burst of their
    /// keyframes): one frame more of room keeps it instead of dropping it.
    pub streams_queue_frames: usize,
    /// A live stream's first this many frames are never dropped: they wait in its link
    /// (then `live_queue_frames` and drop-oldest). Each stream's first frame is a
    /// keyframe, and cameras that start together queue behind each other's; a stream then
    /// starts a few frames late instead of losing its first frames.
    pub live_start_frames: usize,
    /// Detectors working at once in a run of several streams on the CPU: 0 = one per core
    /// up to the number of streams (see `pipeline::detect_pool`); 1 = one detector taking
    /// the streams in rounds.
    pub detect_workers: usize,
    /// Live runs: the scheduler slice (µs) each stage thread asks for (Linux 6.12 and later;
    /// see `runtime::slice`), so that a stage woken by a frame runs at once instead of
    /// waiting out a long detection's slice; 0 = the kernel's default. 100-100000.
    pub live_slice_us: u32,
    /// A detector asks for that slice for a frame following at most this many faces, and
    /// keeps the kernel's default for a frame following more: the long work the others
    /// pass.
    pub live_slice_faces: usize,
    /// libtorch intra-op threads; 0: one per core when torch runs both networks, else half
    /// the cores (libtorch workers spin and would starve ONNX Runtime's).
    pub torch_threads: usize,
    /// Threads decoding each video (see `source::video::Decoding`); 0 = by the estimated
    /// cost of a frame.
    pub decode_threads: usize,
    /// With `decode_threads` = 0: an H.264 stream whose frames are estimated to decode
    /// within this many ms on one core gets one thread, others one per core.
    pub decode_one_thread_max_ms: f64,
    /// Where resize, decoding, suppression and alignment run (see `runtime::Preprocess`).
    pub preprocess: Preprocess,
}

/// `fer-rt serve`: where it listens, how many model workers it runs, and the limits that
/// keep it safe under load (each refusal names its key).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    /// Address and port; loopback unless a token is given.
    pub listen: String,
    /// Threads running the models, each with its own detector and classifier.
    pub workers: usize,
    /// Threads carrying the connections.
    pub io_threads: usize,
    /// A request body (or a session frame) over this is refused with 413.
    pub max_body_mb: usize,
    /// An image declaring a longer side or more pixels is refused with 413, before decoding.
    pub max_image_side_px: u32,
    pub max_image_pixels: u64,
    /// `/v1/analyze` requests queued or running at once; more get 429.
    pub max_pending_requests: usize,
    /// Sessions open at once; more get 429.
    pub max_sessions: usize,
    /// A session's frames beyond this rate are dropped and counted (0: no limit).
    pub max_session_fps: f64,
    /// Frames of a session waiting while one is analysed; older ones are dropped.
    pub session_queue_frames: usize,
    /// A session without a message for this long is closed.
    pub session_idle_s: f64,
    /// A client that does not take a reply or result within this is closed.
    pub client_timeout_s: f64,
    /// Results (and video frames) a source's watcher may fall behind before losing the oldest.
    pub client_queue_frames: usize,
    /// A request not answered within this gets 408.
    pub request_timeout_s: f64,
    /// The annotated video of a source: frames per second at most, and JPEG quality.
    pub max_video_fps: f64,
    pub jpeg_quality: u8,
    /// The frame size the workers warm up for at start.
    pub warm_up_size: (u32, u32),
    /// On shutdown, how long sessions may take to answer their frame and close.
    pub drain_s: f64,
    /// A file given as `--source` plays again from the start when it ends.
    pub loop_files: bool,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            workers: 2,
            io_threads: 2,
            max_body_mb: 8,
            max_image_side_px: 8192,
            max_image_pixels: 16_000_000,
            max_pending_requests: 64,
            max_sessions: 64,
            max_session_fps: 60.0,
            session_queue_frames: 1,
            session_idle_s: 60.0,
            client_timeout_s: 10.0,
            client_queue_frames: 64,
            request_timeout_s: 30.0,
            max_video_fps: 15.0,
            jpeg_quality: 80,
            warm_up_size: (640, 480),
            drain_s: 5.0,
            loop_files: false,
        }
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::new(),
            detector: "retinaface_mnet025".into(),
            classifier: "fer_mini_xception".into(),
            checkpoint: PathBuf::new(),
            device: DeviceChoice::Auto,
            backend: Engine::Auto,
            threads: 0,
            pass_faces: 4,
        }
    }
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self { max_faces: 32, max_wait_ms: 20, live_max_wait_ms: 0, streams_max_wait_ms: 0, shapes: ShapePolicy::Auto }
    }
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            channel_capacity: 8,
            channel_max_mb: 12,
            ahead_max_mb: 24,
            live_queue_frames: 1,
            streams_queue_frames: 2,
            live_start_frames: 8,
            detect_workers: 0,
            live_slice_us: 100,
            live_slice_faces: 2,
            torch_threads: 0,
            decode_threads: 0,
            decode_one_thread_max_ms: crate::source::video::Decoding::default().one_thread_max_ms,
            preprocess: Preprocess::Auto,
        }
    }
}

impl PipelineConfig {
    /// How many threads decode each video.
    pub fn decoding(&self) -> crate::source::video::Decoding {
        crate::source::video::Decoding {
            threads: self.decode_threads,
            one_thread_max_ms: self.decode_one_thread_max_ms,
        }
    }
}

impl Config {
    /// How a video file is opened under this configuration: its limits and its decoding
    /// threads (the caller adds a frame rate or a deadline).
    pub fn open_options(&self) -> crate::source::video::OpenOptions {
        crate::source::video::OpenOptions {
            limits: self.limits.clone(),
            decoding: self.pipeline.decoding(),
            ..Default::default()
        }
    }

    /// Reads a TOML file over the defaults.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
        Self::from_toml(&text).map_err(|e| match e {
            Error::Config(m) => Error::Config(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    pub fn from_toml(text: &str) -> Result<Self> {
        let cfg: Config = toml::from_str(text).map_err(|e| Error::Config(toml_error(text, &e)))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Rejects values no run could use, with the field's name.
    ///
    /// (Parse errors are named by [`toml_error`].)
    pub fn validate(&self) -> Result<()> {
        let d = &self.detect;
        let bad = |f: &str, why: &str| Err(Error::Config(format!("{f} {why}")));
        if !(0.0..=1.0).contains(&d.score_threshold) {
            return bad("detect.score_threshold", "must be in [0, 1]");
        }
        if !(0.0..=1.0).contains(&d.nms_iou) {
            return bad("detect.nms_iou", "must be in [0, 1]");
        }
        if d.min_face_px < 0.0 {
            return bad("detect.min_face_px", "must be >= 0");
        }
        if d.face_input_px <= 0.0 {
            return bad("detect.face_input_px", "must be > 0");
        }
        if d.keyframe_interval == 0 {
            return bad("detect.keyframe_interval", "must be >= 1 (1 = full detection on every frame)");
        }
        if d.keyframe_max_ms < 0.0 {
            return bad("detect.keyframe_max_ms", "must be >= 0 (0 = count frames only)");
        }
        if d.region_expand < 1.0 {
            return bad("detect.region_expand", "must be >= 1 (a region holds at least the face)");
        }
        if !(d.region_face_px == 0.0 || d.region_face_px >= d.face_input_px) {
            return bad("detect.region_face_px", "must be 0 (off) or >= face_input_px (what RetinaFace still finds)");
        }
        if !(d.region_coarse_face_px >= 0.0) {
            return bad("detect.region_coarse_face_px", "must be >= 0 (0 = always the whole graph)");
        }
        if d.region_input_px < 32 {
            return bad("detect.region_input_px", "must be >= 32 (the detector's coarsest stride)");
        }
        if !(0.0..=1.0).contains(&d.region_min_iou) {
            return bad("detect.region_min_iou", "must be in [0, 1]");
        }
        if d.max_candidates == 0 {
            return bad("detect.max_candidates", "must be >= 1");
        }
        if d.max_faces == 0 {
            return bad("detect.max_faces", "must be >= 1");
        }
        if d.max_side != 0 && d.max_side < 32 {
            return bad("detect.max_side", "must be 0 (no scaling) or >= 32");
        }
        if self.batch.max_faces == 0 {
            return bad("batch.max_faces", "must be >= 1");
        }
        if !(self.pipeline.decode_one_thread_max_ms >= 0.0 && self.pipeline.decode_one_thread_max_ms.is_finite()) {
            return bad("pipeline.decode_one_thread_max_ms", "must be a number >= 0");
        }
        if self.pipeline.live_slice_us != 0 && !(100..=100_000).contains(&self.pipeline.live_slice_us) {
            return bad(
                "pipeline.live_slice_us",
                "must be 0 (the kernel's default) or 100-100000 (the slices Linux takes)",
            );
        }
        if self.pipeline.live_start_frames == 0 {
            return bad("pipeline.live_start_frames", "must be >= 1 (at most live_queue_frames: no start allowance)");
        }
        if self.pipeline.channel_capacity == 0
            || self.pipeline.live_queue_frames == 0
            || self.pipeline.streams_queue_frames == 0
            || self.pipeline.channel_max_mb == 0
            || self.pipeline.ahead_max_mb == 0
        {
            return bad(
                "pipeline.channel_capacity / live_queue_frames / streams_queue_frames / channel_max_mb / ahead_max_mb",
                "must be >= 1",
            );
        }
        if self.track.max_gap_s < 0.0 {
            return bad("track.max_gap_s", "must be >= 0");
        }
        let f = &self.filter;
        if f.ema_time_constant_s <= 0.0 || f.va_process_noise < 0.0 || f.va_noise_floor < 0.0 || f.va_gate_sigma <= 0.0
        {
            return bad("filter", "time constant and gate must be > 0, noises >= 0");
        }
        if f.expr_switch_rate_hz < 0.0 || !(0.0..1.0).contains(&f.expr_prob_floor) {
            return bad("filter", "expr_switch_rate_hz must be >= 0 and expr_prob_floor in [0, 1)");
        }
        if !(f.evidence_memory_s > 0.0 && f.correlation_window_s > 0.0)
            || !(0.0..=1.0).contains(&f.correlation_prior)
            || !(f.correlation_prior_frames >= 0.0)
        {
            return bad(
                "filter",
                "evidence_memory_s and correlation_window_s must be > 0, correlation_prior in [0, 1], correlation_prior_frames >= 0",
            );
        }
        self.limits.validate().map_err(Error::Config)?;
        let n = &self.network;
        if !(n.timeout_s > 0.0) || n.reconnect_initial_s < 0.0 || n.reconnect_max_s < n.reconnect_initial_s {
            return bad("network", "timeout_s must be > 0 and 0 <= reconnect_initial_s <= reconnect_max_s");
        }
        let u = &self.uncertainty;
        if u.size_ref_px <= 0.0
            || u.blur_ref <= 0.0
            || u.yaw_ref_deg <= 0.0
            || u.pitch_ref_deg <= 0.0
            || u.disagreement_ref <= 0.0
        {
            return bad("uncertainty", "reference values must be > 0");
        }
        if !(0.0..=1.0).contains(&u.min_quality) {
            return bad("uncertainty.min_quality", "must be in [0, 1]");
        }
        let h = &self.harvest;
        if !(16..=1024).contains(&h.size) || h.every_frames == 0 {
            return bad("harvest", "size must be in 16..=1024 and every_frames >= 1");
        }
        let v = &self.serve;
        if v.workers == 0 || v.io_threads == 0 || v.max_sessions == 0 || v.max_pending_requests == 0 {
            return bad("serve.workers / io_threads / max_sessions / max_pending_requests", "must be >= 1");
        }
        if v.max_body_mb == 0 || v.max_image_side_px == 0 || v.max_image_pixels == 0 || v.session_queue_frames == 0 {
            return bad(
                "serve.max_body_mb / max_image_side_px / max_image_pixels / session_queue_frames",
                "must be >= 1",
            );
        }
        if !(v.max_session_fps >= 0.0) || !(v.max_video_fps > 0.0) || v.client_queue_frames == 0 {
            return bad("serve", "max_session_fps must be >= 0, max_video_fps > 0, client_queue_frames >= 1");
        }
        if !(v.session_idle_s > 0.0 && v.client_timeout_s > 0.0 && v.request_timeout_s > 0.0 && v.drain_s >= 0.0) {
            return bad("serve", "session_idle_s, client_timeout_s and request_timeout_s must be > 0, drain_s >= 0");
        }
        if !(1..=100).contains(&v.jpeg_quality) {
            return bad("serve.jpeg_quality", "must be in 1..=100");
        }
        if self.output.parquet_row_group_rows == 0 {
            return bad("output.parquet_row_group_rows", "must be >= 1");
        }
        let r = &self.report;
        if !(0.0..=1.0).contains(&r.low_quality) || r.max_points < 2 || !(16..=1024).contains(&r.thumb_px) {
            return bad("report", "low_quality must be in 0..=1, max_points >= 2, thumb_px in 16..=1024");
        }
        if !(0.0..=2.0).contains(&r.thumb_margin) {
            return bad("report.thumb_margin", "must be in 0..=2");
        }
        Ok(())
    }

    /// The models folder: config, else $FER_RT_MODELS, else ./models, else the checkout's.
    pub fn models_dir(&self) -> PathBuf {
        if !self.model.dir.as_os_str().is_empty() {
            return self.model.dir.clone();
        }
        if let Some(p) = std::env::var_os("FER_RT_MODELS") {
            return PathBuf::from(p);
        }
        let local = PathBuf::from("models");
        if local.join(format!("{}.json", self.model.detector)).is_file() {
            return local;
        }
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models")
    }
}

/// A TOML error with the key it is about: serde's type errors ("invalid type: string, expected
/// usize") do not name the field, and its unknown-field errors do not name the table, so the
/// key is read from the line the error points at, with the table above it
/// ("batch.max_faces, line 2: invalid type ...", "detect.score_treshold, line 2: unknown
/// field ..."): a config given as a dict (the Python package) has no lines to look at.
pub fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().to_string();
    let Some(span) = e.span() else { return msg };
    let upto = &text[..span.start.min(text.len())];
    let line_no = upto.matches('\n').count() + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or("");
    let Some((key, _)) = line.split_once('=') else { return format!("line {line_no}: {msg}") };
    let key = key.trim();
    let table = upto
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    match table {
        Some(t) => format!("{t}.{key}, line {line_no}: {msg}"),
        None => format!("{key}, line {line_no}: {msg}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_default_toml_equals_builtin_defaults() {
        let text = include_str!("../configs/default.toml");
        assert_eq!(Config::from_toml(text).unwrap(), Config::default());
    }

    #[test]
    fn unknown_fields_are_rejected_with_their_name() {
        let err = Config::from_toml("[detect]\nscore_treshold = 0.5\n").unwrap_err().to_string();
        assert!(err.contains("detect.score_treshold") && err.contains("unknown field"), "{err}");
    }

    #[test]
    fn type_errors_name_their_key() {
        let err =
            Config::from_toml("[detect]\nmax_side = 640\n\n[batch]\nmax_faces = \"x\"\n").unwrap_err().to_string();
        assert!(err.contains("batch.max_faces") && err.contains("line 5"), "{err}");
    }

    #[test]
    fn partial_file_keeps_other_defaults() {
        let cfg = Config::from_toml("[batch]\nmax_faces = 4\n").unwrap();
        assert_eq!(cfg.batch.max_faces, 4);
        assert_eq!(cfg.detect, DetectConfig::default());
    }

    #[test]
    fn out_of_range_values_are_rejected() {
        assert!(Config::from_toml("[detect]\nscore_threshold = 1.5\n").is_err());
        assert!(Config::from_toml("[batch]\nmax_faces = 0\n").is_err());
        assert!(Config::from_toml("[model]\ndevice = \"tpu\"\n").is_err());
        for bad in ["low_quality = 1.5", "max_points = 1", "thumb_px = 8", "thumb_margin = -0.1"] {
            let err = Config::from_toml(&format!("[report]\n{bad}\n")).unwrap_err().to_string();
            assert!(err.contains("report"), "{bad}: {err}");
        }
        for bad in [50, 100_001] {
            let err = Config::from_toml(&format!("[pipeline]\nlive_slice_us = {bad}\n")).unwrap_err().to_string();
            assert!(err.contains("pipeline.live_slice_us"), "{bad}: {err}");
        }
        for good in [0, 100, 100_000] {
            assert!(Config::from_toml(&format!("[pipeline]\nlive_slice_us = {good}\n")).is_ok(), "{good}");
        }
    }
}
