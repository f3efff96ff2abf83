//! Pass-through: the raw frame, unchanged. The baseline for every comparison.
use super::{Observation, TrackFilter};
use crate::messages::FilterState;

pub struct PassThrough;

impl TrackFilter for PassThrough {
    fn update(&mut self, obs: &Observation) -> FilterState {
        FilterState {
            probs: obs.probs.to_vec(),
            valence: obs.affect.valence,
            arousal: obs.affect.arousal,
            valence_std: obs.affect.valence_var.sqrt(),
            arousal_std: obs.affect.arousal_var.sqrt(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{Affect, AffectSource};

    #[test]
    fn returns_the_frame() {
        let affect = Affect {
            valence: 0.3,
            arousal: -0.2,
            valence_var: 0.04,
            arousal_var: 0.09,
            source: AffectSource::Circumplex,
        };
        let s = PassThrough.update(&Observation { t_s: 0.0, probs: &[0.2, 0.8], affect, quality: 0.1 });
        assert_eq!(
            s,
            FilterState { probs: vec![0.2, 0.8], valence: 0.3, arousal: -0.2, valence_std: 0.2, arousal_std: 0.3 }
        );
    }
}
