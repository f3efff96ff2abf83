//! Agreement measures used to judge filters and models: RMSE, Lin's concordance
//! correlation coefficient (the ABAW valence/arousal score) and macro-averaged F1 (the
//! ABAW expression score).

pub fn rmse(est: &[f32], truth: &[f32]) -> f64 {
    let n = est.len().min(truth.len()).max(1) as f64;
    (est.iter().zip(truth).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>() / n).sqrt()
}

/// CCC = 2·cov(x, y) / (var x + var y + (mean x - mean y)²), population moments.
pub fn ccc(x: &[f32], y: &[f32]) -> f64 {
    let n = x.len().min(y.len());
    if n == 0 {
        return 0.0;
    }
    let nf = n as f64;
    let mx = x[..n].iter().map(|&v| v as f64).sum::<f64>() / nf;
    let my = y[..n].iter().map(|&v| v as f64).sum::<f64>() / nf;
    let (mut vx, mut vy, mut cov) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (dx, dy) = (x[i] as f64 - mx, y[i] as f64 - my);
        vx += dx * dx;
        vy += dy * dy;
        cov += dx * dy;
    }
    let denom = vx / nf + vy / nf + (mx - my).powi(2);
    if denom <= 0.0 {
        return 0.0;
    }
    2.0 * cov / nf / denom
}

/// Macro F1 over the classes 0..k that occur in `truth` or `pred`.
pub fn macro_f1(pred: &[usize], truth: &[usize], k: usize) -> f64 {
    let mut tp = vec![0f64; k];
    let mut fp = vec![0f64; k];
    let mut fn_ = vec![0f64; k];
    for (&p, &t) in pred.iter().zip(truth) {
        if p == t {
            tp[p] += 1.0;
        } else {
            fp[p] += 1.0;
            fn_[t] += 1.0;
        }
    }
    let present: Vec<usize> = (0..k).filter(|&c| tp[c] + fp[c] + fn_[c] > 0.0).collect();
    if present.is_empty() {
        return 0.0;
    }
    present.iter().map(|&c| if tp[c] == 0.0 { 0.0 } else { 2.0 * tp[c] / (2.0 * tp[c] + fp[c] + fn_[c]) }).sum::<f64>()
        / present.len() as f64
}

pub fn argmax(p: &[f32]) -> usize {
    p.iter().enumerate().fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b }).0
}

/// The most probable class of a distribution given in `classes` order (the first on ties):
/// its name (None when `classes` has no entry for it) and probability (None when `probs`
/// is empty). Every output (JSON, CSV, overlay) labels faces through this.
pub fn top_class<'a>(classes: &'a [String], probs: &[f32]) -> (Option<&'a str>, Option<f32>) {
    let i = argmax(probs);
    (classes.get(i).map(String::as_str), probs.get(i).copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ccc_is_one_for_identity_and_penalises_bias() {
        let x = [0.1, 0.5, -0.3, 0.8];
        assert!((ccc(&x, &x) - 1.0).abs() < 1e-12);
        let shifted: Vec<f32> = x.iter().map(|v| v + 0.5).collect();
        assert!(ccc(&x, &shifted) < 0.7);
    }

    #[test]
    fn macro_f1_averages_over_classes() {
        // class 0: tp 1, fn 1 -> 2/3 ; class 1: tp 1, fp 1 -> 2/3
        assert!((macro_f1(&[0, 1, 1], &[0, 0, 1], 2) - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(macro_f1(&[2, 2], &[2, 2], 3), 1.0);
    }

    #[test]
    fn rmse_basic() {
        assert!((rmse(&[0.0, 0.0], &[3.0, 4.0]) - (12.5f64).sqrt()).abs() < 1e-12);
    }
}

/// Area under the ROC curve of `scores` for telling `positive` samples from the others
/// (Mann-Whitney U; ties count half). None when either group is empty.
pub fn auroc(scores: &[f32], positive: &[bool]) -> Option<f64> {
    let mut idx: Vec<usize> = (0..scores.len().min(positive.len())).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (mut rank_sum, mut i) = (0.0, 0);
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += (i..=j).filter(|&k| positive[idx[k]]).count() as f64 * avg;
        i = j + 1;
    }
    let np = idx.iter().filter(|&&k| positive[k]).count() as f64;
    let nn = idx.len() as f64 - np;
    (np > 0.0 && nn > 0.0).then(|| (rank_sum - np * (np + 1.0) / 2.0) / (np * nn))
}

#[cfg(test)]
mod auroc_tests {
    use super::auroc;

    #[test]
    fn auroc_extremes_and_ties() {
        assert_eq!(auroc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]), Some(1.0));
        assert_eq!(auroc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true]), Some(0.0));
        assert_eq!(auroc(&[0.5, 0.5], &[true, false]), Some(0.5));
        assert_eq!(auroc(&[0.5], &[true]), None);
    }
}

/// One bin of a reliability diagram.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Bin {
    pub lo: f64,
    pub hi: f64,
    pub count: u64,
    pub confidence: f64,
    pub accuracy: f64,
}

/// Expected calibration error over `n_bins` equal-width confidence bins, with the bins:
/// Σ (n_b / n)·|accuracy_b − confidence_b|.
pub fn calibration(conf: &[f32], correct: &[bool], n_bins: usize) -> (f64, Vec<Bin>) {
    let mut bins: Vec<Bin> = (0..n_bins)
        .map(|i| Bin {
            lo: i as f64 / n_bins as f64,
            hi: (i + 1) as f64 / n_bins as f64,
            count: 0,
            confidence: 0.0,
            accuracy: 0.0,
        })
        .collect();
    for (&c, &ok) in conf.iter().zip(correct) {
        let b = ((c as f64 * n_bins as f64) as usize).min(n_bins - 1);
        bins[b].count += 1;
        bins[b].confidence += c as f64;
        bins[b].accuracy += ok as u8 as f64;
    }
    let n = conf.len().max(1) as f64;
    let mut ece = 0.0;
    for b in &mut bins {
        if b.count > 0 {
            b.confidence /= b.count as f64;
            b.accuracy /= b.count as f64;
            ece += b.count as f64 / n * (b.accuracy - b.confidence).abs();
        }
    }
    (ece, bins)
}
