//! Valence and arousal for every face: from the model's V/A head when it has one,
//! otherwise from its class distribution placed on Russell's circumplex:
//!
//!   V = Σ p_k v_k,  A = Σ p_k a_k,  var(V) = Σ p_k (v_k - V)²,  var(A) = Σ p_k (a_k - A)²
//!
//! The class centroids (v_k, a_k) are the positions of the matching affect terms in the
//! two-dimensional scaling solution of Russell, J. A. (1980), "A circumplex model of
//! affect", J. Personality and Social Psychology 39(6):1161–1178, Fig. 4, as that figure
//! is commonly digitised (no table of coordinates was published, so treat them as ±0.05),
//! on its [-1, 1] axes:
//! happy ~ "happy", surprise ~ "astonished", fear ~ "afraid", angry ~ "angry",
//! sad ~ "sad", neutral at the origin. Disgust is not among Russell's 28 terms; it is
//! placed at "annoyed", its nearest neighbour in later circumplex work. Users can replace
//! the table in the config (`[affect.centroids]`).
use crate::messages::{Affect, AffectSource};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AffectConfig {
    /// Class name -> [valence, arousal] in [-1, 1].
    pub centroids: BTreeMap<String, [f32; 2]>,
}

impl Default for AffectConfig {
    fn default() -> Self {
        let table: [(&str, [f32; 2]); 8] = [
            ("happy", [0.83, 0.53]),
            ("surprise", [0.16, 0.89]),
            ("fear", [-0.34, 0.64]),
            ("angry", [-0.52, 0.58]),
            ("disgust", [-0.55, 0.41]),
            ("sad", [-0.65, -0.27]),
            ("neutral", [0.0, 0.0]),
            // FaceExpressionNet spells some classes differently
            ("fearful", [-0.34, 0.64]),
        ];
        let mut centroids: BTreeMap<String, [f32; 2]> = table.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        centroids.insert("disgusted".into(), [-0.55, 0.41]);
        centroids.insert("surprised".into(), [0.16, 0.89]);
        centroids.insert("contempt".into(), [-0.55, 0.41]);
        Self { centroids }
    }
}

/// Maps class distributions to valence/arousal with the configured centroids.
#[derive(Clone, Debug)]
pub struct Circumplex {
    points: Vec<[f32; 2]>,
}

impl Circumplex {
    /// Fails naming the first class without a centroid.
    pub fn new(classes: &[String], cfg: &AffectConfig) -> Result<Self, String> {
        let points = classes
            .iter()
            .map(|c| {
                cfg.centroids.get(c).copied().ok_or_else(|| format!("affect.centroids has no entry for class '{c}'"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { points })
    }

    pub fn map(&self, probs: &[f32]) -> Affect {
        let (mut v, mut a) = (0f32, 0f32);
        for (p, c) in probs.iter().zip(&self.points) {
            v += p * c[0];
            a += p * c[1];
        }
        let (mut vv, mut va) = (0f32, 0f32);
        for (p, c) in probs.iter().zip(&self.points) {
            vv += p * (c[0] - v).powi(2);
            va += p * (c[1] - a).powi(2);
        }
        Affect { valence: v, arousal: a, valence_var: vv, arousal_var: va, source: AffectSource::Circumplex }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes() -> Vec<String> {
        ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"].iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_certain_class_sits_on_its_centroid_with_no_variance() {
        let c = Circumplex::new(&classes(), &AffectConfig::default()).unwrap();
        let a = c.map(&[0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]);
        assert_eq!((a.valence, a.arousal, a.valence_var, a.arousal_var), (0.83, 0.53, 0.0, 0.0));
    }

    #[test]
    fn a_split_distribution_is_between_with_mixture_variance() {
        let c = Circumplex::new(&classes(), &AffectConfig::default()).unwrap();
        let a = c.map(&[0.0, 0.0, 0.0, 0.5, 0.5, 0.0, 0.0]);
        assert!((a.valence - 0.09).abs() < 1e-6);
        assert!((a.valence_var - 0.74f32.powi(2)).abs() < 1e-5);
    }

    #[test]
    fn unknown_class_is_reported() {
        let err = Circumplex::new(&["joy".to_string()], &AffectConfig::default()).unwrap_err();
        assert!(err.contains("joy"));
    }
}
