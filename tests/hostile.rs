//! One reproducer per class of hostile input an outside fuzz campaign found (issue 22),
//! each built here from the bundled media by a structured edit (`common::mutate`): a
//! rewritten SPS, Matroska pixel size, JPEG SOF, PNG IHDR and Y4M header (frames too large),
//! a corrupt sample-table count, an unknown codec tag and a stream nothing can be decoded
//! from (errors that must say what is wrong with the file), and a zero `mdhd` timescale
//! (an index that hides most of the frames, recovered). Every run is capped at 1 GiB of data, so a
//! refusal that came after a large allocation fails the test instead of passing slowly.
mod common;

use common::mutate;
use std::path::{Path, PathBuf};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Exit 1, one error line holding every one of `wants`, and `lines` results.
fn expect(file: &Path, wants: &[&str], lines: usize) {
    let (code, err, n) = common::process_capped(file, &[]);
    let name = file.file_name().unwrap().to_string_lossy();
    assert_eq!(code, Some(1), "{name}: {err}");
    assert_eq!(err.lines().count(), 1, "{name}: one line: {err}");
    assert!(err.starts_with("error: "), "{name}: {err}");
    for w in wants {
        assert!(err.contains(w), "{name}: '{w}' missing from: {err}");
    }
    assert_eq!(n, lines, "{name}: {err}");
}

#[test]
fn declared_frame_sizes_over_the_limits_are_refused_by_size_and_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let clip = common::media("single_face.mp4");

    // the SPS says 1000×1000 macroblocks; the container still says 640×360
    let mut sps = std::fs::read(&clip).unwrap();
    assert!(mutate::mp4_sps_size(&mut sps, 1000, 1000));
    expect(&write(d, "sps.mp4", &sps), &["16000×", "limits.max_frame_pixels"], 0);

    // a Matroska track declaring 16000×16000 around the same 640×360 stream
    let mkv = d.join("base.mkv");
    common::ffmpeg(&["-i", clip.to_str().unwrap(), "-t", "1", "-c", "copy", mkv.to_str().unwrap()]);
    let mut m = std::fs::read(&mkv).unwrap();
    assert!(mutate::mkv_video_size(&mut m, 16000, 16000));
    expect(&write(d, "pixels.mkv", &m), &["16000×16000", "limits.max_frame_pixels"], 0);

    // FFV1 declared at 65535², as the campaign's "no decoder for this stream" case
    let ffv1 = d.join("ffv1.mkv");
    common::ffmpeg(&["-f", "lavfi", "-i", "testsrc=s=320x256:d=0.2", "-c:v", "ffv1", ffv1.to_str().unwrap()]);
    let mut f = std::fs::read(&ffv1).unwrap();
    assert!(mutate::mkv_video_size(&mut f, 65535, 65535));
    expect(&write(d, "ffv1-65535.mkv", &f), &["65535×65535", "limits.max_frame_pixels"], 0);

    // JPEG SOF 2560×65535 and PNG IHDR 16000², on the bundled photo
    let mut jpg = std::fs::read(common::media("single_face.jpg")).unwrap();
    assert!(mutate::jpeg_sof_size(&mut jpg, 2560, 65535));
    expect(&write(d, "sof.jpg", &jpg), &["2560×65535", "limits.max_frame_pixels"], 0);
    let png = d.join("photo.png");
    common::ffmpeg(&["-i", common::media("single_face.jpg").to_str().unwrap(), png.to_str().unwrap()]);
    let mut p = std::fs::read(&png).unwrap();
    assert!(mutate::png_ihdr_size(&mut p, 16000, 16000));
    expect(&write(d, "ihdr.png", &p), &["16000×16000", "limits.max_frame_pixels"], 0);

    // a Y4M header of 60000²: FFmpeg's own refusal read "Device or resource busy"
    let y4m = d.join("base.y4m");
    common::ffmpeg(&["-f", "lavfi", "-i", "testsrc=s=64x48:d=0.12", "-pix_fmt", "yuv420p", y4m.to_str().unwrap()]);
    let y = mutate::y4m_size(&std::fs::read(&y4m).unwrap(), 60000, 60000).unwrap();
    expect(&write(d, "huge.y4m", &y), &["60000×60000", "limits.max_frame_pixels"], 0);
    // and the same header on standard input, which FFmpeg reads as a pipe
    let mut cmd = common::bin();
    cmd.args(["process", "--no-progress", "-"]);
    let out = common::run_with_stdin(cmd, y, 60);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("standard input: declares frames of 60000×60000"), "{err}");
}

