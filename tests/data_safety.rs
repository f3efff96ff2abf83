//! No command may write over what it reads, and no output appears under its final name
//! before it is complete (issue 21, point 1). Real binary, real media.
mod common;

use std::path::Path;
use std::process::Output;

fn sha(p: &Path) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(std::fs::read(p).unwrap()).to_vec()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn process_never_overwrites_its_input_under_any_name() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("clip.mp4");
    std::fs::copy(common::media("single_face.mp4"), &clip).unwrap();
    let before = sha(&clip);
    std::os::unix::fs::symlink(&clip, tmp.path().join("link.mp4")).unwrap();
    std::fs::hard_link(&clip, tmp.path().join("hard.mp4")).unwrap();
    std::fs::create_dir(tmp.path().join("sub")).unwrap();
    // (input, output) as a user would type them in that folder
    for (input, output) in [
        ("clip.mp4", "clip.mp4"),
        ("clip.mp4", "./clip.mp4"),
        ("clip.mp4", "sub/../clip.mp4"),
        ("link.mp4", "clip.mp4"),
        ("clip.mp4", "hard.mp4"),
    ] {
        let out = common::bin().current_dir(tmp.path()).args(["process", input, "--output", output]).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{input} -> {output}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("would overwrite the input"), "{err}");
        assert!(out.stdout.is_empty(), "nothing ran");
        assert_eq!(sha(&clip), before, "{input} -> {output}: the input changed");
    }
    assert!(!tmp.path().join("clip.mp4.part").exists());
}

#[test]
fn an_existing_output_is_replaced_only_by_a_complete_one() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("annotated.mp4");
    std::fs::write(&out, b"an older result").unwrap();
    // a run that fails half-way leaves the older file alone
    let src = std::fs::read(common::media("WolfgangLanger_Pexels.mp4")).unwrap();
    let cut = tmp.path().join("cut.mp4");
    std::fs::write(&cut, &src[..src.len() / 2]).unwrap();
    let (code, lines, err) = common::process(&cut, &["--output", out.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(!lines.is_empty());
    assert_eq!(std::fs::read(&out).unwrap(), b"an older result");
    // a complete run replaces it, and leaves no .part behind
    let (code, lines, err) = common::process(&common::media("single_face.mp4"), &["--output", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(common::frames_of(&out).len(), lines.len());
    assert!(!tmp.path().join("annotated.mp4.part").exists());
    assert!(err.contains("done:") && err.contains("annotated.mp4"), "the closing line names the output: {err}");
}

#[test]
fn batch_refuses_outputs_that_are_its_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(common::media("single_face.mp4"), tmp.path().join("a.mp4")).unwrap();
    // an earlier --video run left a.mp4.annotated.mp4 here; passing it back in as an input
    // beside a.mp4 would overwrite it with a.mp4's own annotation
    std::fs::copy(common::media("single_face.mp4"), tmp.path().join("a.mp4.annotated.mp4")).unwrap();
    let kept = sha(&tmp.path().join("a.mp4.annotated.mp4"));
    let out = common::bin()
        .current_dir(tmp.path())
        .args(["batch", "a.mp4", "a.mp4.annotated.mp4", "--video", "--out", "."])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("would overwrite the input") && err.contains("a.mp4.annotated.mp4"), "{err}");
    assert_eq!(sha(&tmp.path().join("a.mp4.annotated.mp4")), kept);
    assert!(!tmp.path().join("_manifest.jsonl").exists(), "refused before anything was written");
}

#[test]
fn harvest_refuses_to_write_its_crops_into_the_folder_it_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let videos = common::media_folder(&tmp.path().join("videos"), [("single_face.mp4", "a.mp4".to_string())]);
    let out = common::bin().arg("harvest").arg(&videos).arg("--out").arg(videos.join("faces")).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("into the input folder") && err.contains(".png"), "{err}");
    assert!(!videos.join("faces").exists());
}

#[test]
fn train_refuses_an_out_folder_over_its_dataset_or_teacher() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("faces");
    std::fs::create_dir_all(data.join("happy")).unwrap();
    for out in [data.clone(), data.join("run"), tmp.path().to_path_buf()] {
        let o = common::bin()
            .args(["train", "--dataset", "folder", "--data"])
            .arg(&data)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{}: {err}", out.display());
        assert!(err.contains("--out") && err.contains("input"), "{err}");
    }
    assert_eq!(std::fs::read_dir(&data).unwrap().count(), 1, "nothing was written into the dataset");
    // a teacher checkpoint inside the run folder would be overwritten by best.safetensors
    let run = tmp.path().join("runs/a");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("best.safetensors"), b"teacher").unwrap();
    let o = common::bin()
        .args(["train", "--dataset", "folder-unlabeled", "--data"])
        .arg(&data)
        .arg("--teacher")
        .arg(run.join("best.safetensors"))
        .arg("--out")
        .arg(&run)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(std::fs::read(run.join("best.safetensors")).unwrap(), b"teacher");
}
