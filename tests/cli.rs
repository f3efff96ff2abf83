//! The real binary on real media: frame counts, face counts, labels, ordering, and the
//! bad-input contract (one `error:` line on stderr, non-zero exit, no panic, nothing lost).
mod common;

use serde_json::Value;

fn faces(line: &Value) -> &Vec<Value> {
    line["faces"].as_array().expect("faces array")
}

fn assert_in_order(lines: &[Value]) {
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["frame"].as_u64(), Some(i as u64), "frames out of order or missing");
        assert_eq!(l["schema_version"].as_u64(), Some(6));
    }
    let pts: Vec<f64> = lines.iter().filter_map(|l| l["pts_ms"].as_f64()).collect();
    assert!(pts.windows(2).all(|w| w[1] > w[0]), "pts not increasing");
}

fn assert_one_error_line(stderr: &str) {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "want exactly one stderr line, got: {stderr:?}");
    assert!(lines[0].starts_with("error: "), "{stderr:?}");
    assert!(!stderr.contains("panicked"), "{stderr:?}");
}

#[test]
fn single_face_video_gives_72_lines_with_one_face_each() {
    let (code, lines, stderr) = common::process(&common::media("single_face.mp4"), &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(lines.len(), 72);
    assert_in_order(&lines);
    for l in &lines {
        assert_eq!(faces(l).len(), 1, "frame {}", l["frame"]);
        let f = &faces(l)[0];
        let probs: f64 = f["expression"].as_object().unwrap().values().map(|v| v.as_f64().unwrap()).sum();
        assert!((probs - 1.0).abs() < 1e-4, "probabilities sum to {probs}");
        assert_eq!(f["landmarks"].as_array().unwrap().len(), 5);
        assert_eq!((l["width"].as_u64(), l["height"].as_u64()), (Some(640), Some(360)));
    }
    // The clip goes from neutral to a smile.
    assert_eq!(faces(&lines[0])[0]["label"], "neutral");
    let happy = lines[36..].iter().filter(|l| faces(l)[0]["label"] == "happy").count();
    assert!(happy > 36 / 2, "only {happy} of the last 36 frames read as happy");
}

#[test]
fn no_face_video_gives_lines_without_faces() {
    let (code, lines, stderr) = common::process(&common::media("no_face.mp4"), &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(lines.len() > 90, "only {} lines", lines.len());
    assert_in_order(&lines);
    assert!(lines.iter().all(|l| faces(l).is_empty()));
}

#[test]
fn multi_face_image_has_five_faces() {
    let (code, lines, stderr) = common::process(&common::media("multi_face.jpg"), &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(lines.len(), 1);
    assert_eq!(faces(&lines[0]).len(), 5);
}

#[test]
fn posed_stills_get_their_labels() {
    for (file, want) in [("0-f1-su-ph.jpg", "surprise"), ("0-f15-hao-ph.jpg", "happy")] {
        let (code, lines, stderr) = common::process(&common::media(file), &[]);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(faces(&lines[0]).len(), 1, "{file}");
        assert_eq!(faces(&lines[0])[0]["label"], want, "{file}");
    }
}

#[test]
fn batching_settings_do_not_change_results() {
    let input = common::media("multi_face.jpg");
    let (_, a, _) = common::process(&input, &["--max-batch", "1", "--max-wait-ms", "0"]);
    let (_, b, _) = common::process(&input, &["--max-batch", "64", "--max-wait-ms", "50"]);
    for (fa, fb) in faces(&a[0]).iter().zip(faces(&b[0])) {
        assert_eq!(fa["label"], fb["label"]);
        let (pa, pb) = (fa["label_prob"].as_f64().unwrap(), fb["label_prob"].as_f64().unwrap());
        assert!((pa - pb).abs() < 1e-4, "{pa} vs {pb}");
    }
}

#[test]
fn missing_file_is_a_usage_error() {
    let (code, lines, stderr) = common::process(std::path::Path::new("/nonexistent/clip.mp4"), &[]);
    assert_eq!(code, 2);
    assert!(lines.is_empty());
    assert_one_error_line(&stderr);
    assert!(stderr.contains("/nonexistent/clip.mp4"), "{stderr}");
    assert_eq!(stderr.matches("os error 2").count(), 1, "the OS error is said once: {stderr}");
}

#[test]
fn empty_and_fake_files_fail_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    let fake = tmp.path().join("notes.mp4");
    std::fs::write(&fake, "this is a text file, not a video\n".repeat(50)).unwrap();
    for p in [empty, fake] {
        let (code, lines, stderr) = common::process(&p, &[]);
        assert_eq!(code, 1, "{}: {stderr}", p.display());
        assert!(lines.is_empty());
        assert_one_error_line(&stderr);
    }
}

#[test]
fn truncated_video_emits_every_decodable_frame_then_fails() {
    let src = std::fs::read(common::media("WolfgangLanger_Pexels.mp4")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cut = tmp.path().join("cut.mp4");
    std::fs::write(&cut, &src[..src.len() * 2 / 5]).unwrap();
    let want = common::frames_of(&cut).len();
    assert!(want > 10 && want < 472, "test file should be partly decodable, ffmpeg decodes {want}");
    let (code, lines, stderr) = common::process(&cut, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert_one_error_line(&stderr);
    assert!(stderr.contains("damaged"), "{stderr}");
    assert_eq!(lines.len(), want, "every decodable frame must be emitted");
    assert_in_order(&lines);
}

/// An MPEG-TS stream with one packet cut at a splice point (a recording that was cut and
/// joined): the decoder recovers, so by default this is a warning and exit 0 with every
/// decodable frame; `--strict` makes the same damage exit 1 after writing those frames.
#[test]
fn recoverable_damage_warns_and_strict_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let ts = tmp.path().join("clip.ts");
    let st = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(common::media("single_face.mp4"))
        .args(["-c", "copy", "-f", "mpegts"])
        .arg(&ts)
        .status()
        .expect("ffmpeg CLI (scripts/setup.sh installs it)");
    assert!(st.success());
    let b = std::fs::read(&ts).unwrap();
    // the first half, cut 100 bytes into a 188-byte TS packet, then the whole stream again
    let cut = (b.len() / 188) / 2 * 188 + 100;
    let spliced = tmp.path().join("spliced.ts");
    std::fs::write(&spliced, [&b[..cut], &b[..]].concat()).unwrap();
    let want = common::frames_of(&spliced).len();
    assert!(want > 72, "both halves should decode, ffmpeg decodes {want}");

    let (code, lines, stderr) = common::process(&spliced, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stderr.lines().count(), 2, "one warning line and the closing line: {stderr}");
    assert!(stderr.contains("WARN") && stderr.contains("damaged packet(s) skipped"), "{stderr}");
    let closing = stderr.lines().last().unwrap();
    assert!(closing.starts_with("done: ") && closing.contains(&format!("{want} frame(s)")), "{closing}");
    assert!(!stderr.contains("error:"), "{stderr}");
    assert_eq!(lines.len(), want, "every decodable frame is emitted");

    let (code, lines, stderr) = common::process(&spliced, &["--strict"]);
    assert_eq!(code, 1, "{stderr}");
    assert_one_error_line(&stderr);
    assert!(stderr.contains("damaged"), "{stderr}");
    assert_eq!(lines.len(), want, "strict still writes everything decodable first");
}

#[test]
fn closed_stdout_is_not_an_error() {
    let media = common::media("WolfgangLanger_Pexels.mp4");
    let (first, out) = common::first_line_then_hang_up(&["process".as_ref(), media.as_os_str()]);
    let v: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(v["frame"], 0);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    // nothing but the closing line: no error, no warning about the closed pipe
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.lines().count() <= 1 && stderr.lines().all(|l| l.starts_with("done: ")), "stderr: {stderr}");
}

#[test]
fn bad_config_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("bad.toml");
    std::fs::write(&cfg, "[detect]\nscore_treshold = 0.5\n").unwrap();
    let out =
        common::bin().arg("--config").arg(&cfg).arg("process").arg(common::media("single_face.jpg")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_one_error_line(&stderr);
    assert!(stderr.contains("score_treshold"), "{stderr}");
}

#[test]
fn doctor_reports_models_and_cpu() {
    let out = common::bin().args(["doctor", "--json"]).output().unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["libtorch"].as_str().unwrap().starts_with("2.11.0"), "{v}");
    let models = v["models"].as_array().unwrap();
    assert!(models.iter().all(|m| m["status"] == "ok"), "{v}");
    assert!(models.iter().any(|m| m["name"] == "fer_mini_xception"));
    // the detector's INT8 graph: present wherever setup's check passed, which it must on a
    // CPU with VNNI (the one that uses it by default)
    let det = models.iter().find(|m| m["name"] == "retinaface_mnet025").unwrap();
    assert!(det["int8_graph"].is_boolean(), "{det}");
    if v["cpu_vnni"] == true {
        assert_eq!(det["int8_graph"], true, "{det}");
    }
}

/// A copy of the models folder with one file damaged or swapped, run through `process`.
fn run_with_models(tamper: impl Fn(&std::path::Path), extra: &[&str]) -> (i32, String) {
    let tmp = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(common::models_dir()).unwrap().flatten() {
        std::fs::copy(e.path(), tmp.path().join(e.file_name())).unwrap();
    }
    tamper(tmp.path());
    let out = common::bin()
        .env("FER_RT_MODELS", tmp.path())
        .arg("process")
        .arg(common::media("single_face.jpg"))
        .args(extra)
        .output()
        .unwrap();
    assert!(out.stdout.is_empty(), "nothing is written with a refused model");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn damaged_or_swapped_weights_are_refused_naming_the_file_and_the_fix() {
    // one flipped byte in the detector's ONNX graph (the default CPU engine)
    let (code, err) = run_with_models(
        |d| {
            let p = d.join("retinaface_mnet025.onnx");
            let mut b = std::fs::read(&p).unwrap();
            let i = b.len() / 2;
            b[i] ^= 0x40;
            std::fs::write(&p, b).unwrap();
        },
        &[],
    );
    assert_eq!(code, 1, "{err}");
    assert_one_error_line(&err);
    assert!(err.contains("retinaface_mnet025.onnx") && err.contains("scripts/setup.sh"), "{err}");
    // the classifier's weights swapped for the detector's (torch engine)
    let (code, err) = run_with_models(
        |d| {
            std::fs::copy(d.join("retinaface_mnet025.safetensors"), d.join("fer_mini_xception.safetensors")).unwrap();
        },
        &["--classifier-backend", "torch"],
    );
    assert_eq!(code, 1, "{err}");
    assert_one_error_line(&err);
    assert!(err.contains("fer_mini_xception.safetensors") && err.contains("damaged or not this model"), "{err}");
}

#[test]
fn config_type_errors_name_the_key_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("bad.toml");
    std::fs::write(&cfg, "[batch]\nmax_faces = \"many\"\n").unwrap();
    let out =
        common::bin().arg("--config").arg(&cfg).arg("process").arg(common::media("single_face.jpg")).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_one_error_line(&err);
    assert!(err.contains("batch.max_faces"), "{err}");
}

/// What the home folder holds after `fer-rt process` on a photo with `ORT_DISABLE_TELEMETRY`
/// as given (None: not set), every file's path relative to it.
fn home_after_a_run(telemetry_env: Option<&str>) -> Vec<String> {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = common::bin();
    cmd.env("HOME", home.path()).env_remove("XDG_CACHE_HOME").env_remove("ORT_DISABLE_TELEMETRY");
    // fer-rt's own cache (its optimised graphs) then goes under this home, and is left out
    cmd.env_remove("FER_RT_CACHE");
    if let Some(v) = telemetry_env {
        cmd.env("ORT_DISABLE_TELEMETRY", v);
    }
    let out = cmd.arg("process").arg(common::media("multi_face.jpg")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut found = Vec::new();
    let mut dirs = vec![home.path().to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let at = e.path().strip_prefix(home.path()).unwrap().display().to_string();
            if at.starts_with(".cache/fer-rt") {
                continue;
            }
            found.push(at);
            if e.file_type().unwrap().is_dir() {
                dirs.push(e.path());
            }
        }
    }
    found.retain(|p| p != ".cache");
    found
}

#[test]
fn onnx_runtime_keeps_no_device_id_or_telemetry_store_unless_the_user_asks() {
    // ONNX Runtime's PyPI builds write ~/.cache/Microsoft/DeveloperTools/.onnxruntime/
    // {deviceid, onnxruntime.db} for Microsoft's collector; fer-rt turns that off
    assert_eq!(home_after_a_run(None), Vec::<String>::new(), "a run left files in the home folder");
    // With the user's own ORT_DISABLE_TELEMETRY=0 (left alone: the unit tests of
    // runtime::onnx hold that), ONNX Runtime writes its store where it writes one at all:
    // on this project's build machine, not on CI's, whose run of this test found none.
    // Where it does, the check above has shown that it can fail; where it does not, it
    // passes whatever fer-rt does, and says so.
    let asked = home_after_a_run(Some("0"));
    if asked.is_empty() {
        eprintln!("ONNX Runtime keeps no telemetry store here even when allowed: the check above proves nothing");
    } else {
        assert!(asked.iter().any(|p| p.ends_with("deviceid")), "ONNX Runtime's store without its device id: {asked:?}");
    }
}

#[test]
fn optimised_graphs_are_kept_between_runs_and_a_damaged_one_is_rebuilt() {
    let cache = tempfile::tempdir().unwrap();
    let run = || {
        let out = common::bin()
            .env("FER_RT_CACHE", cache.path())
            .arg("process")
            .arg(common::media("single_face.mp4"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{err}");
        let mut lines: Vec<Value> =
            String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        for l in &mut lines {
            l.as_object_mut().unwrap().remove("timings_ms");
        }
        (lines, err)
    };
    let graphs = || -> Vec<std::path::PathBuf> {
        let mut g: Vec<_> = std::fs::read_dir(cache.path().join("ort")).unwrap().map(|e| e.unwrap().path()).collect();
        g.sort();
        g
    };
    let (first, err) = run();
    // ONNX Runtime's warning that such a graph is for this machine only stays out of stderr
    assert!(!err.contains("Serializ"), "{err}");
    let kept = graphs();
    assert!(kept.len() >= 2, "the detector's and the classifier's graphs: {kept:?}");
    assert!(kept.iter().all(|g| g.extension().is_some_and(|e| e == "onnx")), "no part file left: {kept:?}");
    // read back: the same graphs, the same results
    let (second, _) = run();
    assert_eq!(first, second);
    assert_eq!(graphs(), kept);
    // a damaged graph is dropped and optimised again from the model
    for g in &kept {
        std::fs::write(g, b"not a graph").unwrap();
    }
    let (third, err) = run();
    assert_eq!(first, third);
    assert!(!err.contains("error"), "{err}");
    assert_eq!(graphs(), kept);
    assert!(kept.iter().all(|g| std::fs::metadata(g).unwrap().len() > 1000), "rewritten");
}
