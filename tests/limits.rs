//! Inputs that declare huge frames (issue 22, point 1): a few hundred KB that would decode
//! to 67 MP frames, PNG and JPEG headers declaring 81 MP and 42 MP, a side past the limit.
//! Each is refused before anything that size is allocated, with exit 1 and one line naming
//! the size and the limit. "Before anything is allocated" is checked, not assumed: the
//! runs get a 512 MiB cap on their data segment, which a normal run stays under and an
//! uncapped decode of these files does not (it aborts on an allocation). 1 GiB was the cap
//! until a run's frames in flight and sessions came to fit the 67 MP clip's decode under it;
//! on the build machine a normal run lives under 384 MiB and that decode fails under 768.
mod common;

use std::path::Path;
use std::process::Command;

/// The data segment cap of every run here.
const CAP: u64 = 512 << 20;

fn process_capped(input: &Path, extra: &[&str]) -> (Option<i32>, String, usize) {
    common::process_capped_at(input, extra, CAP)
}

fn make(dir: &Path, name: &str, size: &str, frames: &str, codec: &[&str]) -> std::path::PathBuf {
    let p = dir.join(name);
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", &format!("color=c=gray:s={size}"), "-frames:v", frames])
        .args(codec)
        .arg(&p)
        .status()
        .unwrap()
        .success();
    assert!(ok, "ffmpeg made {name}");
    p
}

#[test]
fn frames_over_the_limits_are_refused_before_they_are_allocated() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let cases = [
        (
            // 12 frames: enough to fill the pipeline's links, so that the frames in flight
            // outgrow the cap below whatever the timing. 4 did while FFmpeg decoded on
            // three threads, but with one per core a fresh run once held them all under it
            // (frames also leave the queues once aligned when no sink reads pixels)
            make(d, "big.mp4", "8192x8192", "12", &["-c:v", "libx264", "-preset", "ultrafast"]),
            "8192×8192",
            "max_frame_pixels",
        ),
        (make(d, "big.png", "9000x9000", "1", &[]), "9000×9000", "max_frame_pixels"),
        (make(d, "tall.jpg", "2560x16384", "1", &[]), "2560×16384", "max_frame_pixels"),
        (make(d, "wide.png", "20000x64", "1", &[]), "20000×64", "max_frame_side"),
    ];
    for (file, size, limit) in &cases {
        let (code, err, lines) = process_capped(file, &[]);
        assert_eq!(code, Some(1), "{}: {err}", file.display());
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("error: ") && err.contains(size) && err.contains(limit), "{err}");
        assert_eq!(lines, 0);
    }
    // the cap is a real one: a normal run lives under it, and decoding the 67 MP clip
    // with the limit raised does not
    let (code, err, lines) = process_capped(&common::media("WolfgangLanger_Pexels.mp4"), &[]);
    assert_eq!((code, lines), (Some(0), 472), "{err}");
    let (code, _, _) = process_capped(&cases[0].0, &["--max-frame-pixels", "100000000"]);
    assert_ne!(code, Some(0), "the raised limit lets the decode try, and the cap stops it");
    // the memory budget: frames in flight times their size, refused before the run
    let (code, err, _) = process_capped(&common::media("single_face.mp4"), &["--max-memory-mb", "1"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("limits.max_memory_mb (1 MiB"), "{err}");
    // and the limits come from the config file as well as from flags
    let cfg = d.join("small.toml");
    std::fs::write(&cfg, "[limits]\nmax_frame_side = 320\n").unwrap();
    let out =
        common::bin().arg("--config").arg(&cfg).arg("process").arg(common::media("single_face.mp4")).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("640×360") && err.contains("max_frame_side (320 px"), "{err}");
}
