//! The pixel work around the networks, without libtorch: the detector's downscale of a
//! 1080p frame, a face's region between keyframes, and the alignment of one face into the
//! classifier's 64 × 64 gray crop.
//!
//! Why a "fresh" variant: in the pipeline every frame is new to the cache (swscale wrote it
//! on another core a few milliseconds before), while criterion runs one input again and
//! again, which then sits in L2 or L3. The fresh variants cycle over eight 1080p frames
//! (50 MB, more than this machine's caches), so that what they measure includes reading the
//! frame from memory, as at 1080p in `fer-rt process`.
//! Run: scripts/env.sh sourced, then `cargo bench --bench imageops`.
use criterion::{criterion_group, criterion_main, Criterion};
use fer_rt::align::align_face;
use fer_rt::assets::manifest::Manifest;
use fer_rt::imageops::resize::Resampler;
use fer_rt::messages::RgbImage;
use fer_rt::source::VideoSource;
use std::path::PathBuf;

fn frame(name: &str) -> RgbImage {
    let path = fer_rt::runtime::paths::media_dir().join(name);
    let mut src = VideoSource::open(&path).expect("media (run scripts/setup.sh)");
    let mut img = None;
    let _ = src.run(|m| {
        img = Some((*m.image).clone());
        false
    });
    img.unwrap()
}

/// Frames the fresh variants cycle over: each is out of the caches again by its next turn.
const FRESH: usize = 8;

fn imageops(c: &mut Criterion) {
    let hd = fer_rt::imageops::resize_rgb(&frame("multi_face.jpg"), 1920, 1080);
    let frames: Vec<RgbImage> = (0..FRESH).map(|_| hd.clone()).collect();
    let mut out = RgbImage::default();
    let mut next = 0;
    let mut cycle = || {
        next = (next + 1) % FRESH;
        &frames[next]
    };

    let mut whole = Resampler::new((1920, 1080), (640, 360));
    c.bench_function("resize/1920x1080_to_640x360", |b| b.iter(|| whole.run(&hd, &mut out)));
    c.bench_function("resize/1920x1080_to_640x360_fresh", |b| b.iter(|| whole.run(cycle(), &mut out)));
    // a face of ~260 px between keyframes: its 400 px region (1.5 times the face, in steps
    // of 16) down to the 144 px input that puts the face at region_face_px = 96
    let mut region = Resampler::new((400, 400), (144, 144));
    c.bench_function("resize/region_400_of_1080p_to_144", |b| b.iter(|| region.run_at(&hd, (700, 300), &mut out)));
    c.bench_function("resize/region_400_of_1080p_to_144_fresh", |b| {
        b.iter(|| region.run_at(cycle(), (700, 300), &mut out))
    });

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
    let spec = fer_rt::model::input_spec(&Manifest::load(&dir, "fer_mini_xception").unwrap()).unwrap();
    // the five landmarks of a frontal face ~260 px tall
    let lm = [[870.0, 420.0], [970.0, 420.0], [920.0, 480.0], [880.0, 540.0], [960.0, 540.0]];
    c.bench_function("align/face_260px_of_1080p_to_64x64_gray", |b| b.iter(|| align_face(&hd, &lm, &spec)));
    c.bench_function("align/face_260px_of_1080p_to_64x64_gray_fresh", |b| b.iter(|| align_face(cycle(), &lm, &spec)));
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = imageops
}
criterion_main!(benches);
