//! Several trained checkpoints as one classifier: every member runs on each batch, the
//! output is the mean of their distributions, and the members' disagreement on each face
//! (mutual information, see `ClassOutput::disagreement`) says where the ensemble does not
//! know. Members must share their input (size, colour, normalisation, template), since
//! the pipeline makes one crop per face, and their class names (in any order: each
//! member's outputs are put in the first member's order by name).
use super::Classifier;
use crate::error::{Error, Result};
use crate::messages::{ClassOutput, ClassifierSpec, Crop};
use crate::runtime::buckets::Buckets;
use crate::runtime::{Device, EngineKind};
use std::path::{Path, PathBuf};
#[cfg(feature = "torch")]
use tch::Tensor;

pub struct Ensemble {
    spec: ClassifierSpec,
    members: Vec<Box<dyn Classifier>>,
    /// For each member, the index in its output of each ensemble class.
    order: Vec<Vec<usize>>,
}

/// The checkpoints `--model` names: a comma-separated list of files, or a folder of them
/// (a `train --ensemble` run's `members/`), sorted by name.
pub fn checkpoint_paths(arg: &Path) -> Result<Vec<PathBuf>> {
    if arg.as_os_str().is_empty() {
        return Ok(Vec::new());
    }
    if arg.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(arg)
            .map_err(|err| Error::Io { path: arg.to_path_buf(), err })?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
            .collect();
        v.sort();
        if v.is_empty() {
            return Err(Error::Config(format!("{}: no .safetensors checkpoint in this folder", arg.display())));
        }
        return Ok(v);
    }
    Ok(arg.to_string_lossy().split(',').filter(|s| !s.trim().is_empty()).map(|s| PathBuf::from(s.trim())).collect())
}

/// Mutual information between the prediction and the member, in nats: the mean KL
/// divergence of each member from the mean, (1/M) Σ_m Σ_k p_mk ln(p_mk / p̄_k), which
/// equals H(p̄) - mean H(p_m). Computed in f64 as that form, so members that agree
/// exactly give exactly 0.
pub fn disagreement(members: &[&[f32]]) -> f32 {
    let mean = mean_probs(members);
    let m = members.len().max(1) as f64;
    let kl: f64 = members
        .iter()
        .flat_map(|p| p.iter().zip(&mean).filter(|(&v, _)| v > 0.0).map(|(&v, &q)| v as f64 * (v as f64 / q).ln()))
        .sum();
    (kl / m).max(0.0) as f32
}

/// The members' mean distribution, in f64 (exact for identical members).
fn mean_probs(members: &[&[f32]]) -> Vec<f64> {
    let k = members.first().map_or(0, |p| p.len());
    let m = members.len().max(1) as f64;
    (0..k).map(|i| members.iter().map(|p| p[i] as f64).sum::<f64>() / m).collect()
}

impl Ensemble {
    pub fn new(members: Vec<Box<dyn Classifier>>) -> Result<Self> {
        let first = members.first().ok_or_else(|| Error::Config("an ensemble needs at least one member".into()))?;
        let base = first.spec().clone();
        let mut order = Vec::new();
        for m in &members {
            let s = m.spec();
            let bad =
                |why: String| Error::Model { name: s.name.clone(), reason: format!("as an ensemble member: {why}") };
            if s.input != base.input {
                return Err(bad(format!("its input differs from {}'s", base.name)));
            }
            if s.classes.len() != base.classes.len() {
                return Err(bad(format!("classes {:?}, the first member has {:?}", s.classes, base.classes)));
            }
            let idx: Option<Vec<usize>> = base.classes.iter().map(|c| s.classes.iter().position(|x| x == c)).collect();
            order.push(
                idx.ok_or_else(|| bad(format!("classes {:?}, the first member has {:?}", s.classes, base.classes)))?,
            );
        }
        let names: Vec<&str> = members.iter().map(|m| m.spec().name.as_str()).collect();
        let identity = {
            use sha2::Digest;
            let shas: Vec<&str> = members.iter().map(|m| m.spec().sha256.as_str()).collect();
            sha2::Sha256::digest(shas.join(",").as_bytes()).iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        let spec = ClassifierSpec {
            name: format!("ensemble({})", names.join(",")),
            has_valence_arousal: members.iter().all(|m| m.spec().has_valence_arousal),
            has_uncertainty: members.iter().all(|m| m.spec().has_uncertainty),
            sha256: identity,
            ..base
        };
        Ok(Self { spec, members, order })
    }

    /// The members' outputs for the same faces, combined face by face.
    fn combine(&self, outs: Vec<Vec<ClassOutput>>) -> Result<Vec<ClassOutput>> {
        let n = outs.first().map_or(0, Vec::len);
        if outs.iter().any(|o| o.len() != n) {
            return Err(Error::Model {
                name: self.spec.name.clone(),
                reason: "members returned different counts".into(),
            });
        }
        let m = outs.len() as f32;
        Ok((0..n)
            .map(|i| {
                let probs: Vec<Vec<f32>> =
                    outs.iter().zip(&self.order).map(|(o, idx)| idx.iter().map(|&j| o[i].probs[j]).collect()).collect();
                let refs: Vec<&[f32]> = probs.iter().map(Vec::as_slice).collect();
                let mean: Vec<f32> = mean_probs(&refs).into_iter().map(|p| p as f32).collect();
                let all = |f: fn(&ClassOutput) -> Option<[f32; 2]>| -> Option<Vec<[f32; 2]>> {
                    outs.iter().map(|o| f(&o[i])).collect()
                };
                // V/A: the mean of the members' means; its variance by the law of total
                // variance (mean of their variances plus the spread of their means)
                let va = all(|o| o.valence_arousal);
                let va_mean = va.as_ref().map(|v| [0, 1].map(|d| v.iter().map(|x| x[d]).sum::<f32>() / m));
                let va_var = match (&va, va_mean, all(|o| o.valence_arousal_var)) {
                    (Some(v), Some(mu), Some(s)) => Some([0, 1].map(|d| {
                        s.iter().map(|x| x[d]).sum::<f32>() / m
                            + v.iter().map(|x| (x[d] - mu[d]).powi(2)).sum::<f32>() / m
                    })),
                    _ => None,
                };
                let unc: Option<Vec<f32>> = outs.iter().map(|o| o[i].uncertainty).collect();
                ClassOutput {
                    probs: mean,
                    valence_arousal: va_mean,
                    valence_arousal_var: va_var,
                    uncertainty: unc.map(|u| u.iter().sum::<f32>() / m),
                    disagreement: Some(disagreement(&refs)),
                }
            })
            .collect())
    }
}

impl Classifier for Ensemble {
    fn spec(&self) -> &ClassifierSpec {
        &self.spec
    }

