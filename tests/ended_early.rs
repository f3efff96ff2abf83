//! An input whose damaged index makes it end early without a read error (issue 22, point
//! 3) is exit 1 naming what was decoded against what the container declares, after every
//! decoded frame was written; no clean file trips it: every bundled file, and the clips
//! remuxed to Matroska, MPEG-TS and QuickTime, and stream-copy trims whose edit lists hide
//! most of their samples.
mod common;

#[test]
fn a_short_sample_table_is_an_input_that_ended_early() {
    let tmp = tempfile::tempdir().unwrap();
    // single_face.mp4 with its video sample count (stsz) cut from 72 to 10: FFmpeg then
    // reads 10 frames and ends quietly ("wrong sample count" in its log only)
    let mut bytes = std::fs::read(common::media("single_face.mp4")).unwrap();
    let at = bytes.windows(4).position(|w| w == b"stsz").expect("a sample size box");
    assert_eq!(&bytes[at + 12..at + 16], &72u32.to_be_bytes(), "the video track's table comes first");
    bytes[at + 12..at + 16].copy_from_slice(&10u32.to_be_bytes());
    let short = tmp.path().join("short.mp4");
    std::fs::write(&short, bytes).unwrap();
    let (code, lines, err) = common::process(&short, &[]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(lines.len(), 10, "what was decodable was written first");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("ended early") && err.contains("10 of the 72 samples"), "{err}");
}

#[test]
fn no_clean_file_ends_early() {
    let tmp = tempfile::tempdir().unwrap();
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(fer_rt::runtime::paths::media_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    for (clip, ext) in [
        ("single_face.mp4", "mkv"),
        ("WolfgangLanger_Pexels.mp4", "ts"),
        ("noface_face.mov", "mkv"),
        ("single_face.mp4", "mov"),
    ] {
        let out = tmp.path().join(format!("{clip}.{ext}"));
        common::ffmpeg(&["-i", common::media(clip).to_str().unwrap(), "-c", "copy", out.to_str().unwrap()]);
        files.push(out);
    }
    // stream-copy trims: the sample table keeps the samples back to a keyframe, which
    // the edit list decodes but does not show (these read as "ended early" once)
    for (clip, from, length) in [("single_face.mp4", "2", "0.5"), ("noface_face.mov", "1", "1.5")] {
        let out = tmp.path().join(format!("trim-{clip}"));
        let input = common::media(clip);
        common::ffmpeg(&[
            "-ss",
            from,
            "-i",
            input.to_str().unwrap(),
            "-t",
            length,
            "-c",
            "copy",
            out.to_str().unwrap(),
        ]);
        files.push(out);
    }
    files.sort();
    assert!(files.len() >= 17);
    for f in files {
        let (code, lines, err) = common::process(&f, &[]);
        assert_eq!(code, 0, "{}: {err}", f.display());
        assert!(!lines.is_empty());
    }
}
