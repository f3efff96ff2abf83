//! One frame at a time, for callers that hold the frames (their own camera loop, a
//! notebook, the Python package): the same detection, alignment, classification, tracking
//! and filtering as the threaded pipeline, through the same functions, on the caller's
//! thread. What it cannot do is batch faces across frames; the pipeline (`pipeline::run`)
//! stays the way to run a source.
use super::{align_one, classify_pending, detect_one, warm_up, AnalysisStage, Models};
use crate::config::Config;
use crate::error::Result;
use crate::messages::{FrameMeta, FrameMsg, InputSpec, RgbImage, TrackEvent};
use crate::sink::RunInfo;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

pub struct Analyzer {
    cfg: Config,
    models: Models,
    analysis: AnalysisStage,
    info: RunInfo,
    /// The classifier's crop geometry and the blur measure's, derived once (as the align
    /// stage does), not per frame.
    crop: InputSpec,
    blur: InputSpec,
    /// The frame stays on the device from detection to alignment (both networks there).
    device_align: bool,
    /// Frames analysed since the start or the last reset: the next frame's index.
    next_index: u64,
    /// The frame size the networks were warmed up for.
    warmed: Option<(u32, u32)>,
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
        let analysis = AnalysisStage::new(&cfg, &spec)?;
        let info = RunInfo::new(&spec, cfg.filter.kind);
        let device_align =
            models.detector.frame_device().is_some() && models.detector.frame_device() == models.classifier.device();
        let crop = spec.input.clone();
        let blur = crate::quality::blur_spec(&crop);
        Ok(Self { cfg, models, analysis, info, crop, blur, device_align, next_index: 0, warmed: None })
    }

    /// What the results carry about the run (classifier, classes, filter, model sha256).
    pub fn run_info(&self) -> &RunInfo {
        &self.info
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Frames analysed since the start or the last [`reset`](Self::reset).
    pub fn frames(&self) -> u64 {
        self.next_index
    }

    /// Analyses the next frame of the video: faces, track ids, expression, valence and
    /// arousal, raw and filtered. `pts_ms` is its timestamp (None: the filter assumes a
    /// steady rate). Tracks and filters carry over from the frames before.
    pub fn analyze(&mut self, image: RgbImage, pts_ms: Option<f64>) -> Result<FrameMsg> {
        // the limits hold for frames handed in as for frames decoded
        self.cfg.limits.check(std::path::Path::new("analyze()"), "was given", image.width, image.height)?;
        let size = (image.width, image.height);
        if self.warmed != Some(size) {
            let m = &mut self.models;
            warm_up(&self.cfg, &mut m.detector, m.classifier.as_mut(), size.0, size.1)?;
            // a new frame size is a new stream as far as the faces being followed go
            m.detector.reset_schedule();
            self.warmed = Some(size);
        }
        let mut msg = FrameMsg {
            meta: FrameMeta {
                index: self.next_index,
                pts_ms,
                pts: None,
                dropped_before: 0,
                captured_at: Instant::now(),
                independent: false,
                file: None,
            },
            image: Arc::new(image),
            faces: Vec::new(),
            timings: Default::default(),
            track_events: Vec::new(),
            device: Default::default(),
        };
        detect_one(&mut self.models.detector, &mut msg, self.device_align)?;
        align_one(&mut msg, &self.crop, &self.blur, self.device_align)?;
        let mut one = VecDeque::from([msg]);
        classify_pending(self.models.classifier.as_mut(), self.cfg.batch.max_faces, &mut one)?;
        let mut msg = one.pop_front().expect("the frame just classified");
        let t = Instant::now();
        self.analysis.process(&mut msg);
        msg.timings.track_ms = crate::messages::elapsed_ms(t);
        self.next_index += 1;
        Ok(msg)
    }

    /// Ends every track still alive, as the end of a file does: the end events that
    /// `process` puts on its last frame.
    pub fn finish(&mut self) -> Vec<TrackEvent> {
        self.analysis.finish()
    }

    /// Starts a new video: no track or filter state carries over, frames count from 0.
    pub fn reset(&mut self) -> Result<()> {
        let spec = self.models.classifier.spec().clone();
        self.analysis = AnalysisStage::new(&self.cfg, &spec)?;
        self.models.detector.reset_schedule();
        self.next_index = 0;
        Ok(())
    }

    /// A result as the JSON line `process` writes for it.
    pub fn to_json(&self, frame: &FrameMsg) -> String {
        crate::sink::jsonl::to_json(frame, &self.info)
    }
}
