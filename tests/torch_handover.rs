//! `fer-rt` runs without libtorch and hands what needs it to `fer-rt-torch` beside it
//! (`cli::torch`). These tests hold the two promises of that design: a run on ONNX Runtime
//! never loads libtorch, and a run that needs it behaves exactly as if `fer-rt` had run it
//! itself (same output, same standard input, same exit codes and messages).
//!
//! Only meaningful for the binary built without the `torch` feature, which is what
//! `cargo test` builds; `cargo test --features torch` links libtorch into `fer-rt` itself.
#![cfg(not(feature = "torch"))]
mod common;

use common::{bin, media, run_with_stdin, without_timings};
use std::path::PathBuf;
use std::process::Command;

fn torch_bin() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_BIN_EXE_fer-rt")).with_file_name("fer-rt-torch");
    assert!(p.is_file(), "{} missing: run scripts/setup.sh (it builds fer-rt-torch)", p.display());
    p
}

fn lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout).lines().map(|l| without_timings(serde_json::from_str(l).unwrap())).collect()
}

fn one_error_line(stderr: &[u8]) -> String {
    let s = String::from_utf8_lossy(stderr).into_owned();
    let l: Vec<&str> = s.lines().collect();
    assert_eq!(l.len(), 1, "want one stderr line: {s:?}");
    assert!(l[0].starts_with("error: ") && !s.contains("panicked"), "{s:?}");
    s
}

#[test]
fn the_binary_users_run_does_not_link_libtorch() {
    let out = Command::new("readelf").arg("-d").arg(env!("CARGO_BIN_EXE_fer-rt")).output().expect("readelf (binutils)");
    let dynamic = String::from_utf8_lossy(&out.stdout);
    assert!(dynamic.contains("(NEEDED)"), "{dynamic}");
    assert!(!dynamic.contains("libtorch") && !dynamic.contains("libc10"), "fer-rt links libtorch:\n{dynamic}");
    let torch = Command::new("readelf").arg("-d").arg(torch_bin()).output().unwrap();
    assert!(String::from_utf8_lossy(&torch.stdout).contains("libtorch"), "fer-rt-torch must link libtorch");
}

#[test]
fn an_onnx_runtime_run_never_hands_over() {
    // with no fer-rt-torch to be found, the default run still works: it never needed one
    let out = bin()
        .env("FER_RT_TORCH_BIN", "/nonexistent/fer-rt-torch")
        .args(["process", "--no-progress"])
        .arg(media("single_face.mp4"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(lines(&out.stdout).len(), 72);
}

#[test]
fn a_torch_run_is_handed_over_with_its_standard_input() {
    // the torch detector engine, the clip on standard input: what fer-rt-torch gives on
    // the file, line for line, and the input was not consumed before the hand-over
    let clip = media("single_face.mp4");
    let args = ["process", "--no-progress", "--detect-backend", "torch", "--keyframe-interval", "1"];
    let mut piped = bin();
    piped.args(["-v"]).args(args).arg("-");
    let handed = run_with_stdin(piped, std::fs::read(&clip).unwrap(), 120);
    let err = String::from_utf8_lossy(&handed.stderr);
    assert!(handed.status.success(), "{err}");
    assert!(err.contains("handing over to") && err.contains("fer-rt-torch"), "{err}");
    let direct =
        Command::new(torch_bin()).env("FER_RT_MODELS", common::models_dir()).args(args).arg(&clip).output().unwrap();
    assert!(direct.status.success(), "{}", String::from_utf8_lossy(&direct.stderr));
    let (a, b) = (lines(&handed.stdout), lines(&direct.stdout));
    assert_eq!(a.len(), 72);
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        // the source is named "-" on one side and by its path on the other
        let strip = |v: &serde_json::Value| {
            let mut v = v.clone();
            v.as_object_mut().unwrap().remove("source");
            v
        };
        assert_eq!(strip(x), strip(y), "frame {i}");
    }
}

#[test]
fn usage_help_and_exit_codes_pass_through() {
    // a usage error found by fer-rt-torch: exit 2, one line, as from fer-rt itself
    let out =
        bin().args(["process", "--no-progress", "--device", "cuda:7"]).arg(media("single_face.mp4")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(one_error_line(&out.stderr).contains("cuda:7"));
    // train's real help, under the name the user typed
    let help = bin().args(["train", "--help"]).output().unwrap();
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("Usage: fer-rt train") && text.contains("--method"), "{text}");
    let bad = bin().args(["eval", "--no-such-flag"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--no-such-flag"));
}

#[test]
fn without_fer_rt_torch_the_error_names_the_fix() {
    let missing = "/nonexistent/fer-rt-torch";
    for args in [
        vec!["train", "--out", "/tmp/never-written"],
        vec!["process", "--no-progress", "--model", "/tmp/ckpt.safetensors", "x.mp4"],
        vec!["process", "--no-progress", "--classifier-backend", "torch", "x.mp4"],
    ] {
        let out = bin().env("FER_RT_TORCH_BIN", missing).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = one_error_line(&out.stderr);
        assert!(err.contains("needs libtorch") && err.contains("--features torch --bin fer-rt-torch"), "{err}");
    }
    assert!(!std::path::Path::new("/tmp/never-written").exists());
}
