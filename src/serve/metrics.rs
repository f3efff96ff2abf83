//! What `/metrics` reports, in the Prometheus text format: counters and histograms kept in
//! atomics, so recording costs a few relaxed adds on the paths that serve requests and no
//! lock is ever taken there.
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

/// Upper bounds of the latency buckets, in milliseconds.
const BOUNDS_MS: [f64; 14] = [1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 50.0, 75.0, 100.0, 200.0, 500.0, 1000.0, 5000.0];

pub struct Histogram {
    counts: [AtomicU64; BOUNDS_MS.len() + 1],
    sum_us: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self { counts: std::array::from_fn(|_| AtomicU64::new(0)), sum_us: AtomicU64::new(0) }
    }
}

impl Histogram {
    pub fn observe(&self, ms: f64) {
        let ms = if ms.is_finite() { ms.max(0.0) } else { 0.0 };
        let i = BOUNDS_MS.iter().position(|&b| ms <= b).unwrap_or(BOUNDS_MS.len());
        self.counts[i].fetch_add(1, Relaxed);
        self.sum_us.fetch_add((ms * 1000.0) as u64, Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, label: &str) {
        let mut total = 0;
        for (i, b) in BOUNDS_MS.iter().enumerate() {
            total += self.counts[i].load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{label}le=\"{b}\"}} {total}");
        }
        total += self.counts[BOUNDS_MS.len()].load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{label}le=\"+Inf\"}} {total}");
        let own = label.trim_end_matches(',');
        let own = if own.is_empty() { String::new() } else { format!("{{{own}}}") };
        let _ = writeln!(out, "{name}_sum{own} {}", self.sum_us.load(Relaxed) as f64 / 1000.0);
        let _ = writeln!(out, "{name}_count{own} {total}");
    }
}

/// Where a frame came from.
#[derive(Clone, Copy)]
pub enum Kind {
    Analyze = 0,
    Session = 1,
    Source = 2,
}
const KINDS: [&str; 3] = ["analyze", "session", "source"];

/// Why a frame was not analysed or not delivered.
#[derive(Clone, Copy)]
pub enum Dropped {
    /// A session sent frames faster than they were analysed: the oldest waiting went.
    Behind = 0,
    /// A session went over `serve.max_session_fps`.
    Rate = 1,
    /// A watcher of a source read too slowly and missed results or video frames.
    SlowClient = 2,
}
const DROPS: [&str; 3] = ["session_behind", "session_rate", "slow_client"];

/// Pipeline stages timed per analysed frame.
pub const STAGES: [&str; 6] = ["decode", "detect", "align", "model", "track", "total"];

#[derive(Default)]
pub struct Metrics {
    frames: [AtomicU64; 3],
    faces: [AtomicU64; 3],
    dropped: [AtomicU64; 3],
    /// Requests refused by a limit, by status code (400, 401, 413, 429).
    refused: [AtomicU64; 4],
    errors: AtomicU64,
    sessions: AtomicI64,
    sessions_total: AtomicU64,
    watchers: AtomicI64,
    stages: [Histogram; 6],
    /// Receipt of a session's frame to its reply being sent.
    session_ms: Histogram,
}

const REFUSED: [u16; 4] = [400, 401, 413, 429];

impl Metrics {
    pub fn frame(&self, kind: Kind, faces: usize, stage_ms: [f64; 6]) {
        self.frames[kind as usize].fetch_add(1, Relaxed);
        self.faces[kind as usize].fetch_add(faces as u64, Relaxed);
        for (h, ms) in self.stages.iter().zip(stage_ms) {
            h.observe(ms);
        }
    }

    pub fn dropped(&self, why: Dropped, n: u64) {
        self.dropped[why as usize].fetch_add(n, Relaxed);
    }

    pub fn refused(&self, status: u16) {
        match REFUSED.iter().position(|&s| s == status) {
            Some(i) => self.refused[i].fetch_add(1, Relaxed),
            None => self.errors.fetch_add(1, Relaxed),
        };
    }

    pub fn session_opened(&self) {
        self.sessions.fetch_add(1, Relaxed);
        self.sessions_total.fetch_add(1, Relaxed);
    }

    pub fn session_closed(&self) {
        self.sessions.fetch_sub(1, Relaxed);
    }

    pub fn sessions(&self) -> i64 {
        self.sessions.load(Relaxed)
    }

