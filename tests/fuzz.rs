//! Mutated media through the real binary. Half the variants are blind (byte flips,
//! truncations, zeroed blocks, spliced headers, repeated blocks); half are structured
//! (`common::mutate`): the fields a demuxer or decoder trusts, set to hostile values (an
//! SPS's size, MP4 sample-table counts and box sizes, `mdhd` timescales, codec tags, a
//! Matroska track's pixel size, JPEG SOF and PNG IHDR sizes, Y4M headers, MPEG-TS
//! continuity counters and PIDs). Every variant must end within a time limit and under
//! 1 GiB of peak memory, with exit 0, 1 or 2, exactly one `error:` line when it fails
//! (none when it does not), no panic and no crash, and nothing but valid JSON lines on
//! stdout. CI runs 300 variants; `benches/fuzz_campaign.sh` runs a campaign of thousands
//! and writes its tally per class (`FER_RT_FUZZ_N`, `FER_RT_FUZZ_SEED`, `FER_RT_FUZZ_TALLY`).
mod common;

use common::mutate;
use std::collections::BTreeMap;
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

/// Short bases keep each run cheap: half a second of H.264 in MP4, MPEG-TS and Matroska, a
/// quarter second of HEVC in MOV, a few small FFV1 (Matroska) and Y4M frames, and the
/// photo as JPEG and PNG.
fn bases(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let clip = common::media("single_face.mp4");
    let hevc = common::media("face_noface.mov");
    let photo = common::media("single_face.jpg");
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let clip_s = clip.to_str().unwrap();
    common::ffmpeg(&["-i", clip_s, "-t", "0.5", "-c", "copy", &p("base.mp4")]);
    common::ffmpeg(&["-i", clip_s, "-t", "0.5", "-c", "copy", "-f", "mpegts", &p("base.ts")]);
    common::ffmpeg(&["-i", clip_s, "-t", "0.5", "-c", "copy", &p("base.mkv")]);
    common::ffmpeg(&["-i", hevc.to_str().unwrap(), "-t", "0.25", "-c", "copy", &p("base.mov")]);
    common::ffmpeg(&["-f", "lavfi", "-i", "testsrc=s=320x256:d=0.2", "-c:v", "ffv1", &p("ffv1.mkv")]);
    common::ffmpeg(&["-f", "lavfi", "-i", "testsrc=s=64x48:d=0.12", "-pix_fmt", "yuv420p", &p("base.y4m")]);
    common::ffmpeg(&["-i", photo.to_str().unwrap(), "-vf", "scale=320:-2", &p("base.png")]);
    let mut out: Vec<(String, Vec<u8>)> =
        ["base.mp4", "base.ts", "base.mkv", "base.mov", "ffv1.mkv", "base.y4m", "base.png"]
            .into_iter()
            .map(|name| (name.rsplit('.').next().unwrap().to_string(), std::fs::read(dir.join(name)).unwrap()))
            .collect();
    out.push(("jpg".into(), std::fs::read(photo).unwrap()));
    out
}

/// A value a hostile header would hold: the edges of the field's range, sizes just past
/// the limits, and random ones.
fn hostile_u32(rng: &mut Rng) -> u32 {
    const EDGES: [u32; 10] = [0, 1, 2, 255, 65535, 1 << 16, 1 << 24, 1 << 28, 1 << 31, u32::MAX];
    if rng.below(3) == 0 {
        rng.next() as u32
    } else {
        EDGES[rng.below(EDGES.len())]
    }
}

/// A frame side: small, plausible, past `max_frame_side`, or absurd.
fn hostile_side(rng: &mut Rng) -> u32 {
    const SIDES: [u32; 9] = [1, 2, 16, 640, 7680, 16385, 20000, 60000, 65535];
    SIDES[rng.below(SIDES.len())]
}

