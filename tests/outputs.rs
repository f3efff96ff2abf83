//! The three outputs besides JSON, and the live path, through the real binary: CSV parsed
//! back; the annotated video decoded back (frame count, size, timestamps); a paced live
//! run with drop accounting; the no-camera error; and the window under Xvfb, screenshotted.
mod common;

use fer_rt::messages::RgbImage;
use fer_rt::source::VideoSource;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn csv_has_a_header_and_a_row_per_face() {
    let out = common::bin().args(["process", "--format", "csv"]).arg(common::media("multi_face.jpg")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
    let header = &rows[0];
    for col in [
        "frame",
        "track_id",
        "x1",
        "label",
        "p_happy",
        "p_neutral",
        "valence",
        "quality",
        "filtered_label",
        "filtered_p_surprise",
    ] {
        assert!(header.contains(&col), "missing column {col}");
    }
    assert_eq!(rows.len(), 1 + 5, "header + one row per face");
    for r in &rows[1..] {
        assert_eq!(r.len(), header.len(), "every row has every column");
        let col = |name: &str| r[header.iter().position(|h| *h == name).unwrap()];
        let probs: f64 =
            header.iter().zip(r).filter(|(h, _)| h.starts_with("p_")).map(|(_, v)| v.parse::<f64>().unwrap()).sum();
        assert!((probs - 1.0).abs() < 1e-4);
        assert!(col("score").parse::<f64>().unwrap() > 0.5);
        assert!(!col("filtered_label").is_empty());
    }
}

#[test]
fn annotated_video_matches_the_input_frame_for_frame() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("annotated.mp4");
    let input = common::media("single_face.mp4");
    let (code, lines, stderr) = common::process(&input, &["--output", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let (a, b) = (common::frames_of(&input), common::frames_of(&out));
    assert_eq!(a.len(), 72);
    assert_eq!(b.len(), a.len(), "frame count");
    assert_eq!(lines.len(), a.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!((x.1, x.2), (y.1, y.2), "size");
        assert_eq!(x.0, y.0, "timestamps (ms)");
    }
    // the overlays are in the picture: box colours appear that the source frame lacks
    let src = first_frame(&input);
    let ann = first_frame(&out);
    assert!(palette_pixels(&ann) > palette_pixels(&src) + 300, "{} vs {}", palette_pixels(&ann), palette_pixels(&src));
}

/// At 1080p the overlay text is drawn at twice the 8x8 font size (cap height ~1.2 % of the
/// frame), so it stays legible when the video is shown at a normal size: the heads-up line's
/// white text reaches below row 12, which 1x text (rows 2-9) never does.
#[test]
fn overlays_scale_with_a_1080p_frame() {
    let tmp = tempfile::tempdir().unwrap();
    let big = tmp.path().join("multi_1080p.png");
    let st = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(common::media("multi_face.jpg"))
        .args(["-vf", "scale=1920:1080:force_original_aspect_ratio=decrease,pad=1920:1080:(ow-iw)/2:(oh-ih)/2"])
        .arg(&big)
        .status()
        .unwrap();
    assert!(st.success());
    let out = tmp.path().join("annotated.mp4");
    let (code, lines, stderr) = common::process(&big, &["--output", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(lines[0]["faces"].as_array().unwrap().len(), 5);
    let img = first_frame(&out);
    assert_eq!((img.width, img.height), (1920, 1080));
    let w = img.width as usize;
    let white_in_rows = |r: std::ops::Range<usize>| {
        r.flat_map(|y| (0..900).map(move |x| y * w + x))
            .filter(|&i| img.data[3 * i..3 * i + 3].iter().all(|&v| v > 230))
            .count()
    };
    let (upper, lower) = (white_in_rows(4..12), white_in_rows(12..20));
    assert!(upper > 200 && lower > 200, "heads-up text not at 2x: {upper} white pixels in rows 4-11, {lower} in 12-19");
    assert!(palette_pixels(&img) > 2000, "boxes and bars are drawn");
    if let Some(dir) = std::env::var_os("FER_RT_SCREENSHOT_DIR") {
        let shot = std::path::Path::new(&dir).join("overlay_1080p.png");
        let st = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(&out)
            .args(["-frames:v", "1"])
            .arg(&shot)
            .status();
        assert!(st.is_ok_and(|s| s.success()));
    }
}

fn first_frame(path: &std::path::Path) -> RgbImage {
    let mut s = VideoSource::open(path).unwrap();
    let mut img = None;
    let _ = s.run(|m| {
        img = Some((*m.image).clone());
        false
    });
    img.unwrap()
}

/// Pixels near one of the overlay's track colours (tolerant of compression).
fn palette_pixels(img: &RgbImage) -> usize {
    const PALETTE: [[i32; 3]; 2] = [[0, 200, 255], [255, 170, 0]];
    img.data.chunks(3).filter(|p| PALETTE.iter().any(|c| (0..3).all(|k| (p[k] as i32 - c[k]).abs() <= 30))).count()
}

#[test]
fn paced_live_run_emits_processed_frames_and_counts_drops() {
    let out = common::bin()
        .args(["live", "--no-window", "--json", "--source"])
        .arg(common::media("single_face.mp4"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(!lines.is_empty());
    let mut prev: Option<(u64, u64)> = None;
    for l in &lines {
        let (f, d) = (l["frame"].as_u64().unwrap(), l["dropped_frames"].as_u64().unwrap());
        if let Some((pf, pd)) = prev {
            assert!(f > pf, "frames in order");
            assert_eq!(f - pf - 1, d - pd, "every skipped frame is counted as dropped");
        }
        prev = Some((f, d));
        assert_eq!(l["faces"].as_array().unwrap().len(), 1);
    }
    let (last, drops) = prev.unwrap();
    assert_eq!(last, 71, "the clip's last frame is never stale when the input ends");
    assert_eq!(lines.len() as u64 + drops, 72, "processed + dropped = all frames");
}

#[test]
fn live_run_stops_when_its_reader_goes_away() {
    let media = common::media("WolfgangLanger_Pexels.mp4");
    let args = ["-v", "live", "--no-window", "--json", "--source"].map(std::ffi::OsStr::new);
    let (_, out) = common::first_line_then_hang_up(&[&args[..], &[media.as_os_str()]].concat());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // stopping must not wait for the 472-frame clip to play out
    let ended = stderr.lines().find(|l| l.contains("live run ended")).expect("summary log line");
    let frames: u64 =
        ended.split("frames=").nth(1).and_then(|r| r.split_whitespace().next()).and_then(|n| n.parse().ok()).unwrap();
    assert!(frames < 100, "processed {frames} frames after its reader left: {ended}");
}

#[test]
fn no_camera_fails_with_the_cameras_found() {
    let out = common::bin().args(["live", "--camera", "/dev/video57", "--no-window", "--json"]).output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("error: ") && lines[0].contains("cameras found"), "{stderr}");
    assert!(out.stdout.is_empty());
}

use common::procs::Xvfb;

#[test]
fn window_shows_the_frame_with_overlays() {
    let x = Xvfb::start();
    let mut child = live_window(&x.1, &["--hold"], "multi_face.jpg");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.contains("\"faces\""), "no JSON line: {line}");
    let tmp = tempfile::tempdir().unwrap();
    let shot = tmp.path().join("window.png");
    // the frame is drawn right after its JSON line; give the window a moment
    let t0 = Instant::now();
    let grabbed = loop {
        std::thread::sleep(Duration::from_millis(500));
        let ok = screenshot(&x.1, &shot);
        if ok && palette_pixels(&first_frame(&shot)) > 300 || t0.elapsed() > Duration::from_secs(20) {
            break ok;
        }
    };
    // SIGTERM: the window closes, the run ends cleanly
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let status = common::wait_or_kill(child, 60).status;
    assert!(grabbed, "screenshot failed");
    if let Some(dir) = std::env::var_os("FER_RT_SCREENSHOT_DIR") {
        std::fs::copy(&shot, std::path::Path::new(&dir).join("window.png")).unwrap();
    }
    let img = first_frame(&shot);
    let src = first_frame(&common::media("multi_face.jpg"));
    let (a, b) = (palette_pixels(&img), palette_pixels(&src));
    eprintln!("overlay-coloured pixels: window {a}, source image {b}");
    assert!(a > b + 1000, "overlays not visible in the window ({a} vs {b})");
    // the heads-up line: white text along the top of the window, wherever the X server put it
    let w = img.width as usize;
    let lit = |i: usize| img.data[3 * i..3 * i + 3].iter().any(|&v| v > 10);
    let first = (0..img.data.len() / 3).find(|&i| lit(i)).expect("the window is on screen");
    let (ox, oy) = (first % w, first / w);
    let top_white = (oy..oy + 24)
        .flat_map(|y| (ox..(ox + 600).min(w)).map(move |x| y * w + x))
        .filter(|&i| img.data[3 * i..3 * i + 3].iter().all(|&v| v > 240))
        .count();
    assert!(top_white > 100, "no heads-up line ({top_white})");
    assert!(matches!(status.code(), Some(0) | Some(130)), "{status:?}");
}

#[test]
fn annotated_video_is_finalised_after_ctrl_c() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("partial.mp4");
    let mut child = common::bin()
        .args(["process", "--output"])
        .arg(&out)
        .arg(common::media("WolfgangLanger_Pexels.mp4"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    for _ in 0..20 {
        line.clear();
        reader.read_line(&mut line).unwrap();
    }
    let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    let rest: Vec<String> = reader.lines().map(|l| l.unwrap()).collect();
    let out_status = common::wait_or_kill(child, 120);
    assert_eq!(out_status.status.code(), Some(130));
    let stderr = String::from_utf8_lossy(&out_status.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let emitted = 20 + rest.len();
    assert!(emitted < 472, "the run should have been cut short");
    assert_eq!(common::frames_of(&out).len(), emitted, "the file plays, with every frame that was emitted");
    assert!(!tmp.path().join("partial.mp4.part").exists(), "renamed into place after Ctrl-C");
    // the sound was copied along up to the last annotated frame, not to the input's end
    let streams = streams_of(&out);
    let (video, audio) = (streams.iter().find(|s| s.0 == "video").unwrap(), streams.iter().find(|s| s.0 == "audio"));
    let audio = audio.expect("the input's audio is kept");
    assert!(audio.2 <= video.2 + 0.1, "audio {} s, video {} s", audio.2, video.2);
}

/// (codec type, codec name, duration in s) of each stream, by ffprobe.
fn streams_of(path: &std::path::Path) -> Vec<(String, String, f64)> {
    let o = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_type,codec_name,duration", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let kind = f.iter().find(|x| **x == "video" || **x == "audio")?.to_string();
            let name = f.iter().find(|x| !x.is_empty() && x.parse::<f64>().is_err() && **x != kind)?.to_string();
            let d = f.iter().find_map(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
            Some((kind, name, d))
        })
        .collect()
}

#[test]
fn the_annotated_video_keeps_the_inputs_sound() {
    let tmp = tempfile::tempdir().unwrap();
    // mp3 in MP4, and AAC out of a QuickTime file with HEVC video
    for (clip, codec, ext) in [("single_face.mp4", "mp3", "mp4"), ("face_noface.mov", "aac", "mkv")] {
        let src = common::media(clip);
        let out = tmp.path().join(format!("{clip}.annotated.{ext}"));
        let (code, _, err) = common::process(&src, &["--output", out.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        let (a, b) = (streams_of(&src), streams_of(&out));
        let audio_in = a.iter().find(|s| s.0 == "audio").unwrap();
        let audio_out = b.iter().find(|s| s.0 == "audio").unwrap_or_else(|| panic!("{clip}: no audio in {b:?}"));
        assert_eq!(audio_out.1, codec, "stream copy, not re-encoded");
        assert!((audio_out.2 - audio_in.2).abs() < 0.1 || audio_out.2 == 0.0, "{clip}: {audio_out:?} vs {audio_in:?}");
    }
}

#[test]
fn annotated_video_is_finalised_when_the_input_is_damaged() {
    let src = std::fs::read(common::media("WolfgangLanger_Pexels.mp4")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cut = tmp.path().join("cut.mp4");
    std::fs::write(&cut, &src[..src.len() / 2]).unwrap();
    let out = tmp.path().join("annotated.mp4");
    let (code, lines, stderr) = common::process(&cut, &["--output", out.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(!lines.is_empty());
    // a failed run leaves nothing under the final name; what it wrote is kept as .part,
    // finalised, and the one error line says where
    assert!(!out.exists(), "no half-done file under the final name");
    let part = tmp.path().join("annotated.mp4.part");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("annotated.mp4.part"), "{stderr}");
    assert_eq!(common::frames_of(&part).len(), lines.len(), "every decodable frame is in a playable file");
}

/// Grabs the X screen into `path` (PNG) with FFmpeg's x11grab; false when it fails.
fn screenshot(display: &str, path: &std::path::Path) -> bool {
    Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "x11grab", "-video_size", "1280x800", "-i", &format!("{display}+0,0")])
        .args(["-frames:v", "1"])
        .arg(path)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn grab(display: &str, path: &std::path::Path) -> RgbImage {
    let ok = screenshot(display, path);
    assert!(ok, "screenshot failed");
    first_frame(path)
}

fn key(display: &str, k: &str) {
    let out =
        Command::new("xdotool").args(["search", "--name", "fer-rt"]).env("DISPLAY", display).output().expect("xdotool");
    let ids = String::from_utf8_lossy(&out.stdout).to_string();
    let wid = ids.lines().last().expect("the window exists").to_string();
    // Without a window manager xdotool may report an X error about the focus window
    // (PointerRoot) after delivering the key; the callers assert the key's effect instead.
    let _ = Command::new("xdotool").args(["key", "--window", &wid, k]).env("DISPLAY", display).output().unwrap();
}

/// Waits for the first JSON line, then keeps reading stdout in the background: an unread
/// pipe fills up and (by design) holds the pipeline, window included.
fn wait_for_line(child: &mut std::process::Child) -> std::thread::JoinHandle<()> {
    let mut r = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.contains("\"faces\""), "{line}");
    std::thread::spawn(move || {
        let mut sink = std::io::sink();
        let _ = std::io::copy(&mut r, &mut sink);
    })
}

/// `fer-rt live --json [extra] --source MEDIA` with its window on `display`.
fn live_window(display: &str, extra: &[&str], media: &str) -> std::process::Child {
    common::bin()
        .args(["live", "--json"])
        .args(extra)
        .arg("--source")
        .arg(common::media(media))
        .env("DISPLAY", display)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn window_keys_pause_switch_view_and_quit() {
    let x = Xvfb::start();
    let tmp = tempfile::tempdir().unwrap();
    // space: a playing clip freezes on screen
    let mut child = live_window(&x.1, &[], "WolfgangLanger_Pexels.mp4");
    let _reader = wait_for_line(&mut child);
    std::thread::sleep(Duration::from_millis(1500));
    let a = grab(&x.1, &tmp.path().join("a.png"));
    std::thread::sleep(Duration::from_millis(700));
    let b = grab(&x.1, &tmp.path().join("b.png"));
    assert_ne!(a.data, b.data, "the clip should be playing");
    key(&x.1, "space");
    std::thread::sleep(Duration::from_millis(700));
    let c = grab(&x.1, &tmp.path().join("c.png"));
    std::thread::sleep(Duration::from_millis(700));
    let d = grab(&x.1, &tmp.path().join("d.png"));
    assert_eq!(c.data, d.data, "paused: the picture must hold");
    key(&x.1, "q");
    let out = common::wait_or_kill(child, 30);
    assert_eq!(out.status.code(), Some(0), "q quits cleanly: {}", String::from_utf8_lossy(&out.stderr));

    // f: on a held last frame only a handled key can redraw; the view changes
    let mut child = live_window(&x.1, &["--hold"], "multi_face.jpg");
    let _reader = wait_for_line(&mut child);
    std::thread::sleep(Duration::from_millis(1500));
    let before = grab(&x.1, &tmp.path().join("e.png"));
    key(&x.1, "f");
    std::thread::sleep(Duration::from_millis(700));
    let after = grab(&x.1, &tmp.path().join("f.png"));
    let changed = before.data.chunks(3).zip(after.data.chunks(3)).filter(|(p, q)| p != q).count();
    assert!(changed > 500, "f should redraw in the other view ({changed} pixels changed)");
    key(&x.1, "Escape");
    let out = common::wait_or_kill(child, 30);
    assert_eq!(out.status.code(), Some(0), "Esc quits cleanly: {}", String::from_utf8_lossy(&out.stderr));
}

/// `process --format parquet` writes the same table as `batch` (and as the CSV), row for
/// row equal to the JSON lines, read back by pyarrow.
#[test]
fn process_writes_parquet_and_csv_with_every_json_field() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = common::media("single_face.mp4");
    let run = |format: &str, ext: &str| {
        let path = tmp.path().join(format!("out.{ext}"));
        let file = std::fs::File::create(&path).unwrap();
        let o = common::bin().args(["process", "--format", format]).arg(&clip).stdout(file).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        path
    };
    let (pq, jl, csv) = (run("parquet", "parquet"), run("jsonl", "jsonl"), run("csv", "csv"));
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/parquet_check.py");
    let o = Command::new(common::python()).arg(&script).arg(&pq).arg(&jl).arg(&csv).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["rows"].as_u64(), Some(72));
    // the CSV names its input on every row, and carries the model's own uncertainty and
    // the ensemble disagreement like the JSON
    let text = std::fs::read_to_string(&csv).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    assert_eq!(header[0], "source");
    assert!(header.contains(&"model_uncertainty") && header.contains(&"disagreement"));
    assert!(text.lines().skip(1).all(|l| l.starts_with(&*clip.to_string_lossy())));
}

/// `live` has process's detection flags, CSV on stdout and a recording that is finalised
/// and renamed when the run ends (issue 21).
#[test]
fn live_writes_csv_and_records_the_session() {
    let tmp = tempfile::tempdir().unwrap();
    let rec = tmp.path().join("session.mkv");
    let o = common::bin()
        .args(["live", "--source"])
        .arg(common::media("single_face.mp4"))
        .args(["--no-window", "--format", "csv", "--score-threshold", "0.6", "--max-batch", "4", "--output"])
        .arg(&rec)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let text = String::from_utf8(o.stdout).unwrap();
    let rows = text.lines().skip(1).count();
    assert!(text.starts_with("source,frame,"), "{text}");
    assert!(rows > 0);
    assert!(!tmp.path().join("session.mkv.part").exists());
    // every frame that reached the sinks is in the recording; one face per frame here
    assert_eq!(common::frames_of(&rec).len(), rows, "{err}");
    assert!(err.lines().last().unwrap().contains("annotated output"), "{err}");
    // an image is no recording, and the input is never the recording
    let o = common::bin()
        .args(["live", "--source"])
        .arg(common::media("single_face.mp4"))
        .args(["--no-window", "--output", "x.png"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = common::bin()
        .args(["live", "--source"])
        .arg(common::media("single_face.mp4"))
        .arg("--output")
        .arg(common::media("single_face.mp4"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

/// `summary` reads `process` outputs directly, in any of the three formats, per video and
/// per track, and says whether it counted the filtered labels (default) or the raw ones.
#[test]
fn summary_reads_process_outputs_per_track() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = common::media("multi_face.jpg");
    let mut got = Vec::new();
    for (format, ext) in [("jsonl", "jsonl"), ("csv", "csv"), ("parquet", "parquet")] {
        let path = tmp.path().join(format!("out.{ext}"));
        let o = common::bin()
            .args(["process", "--format", format])
            .arg(&clip)
            .stdout(std::fs::File::create(&path).unwrap())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        let o = common::bin().args(["summary", "--json"]).arg(&path).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["counted"], "filtered");
        let video = &v["videos"][0];
        assert_eq!(video["faces"], 5, "{format}");
        let tracks = video["tracks"].as_array().unwrap();
        assert_eq!(tracks.len(), 5, "{format}: one track per face");
        let per_track: u64 = tracks.iter().map(|t| t["faces"].as_u64().unwrap()).sum();
        assert_eq!(per_track, 5);
        got.push((video["labels"].clone(), tracks.iter().map(|t| t["labels"].clone()).collect::<Vec<_>>()));
    }
    assert!(got.windows(2).all(|w| w[0] == w[1]), "the three formats agree: {got:?}");
    // raw on request, and the table says which were counted
    let jl = tmp.path().join("out.jsonl");
    let raw: serde_json::Value =
        serde_json::from_slice(&common::bin().args(["summary", "--json", "--raw"]).arg(&jl).output().unwrap().stdout)
            .unwrap();
    assert_eq!(raw["counted"], "raw");
    let table = common::bin().arg("summary").arg(&jl).output().unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("labels and V/A: filtered") && text.contains("track 1"), "{text}");
    // a long clip: the one track spans the clip
    let long = tmp.path().join("long.jsonl");
    let o = common::bin()
        .arg("process")
        .arg(common::media("WolfgangLanger_Pexels.mp4"))
        .stdout(std::fs::File::create(&long).unwrap())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value =
        serde_json::from_slice(&common::bin().args(["summary", "--json"]).arg(&long).output().unwrap().stdout).unwrap();
    assert_eq!(v["videos"][0]["frames"], 472);
    let t = &v["videos"][0]["tracks"][0];
    assert_eq!((t["first_frame"].as_u64(), t["last_frame"].as_u64()), (Some(0), Some(471)));
    assert!((t["seconds"].as_f64().unwrap() - 19.6).abs() < 0.3, "{t}");
    // not an output at all: one clear line, exit 2
    let o = common::bin().arg("summary").arg(&clip).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
}