    fn classify(&mut self, crops: &[&Crop]) -> Result<Vec<ClassOutput>> {
        let outs = self.members.iter_mut().map(|m| m.classify(crops)).collect::<Result<Vec<_>>>()?;
        self.combine(outs)
    }

    fn engine(&self) -> EngineKind {
        self.members[0].engine()
    }

    /// The members' device when they all share one (crops made there are used as they are).
    fn device(&self) -> Option<Device> {
        let d = self.members[0].device();
        self.members.iter().all(|m| m.device() == d).then_some(d).flatten()
    }

    #[cfg(feature = "torch")]
    fn classify_device(&mut self, crops: &Tensor) -> Result<Vec<ClassOutput>> {
        let outs = self.members.iter_mut().map(|m| m.classify_device(crops)).collect::<Result<Vec<_>>>()?;
        self.combine(outs)
    }

    fn warm_up(&mut self, buckets: Option<Buckets>, max_batch: usize) -> Result<Vec<usize>> {
        let mut shapes = Vec::new();
        for m in &mut self.members {
            shapes = m.warm_up(buckets.clone(), max_batch)?;
        }
        Ok(shapes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::InputSpec;

    /// A member that answers every crop with a fixed distribution over its classes.
    struct Fixed(ClassifierSpec, Vec<f32>);

    impl Classifier for Fixed {
        fn spec(&self) -> &ClassifierSpec {
            &self.0
        }
        fn classify(&mut self, crops: &[&Crop]) -> Result<Vec<ClassOutput>> {
            Ok(crops.iter().map(|_| ClassOutput::probs_only(&self.1)).collect())
        }
    }

    fn member(classes: &[&str], probs: &[f32]) -> Box<dyn Classifier> {
        let spec = ClassifierSpec {
            name: "m".into(),
            classes: classes.iter().map(|c| c.to_string()).collect(),
            input: InputSpec::test_gray(2, 2, [[0.0; 2]; 5]),
            has_valence_arousal: false,
            has_uncertainty: false,
            sha256: "00".into(),
        };
        Box::new(Fixed(spec, probs.to_vec()))
    }

    #[test]
    fn identical_members_agree_exactly_and_classes_are_matched_by_name() {
        let crop = Crop { width: 2, height: 2, channels: 1, data: vec![0; 4] };
        let mut same = Ensemble::new(vec![member(&["a", "b"], &[0.3, 0.7]), member(&["a", "b"], &[0.3, 0.7])]).unwrap();
        let o = &same.classify(&[&crop]).unwrap()[0];
        assert_eq!((o.probs.clone(), o.disagreement), (vec![0.3, 0.7], Some(0.0)));
        // the same distribution with the classes the other way round
        let mut swapped =
            Ensemble::new(vec![member(&["a", "b"], &[0.3, 0.7]), member(&["b", "a"], &[0.7, 0.3])]).unwrap();
        assert_eq!(swapped.classify(&[&crop]).unwrap()[0].disagreement, Some(0.0));
        let mut split =
            Ensemble::new(vec![member(&["a", "b"], &[1.0, 0.0]), member(&["a", "b"], &[0.0, 1.0])]).unwrap();
        let o = &split.classify(&[&crop]).unwrap()[0];
        assert_eq!(o.probs, vec![0.5, 0.5]);
        assert!((o.disagreement.unwrap() - std::f32::consts::LN_2).abs() < 1e-6, "two certain members apart: ln 2");
        assert!(Ensemble::new(vec![member(&["a", "b"], &[0.5, 0.5]), member(&["a", "c"], &[0.5, 0.5])]).is_err());
    }

    #[test]
    fn checkpoint_lists_and_folders() {
        assert_eq!(checkpoint_paths(Path::new("a.safetensors, b.safetensors")).unwrap().len(), 2);
        assert!(checkpoint_paths(Path::new("")).unwrap().is_empty());
        let tmp = tempfile::tempdir().unwrap();
        assert!(checkpoint_paths(tmp.path()).is_err(), "an empty folder");
        for n in ["member-1.safetensors", "member-0.safetensors", "member-0.json"] {
            std::fs::write(tmp.path().join(n), b"").unwrap();
        }
        let v = checkpoint_paths(tmp.path()).unwrap();
        assert_eq!(
            v.iter().map(|p| p.file_name().unwrap().to_str().unwrap()).collect::<Vec<_>>(),
            ["member-0.safetensors", "member-1.safetensors"]
        );
    }
}
