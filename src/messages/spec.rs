//! What the stages are told about their input: the stream the source opened (size, rate,
//! time base) and the geometry, colour and classes of the classifier the crops are made for.

#[derive(Clone, Debug, PartialEq)]
pub struct SourceInfo {
    pub width: u32,
    pub height: u32,
    /// Frame count the container declares, when it declares one.
    pub expected_frames: Option<u64>,
    /// The declared count, else the stream's duration times its frame rate (for progress
    /// and ETA only: it is an estimate).
    pub estimated_frames: Option<u64>,
    /// Average frame rate, when known.
    pub fps: Option<f64>,
    pub codec: String,
    /// Time base of `FrameMeta::pts` as (numerator, denominator) seconds.
    pub time_base: (i32, i32),
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SourceSummary {
    pub frames: u64,
    /// True when the consumer hung up before the end (e.g. stdout closed).
    pub stopped_early: bool,
    /// Packets that could not be read or decoded and were skipped (the decoder recovered).
    pub damaged_packets: u64,
}

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
    /// sha256 of the weights it runs (from its manifest), so outputs can name the model.
    pub sha256: String,
}
