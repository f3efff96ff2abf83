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
    let photos = tmp.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for p in ["0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg"] {
        std::fs::copy(common::media(p), photos.join(p)).unwrap();
    }
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
