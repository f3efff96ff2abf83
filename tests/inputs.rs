//! The inputs a new user reaches for first (issue 21, point 2): standard input, image
//! sequences with their own frame rate, and folders of unrelated photos.
mod common;

use serde_json::Value;
use std::process::Command;

/// A frame's JSON without what differs between runs (timings) or names the input.
fn comparable(v: &Value) -> Value {
    let mut v = v.clone();
    let m = v.as_object_mut().unwrap();
    m.remove("timings_ms");
    m.remove("file");
    m.remove("frame");
    for f in m.get_mut("faces").unwrap().as_array_mut().unwrap() {
        f.as_object_mut().unwrap().remove("track_id");
    }
    m.remove("track_events");
    v
}

/// `fer-rt process - EXTRA` with `bytes` on standard input.
fn process_stdin(bytes: Vec<u8>, extra: &[&str]) -> (i32, Vec<Value>, String) {
    let mut cmd = common::bin();
    cmd.args(["process", "-"]).args(extra);
    let out = common::run_with_stdin(cmd, bytes, 120);
    let lines = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (out.status.code().unwrap_or(-1), lines, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn standard_input_gives_what_the_file_gives() {
    // single_face.mp4 keeps its index after the media (spooled); WolfgangLanger's comes
    // first (streamed through the pipe)
    for name in ["single_face.mp4", "WolfgangLanger_Pexels.mp4"] {
        let path = common::media(name);
        let (code, from_file, err) = common::process(&path, &[]);
        assert_eq!(code, 0, "{err}");
        let (code, from_stdin, err) = process_stdin(std::fs::read(&path).unwrap(), &[]);
        assert_eq!(code, 0, "{name}: {err}");
        assert_eq!(from_stdin.len(), from_file.len(), "{name}");
        for (a, b) in from_file.iter().zip(&from_stdin) {
            assert_eq!(comparable(a), comparable(b), "{name}");
        }
    }
}

#[test]
fn an_mpegts_pipe_from_ffmpeg_streams_in() {
    let ts = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(common::media("single_face.mp4"))
        .args(["-c", "copy", "-f", "mpegts", "-"])
        .output()
        .unwrap();
    assert!(ts.status.success());
    let (code, lines, err) = process_stdin(ts.stdout, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(lines.len(), 72, "{err}");
    assert!(lines.iter().all(|l| l["faces"].as_array().unwrap().len() == 1));
}

#[test]
fn a_cut_off_mp4_on_standard_input_is_an_error_as_on_disk() {
    let src = std::fs::read(common::media("WolfgangLanger_Pexels.mp4")).unwrap();
    let (code, lines, err) = process_stdin(src[..src.len() / 2].to_vec(), &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("standard input") && err.contains("damaged"), "{err}");
    assert!(!lines.is_empty(), "what was decodable was written first");
    let (code, _, err) = process_stdin(Vec::new(), &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("standard input is empty"), "{err}");
}

/// The bundled clip's first `n` frames as PNGs frames/00001.png...
fn png_sequence(dir: &std::path::Path, n: usize) -> std::path::PathBuf {
    let frames = dir.join("frames");
    std::fs::create_dir_all(&frames).unwrap();
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(common::media("single_face.mp4"))
        .args(["-frames:v", &n.to_string()])
        .arg(frames.join("%05d.png"))
        .status()
        .unwrap()
        .success();
    assert!(ok);
    frames.join("%05d.png")
}

#[test]
fn an_image_sequence_takes_its_frame_rate_from_fps() {
    let tmp = tempfile::tempdir().unwrap();
    let pattern = png_sequence(tmp.path(), 6);
    let (code, lines, err) = common::process(&pattern, &["--fps", "10"]);
    assert_eq!(code, 0, "{err}");
    let pts: Vec<f64> = lines.iter().map(|l| l["pts_ms"].as_f64().unwrap()).collect();
    assert_eq!(pts.len(), 6);
    for (i, p) in pts.iter().enumerate() {
        assert!((p - 100.0 * i as f64).abs() < 1e-6, "{pts:?}");
    }
    // one face followed through the sequence: one track
    assert!(lines.iter().all(|l| l["faces"][0]["track_id"] == 1));
    // --fps means nothing to a video, which has its own timestamps
    let (code, _, err) = common::process(&common::media("single_face.mp4"), &["--fps", "10"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--fps"), "{err}");
    // --stills: every frame its own track, and the filter starts afresh on each
    let (code, stills, err) = common::process(&pattern, &["--stills"]);
    assert_eq!(code, 0, "{err}");
    let ids: Vec<u64> = stills.iter().map(|l| l["faces"][0]["track_id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5, 6]);
}

#[test]
fn a_folder_of_photos_is_one_independent_input_per_photo() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = ["0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "45-m7-di-ph.jpg", "multi_face.jpg"];
    let dir = common::media_folder(&tmp.path().join("photos"), photos.iter().map(|p| (*p, p.to_string())));
    std::fs::write(dir.join("notes.txt"), "not a photo").unwrap();
    let (code, lines, err) = common::process(&dir, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(lines.len(), photos.len(), "one line per photo, the text file left out");
    let mut seen = std::collections::BTreeSet::new();
    for (line, name) in lines.iter().zip(photos) {
        assert!(line["file"].as_str().unwrap().ends_with(name), "{}", line["file"]);
        // exactly what the photo gives alone: nothing carried over from the photo before
        let (code, alone, err) = common::process(&common::media(name), &[]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(comparable(line), comparable(&alone[0]), "{name}");
        for f in line["faces"].as_array().unwrap() {
            assert!(seen.insert(f["track_id"].as_u64().unwrap()), "a track id shared across photos");
        }
        // every track of a photo starts and ends on it
        let events = line["track_events"].as_array().unwrap();
        let faces = line["faces"].as_array().unwrap().len();
        assert_eq!(events.iter().filter(|e| e["event"] == "start").count(), faces);
        assert_eq!(events.iter().filter(|e| e["event"] == "end").count(), faces);
    }
    // a folder without photos points to batch
    let empty = tmp.path().join("videos");
    common::media_folder(&empty, [("single_face.mp4", "a.mp4".to_string())]);
    let (code, _, err) = common::process(&empty, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("fer-rt batch"), "{err}");
    // --stills is for patterns; a folder's --output is for batch
    let (code, _, err) = common::process(&common::media("single_face.mp4"), &["--stills"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = common::process(&dir, &["--output", tmp.path().join("x.mp4").to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn live_reads_standard_input_too() {
    let mut cmd = common::bin();
    cmd.args(["live", "--source", "-", "--json", "--no-window"]);
    let out = common::run_with_stdin(cmd, std::fs::read(common::media("single_face.mp4")).unwrap(), 120);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let n = String::from_utf8_lossy(&out.stdout).lines().count();
    assert!(n > 0, "{err}");
}

#[test]
fn ffmpegs_pipe_name_and_a_named_pipe_read_like_standard_input() {
    let clip = common::media("WolfgangLanger_Pexels.mp4");
    let (code, want, err) = common::process(&clip, &[]);
    assert_eq!(code, 0, "{err}");
    // pipe:0 is FFmpeg's name for standard input
    let mut cmd = common::bin();
    cmd.args(["process", "pipe:0"]);
    let out = common::run_with_stdin(cmd, std::fs::read(&clip).unwrap(), 120);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), want.len());
    // a FIFO made with mkfifo, fed by another process
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("frames.fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let feeder = {
        let (fifo, clip) = (fifo.clone(), clip.clone());
        std::thread::spawn(move || std::fs::write(&fifo, std::fs::read(clip).unwrap()))
    };
    let (code, lines, err) = common::process(&fifo, &[]);
    feeder.join().unwrap().unwrap();
    assert_eq!(code, 0, "{err}");
    assert_eq!(lines.len(), want.len());
    for (a, b) in want.iter().zip(&lines) {
        assert_eq!(comparable(a), comparable(b));
    }
}

#[test]
fn a_photo_is_told_from_a_video_before_it_is_opened() {
    use fer_rt::source::{video::looks_still, VideoSource};
    let dir = tempfile::tempdir().unwrap();
    let pattern = png_sequence(dir.path(), 2);
    let png = dir.path().join("frames/00001.png");
    // a PNG under a name that says nothing: FFmpeg's png_pipe knows it by its bytes
    let unnamed = dir.path().join("upload.bin");
    std::fs::copy(&png, &unnamed).unwrap();
    for photo in [common::media("multi_face.jpg"), png.clone(), unnamed] {
        assert_eq!(looks_still(&photo), Some(true), "{}", photo.display());
        // opened, it is one frame, though a pipe demuxer counts none
        let src = VideoSource::open(&photo).unwrap();
        assert!(src.is_still(), "{}", photo.display());
        assert_eq!(src.info().expected_frames.or(src.info().estimated_frames), Some(1), "{}", photo.display());
    }
    for video in ["single_face.mp4", "noface_face.mov"] {
        assert_eq!(looks_still(&common::media(video)), Some(false), "{video}");
    }
    // what cannot be told before opening: a pattern of frames, a missing file
    assert_eq!(looks_still(&pattern), None);
    assert_eq!(looks_still(&dir.path().join("missing.jpg")), None);
    let src = VideoSource::open(&pattern).unwrap();
    assert!(!src.is_still());
}
