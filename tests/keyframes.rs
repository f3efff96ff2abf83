//! Detection on keyframes (`detect::keyframe`) on real clips: interval 1 is full detection
//! on every frame exactly; with the default interval every face the every-frame run finds
//! is found, in the same place, and a face entering is found within the interval.
mod common;

use fer_rt::assets::manifest::Manifest;
use fer_rt::config::{DetectConfig, Preprocess};
use fer_rt::detect::{Detector, Expect, Int8Search};
use fer_rt::messages::{iou, RgbImage};
use fer_rt::runtime::Device;
use fer_rt::source::VideoSource;
use serde_json::Value;

fn frames(name: &str) -> Vec<(Option<f64>, RgbImage)> {
    let mut src = VideoSource::open(&common::media(name)).unwrap();
    let mut out = Vec::new();
    src.run(|m| {
        out.push((m.meta.pts_ms, (*m.image).clone()));
        true
    })
    .unwrap();
    out
}

fn detector(cfg: DetectConfig) -> Detector {
    let dir = common::models_dir();
    let m = Manifest::load(&dir, "retinaface_mnet025").unwrap();
    Detector::load(&m, &dir, Device::Cpu, cfg, Preprocess::Host).unwrap()
}

#[test]
fn interval_one_is_full_detection_on_every_frame() {
    let cfg = DetectConfig { keyframe_interval: 1, ..Default::default() };
    let (mut stream, mut each) = (detector(cfg.clone()), detector(cfg));
    for (pts, img) in frames("single_face.mp4").iter().step_by(3) {
        let next = stream.detect_next(img, *pts, false, None).unwrap();
        assert!(next.keyframe);
        assert_eq!(next.faces, each.detect(img).unwrap());
    }
}

#[test]
fn between_keyframes_the_regions_follow_the_faces() {
    let clip = frames("single_face.mp4");
    let mut stream = detector(DetectConfig::default());
    let mut each = detector(DetectConfig { keyframe_interval: 1, ..Default::default() });
    let (mut keyframes, mut regions) = (0, 0);
    for (pts, img) in &clip {
        let next = stream.detect_next(img, *pts, false, None).unwrap();
        let full = each.detect(img).unwrap();
        if next.keyframe {
            keyframes += 1;
        } else {
            regions += 1;
        }
        assert_eq!(next.faces.len(), full.len(), "pts {pts:?}: the same faces");
        for (a, b) in next.faces.iter().zip(&full) {
            assert!(iou(&a.bbox, &b.bbox) > 0.8, "pts {pts:?}: {:?} vs {:?}", a.bbox, b.bbox);
        }
    }
    // 30 fps: a keyframe every 6 frames (200 ms), the other frames from the regions
    assert_eq!(keyframes, clip.len().div_ceil(6), "{keyframes} keyframes of {}", clip.len());
    assert_eq!(keyframes + regions, clip.len());
    // a photo is always a keyframe and leaves nothing to follow
    let (_, img) = &clip[0];
    assert!(stream.detect_next(img, None, true, None).unwrap().keyframe);
    assert!(stream.detect_next(img, None, false, None).unwrap().keyframe);
}

fn first_face_ms(lines: &[Value]) -> Option<f64> {
    lines.iter().find(|l| !l["faces"].as_array().unwrap().is_empty()).and_then(|l| l["pts_ms"].as_f64())
}

#[test]
fn a_new_face_is_placed_where_its_region_puts_it() {
    // a stream's first frame finds its faces in the whole frame and places each by its
    // region, cut again around what it found until the cut stands still: the same frame
    // again, now searched in the regions around those faces, gives the same faces exactly;
    // and the first frame's boxes are the regions' like every frame after, not the whole
    // frame's at the placing scale, whose boxes sit elsewhere (RetinaFace's scale bias)
    for name in ["WolfgangLanger_Pexels.mp4", "single_face.mp4", "face_noface.mov"] {
        let clip = frames(name);
        let (pts, img) = &clip[0];
        let mut d = detector(DetectConfig::default());
        let first = d.detect_next(img, *pts, false, None).unwrap();
        assert!(first.keyframe && !first.faces.is_empty(), "{name}");
        let again = d.detect_next(img, *pts, false, None).unwrap();
        assert!(!again.keyframe, "{name}: followed in its regions");
        assert_eq!(first.faces, again.faces, "{name}");
        let whole = detector(DetectConfig::default()).detect(img).unwrap();
        assert_eq!(whole.len(), first.faces.len(), "{name}: the faces the whole frame finds");
        for (a, b) in first.faces.iter().zip(&whole) {
            assert!(iou(&a.bbox, &b.bbox) > 0.8, "{name}: {:?} vs {:?}", a.bbox, b.bbox);
        }
    }
}

