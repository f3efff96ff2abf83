//! The default filter: Kalman on valence and arousal with measurement variance
//! (frame variance + floor) / quality, and the sticky forward filter on the expression
//! with emissions tempered by quality. See `kalman` and `hmm` for the two halves.
use super::hmm::StickyForward;
use super::kalman::Kalman1D;
use super::{FilterConfig, Observation, TrackFilter};
use crate::messages::FilterState;

pub struct UncertaintyFilter {
    valence: Kalman1D,
    arousal: Kalman1D,
    expression: StickyForward,
    floor: f64,
}

impl UncertaintyFilter {
    pub fn new(cfg: &FilterConfig, _classes: usize) -> Self {
        let k = || Kalman1D::new(cfg.va_process_noise, cfg.va_gate_sigma, -1.0, 1.0);
        Self {
            valence: k(),
            arousal: k(),
            expression: StickyForward::new(cfg.expr_switch_rate_hz, cfg.expr_prob_floor),
            floor: cfg.va_noise_floor,
        }
    }
}

impl TrackFilter for UncertaintyFilter {
    fn update(&mut self, obs: &Observation) -> FilterState {
        let q = (obs.quality as f64).clamp(1e-3, 1.0);
        let a = &obs.affect;
        let (v, vs) = self.valence.update(obs.t_s, a.valence as f64, (a.valence_var as f64 + self.floor) / q);
        let (ar, ars) = self.arousal.update(obs.t_s, a.arousal as f64, (a.arousal_var as f64 + self.floor) / q);
        let probs = self.expression.update(obs.t_s, obs.probs, q as f32);
        FilterState { probs, valence: v as f32, arousal: ar as f32, valence_std: vs as f32, arousal_std: ars as f32 }
    }
}
