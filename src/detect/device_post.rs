//! RetinaFace's decoding on the device: score threshold, top-k, box and landmark decoding
//! against the priors, and the pairwise-overlap matrix for suppression, all as batched
//! tensor ops, so on CUDA the per-anchor outputs (tens of thousands of rows per frame)
//! never cross to the host. The greedy pass over the overlap matrix runs on the host, as in
//! torchvision's CUDA NMS: the matrix has only candidates² entries, a few thousand for a
//! few faces. Same arithmetic as [`super::anchors`] and [`super::nms`]; a test holds the
//! two to the same boxes.
use crate::assets::manifest::AnchorConfig;
use crate::error::Result;
use crate::messages::Detection;
use tch::{Device, Kind, Tensor};

/// Priors of [`super::anchors::priors`] as an [A, 4] f32 tensor on `device`.
pub fn priors_tensor(cfg: &AnchorConfig, width: u32, height: u32, device: Device) -> Tensor {
    let flat: Vec<f32> = super::anchors::priors(cfg, width, height).into_iter().flatten().collect();
    Tensor::from_slice(&flat).view([-1, 4]).to_device(device)
}

/// Thresholds for one image's decoding.
#[derive(Clone, Copy, Debug)]
pub struct DecodeParams {
    pub variances: [f32; 2],
    pub width: u32,
    pub height: u32,
    pub score_threshold: f32,
    pub nms_iou: f32,
    pub max_candidates: usize,
}

/// Detections (best first) from one image's raw outputs: `scores` [A], `loc` [A, 4],
/// `landmarks` [A, 10], `priors` [A, 4], all on one device.
pub fn decode(
    scores: &Tensor,
    loc: &Tensor,
    landmarks: &Tensor,
    priors: &Tensor,
    p: DecodeParams,
) -> Result<Vec<Detection>> {
    let scores = scores.to_kind(Kind::Float);
    let count = scores.gt(p.score_threshold as f64).sum(Kind::Int64).int64_value(&[]);
    if count == 0 {
        return Ok(Vec::new());
    }
    let k = count.min(p.max_candidates.max(1) as i64);
    let (top, idx) = scores.topk(k, 0, true, true);
    let pr = priors.index_select(0, &idx);
    let l = loc.index_select(0, &idx).to_kind(Kind::Float);
    let m = landmarks.index_select(0, &idx).to_kind(Kind::Float);
    let [v0, v1] = p.variances.map(f64::from);
    let (pc, pwh) = (pr.narrow(1, 0, 2), pr.narrow(1, 2, 2));
    // the (w, h) scale made on the device: a host-to-device copy from pageable memory would
    // wait for every kernel queued before it
    let opts = (Kind::Float, scores.device());
    let size = Tensor::cat(&[Tensor::full([1], p.width as f64, opts), Tensor::full([1], p.height as f64, opts)], 0);
    let centre = &pc + l.narrow(1, 0, 2) * v0 * &pwh;
    let wh = &pwh * (l.narrow(1, 2, 2) * v1).exp();
    let xy1 = centre - &wh / 2.0;
    let xy2 = &xy1 + &wh;
    let boxes = Tensor::cat(&[xy1 * &size, xy2 * &size], 1);
    let lms = (pc.unsqueeze(1) + m.view([k, 5, 2]) * v0 * pwh.unsqueeze(1)) * size.view([1, 1, 2]);
    let suppress = pairwise_iou(&boxes).gt(p.nms_iou as f64);

    let host = |t: &Tensor| t.to_device(Device::Cpu).contiguous().view([-1]);
    let boxes = Vec::<f32>::try_from(&host(&boxes))?;
    let lms = Vec::<f32>::try_from(&host(&lms))?;
    let top = Vec::<f32>::try_from(&host(&top))?;
    let suppress = Vec::<bool>::try_from(&host(&suppress))?;
    let k = k as usize;
    let mut removed = vec![false; k];
    let mut out = Vec::new();
    for i in 0..k {
        if removed[i] {
            continue;
        }
        for j in i + 1..k {
            removed[j] |= suppress[i * k + j];
        }
        let b = &boxes[4 * i..4 * i + 4];
        let mut landmarks = [[0f32; 2]; 5];
        for (q, pt) in landmarks.iter_mut().enumerate() {
            *pt = [lms[10 * i + 2 * q], lms[10 * i + 2 * q + 1]];
        }
        out.push(Detection { bbox: [b[0], b[1], b[2], b[3]], landmarks, score: top[i] });
    }
    Ok(out)
}

/// IoU of every pair of [K, 4] boxes, [K, K]; 0 where the union is empty.
pub fn pairwise_iou(b: &Tensor) -> Tensor {
    let (x1, y1, x2, y2) = (b.select(1, 0), b.select(1, 1), b.select(1, 2), b.select(1, 3));
    let area = (&x2 - &x1).clamp_min(0.0) * (&y2 - &y1).clamp_min(0.0);
    let iw = (x2.unsqueeze(1).minimum(&x2.unsqueeze(0)) - x1.unsqueeze(1).maximum(&x1.unsqueeze(0))).clamp_min(0.0);
    let ih = (y2.unsqueeze(1).minimum(&y2.unsqueeze(0)) - y1.unsqueeze(1).maximum(&y1.unsqueeze(0))).clamp_min(0.0);
    let inter = iw * ih;
    let union = area.unsqueeze(1) + area.unsqueeze(0) - &inter;
    inter / union.clamp_min(1e-12)
}

