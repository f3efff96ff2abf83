//! `fer-rt harvest` on real media: the expected number of faces from a clip (one per track
//! per interval), crops of the student's size whose landmarks sit on the template, a
//! `faces.csv` row per crop, photos in a folder, and a re-run that has nothing to do.
mod common;

use std::path::{Path, PathBuf};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn harvest(args: &[&str]) -> std::process::Output {
    common::bin().arg("harvest").args(args).arg("--no-progress").output().unwrap()
}

fn pngs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    v.sort();
    v
}

#[test]
fn a_clip_gives_one_face_per_interval_aligned_on_the_template() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("clip.mp4");
    std::fs::copy(common::media("single_face.mp4"), &clip).unwrap();
    let frames = common::frames_of(&clip).len() as u64;
    let out = tmp.path().join("faces");
    let o = harvest(&[s(&clip), "--out", s(&out), "--every", "10", "--size", "96"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let dir = out.join(format!("{}.faces", s(&clip).trim_start_matches('/')));
    let crops = pngs(&dir);
    // one person in view throughout, sharp and large: frames 0, 10, 20, ...
    assert_eq!(crops.len() as u64, frames.div_ceil(10), "{crops:?}");
    // the closing lines count the faces seen and the crops written, which differ
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("{frames} faces seen, {} crops written", crops.len())), "{err}");
    let csv = std::fs::read_to_string(dir.join("faces.csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), crops.len());
    let frames_kept: Vec<u64> = rows.iter().map(|r| r[2].parse().unwrap()).collect();
    assert_eq!(frames_kept, (0..frames).step_by(10).collect::<Vec<_>>());
    assert!(rows.iter().all(|r| r[1] == s(&clip) && r[4] == "1"), "source and track id");
    // the crops: 96x96 RGB, and the detector finds the face where the template puts it
    let template = [[0.3419, 0.4016], [0.6565, 0.3999], [0.5002, 0.5727], [0.371, 0.7568], [0.6315, 0.7554]];
    for c in [&crops[0], crops.last().unwrap()] {
        let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(c).unwrap()));
        let info = dec.read_info().unwrap().info().clone();
        assert_eq!((info.width, info.height, info.color_type), (96, 96, png::ColorType::Rgb));
        let (code, lines, err) = common::process(c, &["--detect-max-side", "0", "--score-threshold", "0.5"]);
        assert_eq!(code, 0, "{err}");
        let lm = &lines[0]["faces"][0]["landmarks"];
        for (k, t) in template.iter().enumerate() {
            let (x, y) = (lm[k][0].as_f64().unwrap(), lm[k][1].as_f64().unwrap());
            let d = ((x - t[0] * 96.0).powi(2) + (y - t[1] * 96.0).powi(2)).sqrt();
            assert!(
                d < 96.0 * 0.06,
                "{}: landmark {k} at ({x:.1}, {y:.1}), template ({:.1}, {:.1})",
                c.display(),
                t[0] * 96.0,
                t[1] * 96.0
            );
        }
    }
    // done is done
    let o = harvest(&[s(&clip), "--out", s(&out), "--every", "10", "--size", "96"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("0 to do, 1 done"), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_folder_of_photos_gives_a_face_each() {
    let tmp = tempfile::tempdir().unwrap();
    let names = ["0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg"];
    let photos = common::media_folder(&tmp.path().join("photos"), names.map(|p| (p, p.to_string())));
    let out = tmp.path().join("faces");
    let o = harvest(&[s(&photos), "--out", s(&out)]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let folders: Vec<PathBuf> =
        walk_dirs(&out).into_iter().filter(|d| d.to_string_lossy().ends_with(".faces")).collect();
    assert_eq!(folders.len(), 4);
    for d in folders {
        assert_eq!(pngs(&d).len(), 1, "{}", d.display());
    }
}

fn walk_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.push(p.clone());
            out.extend(walk_dirs(&p));
        }
    }
    out
}

