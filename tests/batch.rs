//! `fer-rt batch` on real media: one output per input named by its path, the same results as
//! `process`, resume after success, after failures and after SIGKILL, three shards run in
//! parallel covering every input exactly once, Parquet read back by pyarrow and compared
//! with the JSON lines of the same run, and `summary` over the folder.
mod common;

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn batch(args: &[&str]) -> Output {
    common::bin().arg("batch").args(args).arg("--no-progress").output().expect("run fer-rt batch")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The names of the files in `dir` that start with `prefix`, sorted.
fn names_starting(dir: &Path, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

/// Every record of every ledger file in `dir`, by key (newest wins), and the line count.
fn ledger(dir: &Path) -> (BTreeMap<String, Value>, usize) {
    let mut out = BTreeMap::new();
    let mut lines = 0;
    for f in names_starting(dir, "_manifest") {
        for l in std::fs::read_to_string(dir.join(f)).unwrap().lines() {
            let Ok(v) = serde_json::from_str::<Value>(l) else { continue };
            lines += 1;
            out.insert(v["key"].as_str().unwrap().to_string(), v);
        }
    }
    (out, lines)
}

/// JSON lines without the timing fields, which differ between runs.
fn strip_timings(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("timings_ms");
            v
        })
        .collect()
}

/// A folder of real media: two clips and two photos, one clip in a subfolder.
fn corpus(root: &Path) -> PathBuf {
    let dir = root.join("in");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    for (name, to) in [
        ("single_face.mp4", "single_face.mp4"),
        ("no_face.mp4", "sub/no_face.mp4"),
        ("multi_face.jpg", "multi_face.jpg"),
        ("single_face.jpg", "sub/single_face.jpg"),
    ] {
        std::fs::copy(common::media(name), dir.join(to)).unwrap();
    }
    dir
}

