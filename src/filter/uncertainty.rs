//! The default filter: Kalman on valence and arousal with measurement variance
//! (frame variance + floor) / quality, and the sticky forward filter on the expression
//! with emissions tempered by quality. See `kalman` and `hmm` for the two halves.
//!
//! What it reports is calibrated against correlated frames (see `evidence`):
//! - **Label**: the forward filter's, unchanged: sticky, deaf to single-frame flicker,
//!   quick to follow a sustained change.
//! - **Probabilities**: the evidence since the label last changed, averaged in the
//!   log domain and counted as the independent frames it is worth, n_eff:
//!   p ∝ exp(n_eff · mean log p_frame). A constant frame distribution p therefore gives p
//!   back, where the product of frames gave one-hot; independent frames still add up. When
//!   that average does not (yet) favour the forward filter's label, or is more confident
//!   than the forward filter, the forward posterior is tempered to the lower of the two
//!   confidences instead, so label and probabilities never disagree.
//! - **V/A standard deviations**: never below what n_eff frames of the measurement noise
//!   justify, √(r / n_eff): a constant measurement is one measurement, not hundreds.
use super::evidence::EvidenceCount;
use super::hmm::StickyForward;
use super::kalman::Kalman1D;
use super::{FilterConfig, Observation, TrackFilter};
use crate::messages::FilterState;
use crate::metrics::argmax;

pub struct UncertaintyFilter {
    valence: Kalman1D,
    arousal: Kalman1D,
    expression: StickyForward,
    floor: f64,
    prob_floor: f32,
    /// Evidence behind the reported probabilities (log-probabilities, centred per frame).
    expr_evidence: EvidenceCount,
    /// Evidence behind the reported V/A standard deviations (the V/A measurements).
    va_evidence: EvidenceCount,
    label: Option<usize>,
}

impl UncertaintyFilter {
    pub fn new(cfg: &FilterConfig, _classes: usize) -> Self {
        let k = || Kalman1D::new(cfg.va_process_noise, cfg.va_gate_sigma, -1.0, 1.0);
        let e = || {
            EvidenceCount::new(
                cfg.evidence_memory_s,
                cfg.correlation_window_s,
                cfg.correlation_prior,
                cfg.correlation_prior_frames,
            )
        };
        Self {
            valence: k(),
            arousal: k(),
            expression: StickyForward::new(cfg.expr_switch_rate_hz, cfg.expr_prob_floor),
            floor: cfg.va_noise_floor,
            prob_floor: cfg.expr_prob_floor,
            expr_evidence: e(),
            va_evidence: e(),
            label: None,
        }
    }

    /// The reported distribution: see the module docs.
    fn calibrated(&mut self, t: f64, probs: &[f32], q: f64, posterior: Vec<f32>) -> Vec<f32> {
        let label = argmax(&posterior);
        if self.label != Some(label) {
            self.expr_evidence.restart();
            self.label = Some(label);
        }
        let logs: Vec<f64> = probs.iter().map(|&p| (p.max(self.prob_floor) as f64).ln()).collect();
        let centre = logs.iter().sum::<f64>() / logs.len().max(1) as f64;
        let x: Vec<f64> = logs.iter().map(|l| l - centre).collect();
        self.expr_evidence.update(t, &x, q);
        let n = self.expr_evidence.n_eff(q);
        let counted = softmax(self.expr_evidence.mean().iter().map(|m| n * m));
        let top = counted.iter().cloned().fold(0.0f64, f64::max);
        if argmax_f64(&counted) == label && counted[label] <= posterior[label] as f64 {
            return counted.into_iter().map(|p| p as f32).collect();
        }
        temper(&posterior, label, top.min(posterior[label] as f64))
    }
}

fn softmax(x: impl Iterator<Item = f64>) -> Vec<f64> {
    let x: Vec<f64> = x.collect();
    let m = x.iter().cloned().fold(f64::MIN, f64::max);
    let e: Vec<f64> = x.iter().map(|v| (v - m).exp()).collect();
    let z: f64 = e.iter().sum();
    e.into_iter().map(|v| v / z).collect()
}

fn argmax_f64(p: &[f64]) -> usize {
    p.iter().enumerate().fold((0, f64::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b }).0
}