#[test]
fn a_face_entering_is_found_within_the_keyframe_interval() {
    // noface_face.mov: an empty room, then a face walks in
    let clip = common::media("noface_face.mov");
    let (code, every, err) = common::process(&clip, &["--keyframe-interval", "1"]);
    assert_eq!(code, 0, "{err}");
    let (code, keyed, err) = common::process(&clip, &[]);
    assert_eq!(code, 0, "{err}");
    let (e, k) = (first_face_ms(&every).expect("a face"), first_face_ms(&keyed).expect("a face"));
    let max_ms = DetectConfig::default().keyframe_max_ms;
    assert!(k >= e && k - e <= max_ms, "found at {k} ms with keyframes, {e} ms on every frame");
    // and once found, every face-frame of the every-frame run is there
    let faces = |l: &Value| l["faces"].as_array().unwrap().len();
    let after: Vec<(usize, usize)> = every
        .iter()
        .zip(&keyed)
        .filter(|(l, _)| l["pts_ms"].as_f64().unwrap() >= k)
        .map(|(a, b)| (faces(a), faces(b)))
        .collect();
    assert!(after.iter().all(|(a, b)| a == b), "{after:?}");
}

#[test]
fn regions_of_large_faces_through_the_coarse_graph_find_what_the_whole_graph_finds() {
    // the coarse graph is the whole one without its stride-8 level, which a face of 64 px
    // and more is not found at: the same faces, boxes and landmarks, bit for bit
    let whole_cfg = DetectConfig { region_coarse_face_px: 0.0, ..Default::default() };
    for (name, step) in [("WolfgangLanger_Pexels.mp4", 2), ("noface_face.mov", 1)] {
        let (mut coarse, mut whole) = (detector(DetectConfig::default()), detector(whole_cfg.clone()));
        for (pts, img) in frames(name).iter().step_by(step) {
            let a = coarse.detect_next(img, *pts, false, None).unwrap();
            let b = whole.detect_next(img, *pts, false, None).unwrap();
            assert_eq!(a.faces, b.faces, "{name} pts {pts:?}");
        }
        let [w, c] = coarse.region_counts();
        assert!(c > 0 && w == 0, "{name}: {c} regions through the coarse graph, {w} through the whole one");
        assert_eq!(whole.region_counts()[1], 0, "{name}: region_coarse_face_px = 0 never uses it");
    }
    // a face smaller than region_coarse_face_px in its region's input takes the whole graph
    let small = DetectConfig { region_coarse_face_px: 1000.0, ..Default::default() };
    let mut d = detector(small);
    for (pts, img) in frames("single_face.mp4").iter().take(12) {
        d.detect_next(img, *pts, false, None).unwrap();
    }
    assert_eq!(d.region_counts()[1], 0);
    assert!(d.region_counts()[0] > 0);
}

#[test]
fn the_regions_sessions_are_built_when_a_region_first_needs_them() {
    // photos (independent frames) never search regions
    let mut d = detector(DetectConfig::default());
    for (pts, img) in frames("single_face.mp4").iter().take(3) {
        d.detect_next(img, *pts, true, None).unwrap();
    }
    assert_eq!(d.region_sessions_built(), [false, false], "photos need no regions' session");
    // a video's first frame places its large face by its region, through the coarse graph,
    // and the whole graph is never built
    let mut d = detector(DetectConfig::default());
    let clip = frames("single_face.mp4");
    d.detect_next(&clip[0].1, clip[0].0, false, None).unwrap();
    assert_eq!(d.region_sessions_built(), [false, true]);
    for (pts, img) in clip.iter().skip(1).take(12) {
        d.detect_next(img, *pts, false, None).unwrap();
    }
    assert_eq!(d.region_sessions_built(), [false, true]);
    // faces below region_coarse_face_px build the whole graph's, and only that
    let mut d = detector(DetectConfig { region_coarse_face_px: 1000.0, ..Default::default() });
    for (pts, img) in clip.iter().take(12) {
        d.detect_next(img, *pts, false, None).unwrap();
    }
    assert_eq!(d.region_sessions_built(), [true, false]);
    // a warm-up (live sources, CUDA) builds both before the first frame
    let mut d = detector(DetectConfig::default());
    d.warm_up(640, 360).unwrap();
    assert_eq!(d.region_sessions_built(), [true, true]);
}

