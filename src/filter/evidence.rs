//! How many independent frames' worth of evidence a track's recent frames hold.
//!
//! Why: a forward filter that multiplies every frame's likelihood treats 30 frames a
//! second as 30 independent looks at the face. Consecutive frames of one face are nearly
//! the same picture, and the classifier makes nearly the same error on each: on the
//! bundled Pexels clip the lag-1 autocorrelation of the log-probabilities is 0.975. The
//! product then collapses to one-hot ("sad 100 %") while the evidence is one look repeated.
//!
//! So the stream's correlation is estimated online and the evidence counted as an AR(1)
//! process would have it: n frames with lag-1 correlation ρ are worth n·(1 − ρ)/(1 + ρ)
//! independent ones, and never less than the newest frame alone. ρ comes from the ratio of
//! the mean squared frame-to-frame change to the spread around the running mean (for a
//! stationary AR(1), E‖x_t − x_{t−1}‖² = 2σ²(1 − ρ)), shrunk towards a prior for the first
//! frames of a track, when there is little to go on. Frames are weighted by their quality,
//! as everywhere in the filters: a frame of quality q counts as q frames.
#[derive(Clone, Debug)]
pub struct EvidenceCount {
    memory_s: f64,
    corr_window_s: f64,
    prior_rho: f64,
    prior_frames: f64,
    /// Evidence memory: time of the last frame, Σ aᵏ·q and Σ aᵏ·q·x.
    last_t: Option<f64>,
    weight: f64,
    sum: Vec<f64>,
    /// Correlation statistics (kept across [`restart`](Self::restart)).
    corr_t: Option<f64>,
    corr_weight: f64,
    corr_weight_sq: f64,
    sq_change: f64,
    sq_spread: f64,
    corr_mean: Vec<f64>,
    prev: Option<Vec<f64>>,
}

/// Consecutive frames further apart than this do not inform the lag-1 correlation.
const MAX_LAG_S: f64 = 0.25;

impl EvidenceCount {
    /// `memory_s`: time constant of the evidence sum; `corr_window_s`: of the correlation
    /// estimate; `prior_rho` weighted as `prior_frames` frames until data outweighs it.
    pub fn new(memory_s: f64, corr_window_s: f64, prior_rho: f64, prior_frames: f64) -> Self {
        Self {
            memory_s: memory_s.max(1e-3),
            corr_window_s: corr_window_s.max(1e-3),
            prior_rho: prior_rho.clamp(0.0, 1.0),
            prior_frames: prior_frames.max(0.0),
            last_t: None,
            weight: 0.0,
            sum: Vec::new(),
            corr_t: None,
            corr_weight: 0.0,
            corr_weight_sq: 0.0,
            sq_change: 0.0,
            sq_spread: 0.0,
            corr_mean: Vec::new(),
            prev: None,
        }
    }

    /// Forgets the evidence sum (the expression changed: older frames speak of another
    /// one); the correlation estimate, a property of the stream, is kept.
    pub fn restart(&mut self) {
        self.last_t = None;
        self.weight = 0.0;
        self.sum.clear();
    }

    /// Folds in the frame at `t` seconds with value `x` and quality `q`.
    pub fn update(&mut self, t: f64, x: &[f64], q: f64) {
        let q = q.clamp(1e-3, 1.0);
        let decay = |last: Option<f64>, tau: f64| last.map_or(0.0, |t0| (-(t - t0).max(0.0) / tau).exp());
        // correlation: change from the previous frame against spread around the mean
        let a = decay(self.corr_t, self.corr_window_s);
        if self.corr_mean.len() != x.len() {
            self.corr_mean = x.to_vec();
        }
        let close = self.corr_t.is_some_and(|t0| t - t0 <= MAX_LAG_S);
        if let (Some(prev), true) = (&self.prev, close) {
            let change: f64 = x.iter().zip(prev).map(|(a, b)| (a - b).powi(2)).sum();
            let spread: f64 = x.iter().zip(&self.corr_mean).map(|(a, m)| (a - m).powi(2)).sum();
            self.sq_change = a * self.sq_change + q * change;
            self.sq_spread = a * self.sq_spread + q * spread;
            self.corr_weight = a * self.corr_weight + q;
            self.corr_weight_sq = a * a * self.corr_weight_sq + q * q;
        }
        let w_mean = (a * self.corr_weight + q).max(q);
        for (m, v) in self.corr_mean.iter_mut().zip(x) {
            *m += q / w_mean * (v - *m);
        }
        self.prev = Some(x.to_vec());
        self.corr_t = Some(t);
        // evidence sum
        let b = decay(self.last_t, self.memory_s);
        if self.sum.len() != x.len() {
            self.sum = vec![0.0; x.len()];
            self.weight = 0.0;
        }
        self.weight = b * self.weight + q;
        for (s, v) in self.sum.iter_mut().zip(x) {
            *s = b * *s + q * v;
        }
        self.last_t = Some(t);
    }

