//! Phone videos store frames sideways with a display rotation. Clips made here with the
//! ffmpeg CLI (pixels turned, then the rotation tag that turns them back) must come out
//! upright: the frame size a player shows, one face per frame, and boxes where the upright
//! original has them. `--no-autorotate` keeps the stored orientation.
mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};

fn ffmpeg(args: &[&str]) {
    let st = std::process::Command::new("ffmpeg").args(["-v", "error", "-y"]).args(args).status().expect("ffmpeg CLI");
    assert!(st.success(), "ffmpeg {args:?}");
}

/// The original with its pixels turned by `filter`, tagged with `rotate` so a player
/// (and FFmpeg) shows it upright again.
fn rotated_clip(dir: &Path, filter: &str, rotate: u32) -> PathBuf {
    let src = common::media("single_face.mp4");
    let turned = dir.join(format!("turned_{rotate}.mp4"));
    let tagged = dir.join(format!("tagged_{rotate}.mp4"));
    ffmpeg(&["-i", src.to_str().unwrap(), "-vf", filter, "-c:v", "libx264", "-crf", "12", turned.to_str().unwrap()]);
    let tag = format!("rotate={rotate}");
    ffmpeg(&["-i", turned.to_str().unwrap(), "-c", "copy", "-metadata:s:v", &tag, tagged.to_str().unwrap()]);
    tagged
}

fn boxes(lines: &[Value]) -> Vec<Vec<f64>> {
    lines
        .iter()
        .map(|l| {
            let f = l["faces"].as_array().unwrap();
            assert_eq!(f.len(), 1, "frame {}: one face expected, got {}", l["frame"], f.len());
            f[0]["box"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect()
        })
        .collect()
}

#[test]
fn rotated_phone_clips_are_processed_upright() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, upright, err) = common::process(&common::media("single_face.mp4"), &[]);
    assert_eq!(code, 0, "{err}");
    let want = boxes(&upright);
    for (filter, rotate) in [("transpose=clock", 90u32), ("hflip,vflip", 180), ("transpose=cclock", 270)] {
        let clip = rotated_clip(tmp.path(), filter, rotate);
        let (code, lines, err) = common::process(&clip, &[]);
        assert_eq!(code, 0, "rotate={rotate}: {err}");
        assert_eq!(lines.len(), want.len(), "rotate={rotate}: frames");
        assert_eq!(
            (lines[0]["width"].as_u64(), lines[0]["height"].as_u64()),
            (Some(640), Some(360)),
            "rotate={rotate}"
        );
        let got = boxes(&lines);
        let worst =
            got.iter().zip(&want).flat_map(|(g, w)| g.iter().zip(w).map(|(a, b)| (a - b).abs())).fold(0.0, f64::max);
        assert!(worst < 6.0, "rotate={rotate}: boxes differ from the upright original by {worst} px");

        // kept as stored: the stored size, and boxes in stored pixels
        let (code, lines, err) = common::process(&clip, &["--no-autorotate"]);
        assert_eq!(code, 0, "{err}");
        let size = (lines[0]["width"].as_u64(), lines[0]["height"].as_u64());
        let stored = if rotate == 180 { (Some(640), Some(360)) } else { (Some(360), Some(640)) };
        assert_eq!(size, stored, "rotate={rotate} --no-autorotate");
        if let Some(f) = lines.iter().flat_map(|l| l["faces"].as_array().unwrap().iter()).next() {
            let b: Vec<f64> = f["box"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
            assert!(b[2] <= stored.0.unwrap() as f64 + 1.0 && b[3] <= stored.1.unwrap() as f64 + 1.0, "{b:?}");
        }
    }
}