/// A structured mutation of `b` (a file of type `ext`), named; None when the file has no
/// field the chosen mutation needs (the caller then falls back to a blind one).
fn structured(rng: &mut Rng, ext: &str, b: &mut Vec<u8>) -> Option<(&'static str, String)> {
    match ext {
        "mp4" | "mov" => {
            let video = mutate::mp4_track(b, b"vide").unwrap_or(0);
            match rng.below(5) {
                0 if ext == "mp4" => {
                    let (w, h) = (hostile_side(rng) / 16 + 1, hostile_side(rng) / 16 + 1);
                    mutate::mp4_sps_size(b, w, h).then(|| ("SPS size", format!("SPS size {w}x{h} MBs")))
                }
                1 => {
                    const TABLES: [&[u8; 4]; 7] = [b"stsz", b"stco", b"stsc", b"stts", b"ctts", b"stss", b"elst"];
                    let t = TABLES[rng.below(TABLES.len())];
                    let at = 12 + 4 * rng.below(6);
                    let v = hostile_u32(rng);
                    mutate::mp4_set_u32(b, t, video, at, v)
                        .then(|| ("sample table field", format!("{} +{at} = {v}", String::from_utf8_lossy(t))))
                }
                2 => {
                    let v = hostile_u32(rng);
                    mutate::mp4_timescale(b, video, v).then(|| ("mdhd timescale", format!("mdhd timescale {v}")))
                }
                3 => {
                    let tag: [u8; 4] = (rng.next() as u32).to_le_bytes();
                    mutate::mp4_codec_tag(b, video, &tag).then(|| ("codec tag", format!("codec tag {tag:02x?}")))
                }
                _ => {
                    // any box's size field
                    let boxes = mutate::mp4_boxes(b);
                    let x = boxes.get(rng.below(boxes.len()))?.clone();
                    let v = hostile_u32(rng);
                    b[x.start..x.start + 4].copy_from_slice(&v.to_be_bytes());
                    Some(("box size", format!("{} size = {v}", String::from_utf8_lossy(&x.kind))))
                }
            }
        }
        "mkv" => {
            let (w, h) = (hostile_side(rng) as u64, hostile_side(rng) as u64);
            mutate::mkv_video_size(b, w, h).then(|| ("Matroska pixel size", format!("Matroska pixel size {w}x{h}")))
        }
        "ts" => {
            let (from, n) = (rng.below(b.len() / 188), 1 + rng.below(64));
            if rng.below(2) == 0 {
                let mut cc = rng.next() as u8;
                mutate::ts_packets(b, from, n, |p| {
                    cc = cc.wrapping_mul(7).wrapping_add(3);
                    mutate::ts_set_cc(p, cc)
                })
                .then(|| ("TS continuity counters", format!("TS continuity counters of packets {from}+{n}")))
            } else {
                let pid = (rng.next() % 0x2000) as u16;
                mutate::ts_packets(b, from, n, |p| mutate::ts_set_pid(p, pid))
                    .then(|| ("TS PIDs", format!("TS PID {pid} on packets {from}+{n}")))
            }
        }
        "jpg" => {
            let (w, h) = (hostile_side(rng) as u16, hostile_side(rng) as u16);
            mutate::jpeg_sof_size(b, w, h).then(|| ("JPEG SOF size", format!("JPEG SOF {w}x{h}")))
        }
        "png" => {
            let (w, h) = (hostile_side(rng), hostile_side(rng));
            mutate::png_ihdr_size(b, w, h).then(|| ("PNG IHDR size", format!("PNG IHDR {w}x{h}")))
        }
        "y4m" => {
            let (w, h) = (hostile_side(rng) as u64, hostile_side(rng) as u64);
            *b = mutate::y4m_size(b, w, h)?;
            Some(("Y4M header size", format!("Y4M header {w}x{h}")))
        }
        _ => None,
    }
}

/// A variant: (extension, class, what was done, bytes). The class groups the tally.
fn mutate(rng: &mut Rng, bases: &[(String, Vec<u8>)]) -> (String, String, String, Vec<u8>) {
    let (ext, base) = &bases[rng.below(bases.len())];
    let mut b = base.clone();
    if rng.below(2) == 0 {
        if let Some((class, what)) = structured(rng, ext, &mut b) {
            let class = format!("structured: {class} ({ext})");
            return (ext.clone(), class, what, b);
        }
        b = base.clone();
    }
    let kind = rng.below(5);
    const BLIND: [&str; 5] = ["byte flips", "truncation", "zeroed block", "spliced header", "repeated block"];
    let class = format!("blind: {}", BLIND[kind]);
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
    (ext.clone(), class, what, b)
}

/// How a variant's run ended, when it ended acceptably.
struct Outcome {
    code: i32,
    /// Exit 0 with a warning on stderr (damage skipped, an index recovered).
    warned: bool,
    wall_s: f64,
    /// Peak resident memory of the run, from the kernel's account of the child.
    peak_rss_mb: f64,
}

/// Peak memory a run may reach at the default limits (issue 22's target).
const MAX_RSS_MB: f64 = 1024.0;

