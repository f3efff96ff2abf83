//! Exponential moving average on probabilities and V/A with a time constant τ: a frame
//! arriving dt after the previous one gets weight α = 1 - exp(-dt/τ), so a gap counts as
//! the time it lasted. Blind to frame quality; the standard deviations reported are the
//! frame's own.
use super::{Observation, TrackFilter};
use crate::messages::FilterState;

pub struct Ema {
    tau_s: f64,
    state: Option<(f64, Vec<f32>, f32, f32)>,
}

impl Ema {
    pub fn new(tau_s: f64) -> Self {
        Self { tau_s: tau_s.max(1e-6), state: None }
    }

    /// The weight of a new frame after `dt_s`.
    pub fn alpha(&self, dt_s: f64) -> f32 {
        (1.0 - (-dt_s.max(0.0) / self.tau_s).exp()) as f32
    }
}

impl TrackFilter for Ema {
    fn update(&mut self, obs: &Observation) -> FilterState {
        let (probs, v, a) = match self.state.take() {
            None => (obs.probs.to_vec(), obs.affect.valence, obs.affect.arousal),
            Some((t, p, v, a)) => {
                let k = self.alpha(obs.t_s - t);
                let probs = p.iter().zip(obs.probs).map(|(old, new)| old + k * (new - old)).collect();
                (probs, v + k * (obs.affect.valence - v), a + k * (obs.affect.arousal - a))
            }
        };
        self.state = Some((obs.t_s, probs.clone(), v, a));
        FilterState {
            probs,
            valence: v,
            arousal: a,
            valence_std: obs.affect.valence_var.sqrt(),
            arousal_std: obs.affect.arousal_var.sqrt(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{Affect, AffectSource};

    fn obs(t: f64, v: f32, p: &[f32]) -> Observation<'_> {
        Observation {
            t_s: t,
            probs: p,
            affect: Affect {
                valence: v,
                arousal: 0.0,
                valence_var: 0.0,
                arousal_var: 0.0,
                source: AffectSource::Circumplex,
            },
            quality: 1.0,
        }
    }

    #[test]
    fn weight_follows_elapsed_time_not_frame_count() {
        let mut f = Ema::new(0.5);
        f.update(&obs(0.0, 0.0, &[1.0, 0.0]));
        let s = f.update(&obs(0.5, 1.0, &[0.0, 1.0]));
        let k = 1.0 - (-1.0f32).exp();
        assert!((s.valence - k).abs() < 1e-6 && (s.probs[1] - k).abs() < 1e-6);
        // the same step split into two frames lands at the same place
        let mut g = Ema::new(0.5);
        g.update(&obs(0.0, 0.0, &[1.0, 0.0]));
        g.update(&obs(0.25, 1.0, &[0.0, 1.0]));
        let s2 = g.update(&obs(0.5, 1.0, &[0.0, 1.0]));
        assert!((s2.valence - k).abs() < 1e-6);
    }
}
