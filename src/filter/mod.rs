//! Temporal filters, one per track, behind one trait. Each filter sees a track's frames in
//! time order with their video timestamps (not frame counts, so gaps and variable frame
//! rates are handled) and returns its current estimate of the expression distribution and
//! of valence/arousal with standard deviations.
//!
//! - `none`: pass-through, the baseline every other filter is measured against.
//! - `ema`: exponential moving average with a time constant, the classic smoother.
//! - `uncertainty` (default): a Kalman filter on V/A whose measurement noise is the frame's
//!   own variance divided by its quality, and a forward (HMM) filter on the expression with
//!   a sticky transition matrix and emissions tempered by frame quality. The label comes
//!   from the forward filter; the probabilities and standard deviations it reports count
//!   correlated frames as the evidence they are (`evidence`), so they stay calibrated.
pub mod ema;
pub mod evidence;
pub mod hmm;
pub mod kalman;
pub mod none;
pub mod synthetic;
pub mod uncertainty;

use crate::messages::{Affect, FilterState};
use serde::{Deserialize, Serialize};

/// One frame's evidence about one track.
#[derive(Clone, Debug)]
pub struct Observation<'a> {
    /// Video time in seconds; strictly increasing within a track.
    pub t_s: f64,
    pub probs: &'a [f32],
    pub affect: Affect,
    /// Frame quality in (0, 1] (see `quality`): how much this frame should count.
    pub quality: f32,
}

pub trait TrackFilter: Send {
    /// Folds in a frame; frames missed since the last call only widen the prediction.
    fn update(&mut self, obs: &Observation) -> FilterState;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum FilterKind {
    None,
    Ema,
    Uncertainty,
}

impl FilterKind {
    /// The name in configs, flags and the JSON's `filter` field.
    pub fn as_str(self) -> &'static str {
        match self {
            FilterKind::None => "none",
            FilterKind::Ema => "ema",
            FilterKind::Uncertainty => "uncertainty",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilterConfig {
    pub kind: FilterKind,
    /// EMA: time constant in seconds (weight of a new frame is 1 - exp(-dt/τ)).
    pub ema_time_constant_s: f64,
    /// Kalman: how fast true valence/arousal may drift, as variance per second.
    pub va_process_noise: f64,
    /// Kalman: variance added to every frame's own V/A variance: the model's error that its
    /// own variance does not show (σ 0.2 by default; no frame is trusted beyond that, which
    /// also bounds what a confidently wrong frame can do).
    pub va_noise_floor: f64,
    /// Kalman: innovations beyond this many standard deviations are down-weighted.
    pub va_gate_sigma: f64,
    /// Expression filter: expected expression changes per second (transition stickiness).
    pub expr_switch_rate_hz: f64,
    /// Expression filter: probabilities are floored at this before tempering.
    pub expr_prob_floor: f32,
    /// Reported confidence: time constant (s) of the evidence it rests on; restarted when
    /// the filtered label changes.
    pub evidence_memory_s: f64,
    /// Reported confidence: time constant (s) of the frame-to-frame correlation estimate.
    pub correlation_window_s: f64,
    /// Lag-1 correlation assumed for a new track (video frames of one face are alike),
    /// weighted as `correlation_prior_frames` frames until the track's own data outweighs it.
    pub correlation_prior: f64,
    pub correlation_prior_frames: f64,
}

impl Default for FilterConfig {
    fn default() -> Self {
        Self {
            kind: FilterKind::Uncertainty,
            ema_time_constant_s: 0.25,
            va_process_noise: 0.1,
            va_noise_floor: 0.04,
            va_gate_sigma: 3.0,
            expr_switch_rate_hz: 0.5,
            expr_prob_floor: 1e-3,
            evidence_memory_s: 2.0,
            correlation_window_s: 5.0,
            correlation_prior: 0.9,
            correlation_prior_frames: 15.0,
        }
    }
}

/// A fresh filter of the configured kind for a new track.
pub fn new_filter(cfg: &FilterConfig, classes: usize) -> Box<dyn TrackFilter> {
    match cfg.kind {
        FilterKind::None => Box::new(none::PassThrough),
        FilterKind::Ema => Box::new(ema::Ema::new(cfg.ema_time_constant_s)),
        FilterKind::Uncertainty => Box::new(uncertainty::UncertaintyFilter::new(cfg, classes)),
    }
}
