//! How much a frame's view of a face can be trusted, from what the frame itself shows.
//!
//! Inputs (all reported in the JSON): detector score s, face size f (shorter box side, px),
//! blur b (variance of the Laplacian of a 64x64 aligned gray crop; low = blurred), head
//! pose from the five landmarks (yaw, pitch, roll in degrees), and the normalised entropy
//! H of the class distribution (0 = certain, 1 = uniform); with an ensemble, the members'
//! disagreement D (mutual information, nats).
//!
//!   quality    q = s · f²/(f² + f₀²) · b/(b + b₀) · exp(-½(yaw/y₀)²) · exp(-½(pitch/p₀)²) · exp(-D/D₀)
//!   confidence c = max(q, q_min) · (1 - H)
//!
//! f₀, b₀, y₀, p₀, D₀ and q_min are config values (`[uncertainty]`); a single model has no
//! D and its factor is 1. Roll is reported but not
//! penalised: alignment removes it. The filters use q to weight a frame's evidence: the
//! Kalman filter divides the valence/arousal measurement variance by q, the expression
//! filter raises the frame's distribution to the power q.
use crate::messages::{ColorMode, Crop, InputSpec, QualityInputs, RgbImage, Uncertainty};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QualityConfig {
    /// Face size (shorter box side, px) at which the size factor is 1/2.
    pub size_ref_px: f32,
    /// Laplacian variance at which the sharpness factor is 1/2.
    pub blur_ref: f32,
    /// Yaw (degrees) at which the pose factor drops to exp(-1/2).
    pub yaw_ref_deg: f32,
    /// Pitch (degrees) at which the pose factor drops to exp(-1/2).
    pub pitch_ref_deg: f32,
    /// Floor on q, so no frame counts for exactly nothing.
    pub min_quality: f32,
    /// Ensemble disagreement (nats of mutual information) at which the agreement factor
    /// drops to exp(-1).
    pub disagreement_ref: f32,
}

impl Default for QualityConfig {
    fn default() -> Self {
        Self {
            size_ref_px: 32.0,
            blur_ref: 60.0,
            yaw_ref_deg: 35.0,
            pitch_ref_deg: 25.0,
            min_quality: 0.02,
            disagreement_ref: 0.2,
        }
    }
}

/// Yaw, pitch, roll (degrees) from five landmarks (eye, eye, nose, mouth, mouth in image
/// left-to-right order). Roll is the eye line's angle. After removing roll, yaw comes from
/// the nose's sideways offset from the eye/mouth midline, and pitch from where the nose
/// sits between the eye and mouth lines (half-way when frontal), using a nose that
/// protrudes half the inter-ocular distance: yaw = atan(dx / (d_eye/2)),
/// pitch = atan(2·(t - ½)). Positive yaw: face turned to the image's right; positive
/// pitch: looking down.
pub fn head_pose(lm: &[[f32; 2]; 5]) -> (f32, f32, f32) {
    let (le, re, nose, lm_, rm) = (lm[0], lm[1], lm[2], lm[3], lm[4]);
    let roll = (re[1] - le[1]).atan2(re[0] - le[0]);
    let (c, s) = (roll.cos(), roll.sin());
    let eye_c = [(le[0] + re[0]) / 2.0, (le[1] + re[1]) / 2.0];
    // derotate about the eye centre
    let rot = |p: [f32; 2]| {
        let (x, y) = (p[0] - eye_c[0], p[1] - eye_c[1]);
        [c * x + s * y, -s * x + c * y]
    };
    let (le, re, n, lmr, rmr) = (rot(le), rot(re), rot(nose), rot(lm_), rot(rm));
    let d_eye = (re[0] - le[0]).abs().max(1e-3);
    let mouth = [(lmr[0] + rmr[0]) / 2.0, (lmr[1] + rmr[1]) / 2.0];
    let mid_x = mouth[0] / 2.0; // eye centre is the origin
    let yaw = ((n[0] - mid_x) / (d_eye / 2.0)).atan();
    let h = mouth[1].abs().max(1e-3);
    let t = n[1] / h;
    let pitch = (2.0 * (t - 0.5)).atan();
    (yaw.to_degrees(), pitch.to_degrees(), roll.to_degrees())
}

/// Variance of the 4-neighbour Laplacian over the interior of a gray crop.
pub fn laplacian_variance(crop: &Crop) -> f32 {
    let (w, h) = (crop.width as usize, crop.height as usize);
    if crop.channels != 1 || w < 3 || h < 3 {
        return 0.0;
    }
    let px = |x: usize, y: usize| crop.data[y * w + x] as f32;
    let (mut sum, mut sum2, mut n) = (0f64, 0f64, 0f64);
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let l = (px(x - 1, y) + px(x + 1, y) + px(x, y - 1) + px(x, y + 1) - 4.0 * px(x, y)) as f64;
            sum += l;
            sum2 += l * l;
            n += 1.0;
        }
    }
    ((sum2 / n) - (sum / n).powi(2)) as f32
}

/// The standard geometry blur is measured at, whatever the classifier's input is.
pub fn blur_spec(classifier: &InputSpec) -> InputSpec {
    InputSpec { width: 64, height: 64, color: ColorMode::Gray, mean: vec![0.0], std: vec![1.0], ..classifier.clone() }
}