fn run_variant(path: &Path, limit: Duration) -> Result<Outcome, String> {
    let mut child = common::bin()
        .args(["process", "--no-progress"])
        .arg(path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let reader = |s: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = s;
            let mut v = Vec::new();
            s.read_to_end(&mut v).map(|_| v).unwrap_or_default()
        })
    };
    let out_reader = reader(Box::new(child.stdout.take().unwrap()));
    let err_reader = reader(Box::new(child.stderr.take().unwrap()));
    let pid = child.id() as libc::pid_t;
    let t = Instant::now();
    // wait4 reaps the child and gives its peak RSS in the same call
    let (status, usage) = loop {
        let mut status = 0;
        // SAFETY: a zeroed rusage is a valid out-parameter; pid is our own unreaped child
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break (status, usage);
        }
        if r < 0 {
            return Err(format!("wait4: {}", std::io::Error::last_os_error()));
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            // SAFETY: as above, blocking this time
            unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
            return Err(format!("still running after {limit:?} (hang)"));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let wall_s = t.elapsed().as_secs_f64();
    let peak_rss_mb = usage.ru_maxrss as f64 / 1024.0;
    let stdout = String::from_utf8(out_reader.join().unwrap()).map_err(|_| "stdout is not UTF-8".to_string())?;
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap()).into_owned();
    if libc::WIFSIGNALED(status) {
        return Err(format!("killed by signal {}: {stderr}", libc::WTERMSIG(status)));
    }
    let code = libc::WEXITSTATUS(status);
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
    if peak_rss_mb > MAX_RSS_MB {
        return Err(format!("peak RSS {peak_rss_mb:.0} MB, over {MAX_RSS_MB} MB"));
    }
    let warned = code == 0 && stderr.contains(" WARN ");
    Ok(Outcome { code, warned, wall_s, peak_rss_mb })
}

/// Outcomes of one class of variants.
#[derive(Default)]
struct ClassTally {
    exits: [usize; 3],
    warned: usize,
    failures: usize,
    max_wall_s: f64,
    slowest: String,
    max_rss_mb: f64,
}

/// The tally as a Markdown table (the campaign commits it to BENCHMARKS.md).
fn tally_table(tally: &BTreeMap<String, ClassTally>) -> String {
    let mut t = String::from(
        "| class | variants | exit 0 | of which warned | exit 1 | exit 2 | failures | slowest (s) | peak RSS (MB) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut all = ClassTally::default();
    for (class, c) in tally {
        let n = c.exits.iter().sum::<usize>() + c.failures;
        t += &format!(
            "| {class} | {n} | {} | {} | {} | {} | {} | {:.1} | {:.0} |\n",
            c.exits[0], c.warned, c.exits[1], c.exits[2], c.failures, c.max_wall_s, c.max_rss_mb
        );
        (0..3).for_each(|k| all.exits[k] += c.exits[k]);
        all.warned += c.warned;
        all.failures += c.failures;
        if c.max_wall_s > all.max_wall_s {
            all.max_wall_s = c.max_wall_s;
            all.slowest = c.slowest.clone();
        }
        all.max_rss_mb = all.max_rss_mb.max(c.max_rss_mb);
    }
    let n = all.exits.iter().sum::<usize>() + all.failures;
    t += &format!(
        "| **all** | {n} | {} | {} | {} | {} | {} | {:.1} | {:.0} |\n\nSlowest file: {}\n",
        all.exits[0], all.warned, all.exits[1], all.exits[2], all.failures, all.max_wall_s, all.max_rss_mb, all.slowest
    );
    t
}

#[test]
fn mutated_media_never_panic_hang_or_break_the_output() {
    let n: usize = std::env::var("FER_RT_FUZZ_N").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let seed: u64 = std::env::var("FER_RT_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0xF022_2026);
    let tmp = tempfile::tempdir().unwrap();
    let bases = bases(tmp.path());
    let mut rng = Rng(seed);
    let variants: Vec<(PathBuf, String, String)> = (0..n)
        .map(|i| {
            let (ext, class, what, bytes) = mutate(&mut rng, &bases);
            let p = tmp.path().join(format!("v{i:04}.{ext}"));
            std::fs::write(&p, bytes).unwrap();
            (p, class, what)
        })
        .collect();
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 4);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    let tally = std::sync::Mutex::new(BTreeMap::<String, ClassTally>::new());
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some((p, class, what)) = variants.get(i) else { break };
                let r = run_variant(p, Duration::from_secs(60));
                let mut tally = tally.lock().unwrap();
                let c = tally.entry(class.clone()).or_default();
                match r {
                    Ok(o) => {
                        c.exits[o.code as usize] += 1;
                        c.warned += usize::from(o.warned);
                        if o.wall_s > c.max_wall_s {
                            c.max_wall_s = o.wall_s;
                            c.slowest =
                                format!("{} ({what}), {:.1} s", p.file_name().unwrap().to_string_lossy(), o.wall_s);
                        }
                        c.max_rss_mb = c.max_rss_mb.max(o.peak_rss_mb);
                    }
                    Err(e) => {
                        c.failures += 1;
                        failures.lock().unwrap().push(format!("{} ({what}): {e}", p.display()));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    let table = tally_table(&tally.into_inner().unwrap());
    eprintln!("{n} variants (seed {seed}) in {:.0} s, {workers} at a time:\n{table}", t.elapsed().as_secs_f64());
    if let Some(path) = std::env::var_os("FER_RT_FUZZ_TALLY") {
        std::fs::write(&path, format!("{n} variants, seed {seed}, {workers} at a time\n\n{table}")).unwrap();
    }
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
