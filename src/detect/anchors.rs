//! RetinaFace anchors ("priors") and the decoding of box/landmark offsets against them.
//! Order: level by level, row-major over the feature map, then the level's two sizes.

use crate::assets::manifest::AnchorConfig;

/// Priors (cx, cy, w, h) normalised by the input size.
pub fn priors(cfg: &AnchorConfig, width: u32, height: u32) -> Vec<[f32; 4]> {
    let (w, h) = (width as f32, height as f32);
    let mut out = Vec::new();
    for (step, sizes) in cfg.steps.iter().zip(&cfg.min_sizes) {
        let fw = width.div_ceil(*step);
        let fh = height.div_ceil(*step);
        let s = *step as f32;
        for i in 0..fh {
            for j in 0..fw {
                for &m in sizes {
                    out.push([(j as f32 + 0.5) * s / w, (i as f32 + 0.5) * s / h, m / w, m / h]);
                }
            }
        }
    }
    out
}

/// Box (x1, y1, x2, y2) in pixels from its offsets and prior.
pub fn decode_box(loc: &[f32], p: &[f32; 4], var: [f32; 2], width: f32, height: f32) -> [f32; 4] {
    let cx = p[0] + loc[0] * var[0] * p[2];
    let cy = p[1] + loc[1] * var[0] * p[3];
    let bw = p[2] * (loc[2] * var[1]).exp();
    let bh = p[3] * (loc[3] * var[1]).exp();
    let x1 = cx - bw / 2.0;
    let y1 = cy - bh / 2.0;
    [x1 * width, y1 * height, (x1 + bw) * width, (y1 + bh) * height]
}

/// Five landmarks in pixels from their offsets and prior.
pub fn decode_landmarks(lm: &[f32], p: &[f32; 4], var: [f32; 2], width: f32, height: f32) -> [[f32; 2]; 5] {
    let mut out = [[0.0; 2]; 5];
    for (k, pt) in out.iter_mut().enumerate() {
        pt[0] = (p[0] + lm[2 * k] * var[0] * p[2]) * width;
        pt[1] = (p[1] + lm[2 * k + 1] * var[0] * p[3]) * height;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prior_count_follows_ceil_of_feature_maps() {
        let cfg = AnchorConfig::default();
        // 100x60: ceil(100/8)*ceil(60/8)=13*8, 7*4, 4*2 locations, 2 anchors each
        assert_eq!(priors(&cfg, 100, 60).len(), 2 * (13 * 8 + 7 * 4 + 4 * 2));
    }

    #[test]
    fn first_prior_is_centred_in_first_cell() {
        let p = priors(&AnchorConfig::default(), 64, 32);
        assert_eq!(p[0], [4.0 / 64.0, 4.0 / 32.0, 16.0 / 64.0, 16.0 / 32.0]);
        assert_eq!(p[1][2], 32.0 / 64.0);
    }

    #[test]
    fn zero_offsets_decode_to_the_prior() {
        let p = [0.5, 0.5, 0.25, 0.5];
        let b = decode_box(&[0.0; 4], &p, [0.1, 0.2], 200.0, 100.0);
        assert_eq!(b, [75.0, 25.0, 125.0, 75.0]);
        let l = decode_landmarks(&[0.0; 10], &p, [0.1, 0.2], 200.0, 100.0);
        assert!(l.iter().all(|q| *q == [100.0, 50.0]));
    }
}
