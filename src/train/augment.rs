//! Training augmentation on normalised batches, as the source papers use it: random
//! horizontal flip, small rotation / scale / shift (one affine warp), brightness and
//! contrast jitter, and random erasing.
use super::rng::Rng;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AugmentConfig {
    /// Probability of a horizontal flip.
    pub flip: f64,
    /// Largest rotation, degrees either way.
    pub rotate_deg: f64,
    /// Largest relative zoom either way (0.1 = 0.9x .. 1.1x).
    pub scale: f64,
    /// Largest shift as a fraction of the side.
    pub translate: f64,
    /// Largest brightness shift and contrast change (fractions).
    pub brightness: f64,
    pub contrast: f64,
    /// Probability of erasing one random rectangle (2-25 % of the area).
    pub erase: f64,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self { flip: 0.5, rotate_deg: 10.0, scale: 0.1, translate: 0.06, brightness: 0.2, contrast: 0.2, erase: 0.25 }
    }
}

impl AugmentConfig {
    pub fn none() -> Self {
        Self { flip: 0.0, rotate_deg: 0.0, scale: 0.0, translate: 0.0, brightness: 0.0, contrast: 0.0, erase: 0.0 }
    }
}

/// `x`: [N, C, S, S] normalised (zero-mean) floats. Returns an augmented copy.
pub fn augment(x: &Tensor, cfg: &AugmentConfig, rng: &mut Rng) -> Tensor {
    let s = x.size();
    let (n, h, w) = (s[0], s[2], s[3]);
    let dev = x.device();
    let mut theta = Vec::with_capacity(n as usize * 6);
    let (mut gain, mut bias) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let f = if rng.chance(cfg.flip) { -1.0 } else { 1.0 };
        let a = rng.range(-cfg.rotate_deg, cfg.rotate_deg).to_radians();
        let z = 1.0 / rng.range(1.0 - cfg.scale, 1.0 + cfg.scale);
        let (tx, ty) = (rng.range(-cfg.translate, cfg.translate) * 2.0, rng.range(-cfg.translate, cfg.translate) * 2.0);
        let (sn, cs) = a.sin_cos();
        theta.extend([
            (cs * z * f) as f32,
            (-sn * z) as f32,
            tx as f32,
            (sn * z * f) as f32,
            (cs * z) as f32,
            ty as f32,
        ]);
        gain.push(rng.range(1.0 - cfg.contrast, 1.0 + cfg.contrast) as f32);
        bias.push(rng.range(-cfg.brightness, cfg.brightness) as f32 * 2.0);
    }
    let theta = Tensor::from_slice(&theta).view([n, 2, 3]).to_device(dev);
    let grid = Tensor::affine_grid_generator(&theta, s.as_slice(), false);
    // bilinear, border padding
    let mut y = x.grid_sampler(&grid, 0, 1, false);
    let gain = Tensor::from_slice(&gain).view([n, 1, 1, 1]).to_device(dev);
    let bias = Tensor::from_slice(&bias).view([n, 1, 1, 1]).to_device(dev);
    y = y * gain + bias;
    if cfg.erase > 0.0 {
        let mut mask = vec![1f32; (n * h * w) as usize];
        for i in 0..n as usize {
            if !rng.chance(cfg.erase) {
                continue;
            }
            let area = rng.range(0.02, 0.25) * (h * w) as f64;
            let aspect = rng.range(0.3f64.ln(), 3.3f64.ln()).exp();
            let eh = ((area * aspect).sqrt() as i64).clamp(1, h);
            let ew = ((area / aspect).sqrt() as i64).clamp(1, w);
            let (y0, x0) = (rng.below((h - eh + 1) as usize) as i64, rng.below((w - ew + 1) as usize) as i64);
            for r in y0..y0 + eh {
                let base = (i as i64 * h * w + r * w) as usize;
                mask[base + x0 as usize..base + (x0 + ew) as usize].fill(0.0);
            }
        }
        y = y * Tensor::from_slice(&mask).view([n, 1, h, w]).to_device(dev);
    }
    y.to_kind(Kind::Float)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn identity_without_augmentation_and_changes_with_it() {
        let x = Tensor::randn([4, 3, 16, 16], (Kind::Float, Device::Cpu));
        let same = augment(&x, &AugmentConfig::none(), &mut Rng::new(1));
        assert!(same.allclose(&x, 1e-4, 1e-4, false));
        let flip = AugmentConfig { flip: 1.0, ..AugmentConfig::none() };
        let f = augment(&x, &flip, &mut Rng::new(1));
        assert!(f.allclose(&x.flip([3]), 1e-4, 1e-4, false), "a flip mirrors the columns");
        let y = augment(&x, &AugmentConfig::default(), &mut Rng::new(2));
        assert_eq!(y.size(), x.size());
        assert!(!y.allclose(&x, 1e-3, 1e-3, false));
    }
}
