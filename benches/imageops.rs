//! The pixel work around the networks, without libtorch: the detector's downscale of a
//! 1080p frame, a face's region between keyframes, and the alignment of one face into the
//! classifier's 64 × 64 gray crop.
//!
//! Why a "fresh" variant: in the pipeline every frame is new to the cache (swscale wrote it
//! on another core a few milliseconds before), while criterion runs one input again and
//! again, which then sits in L2 or L3. The fresh variants cycle over eight 1080p frames,
//! and a region or face over twelve places in each, so that an input comes back only after
//! ~50 MB of others (more than this machine's caches): what they measure includes reading
//! the frame from memory, as at 1080p in `fer-rt process`.
//! Run: scripts/env.sh sourced, then `cargo bench --bench imageops`.
use criterion::{criterion_group, criterion_main, Criterion};
use fer_rt::align::align_face;
use fer_rt::assets::manifest::Manifest;
use fer_rt::imageops::resize::Resampler;
use fer_rt::messages::RgbImage;
use fer_rt::source::limits::Limits;
use std::path::PathBuf;

/// A bundled photo, decoded as `fer-rt` decodes photos.
fn photo(name: &str) -> RgbImage {
    let bytes = std::fs::read(fer_rt::runtime::paths::media_dir().join(name)).expect("media (run scripts/setup.sh)");
    fer_rt::source::image::decode(&bytes, name, &Limits::default()).unwrap()
}

/// Frames the fresh variants cycle over, and places in each (a 4 × 3 grid of 480 × 360 px
/// cells): each input is out of the caches again by its next turn.
const FRESH: usize = 8;
const PLACES: usize = 12;

/// The top-left of place `k` of the grid.
fn place(k: usize) -> (u32, u32) {
    ((k % 4) as u32 * 480, (k / 4) as u32 * 360)
}

fn imageops(c: &mut Criterion) {
    let hd = fer_rt::imageops::resize_rgb(&photo("multi_face.jpg"), 1920, 1080);
    let frames: Vec<RgbImage> = (0..FRESH).map(|_| hd.clone()).collect();
    let mut out = RgbImage::default();
    let mut next = 0;
    // the next frame, and the place in it
    let mut cycle = || {
        next = (next + 1) % (FRESH * PLACES);
        (&frames[next % FRESH], place(next / FRESH))
    };

    let mut whole = Resampler::new((1920, 1080), (640, 360));
    c.bench_function("resize/1920x1080_to_640x360", |b| b.iter(|| whole.run(&hd, &mut out)));
    c.bench_function("resize/1920x1080_to_640x360_fresh", |b| b.iter(|| whole.run(cycle().0, &mut out)));
    // a face of ~260 px between keyframes: its 400 px region (1.5 times the face, in steps
    // of 16) down to the 144 px input that puts the face at region_face_px = 96
    let mut region = Resampler::new((400, 400), (144, 144));
    c.bench_function("resize/region_400_of_1080p_to_144", |b| b.iter(|| region.run_at(&hd, (700, 300), &mut out)));
    c.bench_function("resize/region_400_of_1080p_to_144_fresh", |b| {
        b.iter(|| {
            let (img, (x, y)) = cycle();
            // a 400 px square at the cell's place, inside the frame
            region.run_at(img, (x.min(1920 - 400), y.min(1080 - 400)), &mut out)
        })
    });

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
    let spec = fer_rt::model::input_spec(&Manifest::load(&dir, "fer_mini_xception").unwrap()).unwrap();
    // the five landmarks of a frontal face ~260 px tall
    let lm = [[870.0, 420.0], [970.0, 420.0], [920.0, 480.0], [880.0, 540.0], [960.0, 540.0]];
    c.bench_function("align/face_260px_of_1080p_to_64x64_gray", |b| b.iter(|| align_face(&hd, &lm, &spec)));
    c.bench_function("align/face_260px_of_1080p_to_64x64_gray_fresh", |b| {
        b.iter(|| {
            let (img, (x, y)) = cycle();
            // the face moved to the cell's place (its landmarks are around 920, 480)
            let (dx, dy) = (x as f32 + 250.0 - 920.0, y as f32 + 200.0 - 480.0);
            align_face(img, &lm.map(|[px, py]| [px + dx, py + dy]), &spec)
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = imageops
}
criterion_main!(benches);