#[test]
fn a_folder_gives_one_output_per_input_equal_to_process_and_a_rerun_skips_it() {
    let tmp = tempfile::tempdir().unwrap();
    let input = corpus(tmp.path());
    let out = tmp.path().join("out");
    let o = batch(&[s(&input), "--out", s(&out), "--format", "jsonl,csv,parquet", "--jobs", "2", "--json"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let totals: Value = serde_json::from_slice(&o.stdout).expect("--json: one object on stdout");
    assert_eq!((totals["processed"].as_u64(), totals["failed"].as_u64()), (Some(4), Some(0)), "{totals}");
    assert_eq!(err.lines().filter(|l| l.starts_with("done ")).count(), 4, "one line per input: {err}");

    let (records, _) = ledger(&out);
    assert_eq!(records.len(), 4);
    let key = |rel: &str| format!("{}/{rel}", s(&input).trim_start_matches('/'));
    for rel in ["single_face.mp4", "sub/no_face.mp4", "multi_face.jpg", "sub/single_face.jpg"] {
        let r = &records[&key(rel)];
        assert_eq!(r["status"], "ok", "{r}");
        for ext in ["jsonl", "csv", "parquet"] {
            assert!(out.join(format!("{}.{ext}", key(rel))).is_file(), "{rel}.{ext}");
        }
        // the batch's JSON lines are exactly what `process` writes for the same input
        let (code, lines, perr) = common::process(&input.join(rel), &[]);
        assert_eq!(code, 0, "{perr}");
        let want: Vec<Value> = lines
            .into_iter()
            .map(|mut v| {
                v.as_object_mut().unwrap().remove("timings_ms");
                v
            })
            .collect();
        let got = strip_timings(&std::fs::read_to_string(out.join(format!("{}.jsonl", key(rel)))).unwrap());
        assert_eq!(got, want, "{rel}");
        assert_eq!(r["frames"].as_u64().unwrap(), want.len() as u64);
    }
    assert!(walk(&out).iter().all(|p| !p.to_string_lossy().ends_with(".part")), "no partial file left");

    // the same command again: nothing to do, nothing rewritten
    let before = mtimes(&out);
    let o = batch(&[s(&input), "--out", s(&out), "--format", "jsonl,csv,parquet"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("0 to do, 4 done"), "{err}");
    assert_eq!(mtimes(&out), before);

    // a changed input is processed again; a new format redoes only what lacks it
    std::fs::copy(common::media("single_face.jpg"), input.join("multi_face.jpg")).unwrap();
    let o = batch(&[s(&input), "--out", s(&out), "--format", "jsonl,csv,parquet", "--dry-run"]);
    let todo: Vec<Value> =
        String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(todo.len(), 1, "{todo:?}");
    assert_eq!(todo[0]["key"], key("multi_face.jpg"));

    // summary reads the folder
    let o = common::bin().args(["summary", s(&out), "--json"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let sum: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(sum["videos"].as_array().unwrap().len(), 4);
    let faces: u64 = sum["videos"].as_array().unwrap().iter().map(|v| v["faces"].as_u64().unwrap()).sum();
    assert_eq!(sum["overall"]["faces"].as_u64().unwrap(), faces);
    let labelled: u64 = sum["overall"]["labels"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(labelled, faces, "every face has a label");
    assert!(sum["overall"]["mean_valence"].as_f64().is_some());
    let table = common::bin().args(["summary", s(&out)]).output().unwrap();
    assert!(String::from_utf8_lossy(&table.stdout).contains("all (4 inputs)"));
}

#[test]
fn parquet_matches_the_json_lines_and_the_csv_columns_read_by_pyarrow() {
    let tmp = tempfile::tempdir().unwrap();
    let input = common::media_folder(
        &tmp.path().join("in"),
        [("single_face.mp4", "a.mp4".into()), ("multi_face.jpg", "b.jpg".into())],
    );
    let out = tmp.path().join("out");
    let o = batch(&[s(&input), "--out", s(&out), "--format", "jsonl,parquet,csv"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let (records, _) = ledger(&out);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/parquet_check.py");
    for r in records.values() {
        let base = out.join(r["key"].as_str().unwrap());
        let pq = format!("{}.parquet", base.display());
        let jl = format!("{}.jsonl", base.display());
        let csv = format!("{}.csv", base.display());
        // every value against the JSON lines, and the columns exactly the CSV's
        let o = Command::new(common::python()).arg(&script).arg(&pq).arg(&jl).arg(&csv).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(v["rows"].as_u64().unwrap() > 0, "{v}");
        let manifest = std::fs::read_to_string(common::models_dir().join("fer_mini_xception.json")).unwrap();
        let manifest: Value = serde_json::from_str(&manifest).unwrap();
        assert_eq!(v["metadata"]["fer_rt.classifier"], manifest["name"]);
        assert_eq!(v["metadata"]["fer_rt.model_sha256"], manifest["sha256"]);
        let classes: Value = serde_json::from_str(v["metadata"]["fer_rt.classes"].as_str().unwrap()).unwrap();
        assert_eq!(classes, manifest["classes"]);
        assert_eq!(v["metadata"]["fer_rt.source"], r["input"]);
    }
}

#[test]
fn a_failed_input_is_recorded_the_batch_goes_on_and_it_is_retried_only_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let input = common::media_folder(&tmp.path().join("in"), [("single_face.jpg", "good.jpg".into())]);
    std::fs::write(input.join("broken.mp4"), b"not a video at all").unwrap();
    let out = tmp.path().join("out");
    let o = batch(&[s(&input), "--out", s(&out)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.lines().last().unwrap().starts_with("error: 1 input(s) failed"), "{err}");
    let (records, _) = ledger(&out);
    let failed: Vec<&Value> = records.values().filter(|r| r["status"] == "failed").collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0]["key"].as_str().unwrap().ends_with("broken.mp4"));
    assert!(failed[0]["error"].as_str().unwrap().contains("broken.mp4"), "{}", failed[0]);
    assert_eq!(failed[0]["exit_code"], 1);
    assert!(!walk(&out).iter().any(|p| p.to_string_lossy().contains("broken.mp4.jsonl")), "no output for it");

    let o = batch(&[s(&input), "--out", s(&out), "--dry-run"]);
    assert!(
        o.stdout.is_empty(),
        "a failed input waits for --retry-failed: {} {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let o = batch(&[s(&input), "--out", s(&out), "--dry-run", "--retry-failed"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 1);
}

#[test]
fn three_shards_in_parallel_cover_every_input_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = ["0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg", "single_face.jpg"];
    let input = common::media_folder(
        &tmp.path().join("in"),
        photos.iter().cycle().take(9).enumerate().map(|(i, p)| (*p, format!("{i}-{p}"))),
    );
    let out = tmp.path().join("out");
    // started together, in reverse order
    let children: Vec<_> = (0..3)
        .rev()
        .map(|i| {
            common::bin()
                .args(["batch", s(&input), "--out", s(&out), "--no-progress", "--shard", &format!("{i}/3")])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = common::wait_or_kill(c, 300);
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let shard_files = names_starting(&out, "_manifest.shard-");
    let (records, lines) = ledger(&out);
    assert_eq!(records.len(), 9, "every input");
    assert_eq!(lines, 9, "exactly once");
    assert!(shard_files.len() <= 3 && !shard_files.is_empty(), "{shard_files:?}");
    for r in records.values() {
        assert_eq!(r["status"], "ok");
        assert!(out.join(format!("{}.jsonl", r["key"].as_str().unwrap())).is_file());
    }
    // the same shard again has nothing to do; merging folds the ledgers into one
    let o = batch(&[s(&input), "--out", s(&out), "--shard", "1/3"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains(" 0 to do"), "{}", String::from_utf8_lossy(&o.stderr));
    let o = common::bin().args(["batch", "--merge", s(&out)]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(names_starting(&out, "_manifest"), ["_manifest.jsonl"]);
    assert_eq!(ledger(&out), (records, 9));
}

#[test]
fn a_run_killed_mid_way_leaves_no_complete_looking_partial_output_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let input =
        common::media_folder(&tmp.path().join("in"), (0..6).map(|i| ("single_face.mp4", format!("clip{i}.mp4"))));
    let frames = common::frames_of(&common::media("single_face.mp4")).len();
    let out = tmp.path().join("out");
    let mut child = common::bin()
        .args(["batch", s(&input), "--out", s(&out), "--no-progress", "--jobs", "2", "--format", "jsonl,parquet"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // kill once at least one input is finished and others are in flight
    let t0 = std::time::Instant::now();
    while ledger(&out).0.is_empty() && t0.elapsed().as_secs() < 300 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let (done, _) = ledger(&out);
    assert!(!done.is_empty() && done.len() < 6, "killed mid-way: {} finished", done.len());
    // every output under its final name is complete: all frames, and it parses
    for p in walk(&out) {
        let name = p.to_string_lossy().into_owned();
        if name.ends_with(".jsonl") && !name.contains("_manifest") {
            let text = std::fs::read_to_string(&p).unwrap();
            assert_eq!(strip_timings(&text).len(), frames, "{name}");
        }
        if name.ends_with(".parquet") {
            let o = Command::new(common::python())
                .args(["-c", "import sys, pyarrow.parquet as pq; print(pq.read_table(sys.argv[1]).num_rows)", &name])
                .output()
                .unwrap();
            assert!(o.status.success(), "{name}: {}", String::from_utf8_lossy(&o.stderr));
        }
    }
    let before = mtimes(&out);
    let o = batch(&[s(&input), "--out", s(&out), "--jobs", "2", "--format", "jsonl,parquet", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let totals: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(totals["processed"].as_u64().unwrap() as usize, 6 - done.len(), "only the unfinished are redone");
    for (p, t) in before.iter().filter(|(p, _)| !p.to_string_lossy().ends_with(".part")) {
        if done.keys().any(|k| p.to_string_lossy().contains(k.as_str())) {
            assert_eq!(mtimes(&out).get(p), Some(t), "{} was finished and must not be rewritten", p.display());
        }
    }
    assert_eq!(ledger(&out).0.len(), 6);
    assert!(walk(&out).iter().all(|p| !p.to_string_lossy().ends_with(".part")));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn mtimes(dir: &Path) -> BTreeMap<PathBuf, std::time::SystemTime> {
    walk(dir)
        .into_iter()
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with("_manifest"))
        .map(|p| {
            let t = std::fs::metadata(&p).unwrap().modified().unwrap();
            (p, t)
        })
        .collect()
}

/// A damaged input's ledger line and its message agree (issue 22, point 5): the frames
/// it emitted are counted, and the message says its outputs were discarded, since a
/// failed input keeps no output that could pass for complete.
#[test]
fn a_damaged_input_records_what_it_emitted_and_that_it_was_discarded() {
    let tmp = tempfile::tempdir().unwrap();
    let src = std::fs::read(common::media("WolfgangLanger_Pexels.mp4")).unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(input.join("cut.mp4"), &src[..src.len() / 2]).unwrap();
    let out = tmp.path().join("out");
    let o = batch(&[s(&input), "--out", s(&out)]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let (records, _) = ledger(&out);
    let r = records.values().next().unwrap();
    assert_eq!(r["status"], "failed");
    let err = r["error"].as_str().unwrap();
    let frames = r["frames"].as_u64().unwrap();
    assert!(frames > 0 && frames < 472, "{r}");
    assert!(err.contains(&format!("{frames} of 472 frames decoded")) && err.contains("discarded"), "{err}");
    assert!(!walk(&out).iter().any(|p| p.to_string_lossy().contains("cut.mp4.")), "no output kept for it");
}

/// `--input-timeout` (issue 22, point 5): an input still running at its limit is stopped,
/// its partial outputs are discarded and its ledger line says `timed_out` with the frames
/// it had emitted; the inputs that finish in time are done as usual, the batch goes on and
/// exits 1, and a rerun leaves the timed-out input alone unless `--retry-failed`.
#[test]
fn an_input_over_its_time_limit_is_stopped_and_recorded_as_timed_out() {
    let tmp = tempfile::tempdir().unwrap();
    let input = common::media_folder(&tmp.path().join("in"), [("single_face.jpg", "photo.jpg".to_string())]);
    // ten times the 1080p clip, stream-copied: 4,720 frames take far longer than 3 s on
    // any machine (about 45 s at 100 fps); the photo takes a fraction of a second
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-stream_loop", "9", "-i"])
        .arg(common::media("WolfgangLanger_Pexels.mp4"))
        .args(["-c", "copy"])
        .arg(input.join("long.mp4"))
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let out = tmp.path().join("out");
    let args = [s(&input), "--out", s(&out), "--jobs", "1", "--input-timeout", "3"];
    let o = batch(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let (records, _) = ledger(&out);
    let find = |name: &str| records.iter().find(|(k, _)| k.ends_with(name)).map(|(_, v)| v.clone()).unwrap();
    let long = &find("long.mp4");
    assert_eq!(long["status"], "timed_out", "{long}");
    let e = long["error"].as_str().unwrap();
    assert!(e.contains("not finished within 3 s (--input-timeout)") && e.contains("discarded"), "{e}");
    assert!(long["frames"].as_u64().unwrap() < 4720, "{long}");
    assert_eq!(find("photo.jpg")["status"], "ok");
    assert!(!walk(&out).iter().any(|p| p.to_string_lossy().contains("long.mp4.")), "no output kept for it");
    assert!(err.contains("long.mp4: not finished within 3 s"), "{err}");
    // a rerun skips it as failed, and --retry-failed tries it again
    let o = batch(&args);
    assert!(String::from_utf8_lossy(&o.stderr).contains("1 failed before"), "{}", String::from_utf8_lossy(&o.stderr));
    let o = batch(&[s(&input), "--out", s(&out), "--input-timeout", "0"]);
    assert_eq!(o.status.code(), Some(2), "a limit of 0 s is a usage error");
}