    /// The estimated lag-1 correlation of the stream, in [0, 1]. A short window's estimate
    /// is biased low (its mean follows part of the slow wander): by about (1 + 4ρ)/n over
    /// n frames (Marriott & Pope 1954, for AR(1) with an unknown mean), which is added back,
    /// with n the effective count of the window's weights.
    pub fn rho(&self) -> f64 {
        let data = if self.sq_spread > 1e-12 {
            let raw = (1.0 - self.sq_change / (2.0 * self.sq_spread)).clamp(0.0, 1.0);
            let n = self.corr_weight.powi(2) / self.corr_weight_sq.max(1e-12);
            (raw + (1.0 + 4.0 * raw) / n.max(1.0)).min(1.0)
        } else {
            1.0
        };
        let (w, w0) = (self.corr_weight, self.prior_frames);
        if w + w0 <= 0.0 {
            return self.prior_rho;
        }
        (w * data + w0 * self.prior_rho) / (w + w0)
    }

    /// Independent frames' worth in the memory, and at least `newest` (the newest frame's
    /// quality: it is one look of its own).
    pub fn n_eff(&self, newest: f64) -> f64 {
        let r = self.rho();
        (self.weight * (1.0 - r) / (1.0 + r)).max(newest.clamp(1e-3, 1.0))
    }

    /// The quality-weighted mean of the remembered frames.
    pub fn mean(&self) -> Vec<f64> {
        let w = self.weight.max(1e-12);
        self.sum.iter().map(|s| s / w).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift normals, reproducible.
    fn normals(seed: u64, n: usize) -> Vec<f64> {
        let mut s = seed | 1;
        let mut u = || {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            (s.wrapping_mul(0x2545F4914F6CDD1D) >> 11) as f64 / (1u64 << 53) as f64
        };
        (0..n).map(|_| (-2.0 * u().max(1e-12).ln()).sqrt() * (std::f64::consts::TAU * u()).cos()).collect()
    }

    #[test]
    fn a_repeated_frame_counts_once() {
        let mut e = EvidenceCount::new(2.0, 5.0, 0.9, 15.0);
        for i in 0..300 {
            e.update(i as f64 / 30.0, &[1.0, -0.5], 1.0);
        }
        assert!(e.rho() > 0.98, "{}", e.rho());
        assert!((e.n_eff(1.0) - 1.0).abs() < 1e-9, "{}", e.n_eff(1.0));
        assert!((e.mean()[0] - 1.0).abs() < 1e-9);
    }

    #[test]
    fn independent_frames_count_nearly_in_full_and_ar1_frames_as_theory_says() {
        let z = normals(7, 3000);
        let mut iid = EvidenceCount::new(2.0, 5.0, 0.9, 15.0);
        let mut ar = EvidenceCount::new(2.0, 5.0, 0.9, 15.0);
        let (rho, mut x) = (0.9f64, 0.0f64);
        for (i, zi) in z.iter().enumerate() {
            let t = i as f64 / 30.0;
            iid.update(t, &[*zi], 1.0);
            x = rho * x + (1.0 - rho * rho).sqrt() * zi;
            ar.update(t, &[x], 1.0);
        }
        assert!(iid.rho() < 0.12, "iid rho {}", iid.rho());
        // 60 frames' memory at 30 fps: about 60 for independent frames
        assert!(iid.n_eff(1.0) > 45.0, "{}", iid.n_eff(1.0));
        assert!((ar.rho() - rho).abs() < 0.08, "AR(1) rho {}", ar.rho());
        let want = 60.0 * (1.0 - rho) / (1.0 + rho);
        assert!((ar.n_eff(1.0) / want - 1.0).abs() < 0.6, "{} vs {want}", ar.n_eff(1.0));
    }

    #[test]
    fn restart_forgets_the_evidence_not_the_correlation() {
        let mut e = EvidenceCount::new(2.0, 5.0, 0.5, 5.0);
        for i in 0..100 {
            e.update(i as f64 / 30.0, &[2.0], 1.0);
        }
        let rho = e.rho();
        e.restart();
        e.update(100.0 / 30.0, &[-1.0], 0.5);
        assert_eq!(e.mean(), vec![-1.0]);
        assert!((e.n_eff(0.5) - 0.5).abs() < 1e-9);
        assert!(e.rho() <= rho + 1e-12);
    }
}
