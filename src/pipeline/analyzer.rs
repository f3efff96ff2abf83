//! One frame at a time, for callers that hold the frames (their own camera loop, a
//! notebook, the Python package): the same detection, alignment, classification, tracking
//! and filtering as the threaded pipeline, through the same functions, on the caller's
//! thread. What it cannot do is batch faces across frames; the pipeline (`pipeline::run`)
//! stays the way to run a source.
//!
//! One analyzer can serve several streams (the service's sessions): what belongs to a
//! stream (its tracks and filters, the faces the detector follows, its frame count) is a
//! [`Stream`], handed in with each frame, so the models are loaded once per analyzer, not
//! once per stream.
use super::align_stage::align_one;
use super::detect_stage::detect_one;
use super::model_stage::classify_pending;
use super::{warm_up, AnalysisStage, Models};
use crate::config::Config;
use crate::error::Result;
use crate::messages::{ClassifierSpec, FrameMeta, FrameMsg, InputSpec, RgbImage, TrackEvent};
use crate::sink::RunInfo;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

/// One stream's state: tracks and filters, the faces the detector follows between
/// keyframes, the next frame's index, and the frame size (a new size starts over).
pub struct Stream {
    analysis: AnalysisStage,
    schedule: crate::detect::keyframe::Schedule,
    next_index: u64,
    size: Option<(u32, u32)>,
}

impl Stream {
    pub fn new(cfg: &Config, spec: &ClassifierSpec) -> Result<Self> {
        Ok(Self { analysis: AnalysisStage::new(cfg, spec)?, schedule: Default::default(), next_index: 0, size: None })
    }

    /// Frames analysed in this stream.
    pub fn frames(&self) -> u64 {
        self.next_index
    }

    /// Ends every track still alive, as the end of a file does.
    pub fn finish(&mut self) -> Vec<TrackEvent> {
        self.analysis.finish()
    }
}

pub struct Analyzer {
    cfg: Config,
    models: Models,
    /// The stream of [`analyze`](Self::analyze).
    own: Option<Stream>,
    info: RunInfo,
    /// The classifier's crop geometry and the blur measure's, derived once (as the align
    /// stage does), not per frame.
    crop: InputSpec,
    blur: InputSpec,
    /// The frame stays on the device from detection to alignment (both networks there).
    device_align: bool,
    /// The frame sizes the networks were warmed up for (a few: sessions differ).
    warmed: Vec<(u32, u32)>,
}

impl Analyzer {
    /// Loads the models `cfg` names.
    pub fn new(cfg: Config) -> Result<Self> {
        let models = Models::load(&cfg)?;
        Self::with_models(cfg, models)
    }

    /// An analyzer over models already loaded.
    pub fn with_models(cfg: Config, models: Models) -> Result<Self> {
        let spec = models.classifier.spec().clone();
        let own = Some(Stream::new(&cfg, &spec)?);
        let info = RunInfo::new(&spec, cfg.filter.kind);
        let device_align =
            models.detector.frame_device().is_some() && models.detector.frame_device() == models.classifier.device();
        let crop = spec.input.clone();
        let blur = crate::quality::blur_spec(&crop);
        Ok(Self { cfg, models, own, info, crop, blur, device_align, warmed: Vec::new() })
    }

