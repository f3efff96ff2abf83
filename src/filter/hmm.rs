//! Forward filtering of the expression as a hidden Markov chain. Transitions are sticky:
//! over dt seconds the expression stays with probability exp(-λ·dt) and otherwise moves
//! to any other class uniformly (λ = expected changes per second). A frame's class
//! distribution acts as its emission likelihood raised to the power of its quality τ in
//! (0, 1]: a poor frame is flattened towards uniform and moves the belief little.
//!
//!   prior_j = stay·post_j + (1 - stay)·(1 - post_j)/(K - 1)
//!   post_j ∝ prior_j · max(p_j, floor)^τ
#[derive(Clone, Debug)]
pub struct StickyForward {
    rate_hz: f64,
    floor: f32,
    state: Option<(f64, Vec<f64>)>,
}

impl StickyForward {
    pub fn new(rate_hz: f64, floor: f32) -> Self {
        Self { rate_hz, floor, state: None }
    }

    fn predict(&self, post: &[f64], dt: f64) -> Vec<f64> {
        let k = post.len() as f64;
        if k < 2.0 {
            return post.to_vec();
        }
        let stay = (-self.rate_hz * dt.max(0.0)).exp();
        post.iter().map(|&p| stay * p + (1.0 - stay) * (1.0 - p) / (k - 1.0)).collect()
    }

    pub fn update(&mut self, t: f64, probs: &[f32], tau: f32) -> Vec<f32> {
        let prior = match &self.state {
            Some((t0, post)) if post.len() == probs.len() => self.predict(post, t - t0),
            _ => vec![1.0 / probs.len() as f64; probs.len()],
        };
        let mut post: Vec<f64> =
            prior.iter().zip(probs).map(|(pr, &p)| pr * (p.max(self.floor) as f64).powf(tau as f64)).collect();
        let z: f64 = post.iter().sum();
        post.iter_mut().for_each(|p| *p /= z);
        let out = post.iter().map(|&p| p as f32).collect();
        self.state = Some((t, post));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argmax(p: &[f32]) -> usize {
        p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0
    }

    #[test]
    fn a_single_contrary_frame_does_not_flip_a_settled_belief() {
        let mut f = StickyForward::new(0.5, 1e-3);
        for i in 0..30 {
            f.update(i as f64 / 30.0, &[0.8, 0.1, 0.1], 1.0);
        }
        let p = f.update(1.0, &[0.1, 0.8, 0.1], 1.0);
        assert_eq!(argmax(&p), 0);
    }

    #[test]
    fn a_sustained_change_is_followed_within_a_few_frames() {
        let mut f = StickyForward::new(0.5, 1e-3);
        for i in 0..60 {
            f.update(i as f64 / 30.0, &[0.8, 0.1, 0.1], 1.0);
        }
        let switched = (60..70).find(|&i| argmax(&f.update(i as f64 / 30.0, &[0.1, 0.8, 0.1], 1.0)) == 1);
        assert!(matches!(switched, Some(i) if i < 64), "{switched:?}");
    }

    #[test]
    fn low_quality_frames_count_for_less_and_gaps_forget() {
        let mut hi = StickyForward::new(0.5, 1e-3);
        let mut lo = StickyForward::new(0.5, 1e-3);
        hi.update(0.0, &[0.6, 0.2, 0.2], 1.0);
        lo.update(0.0, &[0.6, 0.2, 0.2], 1.0);
        let h = hi.update(0.04, &[0.1, 0.8, 0.1], 1.0);
        let l = lo.update(0.04, &[0.1, 0.8, 0.1], 0.1);
        assert!(h[1] > l[1]);
        let mut g = StickyForward::new(0.5, 1e-3);
        g.update(0.0, &[0.9, 0.05, 0.05], 1.0);
        let after_gap = g.update(10.0, &[1.0 / 3.0; 3], 1.0);
        assert!(after_gap[0] < 0.4, "{after_gap:?}");
    }
}
