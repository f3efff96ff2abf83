//! `train`, `eval` and `synth` through the real binary, and a trained checkpoint through
//! `process` on real video. Small models and few epochs: these check that the machinery is
//! whole and consistent; the noisy-label evidence is tests/noisy_labels.rs.
mod common;

use serde_json::Value;
use std::path::Path;
use std::process::Output;

fn run(args: &[&str]) -> Output {
    common::bin().args(args).output().expect("run fer-rt")
}

fn ok(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "failed: {err}");
    err
}

fn json_out(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).expect("one JSON document on stdout")
}

const SMALL: [&str; 12] =
    ["--samples", "210", "--input-size", "48", "--width", "8", "--batch", "32", "--lr", "0.002", "--threads", "2"];

#[test]
fn train_resume_eval_and_process_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let o = out.to_str().unwrap();
    let mut args = vec!["train", "--out", o, "--method", "rul", "--epochs", "2", "--noise", "0.2", "--json"];
    args.extend(SMALL);
    let r = json_out(&{
        let x = run(&args);
        ok(&x);
        x
    });
    for f in ["best.safetensors", "best.json", "last.safetensors", "state.json", "history.jsonl", "report.json"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    assert_eq!(r["history"].as_array().unwrap().len(), 2);
    assert!(r["images_per_s"].as_f64().unwrap() > 0.0);
    assert!(r["uncertainty_auroc_noisy"].as_f64().is_some(), "noise is known, so the AUROC is scored");
    let side: Value = serde_json::from_str(&std::fs::read_to_string(out.join("best.json")).unwrap()).unwrap();
    assert_eq!(side["architecture"], "resnet18-mra");
    assert_eq!(side["classes"].as_array().unwrap().len(), 7);
    assert_eq!(side["mra"]["input_size"], 48);

    // resume: one more epoch continues the history
    let mut args = vec!["train", "--out", o, "--method", "rul", "--epochs", "3", "--noise", "0.2", "--resume"];
    args.extend(SMALL);
    ok(&run(&args));
    let hist = std::fs::read_to_string(out.join("history.jsonl")).unwrap();
    let epochs: Vec<u64> =
        hist.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["epoch"].as_u64().unwrap()).collect();
    assert_eq!(epochs, [1, 2, 3], "resumed at the third epoch (epochs count from 1, as printed)");

    // eval writes its report and pictures
    let ev = tmp.path().join("eval");
    let ckpt = out.join("best.safetensors");
    // without --dataset, eval refuses rather than silently score synthetic faces
    let x = run(&["eval", "--model", ckpt.to_str().unwrap(), "--out", ev.to_str().unwrap()]);
    assert_eq!(x.status.code(), Some(2), "{}", String::from_utf8_lossy(&x.stderr));
    assert!(String::from_utf8_lossy(&x.stderr).contains("--dataset is required"));
    let x = run(&[
        "eval",
        "--model",
        ckpt.to_str().unwrap(),
        "--dataset",
        "synthetic",
        "--samples",
        "140",
        "--out",
        ev.to_str().unwrap(),
        "--saliency",
        "0,3",
        "--json",
    ]);
    ok(&x);
    let e = json_out(&x);
    assert_eq!(e["samples"], 70);
    let acc = e["accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc));
    let total: u64 = e["confusion"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(total, 70);
    let ece = e["ece"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&ece));
    for f in ["confusion.png", "reliability.png", "saliency_0.png", "saliency_3.png", "report.json"] {
        let bytes = std::fs::read(ev.join(f)).unwrap_or_else(|_| panic!("{f} missing"));
        if f.ends_with(".png") {
            assert!(bytes.starts_with(b"\x89PNG"), "{f} is a PNG");
        }
    }

    // the checkpoint classifies real faces in the pipeline
    let (code, lines, err) = common::process(&common::media("single_face.mp4"), &["--model", ckpt.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(lines.len(), 72);
    let face = &lines[0]["faces"][0];
    assert_eq!(lines[0]["classifier"], "run");
    assert_eq!(face["expression"].as_object().map(|o| o.len()), Some(7), "{face}");
    assert!(face["uncertainty"]["model"].as_f64().is_some(), "the RUL log-variance is reported: {face}");
}

#[test]
fn synth_writes_image_folders_that_train_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("synth");
    let err =
        ok(&run(&["synth", "--out", data.to_str().unwrap(), "--samples", "70", "--noise", "0.2", "--size", "40"]));
    assert!(err.contains("14 labels flipped"), "{err}");
    let csv = std::fs::read_to_string(data.join("labels.csv")).unwrap();
    assert_eq!(csv.lines().count(), 71);
    assert_eq!(csv.lines().filter(|l| l.ends_with(",true")).count(), 14);
    let first = csv.lines().nth(1).unwrap().split(',').next().unwrap().to_string();
    assert!(data.join(&first).is_file());
    let out = tmp.path().join("run");
    let x = run(&[
        "train",
        "--dataset",
        "folder",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--epochs",
        "1",
        "--input-size",
        "40",
        "--width",
        "8",
        "--batch",
        "16",
        "--method",
        "scn",
        "--json",
    ]);
    ok(&x);
    let r = json_out(&x);
    assert_eq!(r["history"].as_array().unwrap().len(), 1);
    let side: Value = serde_json::from_str(&std::fs::read_to_string(out.join("best.json")).unwrap()).unwrap();
    let classes: Vec<&str> = side["classes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(classes, ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"], "folder names, sorted");
}