/// Sharpness of the face: Laplacian variance of its 64x64 gray alignment. `crop` is the
/// classifier's crop of the same face; when it already has that geometry (the bundled
/// mini-Xception's does) it is measured directly instead of warping the face again.
pub fn face_blur(img: &RgbImage, landmarks: &[[f32; 2]; 5], spec64: &InputSpec, crop: Option<&Crop>) -> f32 {
    match crop {
        Some(c) if (c.width, c.height, c.channels) == (spec64.width, spec64.height, 1) => laplacian_variance(c),
        _ => crate::align::align_face(img, landmarks, spec64).map(|c| laplacian_variance(&c)).unwrap_or(0.0),
    }
}

/// Entropy of `p` divided by ln K, in [0, 1].
pub fn normalized_entropy(p: &[f32]) -> f32 {
    if p.len() < 2 {
        return 0.0;
    }
    let h: f32 = p.iter().filter(|&&v| v > 0.0).map(|&v| -v * v.ln()).sum();
    (h / (p.len() as f32).ln()).clamp(0.0, 1.0)
}

pub fn assess(inputs: QualityInputs, cfg: &QualityConfig) -> Uncertainty {
    let f2 = inputs.face_px * inputs.face_px;
    let size = f2 / (f2 + cfg.size_ref_px * cfg.size_ref_px);
    let sharp = inputs.blur / (inputs.blur + cfg.blur_ref);
    let pose = (-0.5 * (inputs.yaw_deg / cfg.yaw_ref_deg).powi(2)).exp()
        * (-0.5 * (inputs.pitch_deg / cfg.pitch_ref_deg).powi(2)).exp();
    // an ensemble that disagrees on a face is telling that the face is outside what its
    // members learned alike; a single model (None) has no say here
    let agree = inputs.disagreement.map(|d| (-d.max(0.0) / cfg.disagreement_ref).exp()).unwrap_or(1.0);
    let q = (inputs.det_score.clamp(0.0, 1.0) * size * sharp * pose * agree).max(cfg.min_quality).min(1.0);
    let confidence = q * (1.0 - inputs.entropy);
    Uncertainty { inputs, quality: q, confidence }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRONTAL: [[f32; 2]; 5] = [[38.3, 51.7], [73.5, 51.5], [56.0, 71.7], [41.5, 92.4], [70.7, 92.2]];

    #[test]
    fn frontal_template_has_near_zero_pose() {
        let (y, p, r) = head_pose(&FRONTAL);
        assert!(y.abs() < 3.0 && p.abs() < 8.0 && r.abs() < 1.0, "{y} {p} {r}");
    }

    #[test]
    fn nose_shift_gives_yaw_and_rotation_gives_roll() {
        let mut turned = FRONTAL;
        turned[2][0] += 12.0;
        let (y, _, _) = head_pose(&turned);
        assert!(y > 25.0, "{y}");
        let a = 30f32.to_radians();
        let rot = FRONTAL.map(|p| [a.cos() * p[0] - a.sin() * p[1], a.sin() * p[0] + a.cos() * p[1]]);
        let (y2, p2, r2) = head_pose(&rot);
        assert!((r2 - 30.0).abs() < 0.5 && y2.abs() < 3.0 && p2.abs() < 8.0, "{y2} {p2} {r2}");
    }

    #[test]
    fn laplacian_variance_separates_sharp_from_flat() {
        let flat = Crop { width: 8, height: 8, channels: 1, data: vec![100; 64] };
        let checker = Crop {
            width: 8,
            height: 8,
            channels: 1,
            data: (0..64).map(|i| if (i + i / 8) % 2 == 0 { 0 } else { 255 }).collect(),
        };
        assert_eq!(laplacian_variance(&flat), 0.0);
        assert!(laplacian_variance(&checker) > 1e5);
    }

    #[test]
    fn entropy_bounds() {
        assert_eq!(normalized_entropy(&[1.0, 0.0, 0.0]), 0.0);
        assert!((normalized_entropy(&[0.25; 4]) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn quality_falls_with_each_factor() {
        let cfg = QualityConfig::default();
        let good = QualityInputs { det_score: 0.99, face_px: 150.0, blur: 600.0, entropy: 0.1, ..Default::default() };
        let q = assess(good.clone(), &cfg).quality;
        assert!(q > 0.8, "{q}");
        for worse in [
            QualityInputs { face_px: 20.0, ..good.clone() },
            QualityInputs { blur: 10.0, ..good.clone() },
            QualityInputs { yaw_deg: 60.0, ..good.clone() },
            QualityInputs { det_score: 0.5, ..good.clone() },
        ] {
            assert!(assess(worse, &cfg).quality < 0.6 * q);
        }
        let base = assess(good.clone(), &cfg);
        let split = assess(QualityInputs { disagreement: Some(0.3), ..good.clone() }, &cfg);
        assert!(split.quality < base.quality && split.confidence < base.confidence, "members that disagree");
        let agreed = assess(QualityInputs { disagreement: Some(0.0), ..good.clone() }, &cfg);
        assert_eq!(agreed, Uncertainty { inputs: agreed.inputs.clone(), ..base.clone() }, "agreement costs nothing");
        let unsure = assess(QualityInputs { entropy: 0.9, ..good }, &cfg);
        assert!(unsure.confidence < 0.15 && (unsure.quality - q).abs() < 1e-6);
    }
}
