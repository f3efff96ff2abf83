//! The CUDA path's device-side steps, run on libtorch's CPU device against the host path:
//! fixed batch shapes (padded rows never reach an output) and device preprocessing (resize,
//! decoding, suppression and batched alignment as tensor ops) give the same faces, boxes and
//! labels as the host code on real media.
mod common;

use fer_rt::align::align_face;
use fer_rt::assets::manifest::Manifest;
use fer_rt::config::{DetectConfig, Engine, Preprocess};
use fer_rt::detect::Detector;
use fer_rt::messages::{Crop, RgbImage};
use fer_rt::model::{load_classifier, CpuRun};
use fer_rt::runtime::buckets::Buckets;
use fer_rt::source::VideoSource;
use serde_json::Value;
use tch::Device;

fn frames(name: &str, n: usize) -> Vec<RgbImage> {
    let mut src = VideoSource::open(&common::media(name)).unwrap();
    let mut out = Vec::new();
    src.run(|m: fer_rt::messages::FrameMsg| {
        out.push((*m.image).clone());
        out.len() < n
    })
    .unwrap();
    out
}

#[test]
fn fixed_batch_shapes_never_leak_padded_rows() {
    let dir = common::models_dir();
    let m = Manifest::load(&dir, "retinaface_mnet025").unwrap();
    let mut det = Detector::load(&m, &dir, Device::Cpu, DetectConfig::default(), Preprocess::Host).unwrap();
    let mut exact = load_classifier(&dir, "fer_mini_xception", Device::Cpu, Engine::Torch, CpuRun::whole(1)).unwrap();
    let mut fixed = load_classifier(&dir, "fer_mini_xception", Device::Cpu, Engine::Torch, CpuRun::whole(1)).unwrap();
    let spec = exact.spec().input.clone();
    let mut crops: Vec<Crop> = Vec::new();
    for name in ["multi_face.jpg", "single_face.jpg", "0-f1-su-ph.jpg", "45-m7-di-ph.jpg"] {
        for img in frames(name, 1) {
            crops.extend(det.detect(&img).unwrap().iter().filter_map(|d| align_face(&img, &d.landmarks, &spec)));
        }
    }
    assert!(crops.len() >= 7, "need faces of several sizes, got {}", crops.len());
    let refs: Vec<&Crop> = crops.iter().collect();
    let want = exact.classify(&refs).unwrap();
    let shapes = fixed.warm_up(Some(Buckets::powers_of_two(8)), 8).unwrap();
    assert_eq!(shapes, [1, 2, 4, 8], "every bucket is warmed up");
    // batch sizes that fall between buckets: 3 -> 4, 5 -> 8, 7 -> 8
    let mut got = Vec::new();
    let mut rest = &refs[..];
    for n in [3usize, 5, 7].iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (a, b) = rest.split_at((*n).min(rest.len()));
        let out = fixed.classify(a).unwrap();
        assert_eq!(out.len(), a.len(), "a padded batch of {} returned {} outputs", a.len(), out.len());
        got.extend(out);
        rest = b;
    }
    let worst = want
        .iter()
        .zip(&got)
        .flat_map(|(w, g)| w.probs.iter().zip(&g.probs).map(|(p, q)| (p - q).abs()))
        .fold(0f32, f32::max);
    assert!(worst < 1e-4, "padding changed a real row's probabilities by {worst}");
}

fn run(input: &str, preprocess: &str) -> Vec<Value> {
    let (code, lines, err) = common::process(
        &common::media(input),
        // the device path detects on every frame (no keyframes there); so must the host run
        &[
            "--device",
            "cpu",
            "--detect-backend",
            "torch",
            "--classifier-backend",
            "torch",
            "--preprocess",
            preprocess,
            "--keyframe-interval",
            "1",
        ],
    );
    assert_eq!(code, 0, "{input} with --preprocess {preprocess}: {err}");
    lines
}

/// Same frames, faces, boxes (within 0.5 px) and labels both ways; probabilities within the
/// spread that crops differing by a grey level or two cause.
#[test]
fn device_preprocessing_matches_the_host_path_on_real_media() {
    // multi_face.jpg is 1000x667: detection runs on a resized frame (640x427)
    for input in ["multi_face.jpg", "single_face.mp4"] {
        let host = run(input, "host");
        let dev = run(input, "device");
        assert_eq!(host.len(), dev.len(), "{input}: frame counts");
        let (mut faces, mut box_err, mut prob_err) = (0usize, 0f64, 0f64);
        for (h, d) in host.iter().zip(&dev) {
            let (hf, df) = (h["faces"].as_array().unwrap(), d["faces"].as_array().unwrap());
            assert_eq!(hf.len(), df.len(), "{input} frame {}: face counts", h["frame"]);
            for (a, b) in hf.iter().zip(df) {
                faces += 1;
                assert_eq!(a["label"], b["label"], "{input} frame {}: labels", h["frame"]);
                for (p, q) in a["box"].as_array().unwrap().iter().zip(b["box"].as_array().unwrap()) {
                    box_err = box_err.max((p.as_f64().unwrap() - q.as_f64().unwrap()).abs());
                }
                for (k, p) in a["expression"].as_object().unwrap() {
                    prob_err = prob_err.max((p.as_f64().unwrap() - b["expression"][k].as_f64().unwrap()).abs());
                }
            }
        }
        eprintln!(
            "{input}: {faces} faces, max box difference {box_err:.3} px, max probability difference {prob_err:.4}"
        );
        assert!(faces >= host.len(), "{input}: faces expected in every frame");
        assert!(box_err <= 0.5, "{input}: boxes differ by {box_err} px");
        assert!(prob_err <= 0.05, "{input}: probabilities differ by {prob_err}");
    }
}