    /// What the results carry about the run (classifier, classes, filter, model sha256).
    pub fn run_info(&self) -> &RunInfo {
        &self.info
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn classifier_spec(&self) -> &ClassifierSpec {
        self.models.classifier.spec()
    }

    /// Frames analysed since the start or the last [`reset`](Self::reset).
    pub fn frames(&self) -> u64 {
        self.own.as_ref().map_or(0, Stream::frames)
    }

    /// Readies the networks for `width`×`height` frames (input shapes, priors, buffers),
    /// once per size; the first frame of a size not warmed is slower, not wrong.
    pub fn warm_up(&mut self, width: u32, height: u32) -> Result<()> {
        if self.warmed.contains(&(width, height)) {
            return Ok(());
        }
        let m = &mut self.models;
        warm_up(&self.cfg, &mut m.detector, m.classifier.as_mut(), width, height)?;
        if self.warmed.len() >= 8 {
            self.warmed.remove(0);
        }
        self.warmed.push((width, height));
        Ok(())
    }

    /// Analyses the next frame of the video: faces, track ids, expression, valence and
    /// arousal, raw and filtered. `pts_ms` is its timestamp (None: the filter assumes a
    /// steady rate). Tracks and filters carry over from the frames before.
    pub fn analyze(&mut self, image: RgbImage, pts_ms: Option<f64>) -> Result<FrameMsg> {
        let mut own = self.own.take().expect("the analyzer's own stream");
        let r = self.analyze_stream(&mut own, image, pts_ms, 0);
        self.own = Some(own);
        r
    }

    /// [`analyze`](Self::analyze) for the next frame of `stream`; `dropped_before` counts the
    /// frames of that stream the caller skipped before this one (they go in the result).
    pub fn analyze_stream(
        &mut self,
        stream: &mut Stream,
        image: RgbImage,
        pts_ms: Option<f64>,
        dropped_before: u64,
    ) -> Result<FrameMsg> {
        let size = (image.width, image.height);
        if stream.size.is_some_and(|s| s != size) {
            // a new frame size is a new stream as far as the faces being followed go
            stream.schedule = Default::default();
        }
        stream.size = Some(size);
        let index = stream.next_index;
        self.models.detector.swap_schedule(&mut stream.schedule);
        let r = self.run_frame(image, index, pts_ms, dropped_before, false, &mut stream.analysis);
        self.models.detector.swap_schedule(&mut stream.schedule);
        stream.next_index += 1;
        r
    }

    /// A photo that stands alone (a request to the service): a fresh stream whose tracks
    /// start and end on it, as `process` on that photo gives.
    pub fn analyze_still(&mut self, image: RgbImage) -> Result<FrameMsg> {
        let mut stream = Stream::new(&self.cfg, self.models.classifier.spec())?;
        self.models.detector.swap_schedule(&mut stream.schedule);
        let r = self.run_frame(image, 0, Some(0.0), 0, true, &mut stream.analysis);
        self.models.detector.swap_schedule(&mut stream.schedule);
        r
    }

    fn run_frame(
        &mut self,
        image: RgbImage,
        index: u64,
        pts_ms: Option<f64>,
        dropped_before: u64,
        independent: bool,
        analysis: &mut AnalysisStage,
    ) -> Result<FrameMsg> {
        // the limits hold for frames handed in as for frames decoded
        self.cfg.limits.check(std::path::Path::new("analyze()"), "was given", image.width, image.height)?;
        self.warm_up(image.width, image.height)?;
        let meta = FrameMeta { dropped_before, independent, ..FrameMeta::new(index, pts_ms, None) };
        let mut msg = FrameMsg::new(meta, Arc::new(image));
        detect_one(&mut self.models.detector, &mut msg, self.device_align)?;
        align_one(&mut msg, &self.crop, &self.blur, self.device_align)?;
        let mut one = VecDeque::from([msg]);
        classify_pending(self.models.classifier.as_mut(), self.cfg.batch.max_faces, &mut one)?;
        let mut msg = one.pop_front().expect("the frame just classified");
        let t = Instant::now();
        analysis.process(&mut msg);
        msg.timings.track_ms = crate::messages::elapsed_ms(t);
        Ok(msg)
    }

    /// Ends every track still alive, as the end of a file does: the end events that
    /// `process` puts on its last frame.
    pub fn finish(&mut self) -> Vec<TrackEvent> {
        self.own.as_mut().map(Stream::finish).unwrap_or_default()
    }

    /// Starts a new video: no track or filter state carries over, frames count from 0.
    pub fn reset(&mut self) -> Result<()> {
        self.own = Some(Stream::new(&self.cfg, self.models.classifier.spec())?);
        Ok(())
    }

    /// A result as the JSON line `process` writes for it.
    pub fn to_json(&self, frame: &FrameMsg) -> String {
        crate::sink::jsonl::to_json(frame, &self.info)
    }
}
