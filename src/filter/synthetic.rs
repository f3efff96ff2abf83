//! Synthetic face tracks with known truth, to measure what the filters buy. A track's true
//! expression changes every ~2 s; its true valence/arousal glide towards the expression's
//! circumplex centroid. Each frame has a quality q (a persistent part that drifts and a
//! part that changes frame to frame); the observation's noise grows as q falls
//! (heteroscedastic: σ = va_sigma/√q), the frame reports a variance that is right only up
//! to a random factor in [1/2, 2], some frames are missing in bursts, and a few are
//! outliers (uniform in [-1, 1]) that report an ordinary variance.
use super::{new_filter, FilterConfig, Observation};
use crate::messages::{Affect, AffectSource};
use crate::metrics::{argmax, calibration, ccc, macro_f1, rmse};

#[derive(Clone, Debug)]
pub struct SynthConfig {
    pub seconds: f64,
    pub fps: f64,
    pub classes: usize,
    /// Chance per frame that a dropout burst (3-20 frames) starts.
    pub dropout_start: f64,
    /// Chance per frame of an outlier observation.
    pub outlier_rate: f64,
    /// V/A noise standard deviation at quality 1.
    pub va_sigma: f64,
    /// Time constant (s) with which true V/A glide to a new expression's centroid.
    pub va_glide_s: f64,
    /// Mean of ln(quality), and the standard deviations of its two parts: a persistent
    /// one (pose, face size; ~1 s correlation time) and a transient one drawn afresh each
    /// frame (motion blur, compression, a hand passing). ln 10 ≈ 2.3 is a tenfold spread.
    pub log_quality_mean: f64,
    pub log_quality_persistent_std: f64,
    pub log_quality_transient_std: f64,
    pub seed: u64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            seconds: 120.0,
            fps: 30.0,
            classes: 7,
            dropout_start: 0.01,
            outlier_rate: 0.03,
            va_sigma: 0.25,
            va_glide_s: 1.0,
            log_quality_mean: -1.0,
            log_quality_persistent_std: 0.6,
            log_quality_transient_std: 0.8,
            seed: 1,
        }
    }
}

#[derive(Clone, Debug)]
pub struct SynthFrame {
    pub t_s: f64,
    pub label: usize,
    pub va: [f32; 2],
    pub obs: Option<(Vec<f32>, Affect, f32)>,
}

/// xorshift64* with Box-Muller normals: reproducible, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545F4914F6CDD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.next().max(1e-12), self.next());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// Class centroids spread over the circumplex (angles 2πk/K at radius 0.8, class 0 at the
/// origin like "neutral"), so every class has distinct V/A.
fn centroid(k: usize, classes: usize) -> [f64; 2] {
    if k == 0 {
        return [0.0, 0.0];
    }
    let a = std::f64::consts::TAU * k as f64 / (classes - 1) as f64;
    [0.8 * a.cos(), 0.8 * a.sin()]
}

pub fn generate(cfg: &SynthConfig) -> Vec<SynthFrame> {
    let mut rng = Rng(cfg.seed.wrapping_mul(0x9E3779B97F4A7C15) | 1);
    let n = (cfg.seconds * cfg.fps) as usize;
    let dt = 1.0 / cfg.fps;
    let (mut label, mut next_change) = (0usize, 0.0f64);
    let mut va = [0.0f64; 2];
    let mut persistent = 0.0f64;
    // AR(1) per frame with a 1 s correlation time and the requested stationary spread
    let phi = (-1.0 / cfg.fps).exp();
    let kick = cfg.log_quality_persistent_std * (1.0 - phi * phi).sqrt();
    let mut drop_left = 0usize;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let t = i as f64 * dt;
        if t >= next_change {
            let step = 1 + (rng.next() * (cfg.classes - 1) as f64) as usize;
            label = (label + step) % cfg.classes;
            next_change = t + 0.6 + 2.5 * -rng.next().max(1e-9).ln();
        }
        let target = centroid(label, cfg.classes);
        let glide = 1.0 - (-dt / cfg.va_glide_s).exp();
        for d in 0..2 {
            va[d] += (target[d] - va[d]) * glide + 0.01 * rng.normal();
            va[d] = va[d].clamp(-1.0, 1.0);
        }
        persistent = phi * persistent + kick * rng.normal();
        let logq = cfg.log_quality_mean + persistent + cfg.log_quality_transient_std * rng.normal();
        let q = logq.exp().clamp(0.02, 1.0);
        if drop_left == 0 && rng.next() < cfg.dropout_start {
            drop_left = 3 + (rng.next() * 18.0) as usize;
        }
        let obs = if drop_left > 0 {
            drop_left -= 1;
            None
        } else {
            let outlier = rng.next() < cfg.outlier_rate;
            let sigma = cfg.va_sigma / q.sqrt();
            let z: Vec<f64> =
                (0..2).map(|d| if outlier { rng.next() * 2.0 - 1.0 } else { va[d] + sigma * rng.normal() }).collect();
            // the frame's own variance estimate is right only up to a factor in [1/2, 2]
            let reported = cfg.va_sigma.powi(2) * 2f64.powf(rng.next() * 2.0 - 1.0);
            let mut logits: Vec<f64> =
                (0..cfg.classes).map(|_| rng.normal() * if outlier { 2.0 } else { 1.0 }).collect();
            if !outlier {
                logits[label] += 0.4 + 2.6 * q;
            }
            let m = logits.iter().cloned().fold(f64::MIN, f64::max);
            let e: Vec<f64> = logits.iter().map(|l| (l - m).exp()).collect();
            let s: f64 = e.iter().sum();
            let probs = e.iter().map(|v| (v / s) as f32).collect();
            let affect = Affect {
                valence: z[0] as f32,
                arousal: z[1] as f32,
                valence_var: reported as f32,
                arousal_var: reported as f32,
                source: AffectSource::Model,
            };
            Some((probs, affect, q as f32))
        };
        out.push(SynthFrame { t_s: t, label, va: [va[0] as f32, va[1] as f32], obs });
    }
    out
}

