//! The README's usage lines cannot drift from the binary (issue 21): every
//! `target/release/fer-rt ...` line of its shell blocks is parsed by the real command-line
//! parser, and every line that can run here is run as written, in order, in a folder
//! holding the files it names (bundled media under the README's names), with exit 0
//! required. A line is only left unrun for a stated reason: a camera, a network peer, a
//! dataset that cannot be had here, or hours of training; a new line runs by default.
mod common;

use std::path::Path;
use std::process::Command;

/// Lines not run, by a fragment of the line, and why. Their flags are still parsed.
const NOT_RUN: &[(&str, &str)] = &[
    ("fer-rt live                ", "a webcam"),
    ("fer-rt serve", "a service that runs until stopped (tests/serve.rs runs it)"),
    ("live --camera", "a webcam"),
    ("rtsp://", "an RTSP camera"),
    ("udp://", "a sender on the network (tests/network.rs runs one)"),
    ("--dataset rafdb", "RAF-DB cannot be had here"),
    ("--dataset fer2013", "FER2013 cannot be had here"),
    ("--dataset ferplus", "FER+ cannot be had here"),
    ("--data labelled/", "a labelled dataset of one's own"),
    ("--preset cpu-quick", "minutes of training (tests/training.rs trains small models)"),
    ("runs/quick", "needs the cpu-quick run"),
    ("--model runs/raf/", "needs the RAF-DB run"),
    ("--teacher fer_mini_xception", "224 px for 60 epochs (tests/training.rs trains students small)"),
    ("runs/ens/members", "needs a trained ensemble"),
    ("--samples 7000", "7000 drawn faces (tests/training.rs runs synth --test-fraction small)"),
    ("--faces 20 --size 1280x720", "a benchmark, measured in BENCHMARKS.md"),
];

/// The README's shell lines that run fer-rt.
fn usage_lines() -> Vec<String> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let mut lines = Vec::new();
    let mut in_sh = false;
    for l in text.lines() {
        if l.starts_with("```") {
            in_sh = !in_sh && l.trim() == "```sh";
            continue;
        }
        if in_sh && l.contains("target/release/fer-rt ") {
            lines.push(l.to_string());
        }
    }
    lines
}

/// Shell words of `line` up to an unquoted comment, split into the commands of its
/// pipes and `&&` chains, redirections dropped.
fn commands(line: &str) -> Vec<Vec<String>> {
    let (mut cmds, mut cur, mut word) = (vec![], vec![], String::new());
    let (mut quote, mut in_word) = (None::<char>, false);
    let mut chars = line.chars().peekable();
    let mut skip_next = false;
    let flush = |cur: &mut Vec<String>, word: &mut String, in_word: &mut bool, skip: &mut bool| {
        if *in_word {
            if !std::mem::take(skip) {
                cur.push(std::mem::take(word));
            }
            word.clear();
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match (c, quote) {
            (q, Some(open)) if q == open => quote = None,
            (c, Some(_)) => word.push(c),
            ('\'' | '"', None) => {
                quote = Some(c);
                in_word = true;
            }
            ('#', None) if !in_word => break,
            (' ' | '\t', None) => flush(&mut cur, &mut word, &mut in_word, &mut skip_next),
            ('|', None) | ('&', None) => {
                flush(&mut cur, &mut word, &mut in_word, &mut skip_next);
                if c == '&' {
                    chars.next();
                }
                cmds.push(std::mem::take(&mut cur));
            }
            ('>' | '<', None) => {
                flush(&mut cur, &mut word, &mut in_word, &mut skip_next);
                skip_next = true; // the redirection's target
            }
            (c, None) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    flush(&mut cur, &mut word, &mut in_word, &mut skip_next);
    cmds.push(cur);
    cmds.into_iter().filter(|c| !c.is_empty()).collect()
}

#[test]
fn every_readme_usage_line_parses_and_the_runnable_ones_run() {
    use clap::Parser;
    let lines = usage_lines();
    assert!(lines.len() > 30, "README usage lines not found ({})", lines.len());
    // the folder the lines run in: the files they name
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let bin_dir = dir.join("target/release");
    std::fs::create_dir_all(&bin_dir).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_fer-rt"), bin_dir.join("fer-rt")).unwrap();
    for (media, name) in
        [("single_face.mp4", "clip.mp4"), ("single_face.jpg", "photo.jpg"), ("single_face.mp4", "phone.mp4")]
    {
        std::fs::copy(common::media(media), dir.join(name)).unwrap();
    }
    common::media_folder(
        &dir.join("photos"),
        [("single_face.jpg", "a.jpg".into()), ("multi_face.jpg", "b.jpg".into())],
    );
    common::media_folder(&dir.join("videos"), [("single_face.mp4", "a.mp4".into())]);
    common::media_folder(&dir.join("my_videos"), [("single_face.mp4", "a.mp4".into())]);
    std::fs::write(dir.join("list.csv"), format!("{}\n", dir.join("clip.mp4").display())).unwrap();
    std::fs::write(dir.join("my.toml"), "[detect]\nscore_threshold = 0.8\n").unwrap();
    std::fs::create_dir_all(dir.join("frames")).unwrap();
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-i", "clip.mp4", "-frames:v", "5", "frames/%05d.png"])
        .current_dir(dir)
        .status()
        .unwrap()
        .success();
    assert!(ok);

    let mut ran = 0;
    for line in &lines {
        for cmd in commands(line).into_iter().filter(|c| c[0] == "target/release/fer-rt") {
            let argv = std::iter::once("fer-rt".to_string()).chain(cmd[1..].iter().cloned());
            if let Err(e) = fer_rt::cli::Cli::try_parse_from(argv) {
                panic!("README line does not parse:\n  {line}\n{e}");
            }
        }
        if let Some((_, why)) = NOT_RUN.iter().find(|(frag, _)| line.contains(frag)) {
            eprintln!("not run ({why}): {line}");
            continue;
        }
        let out = Command::new("bash")
            .args(["-c", line])
            .current_dir(dir)
            .env("FER_RT_MODELS", common::models_dir())
            .env("SLURM_ARRAY_TASK_ID", "0")
            .env("SLURM_ARRAY_TASK_COUNT", "1")
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "README line failed ({:?}):\n  {line}\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        ran += 1;
    }
    eprintln!("{ran} of {} README lines run", lines.len());
    // what the lines made is what they say
    assert!(dir.join("clip.jsonl").is_file() && dir.join("clip.csv").is_file() && dir.join("clip.parquet").is_file());
    assert!(dir.join("annotated.mp4").is_file() && dir.join("photo.annotated.jpg").is_file());
    assert!(dir.join("session.mp4").is_file() && dir.join("results/_manifest.jsonl").is_file());
}

#[test]
fn the_shell_splitter_reads_quotes_pipes_and_comments() {
    assert_eq!(
        commands("cat a.mp4 | target/release/fer-rt process - 'x y' > out.jsonl  # note"),
        vec![vec!["cat", "a.mp4"], vec!["target/release/fer-rt", "process", "-", "x y"]]
    );
    assert_eq!(commands("a --x && b"), vec![vec!["a", "--x"], vec!["b"]]);
}