#[test]
fn bad_training_input_is_one_line_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let o = tmp.path().join("x");
    let cases: Vec<Vec<&str>> = vec![
        vec!["train", "--out", o.to_str().unwrap(), "--dataset", "rafdb"],
        vec!["train", "--out", o.to_str().unwrap(), "--dataset", "fer2013", "--data", "/nonexistent.csv"],
        vec!["train", "--out", o.to_str().unwrap(), "--epochs", "0"],
        vec!["eval", "--model", "/nonexistent.safetensors", "--out", o.to_str().unwrap()],
        vec!["process", "x.mp4", "--model", "/nonexistent.safetensors"],
    ];
    for args in cases {
        let x = run(&args);
        let err = String::from_utf8_lossy(&x.stderr);
        assert_eq!(x.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
        assert!(!err.contains("panicked"));
        assert!(x.stdout.is_empty());
    }
    assert!(!Path::new("/nonexistent.csv").exists());
}

#[test]
fn ensemble_with_a_distilled_generation() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ens");
    let mut args = vec!["train", "--out", out.to_str().unwrap(), "--method", "ce", "--epochs", "1"];
    args.extend(["--ensemble", "2", "--generations", "1", "--json"]);
    args.extend(SMALL);
    let x = run(&args);
    ok(&x);
    let r = json_out(&x);
    let h = r["history"].as_array().unwrap();
    let who: Vec<(u64, u64)> =
        h.iter().map(|e| (e["generation"].as_u64().unwrap(), e["member"].as_u64().unwrap())).collect();
    assert_eq!(who, [(0, 0), (0, 1), (1, 0), (1, 1)], "two members, then two students");
    let acc = r["ensemble_val_acc"].as_f64().expect("the ensemble is scored");
    assert!((0.0..=1.0).contains(&acc));
    assert!(out.join("best.safetensors").is_file());

    // the last generation's members, run as an ensemble at inference
    let members = out.join("members");
    for f in ["member-0.safetensors", "member-0.json", "member-1.safetensors", "member-1.json"] {
        assert!(members.join(f).is_file(), "{f}");
    }
    let clip = common::media("single_face.mp4");
    let disagreement = |model: &str| -> Vec<Value> {
        let (code, lines, err) = common::process(&clip, &["--model", model]);
        assert_eq!(code, 0, "{err}");
        lines
            .iter()
            .flat_map(|l| l["faces"].as_array().unwrap().clone())
            .map(|f| f["uncertainty"]["disagreement"].clone())
            .collect()
    };
    let ens = disagreement(members.to_str().unwrap());
    assert!(!ens.is_empty() && ens.iter().all(|d| d.as_f64().is_some_and(|v| v >= 0.0)), "{ens:?}");
    assert!(ens.iter().any(|d| d.as_f64().unwrap() > 0.0), "two trained members differ somewhere");
    // the same checkpoint three times agrees with itself exactly
    let best = out.join("best.safetensors");
    let b = best.to_str().unwrap();
    let same = disagreement(&format!("{b},{b},{b}"));
    assert!(same.iter().all(|d| d.as_f64() == Some(0.0)), "{same:?}");
    assert!(disagreement(b).iter().all(Value::is_null), "a single model has no disagreement");
}