    pub fn watchers(&self) -> i64 {
        self.watchers.load(Relaxed)
    }

    pub fn watcher(&self, delta: i64) {
        self.watchers.fetch_add(delta, Relaxed);
    }

    pub fn session_latency(&self, ms: f64) {
        self.session_ms.observe(ms);
    }

    pub fn render(&self) -> String {
        let mut o = String::new();
        let counter = |o: &mut String, name: &str, help: &str| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter");
        };
        let frames = KINDS.iter().zip(&self.frames).map(|(k, c)| (format!("kind=\"{k}\""), c));
        family(&mut o, "fer_rt_frames_total", "Frames analysed, by where they came from.", frames);
        let faces = KINDS.iter().zip(&self.faces).map(|(k, c)| (format!("kind=\"{k}\""), c));
        family(&mut o, "fer_rt_faces_total", "Faces found in the frames analysed.", faces);
        let dropped = DROPS.iter().zip(&self.dropped).map(|(k, c)| (format!("reason=\"{k}\""), c));
        family(&mut o, "fer_rt_dropped_frames_total", "Frames not analysed or not delivered, by reason.", dropped);
        let refused = REFUSED.iter().zip(&self.refused).map(|(s, c)| (format!("status=\"{s}\""), c));
        family(&mut o, "fer_rt_refused_total", "Requests and frames refused, by HTTP status.", refused);
        counter(&mut o, "fer_rt_errors_total", "Requests that failed on the server's side.");
        let _ = writeln!(o, "fer_rt_errors_total {}", self.errors.load(Relaxed));
        counter(&mut o, "fer_rt_sessions_opened_total", "Sessions opened since the start.");
        let _ = writeln!(o, "fer_rt_sessions_opened_total {}", self.sessions_total.load(Relaxed));
        let _ = writeln!(o, "# HELP fer_rt_sessions Sessions open now.\n# TYPE fer_rt_sessions gauge");
        let _ = writeln!(o, "fer_rt_sessions {}", self.sessions.load(Relaxed));
        let _ = writeln!(o, "# HELP fer_rt_watchers Clients watching a source now.\n# TYPE fer_rt_watchers gauge");
        let _ = writeln!(o, "fer_rt_watchers {}", self.watchers.load(Relaxed));
        let name = "fer_rt_stage_latency_ms";
        let _ = writeln!(o, "# HELP {name} Time per analysed frame in each stage.\n# TYPE {name} histogram");
        for (s, h) in STAGES.iter().zip(&self.stages) {
            h.render(&mut o, name, &format!("stage=\"{s}\","));
        }
        let name = "fer_rt_session_latency_ms";
        let _ = writeln!(o, "# HELP {name} A session's frame from receipt to its reply.\n# TYPE {name} histogram");
        self.session_ms.render(&mut o, name, "");
        o
    }
}

/// A counter with one labelled value per entry.
fn family<'a>(o: &mut String, name: &str, help: &str, values: impl Iterator<Item = (String, &'a AtomicU64)>) {
    let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter");
    for (label, c) in values {
        let _ = writeln!(o, "{name}{{{label}}} {}", c.load(Relaxed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::default();
        m.frame(Kind::Session, 2, [0.5, 3.0, 1.0, 12.0, 0.1, 9000.0]);
        m.frame(Kind::Session, 1, [0.5, 3.0, 1.0, 12.0, 0.1, 16.0]);
        let text = m.render();
        assert!(text.contains("fer_rt_frames_total{kind=\"session\"} 2"), "{text}");
        assert!(text.contains("fer_rt_faces_total{kind=\"session\"} 3"), "{text}");
        assert!(text.contains("fer_rt_stage_latency_ms_bucket{stage=\"detect\",le=\"2\"} 0"), "{text}");
        assert!(text.contains("fer_rt_stage_latency_ms_bucket{stage=\"detect\",le=\"5\"} 2"), "{text}");
        assert!(text.contains("fer_rt_stage_latency_ms_bucket{stage=\"total\",le=\"20\"} 1"), "{text}");
        assert!(text.contains("fer_rt_stage_latency_ms_bucket{stage=\"total\",le=\"+Inf\"} 2"), "{text}");
        assert!(text.contains("fer_rt_stage_latency_ms_count{stage=\"detect\"} 2"), "{text}");
        assert!(text.contains("fer_rt_session_latency_ms_count 0"), "{text}");
    }
}