#[derive(Clone, Debug, Default)]
pub struct Scores {
    pub rmse_valence: f64,
    pub rmse_arousal: f64,
    pub ccc_valence: f64,
    pub ccc_arousal: f64,
    pub macro_f1: f64,
    /// Label changes per second of the output.
    pub flips_per_s: f64,
    /// Expected calibration error of the output's top-class probability against the true
    /// expression (15 bins).
    pub ece: f64,
}

/// Bins of the ECE in [`Scores`].
pub const ECE_BINS: usize = 15;

impl Scores {
    pub fn rmse(&self) -> f64 {
        (self.rmse_valence + self.rmse_arousal) / 2.0
    }
    pub fn ccc(&self) -> f64 {
        (self.ccc_valence + self.ccc_arousal) / 2.0
    }
}

/// Runs one filter over the observed frames of a sequence and scores it against the truth.
pub fn evaluate(frames: &[SynthFrame], cfg: &FilterConfig, classes: usize) -> Scores {
    let mut f = new_filter(cfg, classes);
    let (mut ev, mut ea, mut tv, mut ta) = (vec![], vec![], vec![], vec![]);
    let (mut pred, mut truth, mut conf) = (vec![], vec![], vec![]);
    for fr in frames {
        if let Some((probs, affect, q)) = &fr.obs {
            let s = f.update(&Observation { t_s: fr.t_s, probs, affect: *affect, quality: *q });
            conf.push(s.probs.iter().cloned().fold(0.0f32, f32::max));
            ev.push(s.valence);
            ea.push(s.arousal);
            tv.push(fr.va[0]);
            ta.push(fr.va[1]);
            pred.push(argmax(&s.probs));
            truth.push(fr.label);
        }
    }
    let flips = pred.windows(2).filter(|w| w[0] != w[1]).count();
    let correct: Vec<bool> = pred.iter().zip(&truth).map(|(p, t)| p == t).collect();
    let span = frames.last().map(|f| f.t_s).unwrap_or(1.0).max(1e-9);
    Scores {
        rmse_valence: rmse(&ev, &tv),
        rmse_arousal: rmse(&ea, &ta),
        ccc_valence: ccc(&ev, &tv),
        ccc_arousal: ccc(&ea, &ta),
        macro_f1: macro_f1(&pred, &truth, classes),
        flips_per_s: flips as f64 / span,
        ece: calibration(&conf, &correct, ECE_BINS).0,
    }
}

/// ECE of the sticky forward filter's own posterior, as the `uncertainty` filter reported
/// it before its probabilities were calibrated (same labels): the "before" of docs/filtering.md.
pub fn forward_posterior_ece(frames: &[SynthFrame], cfg: &FilterConfig) -> f64 {
    let mut f = super::hmm::StickyForward::new(cfg.expr_switch_rate_hz, cfg.expr_prob_floor);
    let (mut conf, mut correct) = (vec![], vec![]);
    for fr in frames {
        if let Some((probs, _, q)) = &fr.obs {
            let post = f.update(fr.t_s, probs, q.clamp(1e-3, 1.0));
            conf.push(post.iter().cloned().fold(0.0f32, f32::max));
            correct.push(argmax(&post) == fr.label);
        }
    }
    calibration(&conf, &correct, ECE_BINS).0
}