#[test]
fn a_detector_prepared_for_its_input_builds_what_the_first_frames_need() {
    let dir = common::models_dir();
    let m = Manifest::load(&dir, "retinaface_mnet025").unwrap();
    let load = |cfg: DetectConfig, expect| {
        Detector::load_expecting(&m, &dir, Device::Cpu, cfg, Preprocess::Host, expect).unwrap()
    };
    // not known (a library caller, a service): the whole frame's session, as before
    let d = load(DetectConfig::default(), Expect::Unknown);
    assert!(d.whole_frame_session_built());
    assert_eq!(d.region_sessions_built(), [false, false]);
    // photos are searched whole, and never by regions
    let d = load(DetectConfig::default(), Expect::Stills);
    assert!(d.whole_frame_session_built());
    assert_eq!(d.region_sessions_built(), [false, false]);
    // a video that finds faces in INT8: its first frame's faces are placed by the coarse
    // graph; the whole frame's f32 session waits for a fallback that may never come
    if has_int8() {
        let on = DetectConfig { search_int8: Int8Search::On, ..Default::default() };
        let mut d = load(on.clone(), Expect::Video);
        assert!(!d.whole_frame_session_built());
        assert_eq!(d.region_sessions_built(), [false, true]);
        // and it finds what a detector loaded for any input finds
        let mut other = detector(on);
        let clip = frames("single_face.mp4");
        for (pts, img) in clip.iter().take(8) {
            let faces = |d: &mut Detector| d.detect_next(img, *pts, false, None).unwrap().faces;
            assert_eq!(faces(&mut d), faces(&mut other));
        }
        // a frame that stands alone still gets its whole-frame search, built when needed
        let (pts, img) = &clip[0];
        let alone = |d: &mut Detector| d.detect_next(img, *pts, true, None).unwrap().faces;
        assert_eq!(alone(&mut d), alone(&mut other));
        assert!(d.whole_frame_session_built());
    }
    // without INT8, or with keyframes off, a video's keyframes are searched whole in f32
    let off = DetectConfig { search_int8: Int8Search::Off, ..Default::default() };
    for cfg in [off, DetectConfig { keyframe_interval: 1, ..Default::default() }] {
        let interval = cfg.keyframe_interval;
        let d = load(cfg, Expect::Video);
        assert!(d.whole_frame_session_built());
        assert_eq!(d.region_sessions_built(), [false, interval > 1]);
    }
}