/// Antialiased bilinear resize of [N, C, H, W] float 0..255 to `width` x `height`, rounded
/// to whole grey levels as the host resampler's 8-bit output is.
pub fn resize(x: &Tensor, width: u32, height: u32) -> Tensor {
    let s = x.size();
    if (s[3], s[2]) == (width as i64, height as i64) {
        return x.shallow_clone();
    }
    x.internal_upsample_bilinear2d_aa([height as i64, width as i64], false, None, None).round().clamp(0.0, 255.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::{anchors, nms};

    /// Random outputs with a few strong, overlapping clusters, decoded both ways.
    #[test]
    fn device_decoding_matches_the_host_decoder() {
        tch::manual_seed(7);
        let cfg = AnchorConfig::default();
        let (w, h) = (160u32, 120u32);
        let priors = anchors::priors(&cfg, w, h);
        let a = priors.len() as i64;
        let scores = Tensor::rand([a], (Kind::Float, Device::Cpu)).pow_tensor_scalar(8.0);
        let loc = Tensor::randn([a, 4], (Kind::Float, Device::Cpu)) * 0.5;
        let lms = Tensor::randn([a, 10], (Kind::Float, Device::Cpu));
        let pt = priors_tensor(&cfg, w, h, Device::Cpu);
        let p = DecodeParams {
            variances: cfg.variances,
            width: w,
            height: h,
            score_threshold: 0.5,
            nms_iou: 0.4,
            max_candidates: 5000,
        };
        let got = decode(&scores, &loc, &lms, &pt, p).unwrap();

        let s = Vec::<f32>::try_from(&scores).unwrap();
        let l = Vec::<f32>::try_from(&loc.view([-1])).unwrap();
        let m = Vec::<f32>::try_from(&lms.view([-1])).unwrap();
        let cand: Vec<usize> = (0..s.len()).filter(|&i| s[i] > 0.5).collect();
        let boxes: Vec<[f32; 4]> = cand
            .iter()
            .map(|&i| anchors::decode_box(&l[4 * i..4 * i + 4], &priors[i], cfg.variances, w as f32, h as f32))
            .collect();
        let cs: Vec<f32> = cand.iter().map(|&i| s[i]).collect();
        let keep = nms::nms(&boxes, &cs, 0.4);
        assert!(keep.len() > 3, "the test needs several survivors, got {}", keep.len());
        assert_eq!(got.len(), keep.len());
        for (d, &k) in got.iter().zip(&keep) {
            let i = cand[k];
            assert_eq!(d.score, s[i]);
            for q in 0..4 {
                assert!((d.bbox[q] - boxes[k][q]).abs() < 1e-3, "{:?} vs {:?}", d.bbox, boxes[k]);
            }
            let want =
                anchors::decode_landmarks(&m[10 * i..10 * i + 10], &priors[i], cfg.variances, w as f32, h as f32);
            for q in 0..5 {
                assert!((d.landmarks[q][0] - want[q][0]).abs() < 1e-3 && (d.landmarks[q][1] - want[q][1]).abs() < 1e-3);
            }
        }
    }

    #[test]
    fn nothing_above_threshold_decodes_to_nothing() {
        let cfg = AnchorConfig::default();
        let pt = priors_tensor(&cfg, 32, 32, Device::Cpu);
        let a = pt.size()[0];
        let z = |c: i64| Tensor::zeros([a, c], (Kind::Float, Device::Cpu));
        let p = DecodeParams {
            variances: cfg.variances,
            width: 32,
            height: 32,
            score_threshold: 0.5,
            nms_iou: 0.4,
            max_candidates: 10,
        };
        assert!(decode(&z(1).view([-1]), &z(4), &z(10), &pt, p).unwrap().is_empty());
    }

    #[test]
    fn pairwise_iou_matches_the_host_iou() {
        let b = [[0.0f32, 0.0, 10.0, 10.0], [5.0, 0.0, 15.0, 10.0], [20.0, 20.0, 30.0, 30.0], [3.0, 3.0, 3.0, 9.0]];
        let t = Tensor::from_slice(&b.concat()).view([4, 4]);
        let m = Vec::<f32>::try_from(&pairwise_iou(&t).view([-1])).unwrap();
        for i in 0..4 {
            for j in 0..4 {
                assert!((m[4 * i + j] - crate::messages::iou(&b[i], &b[j])).abs() < 1e-6, "({i},{j})");
            }
        }
    }

    #[test]
    fn device_resize_matches_the_host_resampler() {
        // a smooth pattern plus noise, 1920x1080 -> 640x360 as detection does
        let (w, h) = (192u32, 108u32);
        let data: Vec<u8> = (0..w * h * 3)
            .map(|i| {
                let (p, c) = (i / 3, i % 3);
                let (x, y) = (p % w, p / w);
                ((x * 3 + y * 5 + c * 40) % 256) as u8 ^ ((i.wrapping_mul(2654435761) >> 28) as u8)
            })
            .collect();
        let img = crate::messages::RgbImage::new(w, h, data.clone());
        let host = crate::imageops::resize_rgb(&img, 64, 36);
        let t = Tensor::from_slice(&data)
            .view([h as i64, w as i64, 3])
            .permute([2, 0, 1])
            .unsqueeze(0)
            .to_kind(Kind::Float);
        let dev = resize(&t, 64, 36).squeeze_dim(0).permute([1, 2, 0]).contiguous().view([-1]).to_kind(Kind::Uint8);
        let dev = Vec::<u8>::try_from(&dev).unwrap();
        let worst = host.data.iter().zip(&dev).map(|(a, b)| (*a as i32 - *b as i32).abs()).max().unwrap();
        assert!(worst <= 1, "device resize differs from the host resampler by {worst} grey levels");
    }
}
