//! The analysis stage, after the model: per frame, give each face a track id (`track`),
//! work out its raw valence/arousal (`affect`) and its uncertainty (`quality`), and fold
//! both into that track's temporal filter (`filter`). It composes those four algorithms;
//! each stays testable alone in its own module.
use super::StageOut;
use crate::affect::Circumplex;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::filter::{new_filter, FilterConfig, Observation, TrackFilter};
use crate::messages::elapsed_ms;
use crate::messages::{
    Affect, AffectSource, ClassOutput, ClassifierSpec, Face, FaceAnalysis, FrameMsg, QualityInputs, TrackEvent,
};
use crate::quality::{assess, head_pose, normalized_entropy, QualityConfig};
use crate::track::Tracker;
use crossbeam_channel::{Receiver, Sender};
use std::collections::HashMap;
use std::time::Instant;

/// Frame rate assumed for timing when a source gives neither timestamps nor a rate.
const FALLBACK_FPS: f64 = 30.0;

pub struct AnalysisStage {
    tracker: Tracker,
    filters: HashMap<u64, Box<dyn TrackFilter>>,
    filter_cfg: FilterConfig,
    quality_cfg: QualityConfig,
    circumplex: Option<Circumplex>,
    classes: usize,
}

impl AnalysisStage {
    pub fn new(cfg: &Config, spec: &ClassifierSpec) -> Result<Self> {
        let circumplex = if spec.has_valence_arousal {
            None
        } else {
            Some(Circumplex::new(&spec.classes, &cfg.affect).map_err(Error::Config)?)
        };
        Ok(Self {
            tracker: Tracker::new(cfg.track.clone()),
            filters: HashMap::new(),
            filter_cfg: cfg.filter.clone(),
            quality_cfg: cfg.uncertainty.clone(),
            circumplex,
            classes: spec.classes.len(),
        })
    }

    fn affect(&self, out: &ClassOutput) -> Affect {
        match (out.valence_arousal, &self.circumplex) {
            (Some([v, a]), _) => {
                let var = out.valence_arousal_var.unwrap_or([0.0, 0.0]);
                Affect { valence: v, arousal: a, valence_var: var[0], arousal_var: var[1], source: AffectSource::Model }
            }
            (None, Some(c)) => c.map(&out.probs),
            (None, None) => Affect {
                valence: 0.0,
                arousal: 0.0,
                valence_var: 1.0,
                arousal_var: 1.0,
                source: AffectSource::Circumplex,
            },
        }
    }

    fn analyse(&mut self, face: &Face, t_s: f64) -> Option<FaceAnalysis> {
        let out = face.output.as_ref()?;
        let id = face.track_id?;
        let d = &face.detection;
        let (yaw, pitch, roll) = head_pose(&d.landmarks);
        let inputs = QualityInputs {
            det_score: d.score,
            face_px: d.short_side_px(),
            blur: face.blur.unwrap_or(0.0),
            yaw_deg: yaw,
            pitch_deg: pitch,
            roll_deg: roll,
            entropy: normalized_entropy(&out.probs),
            model: out.uncertainty,
            disagreement: out.disagreement,
        };
        let uncertainty = assess(inputs, &self.quality_cfg);
        let affect = self.affect(out);
        let (cfg, k) = (&self.filter_cfg, self.classes);
        let filter = self.filters.entry(id).or_insert_with(|| new_filter(cfg, k));
        let filtered = filter.update(&Observation { t_s, probs: &out.probs, affect, quality: uncertainty.quality });
        Some(FaceAnalysis { affect, uncertainty, filtered })
    }

    /// Ends every live track: the input is over. The events belong on the last frame.
    pub fn finish(&mut self) -> Vec<TrackEvent> {
        self.filters.clear();
        self.tracker.end_all()
    }

    pub fn process(&mut self, msg: &mut FrameMsg) {
        let t_s = msg.meta.pts_ms.map(|p| p / 1e3).unwrap_or(msg.meta.index as f64 / FALLBACK_FPS);
        let dets: Vec<_> = msg.faces.iter().map(|f| f.detection.clone()).collect();
        let (ids, mut events) = self.tracker.step(msg.meta.index, t_s, &dets);
        for e in &events {
            if let TrackEvent::End { track_id, .. } = e {
                self.filters.remove(track_id);
            }
        }
        for (face, id) in msg.faces.iter_mut().zip(ids) {
            face.track_id = Some(id);
        }
        for i in 0..msg.faces.len() {
            let a = self.analyse(&msg.faces[i], t_s);
            msg.faces[i].analysis = a;
        }
        if msg.meta.independent {
            // a photo that stands alone: its tracks start and end on it, and the next
            // (unrelated) frame shares none of them or their filters
            events.extend(self.finish());
        }
        msg.track_events = events;
    }
}

/// Each stream's frames through its own tracks and filters. With `hold_last` (file
/// sources, where a frame's latency does not matter), each frame waits for the next one
/// of its stream, so that the last frame of the input can carry the end events of the
/// tracks still alive: every track then ends with an event, and per-track statistics need
/// no reconstruction. Live frames go on at once; their tracks end with the stream.
pub(super) fn analysis_stage(
    mut stages: Vec<AnalysisStage>,
    rx: Receiver<FrameMsg>,
    tx: Sender<FrameMsg>,
    hold_last: &[bool],
) -> Result<StageOut> {
    let mut held: Vec<Option<FrameMsg>> = (0..stages.len()).map(|_| None).collect();
    for mut msg in rx {
        let i = msg.meta.stream.min(stages.len() - 1);
        let t = Instant::now();
        stages[i].process(&mut msg);
        msg.timings.track_ms = elapsed_ms(t);
        let ready = if hold_last[i] { held[i].replace(msg) } else { Some(msg) };
        if let Some(m) = ready {
            if tx.send(m).is_err() {
                return Ok(StageOut::None);
            }
        }
    }
    for (stage, last) in stages.iter_mut().zip(held) {
        if let Some(mut last) = last {
            last.track_events.extend(stage.finish());
            let _ = tx.send(last);
        }
    }
    Ok(StageOut::None)
}
