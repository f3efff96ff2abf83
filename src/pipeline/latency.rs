//! Each stream's capture-to-output latency over a run of any length, in constant memory:
//! a histogram of log-spaced buckets 1 % wide from 10 µs to 100 s, from which the run's
//! summary reads its percentiles (to within 1 %). A list of every frame's latency would
//! grow by 8 bytes a frame, without end on a live camera.
use crate::sink::bench::Stats;

const MIN_MS: f64 = 0.01;
const STEP: f64 = 1.01;
/// ln(100 s / 10 µs) / ln(1.01), rounded up.
const BUCKETS: usize = 1621;

pub struct LatencyHistogram {
    counts: Vec<u64>,
    n: u64,
    sum: f64,
    max: f64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self { counts: vec![0; BUCKETS], n: 0, sum: 0.0, max: 0.0 }
    }
}

impl LatencyHistogram {
    pub fn add(&mut self, ms: f64) {
        if !ms.is_finite() {
            return;
        }
        let ms = ms.max(0.0);
        let i = if ms <= MIN_MS { 0 } else { ((ms / MIN_MS).ln() / STEP.ln()).ceil() as usize };
        self.counts[i.min(BUCKETS - 1)] += 1;
        self.n += 1;
        self.sum += ms;
        self.max = self.max.max(ms);
    }

    /// Nearest-rank percentile `q` in [0, 100]: the upper edge of the bucket that holds it.
    fn percentile(&self, q: f64) -> f64 {
        let rank = ((q / 100.0) * self.n as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return (MIN_MS * STEP.powi(i as i32)).min(self.max);
            }
        }
        self.max
    }

    pub fn stats(&self) -> Stats {
        if self.n == 0 {
            return Stats::default();
        }
        Stats {
            p50: self.percentile(50.0),
            p95: self.percentile(95.0),
            p99: self.percentile(99.0),
            mean: self.sum / self.n as f64,
            max: self.max,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_within_one_percent_of_the_exact_ones() {
        let mut h = LatencyHistogram::default();
        let values: Vec<f64> = (1..=1000).map(|i| i as f64 * 0.37).collect();
        for v in &values {
            h.add(*v);
        }
        let exact = Stats::of(values.iter().copied());
        let got = h.stats();
        for (g, e) in [(got.p50, exact.p50), (got.p95, exact.p95), (got.p99, exact.p99)] {
            assert!((g - e).abs() <= 0.011 * e, "{g} vs {e}");
        }
        assert_eq!(got.max, exact.max);
        assert!((got.mean - exact.mean).abs() < 1e-9);
        // out of range and odd values land in the end buckets, not out of bounds
        h.add(1e9);
        h.add(-1.0);
        h.add(f64::NAN);
        assert_eq!(h.stats().max, 1e9);
        assert_eq!(LatencyHistogram::default().stats(), Stats::default());
    }
}
