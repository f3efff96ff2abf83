//! `fer-rt bench` and the reference pipeline it is compared with, on real media. No
//! timing is asserted (machines are noisy): only that the reports are complete and
//! consistent, and that the reference does the same work as fer-rt.
mod common;

use serde_json::Value;
use std::process::Output;

fn bench(args: &[&std::ffi::OsStr]) -> (Output, Value) {
    let out = common::bin().arg("bench").args(args).arg("--json").output().expect("run fer-rt bench");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "bench failed: {stderr}");
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "stdout must carry the JSON report only: {stdout}");
    (out, serde_json::from_str(lines[0]).expect("report is JSON"))
}

fn check_stats(report: &Value) {
    for stage in ["decode", "detect", "align", "model", "track", "end_to_end"] {
        let s = &report["stages_ms"][stage];
        let (p50, p95, p99, max) = (
            s["p50"].as_f64().unwrap(),
            s["p95"].as_f64().unwrap(),
            s["p99"].as_f64().unwrap(),
            s["max"].as_f64().unwrap(),
        );
        assert!(0.0 <= p50 && p50 <= p95 && p95 <= p99 && p99 <= max, "{stage}: {s}");
    }
    assert!(report["stages_ms"]["detect"]["p50"].as_f64().unwrap() > 0.0);
    assert!(report["throughput_fps"].as_f64().unwrap() > 0.0);
}

#[test]
fn bench_on_a_video_reports_every_stage() {
    let video = common::media("single_face.mp4");
    let (out, r) = bench(&[video.as_os_str()]);
    assert_eq!(r["frames"], 72);
    assert_eq!(r["warmup_frames"], 10);
    assert_eq!(r["live"], false);
    assert_eq!(r["dropped"], 0);
    assert_eq!((r["width"].as_u64(), r["height"].as_u64()), (Some(640), Some(360)));
    assert!((r["faces_per_frame"].as_f64().unwrap() - 1.0).abs() < 1e-9, "one face in every frame: {r}");
    assert!(["onnxruntime", "torch"].contains(&r["detect_backend"].as_str().unwrap()));
    assert!(["onnxruntime", "torch"].contains(&r["classifier_backend"].as_str().unwrap()));
    assert_eq!(r["device"], "cpu");
    check_stats(&r);
    let table = String::from_utf8_lossy(&out.stderr);
    for word in ["p50", "p99", "end-to-end", "throughput", "fps"] {
        assert!(table.contains(word), "stderr table lacks {word}: {table}");
    }
}

#[test]
fn generated_faces_are_all_found_and_batched() {
    let face = common::media("single_face.jpg");
    let (_, r) = bench(&[
        "--faces".as_ref(),
        "6".as_ref(),
        "--size".as_ref(),
        "640x360".as_ref(),
        "--frames".as_ref(),
        "24".as_ref(),
        "--face-image".as_ref(),
        face.as_os_str(),
    ]);
    assert_eq!(r["frames"], 24);
    assert!((r["faces_per_frame"].as_f64().unwrap() - 6.0).abs() < 1e-9, "all 6 generated faces detected: {r}");
    assert!(r["batch_faces"]["max"].as_u64().unwrap() >= 6, "a frame's faces share a batch: {r}");
    check_stats(&r);
}

#[test]
fn live_bench_counts_every_frame_as_processed_or_dropped() {
    let face = common::media("single_face.jpg");
    let (_, r) = bench(&[
        "--live".as_ref(),
        "--frames".as_ref(),
        "40".as_ref(),
        "--fps".as_ref(),
        "30".as_ref(),
        "--face-image".as_ref(),
        face.as_os_str(),
    ]);
    assert_eq!(r["live"], true);
    assert_eq!(r["source_fps"], 30.0);
    assert_eq!(r["frames"].as_u64().unwrap() + r["dropped"].as_u64().unwrap(), 40, "{r}");
    check_stats(&r);
}

#[test]
fn bench_rejects_bad_options_with_one_line() {
    for args in [vec!["--size", "640"], vec!["--faces", "0"], vec!["--faces", "900", "--size", "64x64"]] {
        let out = common::bin().arg("bench").args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty());
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn saved_generated_input_is_a_real_video_the_reference_agrees_on() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("gen.mp4");
    let face = common::media("single_face.jpg");
    let (_, ours) = bench(&[
        "--faces".as_ref(),
        "3".as_ref(),
        "--frames".as_ref(),
        "15".as_ref(),
        "--face-image".as_ref(),
        face.as_os_str(),
        "--save-input".as_ref(),
        clip.as_os_str(),
    ]);
    assert_eq!(ours["frames"], 15);
    // the reference pipeline reads the written file: same frame count, same faces
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/reference/pipeline.py");
    let jsonl = tmp.path().join("ref.jsonl");
    let out = std::process::Command::new(common::python())
        .arg(&script)
        .arg(&clip)
        .arg("--jsonl")
        .arg(&jsonl)
        .arg("--warmup")
        .arg("2")
        .output()
        .unwrap();
    assert!(out.status.success(), "reference failed: {}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["frames"], 15);
    assert_eq!(summary["faces"], 45, "the reference finds the 3 faces in each frame: {summary}");
    // the reference detects on every frame; so does this run (between keyframes the
    // regions' boxes differ by a few pixels more, tests/keyframes.rs and BENCHMARKS.md)
    let (code, lines, err) = common::process(&clip, &["--filter", "none", "--keyframe-interval", "1"]);
    assert_eq!(code, 0, "{err}");
    let refs: Vec<Value> =
        std::fs::read_to_string(&jsonl).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    for (o, r) in lines.iter().zip(&refs) {
        let (of, rf) = (o["faces"].as_array().unwrap(), r["faces"].as_array().unwrap());
        assert_eq!(of.len(), rf.len());
        for f in rf {
            let rb: Vec<f64> = f["box"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
            let close = of.iter().any(|g| {
                let gb: Vec<f64> = g["box"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
                gb.iter().zip(&rb).all(|(a, b)| (a - b).abs() < 3.0)
            });
            assert!(close, "frame {}: reference box {rb:?} has no match in ours", r["frame"]);
        }
    }
}