#[test]
fn errors_say_what_is_wrong_with_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let clip = std::fs::read(common::media("single_face.mp4")).unwrap();

    // a chunk-offset table claiming 2^28 entries in a 200 KB file: FFmpeg said only
    // "Cannot allocate memory"
    let mut stco = clip.clone();
    assert!(mutate::mp4_set_u32(&mut stco, b"stco", 0, 12, 1 << 28));
    expect(&write(d, "stco.mp4", &stco), &["stco.mp4", "index", "corrupt"], 0);

    // an unknown codec tag: the message names the tag and the stream
    let mut tag = clip.clone();
    assert!(mutate::mp4_codec_tag(&mut tag, 0, b"xvc1"));
    expect(&write(d, "tag.mp4", &tag), &["'xvc1'", "stream 0", "no decoder"], 0);

    // every video packet zeroed: the stream is there, nothing decodes, and the message
    // says how far it got
    let mut dead = clip.clone();
    let mdat = mutate::mp4_find(&dead, b"mdat", 0).unwrap();
    dead[mdat.start + 8..mdat.start + mdat.size].fill(0);
    expect(&write(d, "zeroed.mp4", &dead), &["no frame could be decoded", "h264", "72 packets"], 0);
}

#[test]
fn a_zero_timescale_index_is_recovered() {
    let tmp = tempfile::tempdir().unwrap();
    // the campaign's MOV with mdhd timescale 0 gave 1 of its 169 frames and exit 0: FFmpeg
    // falls back to a 1 s timescale, under which the edit list keeps one frame
    let clip = common::media("face_noface.mov");
    let mut mov = std::fs::read(&clip).unwrap();
    let video = mutate::mp4_track(&mov, b"vide").unwrap();
    assert!(mutate::mp4_timescale(&mut mov, video, 0));
    let file = write(tmp.path(), "timescale.mov", &mov);
    let (code, lines, err) = common::process(&file, &["--no-progress"]);
    let (_, clean, _) = common::process(&clip, &["--no-progress"]);
    assert_eq!((code, lines.len()), (0, clean.len()), "every frame, read without the edit list: {err}");
    assert!(err.contains("recovered") && err.contains("timestamps rescaled"), "and it says so: {err}");
    // the timestamps are put back on the file's clock, within a frame of the clean ones
    let last = |l: &[serde_json::Value]| l.last().unwrap()["pts_ms"].as_f64().unwrap();
    assert!((last(&lines) - last(&clean)).abs() < 50.0, "{} vs {}", last(&lines), last(&clean));
}

/// A deadline reaches into FFmpeg's own reads (its interrupt callback), not only between
/// packets: an open whose deadline has passed fails at once as timed out.
#[test]
fn a_passed_deadline_interrupts_ffmpeg_itself() {
    use fer_rt::source::video::{Deadline, OpenOptions};
    let opts = OpenOptions { deadline: Some(Deadline::after(0.0)), ..Default::default() };
    let e = fer_rt::source::VideoSource::open_with(&common::media("single_face.mp4"), &opts).err().unwrap();
    assert!(matches!(e, fer_rt::Error::TimedOut { frames: 0, .. }), "{e}");
    // and a deadline in the future changes nothing
    let opts = OpenOptions { deadline: Some(Deadline::after(600.0)), ..Default::default() };
    let mut src = fer_rt::source::VideoSource::open_with(&common::media("single_face.mp4"), &opts).unwrap();
    let mut n = 0;
    src.run(|_| {
        n += 1;
        true
    })
    .unwrap();
    assert_eq!(n, 72);
}