/// `post` raised to the power β ∈ [0, 1] and renormalised, with β chosen (by bisection)
/// so that class `label` gets probability `target`: the ranking, and so the label, stay.
fn temper(post: &[f32], label: usize, target: f64) -> Vec<f32> {
    let logs: Vec<f64> = post.iter().map(|&p| (p as f64).max(1e-300).ln()).collect();
    let at = |beta: f64| softmax(logs.iter().map(|l| beta * l));
    if at(1.0)[label] <= target {
        return post.to_vec();
    }
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..40 {
        let mid = 0.5 * (lo + hi);
        if at(mid)[label] < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    at(hi).into_iter().map(|p| p as f32).collect()
}

impl TrackFilter for UncertaintyFilter {
    fn update(&mut self, obs: &Observation) -> FilterState {
        let q = (obs.quality as f64).clamp(1e-3, 1.0);
        let a = &obs.affect;
        let (rv, ra) = (a.valence_var as f64 + self.floor, a.arousal_var as f64 + self.floor);
        let (v, vs) = self.valence.update(obs.t_s, a.valence as f64, rv / q);
        let (ar, ars) = self.arousal.update(obs.t_s, a.arousal as f64, ra / q);
        self.va_evidence.update(obs.t_s, &[a.valence as f64, a.arousal as f64], q);
        let n = self.va_evidence.n_eff(q);
        let posterior = self.expression.update(obs.t_s, obs.probs, q as f32);
        let probs = self.calibrated(obs.t_s, obs.probs, q, posterior);
        FilterState {
            probs,
            valence: v as f32,
            arousal: ar as f32,
            valence_std: vs.max((rv / n).sqrt()) as f32,
            arousal_std: ars.max((ra / n).sqrt()) as f32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{Affect, AffectSource};

    fn obs(t: f64, probs: &[f32], v: f32, var: f32) -> Observation<'_> {
        Observation {
            t_s: t,
            probs,
            affect: Affect { valence: v, arousal: -v, valence_var: var, arousal_var: var, source: AffectSource::Model },
            quality: 1.0,
        }
    }

    #[test]
    fn constant_evidence_gives_itself_back_not_one_hot() {
        let mut f = UncertaintyFilter::new(&FilterConfig::default(), 3);
        let p = [0.7f32, 0.2, 0.1];
        let mut s = None;
        for i in 0..300 {
            s = Some(f.update(&obs(i as f64 / 30.0, &p, 0.3, 0.01)));
            if i == 99 {
                let top = s.as_ref().unwrap().probs.iter().cloned().fold(0.0, f32::max);
                assert!(top <= 0.8, "after 100 frames: {:?}", s.as_ref().unwrap().probs);
            }
        }
        let s = s.unwrap();
        for (got, want) in s.probs.iter().zip(p) {
            assert!((got - want).abs() < 0.02, "{:?}", s.probs);
        }
        // the V/A std: one measurement's worth, not shrunk by repetition
        let measured = (0.01f32 + FilterConfig::default().va_noise_floor as f32).sqrt();
        assert!(
            s.valence_std >= 0.95 * measured && s.arousal_std >= 0.95 * measured,
            "{} vs {measured}",
            s.valence_std
        );
    }

    #[test]
    fn label_follows_the_forward_filter_and_probabilities_agree_with_it() {
        let cfg = FilterConfig::default();
        let mut f = UncertaintyFilter::new(&cfg, 3);
        let mut hmm = StickyForward::new(cfg.expr_switch_rate_hz, cfg.expr_prob_floor);
        // a settled face, one contrary frame (flicker), then a sustained change
        let seq: Vec<[f32; 3]> = (0..90)
            .map(|i| match i {
                40 => [0.1, 0.8, 0.1],
                i if i >= 60 => [0.1, 0.8, 0.1],
                _ => [0.8, 0.1, 0.1],
            })
            .collect();
        for (i, p) in seq.iter().enumerate() {
            let t = i as f64 / 30.0;
            let s = f.update(&obs(t, p, 0.0, 0.01));
            let want = argmax(&hmm.update(t, p, 1.0));
            assert_eq!(argmax(&s.probs), want, "frame {i}: {:?}", s.probs);
            let sum: f32 = s.probs.iter().sum();
            assert!((sum - 1.0).abs() < 1e-4);
        }
    }

    #[test]
    fn tempering_keeps_the_ranking_and_hits_the_target() {
        let post = [0.9f32, 0.07, 0.03];
        let t = temper(&post, 0, 0.6);
        assert!((t[0] - 0.6).abs() < 1e-4, "{t:?}");
        assert!(t[1] > t[2]);
        assert_eq!(temper(&post, 0, 0.95), post.to_vec(), "never sharper than the posterior");
    }
}
