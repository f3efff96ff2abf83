//! What the analysis stage (tracking, affect, quality, filtering) adds to a face and a
//! frame: plain values the sinks serialise. The algorithms that compute them live in
//! `affect`, `quality`, `filter` and `track`; these types sit here so the sinks and the
//! stages share them without importing each other.
use serde::Serialize;

/// What the analysis stage adds to a classified face: raw valence/arousal, the frame's
/// uncertainty inputs and verdict, and the track's filtered state after this frame.
#[derive(Clone, Debug, PartialEq)]
pub struct FaceAnalysis {
    pub affect: Affect,
    pub uncertainty: Uncertainty,
    pub filtered: FilterState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AffectSource {
    /// The classifier's valence/arousal head.
    Model,
    /// The class distribution mapped onto the circumplex centroids.
    Circumplex,
}

impl AffectSource {
    /// The name in JSON and CSV.
    pub fn as_str(self) -> &'static str {
        match self {
            AffectSource::Model => "model",
            AffectSource::Circumplex => "circumplex",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Affect {
    pub valence: f32,
    pub arousal: f32,
    pub valence_var: f32,
    pub arousal_var: f32,
    pub source: AffectSource,
}

/// What one frame says about one face's reliability.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct QualityInputs {
    pub det_score: f32,
    pub face_px: f32,
    pub blur: f32,
    pub yaw_deg: f32,
    pub pitch_deg: f32,
    pub roll_deg: f32,
    pub entropy: f32,
    /// The classifier's own uncertainty output, when it has one.
    pub model: Option<f32>,
    /// An ensemble's disagreement on the face (see `ClassOutput::disagreement`); null for
    /// a single model.
    pub disagreement: Option<f32>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Uncertainty {
    #[serde(flatten)]
    pub inputs: QualityInputs,
    pub quality: f32,
    pub confidence: f32,
}

impl Uncertainty {
    /// The always-present numbers in table order (CSV and Parquet): det_score, face_px,
    /// blur, yaw_deg, pitch_deg, roll_deg, entropy, quality, confidence.
    pub fn scores(&self) -> [f32; 9] {
        let i = &self.inputs;
        [i.det_score, i.face_px, i.blur, i.yaw_deg, i.pitch_deg, i.roll_deg, i.entropy, self.quality, self.confidence]
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FilterState {
    pub probs: Vec<f32>,
    pub valence: f32,
    pub arousal: f32,
    pub valence_std: f32,
    pub arousal_std: f32,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TrackEvent {
    Start { track_id: u64, frame: u64 },
    End { track_id: u64, first_frame: u64, last_frame: u64, last_pts_ms: f64, frames_seen: u64 },
}