/// `fer-rt bench --json` of a clip: how many of its frames had a search run ahead (the
/// report's `stages_ms.ahead` is over those frames; all zero without).
fn searched_ahead(clip: &std::path::Path, extra: &[&str]) -> f64 {
    let out = common::bin().args(extra).arg("bench").arg(clip).args(["--warmup", "0", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    report["stages_ms"]["ahead"]["max"].as_f64().unwrap()
}

#[test]
fn searching_keyframes_ahead_changes_no_face() {
    // detect.search_ahead (on by default for a file of one stream) runs the keyframes'
    // whole-frame searches on a thread of their own: the same faces, boxes, tracks and
    // labels, bit for bit. face_noface.mov's face leaves (the detector's own keyframes,
    // which the search ahead did not foresee), noface_face.mov's enters
    let tmp = tempfile::tempdir().unwrap();
    let off = tmp.path().join("off.toml");
    std::fs::write(&off, "[detect]\nsearch_ahead = false\n").unwrap();
    let off = ["--config", off.to_str().unwrap()];
    for name in ["WolfgangLanger_Pexels.mp4", "face_noface.mov", "noface_face.mov"] {
        let clip = common::media(name);
        let (code, ahead, err) = common::process(&clip, &[]);
        assert_eq!(code, 0, "{err}");
        let (code, alone, err) = common::process(&clip, &off);
        assert_eq!(code, 0, "{err}");
        assert!(ahead.len() > 100, "{name}: {} lines", ahead.len());
        let untimed = |lines: Vec<Value>| lines.into_iter().map(common::without_timings).collect::<Vec<_>>();
        assert_eq!(untimed(ahead), untimed(alone), "{name}");
        assert!(searched_ahead(&clip, &[]) > 0.0, "{name}: no search ran ahead");
        assert_eq!(searched_ahead(&clip, &off), 0.0, "{name}");
    }
}

#[test]
fn finding_faces_with_the_int8_graph_changes_no_face() {
    // detect.search_int8: keyframes' whole-frame searches, which only find faces, through
    // RetinaFace quantised at setup; every box, landmark, track and label still comes from
    // the f32 graph, whose regions place each new face until their cut stands still (the
    // same bit for bit on these clips on the build machine), with the search ahead of the
    // detector (a file's default) and without it (the detector's own, as for live
    // sources). Asserted as the rule for an INT8 detector: the same faces, tracks
    // and labels, boxes and landmarks within 1 px
    let int8 = common::models_dir().join("retinaface_mnet025_int8.onnx");
    if !int8.is_file() {
        // setup writes it unless it misses a face of the bundled media on this CPU's 8-bit
        // kernels, which saturate where VNNI's do not
        assert!(!fer_rt::detect::cpu_has_vnni(), "{} missing on a CPU with VNNI: run scripts/setup.sh", int8.display());
        eprintln!("no INT8 graph on this CPU (setup's check): nothing to compare");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let config = |name: &str, body: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, format!("[detect]\n{body}")).unwrap();
        p
    };
    for ahead in [true, false] {
        let on = config("on.toml", &format!("search_int8 = \"on\"\nsearch_ahead = {ahead}\n"));
        let off = config("off.toml", &format!("search_int8 = \"off\"\nsearch_ahead = {ahead}\n"));
        for name in ["WolfgangLanger_Pexels.mp4", "face_noface.mov", "noface_face.mov", "single_face.mp4"] {
            let clip = common::media(name);
            let run = |cfg: &std::path::Path| {
                let (code, lines, err) = common::process(&clip, &["--config", cfg.to_str().unwrap()]);
                assert_eq!(code, 0, "{err}");
                lines.into_iter().map(common::without_timings).collect::<Vec<_>>()
            };
            let (int8, f32) = (run(&on), run(&off));
            assert!(int8.len() > 50 && int8.len() == f32.len(), "{name}: {} and {} lines", int8.len(), f32.len());
            // the first frame that differs, not two whole runs in the message
            if let Some((i, (a, b))) = int8.iter().zip(&f32).enumerate().find(|(_, (a, b))| !within_1px(a, b)) {
                panic!("{name}, search ahead {ahead}: frame {i} differs\nint8: {a}\nf32:  {b}");
            }
        }
    }
}

#[test]
fn the_int8_search_is_used_where_asked_and_missing_only_where_allowed() {
    let cfg = |search_int8| DetectConfig { search_int8, ..Default::default() };
    assert!(!detector(cfg(Int8Search::Off)).finds_int8());
    assert_eq!(detector(cfg(Int8Search::Auto)).finds_int8(), fer_rt::detect::cpu_has_vnni() && has_int8());
    // a models folder without the INT8 graph (a checkout set up before it): "auto" searches
    // in f32, "on" is an error that says what to do
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(common::models_dir()).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() && !p.file_name().unwrap().to_string_lossy().contains("int8") {
            std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
        }
    }
    let m = Manifest::load(dir.path(), "retinaface_mnet025").unwrap();
    let load = |c| Detector::load(&m, dir.path(), Device::Cpu, cfg(c), Preprocess::Host);
    // built at its first search, or by a live stream's warm-up before its first frame
    if has_int8() {
        let mut d = detector(cfg(Int8Search::On));
        assert!(d.finds_int8() && !d.int8_session_built());
        d.warm_up(640, 360).unwrap();
        assert!(d.int8_session_built());
    }
    assert!(!load(Int8Search::Auto).unwrap().finds_int8());
    let err = load(Int8Search::On).err().expect("on without the file").to_string();
    assert!(err.contains("no INT8 graph") && err.contains("scripts/setup.sh"), "{err}");
}

/// Two JSON lines alike but for boxes and landmarks up to 1 px apart (and the numbers
/// that follow from them: scores, probabilities, valence and arousal, within 0.05).
fn within_1px(a: &Value, b: &Value) -> bool {
    let px = |at: &str| at.contains(".box[") || at.contains(".landmarks[");
    common::close_by(a, b, "", &|at, x, y| (x - y).abs() <= if px(at) { 1.0 } else { 0.05 }).is_ok()
}

fn has_int8() -> bool {
    common::models_dir().join("retinaface_mnet025_int8.onnx").is_file()
}
