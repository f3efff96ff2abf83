//! The training objectives: cross-entropy (hard and soft labels), the Self-Cure Network's
//! importance-weighted logits with rank regularisation and relabelling (Wang et al., CVPR
//! 2020), and Relative Uncertainty Learning's uncertainty-weighted feature mixing (Zhang
//! et al., NeurIPS 2021).
use super::rng::Rng;
use crate::model::resnet_mra::{MraNet, MraOutput};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScnConfig {
    /// Fraction of the batch in the high-importance group.
    pub beta: f64,
    /// Rank-regularisation margin between the groups' mean importance.
    pub margin: f64,
    /// Relabel a low-importance sample when p_max - p_label exceeds this.
    pub relabel_margin: f64,
    /// First epoch (0-based) at which relabelling happens.
    pub relabel_epoch: usize,
}

impl Default for ScnConfig {
    fn default() -> Self {
        Self { beta: 0.7, margin: 0.15, relabel_margin: 0.2, relabel_epoch: 10 }
    }
}

pub fn ce(logits: &Tensor, labels: &Tensor) -> Tensor {
    logits.cross_entropy_for_logits(labels)
}

/// Cross-entropy against label distributions [N, K].
pub fn soft_ce(logits: &Tensor, soft: &Tensor) -> Tensor {
    -(soft * logits.log_softmax(-1, Kind::Float))
        .sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
        .mean(Kind::Float)
}

/// SCN: CE on importance-weighted logits plus the rank regularisation. Also returns the
/// mask of the low-importance group (the relabelling candidates).
pub fn scn(out: &MraOutput, labels: &Tensor, cfg: &ScnConfig) -> (Tensor, Tensor) {
    let a = &out.importance;
    let n = a.size()[0];
    let weighted = &out.logits * a.unsqueeze(1);
    let loss = ce(&weighted, labels);
    let high = ((n as f64 * cfg.beta).round() as i64).clamp(1, (n - 1).max(1));
    let (sorted, order) = a.sort(0, true);
    let mut low_mask = Tensor::zeros([n], (Kind::Bool, a.device()));
    if n > 1 {
        let mean_h = sorted.narrow(0, 0, high).mean(Kind::Float);
        let mean_l = sorted.narrow(0, high, n - high).mean(Kind::Float);
        let rr = (-(mean_h - mean_l) + cfg.margin).clamp_min(0.0);
        let low_idx = order.narrow(0, high, n - high);
        low_mask = low_mask.index_fill(0, &low_idx, 1);
        return (loss + rr, low_mask);
    }
    (loss, low_mask)
}

/// SCN relabelling: for low-importance samples whose most likely class beats their label's
/// probability by more than the margin, the new label (else None).
pub fn relabels(logits: &Tensor, labels: &[i64], low: &Tensor, margin: f64) -> Vec<Option<i64>> {
    let p = logits.softmax(-1, Kind::Float);
    let (pmax, arg) = p.max_dim(1, false);
    let lab = Tensor::from_slice(labels).to_device(p.device());
    let plab = p.gather(1, &lab.unsqueeze(1), false).squeeze_dim(1);
    let go = ((pmax - plab).gt(margin)).logical_and(low);
    let go = Vec::<bool>::try_from(&go.to_device(tch::Device::Cpu)).unwrap_or_default();
    let arg = Vec::<i64>::try_from(&arg.to_device(tch::Device::Cpu)).unwrap_or_default();
    go.iter().zip(&arg).map(|(&g, &a)| g.then_some(a)).collect()
}

/// RUL: each sample is paired with a random partner; their features are mixed with weights
/// u_i / (u_i + u_j), u = exp(log-variance), and the mixed feature is trained to predict
/// both labels (0.5 each).
pub fn rul(net: &MraNet, out: &MraOutput, labels: &Tensor, rng: &mut Rng) -> Tensor {
    let n = labels.size()[0];
    let mut perm: Vec<i64> = (0..n).collect();
    rng.shuffle(&mut perm);
    let perm = Tensor::from_slice(&perm).to_device(labels.device());
    let u = out.logvar.exp();
    let up = u.index_select(0, &perm);
    let w = (&u / (&u + &up)).unsqueeze(1);
    let g = &out.feature;
    let mixed = &w * g + (-&w + 1.0) * g.index_select(0, &perm);
    let logits = mixed.dropout(net.cfg.dropout, true).apply(&net.cls);
    ce(&logits, labels) * 0.5 + ce(&logits, &labels.index_select(0, &perm)) * 0.5
}

/// Gaussian negative log-likelihood of V/A targets under the predicted mean and log-variance.
pub fn va_nll(mean: &Tensor, logvar: &Tensor, target: &Tensor) -> Tensor {
    (((mean - target).square() * (-logvar).exp() + logvar) * 0.5).mean(Kind::Float)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn out(importance: &[f32], logits: Tensor) -> MraOutput {
        let n = importance.len() as i64;
        MraOutput {
            logits,
            feature: Tensor::zeros([n, 4], (Kind::Float, Device::Cpu)),
            importance: Tensor::from_slice(importance),
            logvar: Tensor::zeros([n], (Kind::Float, Device::Cpu)),
            attention: Tensor::ones([n, 5], (Kind::Float, Device::Cpu)),
            va: None,
        }
    }

    #[test]
    fn rank_regularisation_vanishes_once_the_groups_are_apart() {
        let logits = Tensor::zeros([4, 3], (Kind::Float, Device::Cpu));
        let labels = Tensor::from_slice(&[0i64, 1, 2, 0]);
        let cfg = ScnConfig { beta: 0.5, margin: 0.15, ..Default::default() };
        let base = ce(&(&logits * 0.0), &labels).double_value(&[]);
        let (close, low) = scn(&out(&[0.5, 0.5, 0.5, 0.5], logits.shallow_clone()), &labels, &cfg);
        assert!((close.double_value(&[]) - base - 0.15).abs() < 1e-5, "equal weights pay the whole margin");
        assert_eq!(low.sum(Kind::Int64).int64_value(&[]), 2);
        let (apart, low) = scn(&out(&[0.9, 0.1, 0.8, 0.2], logits), &labels, &cfg);
        assert!((apart.double_value(&[]) - base).abs() < 1e-5);
        assert_eq!(Vec::<bool>::try_from(&low).unwrap(), [false, true, false, true]);
    }

    #[test]
    fn relabels_only_confident_low_importance_samples() {
        let logits = Tensor::from_slice(&[5.0f32, 0.0, 0.0, 5.0, 0.0, 0.0, 0.0, 0.3, 0.0]).view([3, 3]);
        let low = Tensor::from_slice(&[true, false, true]);
        let r = relabels(&logits, &[1, 1, 0], &low, 0.2);
        assert_eq!(r, [Some(0), None, None]);
    }

    #[test]
    fn soft_ce_equals_ce_on_one_hot() {
        let logits = Tensor::randn([5, 4], (Kind::Float, Device::Cpu));
        let labels = Tensor::from_slice(&[0i64, 3, 2, 1, 1]);
        let one_hot = labels.one_hot(4).to_kind(Kind::Float);
        assert!((soft_ce(&logits, &one_hot).double_value(&[]) - ce(&logits, &labels).double_value(&[])).abs() < 1e-5);
    }
}