/// `synth` writes class folders (read alphabetically: ... happy, neutral, sad ...) while a
/// model trained on `--dataset synthetic` uses the FER order (... sad, surprise, neutral):
/// `eval` matches the two by class name instead of refusing the same set in another order.
#[test]
fn a_synthetic_model_evaluates_on_synth_folders_by_class_name() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("synth");
    ok(&run(&["synth", "--out", data.to_str().unwrap(), "--samples", "70", "--size", "48"]));
    let out = tmp.path().join("run");
    let mut args = vec!["train", "--dataset", "synthetic", "--out", out.to_str().unwrap(), "--epochs", "1"];
    args.extend(SMALL);
    ok(&run(&args));
    let side: Value = serde_json::from_str(&std::fs::read_to_string(out.join("best.json")).unwrap()).unwrap();
    assert_eq!(side["classes"][6], "neutral", "the synthetic set keeps the FER order");
    let model = out.join("best.safetensors");
    let eval = tmp.path().join("eval");
    let eval_folder = |extra: &[&str]| {
        let mut a = vec!["eval", "--model", model.to_str().unwrap(), "--dataset", "folder"];
        a.extend(["--data", data.to_str().unwrap(), "--out", eval.to_str().unwrap()]);
        a.extend(extra);
        run(&a)
    };
    let x = eval_folder(&["--json"]);
    ok(&x);
    let r = json_out(&x);
    assert_eq!(r["samples"], 70, "{r}");
    // a folder has no test split: eval says it scores everything, and refuses --train-split
    assert!(
        String::from_utf8_lossy(&x.stderr).contains("no test split of its own"),
        "{}",
        String::from_utf8_lossy(&x.stderr)
    );
    assert_eq!(eval_folder(&["--train-split"]).status.code(), Some(2));
    // synth --test-fraction: a training folder and a clean, disjoint test folder
    let split = tmp.path().join("split");
    ok(&run(&[
        "synth",
        "--out",
        split.to_str().unwrap(),
        "--samples",
        "70",
        "--size",
        "48",
        "--noise",
        "0.3",
        "--test-fraction",
        "0.2",
    ]));
    let count = |d: &str| walk_pngs(&split.join(d));
    assert_eq!((count("train"), count("test")), (56, 14));
    let test_csv = std::fs::read_to_string(split.join("test/labels.csv")).unwrap();
    assert!(test_csv.lines().skip(1).all(|l| l.ends_with(",false")), "test labels are the true ones");
    // a folder with a class the model does not know is refused, naming the class
    std::fs::create_dir_all(data.join("contempt")).unwrap();
    std::fs::copy(
        std::fs::read_dir(data.join("happy")).unwrap().flatten().next().unwrap().path(),
        data.join("contempt").join("x.png"),
    )
    .unwrap();
    let x = eval_folder(&[]);
    let err = String::from_utf8_lossy(&x.stderr);
    assert_eq!(x.status.code(), Some(2), "{err}");
    assert!(err.contains("'contempt'"), "{err}");
}

