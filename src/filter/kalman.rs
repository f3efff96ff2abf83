//! A scalar Kalman filter for a slowly drifting quantity (random-walk model), used for
//! valence and for arousal. Each measurement brings its own variance, so an unreliable
//! frame moves the estimate little; time between frames inflates the state variance, so
//! after a gap the next good frame moves it a lot. Innovations beyond `gate_sigma`
//! standard deviations get their variance inflated (a Huber-like robust update), so a
//! single wild frame cannot drag the estimate away.
#[derive(Clone, Debug)]
pub struct Kalman1D {
    /// Process noise: variance added per second.
    q_per_s: f64,
    gate_sigma: f64,
    lo: f64,
    hi: f64,
    state: Option<(f64, f64, f64)>, // (t, x, p)
}

impl Kalman1D {
    pub fn new(q_per_s: f64, gate_sigma: f64, lo: f64, hi: f64) -> Self {
        Self { q_per_s, gate_sigma, lo, hi, state: None }
    }

    /// The prediction at time t: (mean, variance), or None before the first measurement.
    pub fn predict(&self, t: f64) -> Option<(f64, f64)> {
        self.state.map(|(t0, x, p)| (x, p + self.q_per_s * (t - t0).max(0.0)))
    }

    /// Folds in measurement z with variance r at time t; returns (mean, std).
    pub fn update(&mut self, t: f64, z: f64, r: f64) -> (f64, f64) {
        let r = r.max(1e-9);
        let (x, p) = match self.predict(t) {
            None => (z, r),
            Some((x, p)) => {
                let s = p + r;
                let nu = z - x;
                let d2 = nu * nu / s;
                let g2 = self.gate_sigma * self.gate_sigma;
                let r = if d2 > g2 { r * d2 / g2 + p * (d2 / g2 - 1.0) } else { r };
                let k = p / (p + r);
                (x + k * nu, (1.0 - k) * p)
            }
        };
        let x = x.clamp(self.lo, self.hi);
        self.state = Some((t, x, p));
        (x, p.sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_measurements_by_their_variance() {
        let mut k = Kalman1D::new(0.0, 100.0, -1.0, 1.0);
        k.update(0.0, 0.0, 0.01);
        // an equally precise measurement moves it half-way; a 99x noisier one barely
        let (x, _) = k.clone().update(0.1, 0.5, 0.01);
        assert!((x - 0.25).abs() < 1e-9);
        let (y, _) = k.update(0.1, 0.5, 0.99);
        assert!(y < 0.01);
    }

    #[test]
    fn gaps_widen_the_uncertainty() {
        let mut k = Kalman1D::new(0.1, 3.0, -1.0, 1.0);
        k.update(0.0, 0.2, 0.01);
        let (_, p_soon) = k.predict(0.1).unwrap();
        let (_, p_late) = k.predict(2.0).unwrap();
        assert!(p_late > p_soon * 10.0);
    }

    #[test]
    fn an_outlier_is_down_weighted() {
        let mut gated = Kalman1D::new(0.01, 3.0, -1.0, 1.0);
        let mut plain = Kalman1D::new(0.01, 1e9, -1.0, 1.0);
        for i in 0..30 {
            gated.update(i as f64 * 0.04, 0.0, 0.01);
            plain.update(i as f64 * 0.04, 0.0, 0.01);
        }
        let (g, _) = gated.update(1.2, 1.0, 0.01);
        let (p, _) = plain.update(1.2, 1.0, 0.01);
        assert!(g < p / 3.0, "gated {g} plain {p}");
    }
}