/// Harvested faces of two clips, labelled by mini-Xception, train a student end to end:
/// the pseudo-labels are the teacher's own outputs on each crop (cached, and read back
/// from the cache on a second run), validation holds out a whole video, and the checkpoint
/// runs in `process`.
#[test]
fn a_student_trains_on_pseudo_labelled_faces_and_runs_in_process() {
    let tmp = tempfile::tempdir().unwrap();
    let clips = common::media_folder(
        &tmp.path().join("clips"),
        [("single_face.mp4", "a.mp4".into()), ("WolfgangLanger_Pexels.mp4", "b.mp4".into())],
    );
    let faces = tmp.path().join("faces");
    let o = harvest(&[s(&clips), "--out", s(&faces), "--every", "24", "--size", "64"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let run = tmp.path().join("student");
    let train = |extra: &[&str]| {
        let mut a = vec!["train", "--dataset", "folder-unlabeled", "--data", s(&faces), "--out", s(&run)];
        if !extra.contains(&"--teacher") {
            a.extend(["--teacher", "fer_mini_xception"]);
        }
        a.extend(["--method", "ce", "--epochs", "1", "--input-size", "48"]);
        a.extend(["--width", "8", "--batch", "8", "--threads", "2", "--json"]);
        a.extend(extra);
        let o = common::bin().args(&a).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let r = train(&[]);
    let p = &r["pseudo_labels"];
    let n = p["faces"].as_u64().unwrap();
    assert!(n >= 10, "{p}");
    assert_eq!((p["computed"].as_u64(), p["cached"].as_u64()), (Some(n), Some(0)));
    assert_eq!(p["classes"].as_array().unwrap().len(), 7);

    // the cache holds the teacher's own output for each crop
    let cache_dir = faces.join("_teachers");
    let cache_file = std::fs::read_dir(&cache_dir).unwrap().flatten().next().unwrap().path();
    let cache: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&cache_file).unwrap()).unwrap();
    let probs = cache["probs"].as_object().unwrap();
    assert_eq!(probs.len() as u64, n);
    let mut teacher = fer_rt::model::load_classifier(
        &common::models_dir(),
        "fer_mini_xception",
        tch::Device::Cpu,
        fer_rt::runtime::Engine::Auto,
        fer_rt::model::CpuRun::whole(2),
    )
    .unwrap();
    for (file, want) in probs.iter().take(5) {
        let crop = fer_rt::train::teachers::teacher_crop(&faces.join(file), &teacher.spec().input.clone()).unwrap();
        let got = teacher.classify(&[&crop]).unwrap().remove(0).probs;
        for (g, w) in got.iter().zip(want.as_array().unwrap()) {
            assert!((*g as f64 - w.as_f64().unwrap()).abs() < 1e-5, "{file}: {got:?} vs {want}");
        }
    }

    // a second run reads them back; two copies of one teacher average to the same labels
    let r2 = train(&["--teacher", "fer_mini_xception,fer_mini_xception"]);
    assert_eq!(r2["pseudo_labels"]["computed"].as_u64(), Some(0));
    assert_eq!(r2["pseudo_labels"]["cached"].as_u64(), Some(2 * n));
    assert_eq!(r2["history"][0]["val_acc"], r["history"][0]["val_acc"], "same labels, same seed, same run");

    // the student classifies real video in the pipeline
    let ckpt = run.join("best.safetensors");
    let (code, lines, err) = common::process(&common::media("single_face.mp4"), &["--model", s(&ckpt)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(lines[0]["faces"][0]["expression"].as_object().map(|o| o.len()), Some(7));
}

/// Pseudo-labelled faces mixed with a labelled folder (CE on the labels plus the
/// pseudo-labels), and RUL on the teachers' top labels, both end to end at toy size.
#[test]
fn pseudo_labels_mix_with_labelled_data_and_take_rul_on_top() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("clip.mp4");
    std::fs::copy(common::media("single_face.mp4"), &clip).unwrap();
    let faces = tmp.path().join("faces");
    let o = harvest(&[s(&clip), "--out", s(&faces), "--every", "6", "--size", "48"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let labelled = tmp.path().join("synth");
    let o = common::bin().args(["synth", "--out", s(&labelled), "--samples", "70", "--size", "48"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (method, extra) in [("ce", vec!["--labelled", s(&labelled)]), ("rul", vec!["--min-confidence", "0.3"])] {
        let out = tmp.path().join(method);
        let mut a = vec!["train", "--dataset", "folder-unlabeled", "--data", s(&faces), "--out", s(&out)];
        a.extend(["--teacher", "fer_mini_xception", "--method", method, "--epochs", "1", "--input-size", "48"]);
        a.extend(["--width", "8", "--batch", "8", "--threads", "2", "--json"]);
        a.extend(extra);
        let o = common::bin().args(&a).output().unwrap();
        assert!(o.status.success(), "{method}: {}", String::from_utf8_lossy(&o.stderr));
        let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let p = &r["pseudo_labels"];
        assert!(p["kept"].as_u64().unwrap() <= p["faces"].as_u64().unwrap());
        assert!(out.join("best.safetensors").is_file());
    }
}
