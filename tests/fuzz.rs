//! Mutated media through the real binary: random byte flips, truncations, zeroed blocks and
//! spliced headers of the bundled clips and photo. Every variant must end within a time
//! limit with exit 0, 1 or 2, exactly one `error:` line when it fails (none when it does not),
//! no panic and no crash, and nothing but valid JSON lines on stdout.
//! CI runs 300 variants; `FER_RT_FUZZ_N=3000 cargo test --release --test fuzz` runs more.
mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// SplitMix64: a fixed seed gives the same variants on every machine.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn ffmpeg(args: &[&str]) {
    let st = std::process::Command::new("ffmpeg").args(["-v", "error", "-y"]).args(args).status().expect("ffmpeg CLI");
    assert!(st.success(), "ffmpeg {args:?}");
}

/// Short bases keep each run cheap: half a second of H.264 in MP4 and MPEG-TS, a quarter
/// second of HEVC in MOV, and a JPEG photo.
fn bases(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let clip = common::media("single_face.mp4");
    let hevc = common::media("face_noface.mov");
    let mp4 = dir.join("base.mp4");
    let ts = dir.join("base.ts");
    let mov = dir.join("base.mov");
    ffmpeg(&["-i", clip.to_str().unwrap(), "-t", "0.5", "-c", "copy", mp4.to_str().unwrap()]);
    ffmpeg(&["-i", clip.to_str().unwrap(), "-t", "0.5", "-c", "copy", "-f", "mpegts", ts.to_str().unwrap()]);
    ffmpeg(&["-i", hevc.to_str().unwrap(), "-t", "0.25", "-c", "copy", mov.to_str().unwrap()]);
    let mut out: Vec<(String, Vec<u8>)> = [("mp4", &mp4), ("ts", &ts), ("mov", &mov)]
        .into_iter()
        .map(|(ext, p)| (ext.to_string(), std::fs::read(p).unwrap()))
        .collect();
    out.push(("jpg".into(), std::fs::read(common::media("single_face.jpg")).unwrap()));
    out
}

fn mutate(rng: &mut Rng, bases: &[(String, Vec<u8>)]) -> (String, String, Vec<u8>) {
    let (ext, base) = &bases[rng.below(bases.len())];
    let mut b = base.clone();
    let kind = rng.below(5);
    let what = match kind {
        0 => {
            let k = 1 + rng.below(64);
            for _ in 0..k {
                let i = rng.below(b.len());
                b[i] ^= 1 + (rng.next() % 255) as u8;
            }
            format!("{k} byte flips")
        }
        1 => {
            let n = rng.below(b.len());
            b.truncate(n);
            format!("cut at {n}")
        }
        2 => {
            let (i, n) = (rng.below(b.len()), 1 + rng.below(4096));
            let end = (i + n).min(b.len());
            b[i..end].fill(0);
            format!("zeroed {i}..{end}")
        }
        3 => {
            // another base's header spliced onto this body
            let (_, other) = &bases[rng.below(bases.len())];
            let h = rng.below(other.len().min(4096));
            let from = rng.below(b.len());
            b = [&other[..h], &b[from..]].concat();
            format!("header {h} B spliced at {from}")
        }
        _ => {
            // a block of the file repeated somewhere else
            let (i, n) = (rng.below(b.len()), 1 + rng.below(8192));
            let block = b[i..(i + n).min(b.len())].to_vec();
            let at = rng.below(b.len());
            b.splice(at..at, block);
            format!("block {i}+{n} repeated at {at}")
        }
    };
    (ext.clone(), what, b)
}

fn run_variant(path: &Path, limit: Duration) -> Result<i32, String> {
    let mut child = common::bin()
        .args(["process", "--no-progress"])
        .arg(path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let out_reader = {
        let mut s = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut s, &mut v).map(|_| v).unwrap_or_default()
        })
    };
    let err_reader = {
        let mut s = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut s, &mut v).map(|_| v).unwrap_or_default()
        })
    };
    let t = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            break st;
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("still running after {limit:?} (hang)"));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = String::from_utf8(out_reader.join().unwrap()).map_err(|_| "stdout is not UTF-8".to_string())?;
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap()).into_owned();
    let code = status.code().ok_or_else(|| format!("killed by a signal: {status:?}; {stderr}"))?;
    if !(0..=2).contains(&code) {
        return Err(format!("exit {code}: {stderr}"));
    }
    if stderr.contains("panicked") {
        return Err(format!("panic: {stderr}"));
    }
    let errors = stderr.lines().filter(|l| l.starts_with("error:")).count();
    if (code == 0 && errors != 0) || (code != 0 && errors != 1) {
        return Err(format!("exit {code} with {errors} error line(s): {stderr}"));
    }
    for l in stdout.lines() {
        serde_json::from_str::<serde_json::Value>(l).map_err(|e| format!("invalid JSON line ({e}): {l}"))?;
    }
    Ok(code)
}

#[test]
fn mutated_media_never_panic_hang_or_break_the_output() {
    let n: usize = std::env::var("FER_RT_FUZZ_N").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let tmp = tempfile::tempdir().unwrap();
    let bases = bases(tmp.path());
    let mut rng = Rng(0xF022_2026);
    let variants: Vec<(PathBuf, String)> = (0..n)
        .map(|i| {
            let (ext, what, bytes) = mutate(&mut rng, &bases);
            let p = tmp.path().join(format!("v{i:04}.{ext}"));
            std::fs::write(&p, bytes).unwrap();
            (p, what)
        })
        .collect();
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 4);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    let codes = std::sync::Mutex::new([0usize; 3]);
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some((p, what)) = variants.get(i) else { break };
                match run_variant(p, Duration::from_secs(60)) {
                    Ok(code) => codes.lock().unwrap()[code as usize] += 1,
                    Err(e) => failures.lock().unwrap().push(format!("{} ({what}): {e}", p.display())),
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    let c = codes.into_inner().unwrap();
    eprintln!(
        "{n} variants in {:.0} s: exit 0 x{}, exit 1 x{}, exit 2 x{}, {} failures",
        t.elapsed().as_secs_f64(),
        c[0],
        c[1],
        c[2],
        failures.len()
    );
    if !failures.is_empty() {
        // keep the failing inputs for a look
        let keep = std::env::temp_dir().join("fer-rt-fuzz-failures");
        let _ = std::fs::create_dir_all(&keep);
        for f in &failures {
            if let Some(p) = f.split(' ').next() {
                let _ = std::fs::copy(p, keep.join(Path::new(p).file_name().unwrap()));
            }
        }
        panic!(
            "{} of {n} variants failed (inputs kept in {}):\n{}",
            failures.len(),
            keep.display(),
            failures.join("\n")
        );
    }
}