/// Channels-last is a layout, not a different computation: it must give the same training
/// run as contiguous tensors and a checkpoint that loads like any other. Width 16, because
/// narrower networks stay contiguous on the CPU (a oneDNN bug; runtime::layout), which is
/// checked too. The learning rate is tiny because at a real one the two runs
/// drift apart from rounding alone, as much as the same run with 1 and 2 threads does
/// (Adam's normalised steps amplify last-bit differences); the gradients themselves are
/// compared in runtime::layout's unit test.
#[test]
fn channels_last_trains_the_same_run_and_saves_a_plain_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let mut reports = Vec::new();
    for format in ["contiguous", "channels-last"] {
        let out = tmp.path().join(format);
        let mut args =
            vec!["train", "--out", out.to_str().unwrap(), "--epochs", "2", "--memory-format", format, "--json"];
        args.extend(["--samples", "210", "--input-size", "48", "--width", "16", "--batch", "32", "--lr", "1e-9"]);
        args.extend(["--threads", "2"]);
        let x = run(&args);
        ok(&x);
        let r = json_out(&x);
        assert_eq!(r["memory_format"], format, "the report says which layout ran");
        assert_eq!(r["amp"], false, "no autocast on the CPU");
        reports.push((out, r));
    }
    let (a, b) = (&reports[0], &reports[1]);
    for (ea, eb) in a.1["history"].as_array().unwrap().iter().zip(b.1["history"].as_array().unwrap()) {
        let (la, lb) = (ea["loss"].as_f64().unwrap(), eb["loss"].as_f64().unwrap());
        assert!((la - lb).abs() <= 1e-5 * la.abs(), "epoch loss {la} vs {lb}");
        assert_eq!(ea["val_acc"], eb["val_acc"]);
    }
    // the weights agree, and both checkpoints are plain contiguous safetensors
    let wa = tch::Tensor::read_safetensors(a.0.join("last.safetensors")).unwrap();
    let wb: std::collections::HashMap<String, tch::Tensor> =
        tch::Tensor::read_safetensors(b.0.join("last.safetensors")).unwrap().into_iter().collect();
    assert_eq!(wa.len(), wb.len());
    let mut worst = 0.0f64;
    for (name, t) in &wa {
        let u = &wb[name];
        assert_eq!(t.size(), u.size(), "{name}");
        if t.kind() == tch::Kind::Float && t.numel() > 0 {
            // a floor for tensors near zero (biases start there), which Adam moves by ±lr
            // steps whose sign follows the rounding
            let scale = f64::try_from(t.abs().max()).unwrap().max(1e-2);
            worst = worst.max(f64::try_from((t - u).abs().max()).unwrap() / scale);
        }
    }
    assert!(worst < 1e-5, "weights differ by {worst} of their scale after two epochs");
    let ckpt = b.0.join("best.safetensors");
    let (code, lines, err) = common::process(&common::media("single_face.mp4"), &["--model", ckpt.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(lines.len(), 72);

    // width 8: auto stays contiguous on the CPU, and asking for channels-last is refused
    let narrow = tmp.path().join("narrow");
    let mut args = vec!["train", "--out", narrow.to_str().unwrap(), "--epochs", "1", "--json"];
    args.extend(SMALL);
    let x = run(&args);
    ok(&x);
    assert_eq!(json_out(&x)["memory_format"], "contiguous");
    args.extend(["--memory-format", "channels-last"]);
    let x = run(&args);
    assert_eq!(x.status.code(), Some(2));
    let err = String::from_utf8_lossy(&x.stderr);
    assert_eq!(err.trim().lines().count(), 1, "one error line: {err}");
    assert!(err.contains("oneDNN") && err.contains("16"), "{err}");
}

/// PNG files under `dir`, recursively.
fn walk_pngs(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() {
                        walk_pngs(&p)
                    } else {
                        usize::from(p.extension().is_some_and(|x| x == "png"))
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// What a first-time trainer reads agrees with itself (issue 21): every epoch line names
/// its member and generation, the best epoch is the same number in the console and in
/// report.json, the time per epoch is announced, a method reports only its own metrics,
/// and the README's harvest-folder mistake gets a message that names the layout.
#[test]
fn console_lines_and_report_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ens");
    let mut args = vec!["train", "--dataset", "synthetic", "--out", out.to_str().unwrap(), "--epochs", "2"];
    args.extend(["--ensemble", "2", "--method", "scn", "--noise", "0.2", "--json"]);
    args.extend(SMALL);
    let x = run(&args);
    let err = ok(&x);
    for want in ["gen 0 member 1/2 epoch 1/2", "gen 0 member 1/2 epoch 2/2", "gen 0 member 2/2 epoch 2/2"] {
        assert!(err.lines().any(|l| l.starts_with(want) && l.contains("val acc")), "no line '{want}': {err}");
    }
    assert!(err.contains("per epoch") && err.contains("for 4 epoch(s)"), "{err}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let best = report["best_epoch"].as_u64().unwrap();
    assert!(err.contains(&format!("(epoch {best})")), "console and report.json: {best} vs {err}");
    let hist: Vec<u64> = report["history"].as_array().unwrap().iter().map(|h| h["epoch"].as_u64().unwrap()).collect();
    assert_eq!(hist, [1, 2, 1, 2]);
    // an SCN run has no trained log-variance head: no RUL figure
    assert!(report["uncertainty_auroc_noisy"].is_null(), "{}", report["uncertainty_auroc_noisy"]);
    assert!(!err.contains("RUL"), "{err}");
    assert_eq!(json_out(&x)["best_epoch"].as_u64(), Some(best));

    // harvest's crops are no `folder` dataset: the error names the layout and the way out
    let faces = tmp.path().join("faces/clip.mp4.faces");
    std::fs::create_dir_all(&faces).unwrap();
    std::fs::write(faces.join("faces.csv"), "file\n").unwrap();
    std::fs::copy(common::media("single_face.jpg"), faces.join("f0000000_t1.png")).unwrap();
    let x = run(&[
        "train",
        "--dataset",
        "folder",
        "--data",
        tmp.path().join("faces").to_str().unwrap(),
        "--out",
        tmp.path().join("r").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&x.stderr);
    assert_eq!(x.status.code(), Some(2), "{err}");
    assert!(err.contains("folder-unlabeled") && err.contains("harvest"), "{err}");
    // one image is too few to hold a validation share out: a usage error, not a panic
    let one = tmp.path().join("one/happy");
    std::fs::create_dir_all(&one).unwrap();
    std::fs::copy(common::media("single_face.jpg"), one.join("a.jpg")).unwrap();
    let x = run(&[
        "train",
        "--dataset",
        "folder",
        "--data",
        tmp.path().join("one").to_str().unwrap(),
        "--out",
        tmp.path().join("r1").to_str().unwrap(),
        "--input-size",
        "48",
        "--width",
        "8",
    ]);
    let err = String::from_utf8_lossy(&x.stderr);
    assert_eq!(x.status.code(), Some(2), "{err}");
    assert!(err.contains("at least 2"), "{err}");
}
