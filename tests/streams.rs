//! Several live streams in one process (`live --source A --source B ...`), on real media
//! played slowly enough (10 fps) that nothing drops on a busy 2-core machine, so each
//! stream's results can be compared exactly with that file run alone; plus a UDP stream
//! from the ffmpeg CLI on 127.0.0.1 that is killed and restarted, streams that never
//! open, and the classifier's batches mixing streams.
mod common;

use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Two slow clips (40 frames at 10 fps): single_face.mp4 and a 640x360 cut of the
/// Pexels clip, made once per test binary.
fn clips() -> &'static (PathBuf, PathBuf) {
    static CLIPS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    CLIPS.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("fer-rt-streams-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let make = |src: &str, out: &str, scale: &str| {
            let path = dir.join(out);
            let vf = format!("setpts=3*PTS{scale}");
            let src = common::media(src);
            common::ffmpeg(&[
                "-i",
                src.to_str().unwrap(),
                "-an",
                "-frames:v",
                "40",
                "-vf",
                &vf,
                "-r",
                "10",
                "-c:v",
                "libx264",
                "-pix_fmt",
                "yuv420p",
                path.to_str().unwrap(),
            ]);
            path
        };
        (make("single_face.mp4", "one.mp4", ""), make("WolfgangLanger_Pexels.mp4", "pexels.mp4", ",scale=640:360"))
    })
}

fn lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// A line without what legitimately differs between runs: timings and the stream name.
fn comparable(l: &Value) -> Value {
    let mut l = l.clone();
    let o = l.as_object_mut().unwrap();
    o.remove("timings_ms");
    o.remove("stream");
    l
}

fn live(args: &[&str]) -> std::process::Output {
    common::bin().args(["live", "--no-window", "--json"]).args(args).output().unwrap()
}

fn by_stream(all: &[Value]) -> HashMap<String, Vec<Value>> {
    let mut m: HashMap<String, Vec<Value>> = HashMap::new();
    for l in all {
        m.entry(l["stream"].as_str().expect("every line names its stream").to_string()).or_default().push(l.clone());
    }
    m
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Sends `clip` in real time as MPEG-TS to the port (single_face.mp4: 72 frames, 3 s).
fn sender(clip: &Path, port: u16) -> Child {
    Command::new("ffmpeg")
        .args(["-v", "error", "-re", "-i"])
        .arg(clip)
        .args(["-c", "copy", "-f", "mpegts"])
        .arg(format!("udp://127.0.0.1:{port}?pkt_size=1316"))
        .stdin(Stdio::null())
        .spawn()
        .expect("ffmpeg CLI (scripts/setup.sh installs it)")
}

/// The exit code of a child whose pipes are read elsewhere, failing the test after `secs`.
fn wait_status(child: &mut Child, secs: u64) -> Option<i32> {
    let t0 = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code();
        }
        if t0.elapsed().as_secs() > secs {
            let _ = child.kill();
            panic!("fer-rt hung for {secs} s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn three_files_and_a_udp_stream_each_as_if_run_alone() {
    let (one, pexels) = clips();
    let (one_s, pexels_s) = (one.to_str().unwrap(), pexels.to_str().unwrap());
    let alone: Vec<Vec<Value>> = std::thread::scope(|s| {
        let runs: Vec<_> = [one_s, pexels_s].map(|c| s.spawn(move || live(&["--source", c]))).into_iter().collect();
        runs.into_iter()
            .map(|h| {
                let out = h.join().unwrap();
                assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
                lines(&out.stdout)
            })
            .collect()
    });
    let port = free_udp_port();
    let rx = common::bin()
        .args(["live", "--no-window", "--json", "--timeout", "3"])
        .args([
            "--source",
            &format!("a={one_s}"),
            "--source",
            &format!("b={pexels_s}"),
            "--source",
            &format!("c={one_s}"),
        ])
        .args(["--source", &format!("net=udp://127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    common::wait_udp_bound(port, 60);
    let mut tx = sender(&common::media("single_face.mp4"), port);
    let out = rx.wait_with_output().unwrap();
    let _ = tx.kill();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = lines(&out.stdout);
    let streams = by_stream(&all);
    for (name, want) in [("a", &alone[0]), ("b", &alone[1]), ("c", &alone[0])] {
        let got = &streams[name];
        assert!(got.iter().all(|l| l["dropped_frames"] == 0), "{name}: paced at 10 fps, nothing drops");
        let frames: Vec<u64> = got.iter().map(|l| l["frame"].as_u64().unwrap()).collect();
        assert_eq!(frames, (0..40).collect::<Vec<_>>(), "{name}: its own numbering, in order");
        for (g, w) in got.iter().zip(want) {
            assert_eq!(comparable(g), comparable(w), "{name}: frame {} differs from the run alone", g["frame"]);
        }
    }
    // the UDP stream: its own name, frames in order, its own track ids
    let net = streams.get("net").unwrap_or_else(|| panic!("the UDP stream's frames arrive: {stderr}"));
    assert!(net.len() >= 20, "{} frames of the UDP stream: {stderr}", net.len());
    let frames: Vec<u64> = net.iter().map(|l| l["frame"].as_u64().unwrap()).collect();
    assert!(frames.windows(2).all(|w| w[1] > w[0]));
    let ids: Vec<u64> = net
        .iter()
        .flat_map(|l| l["faces"].as_array().unwrap().iter())
        .map(|f| f["track_id"].as_u64().unwrap())
        .collect();
    // track ids are the stream's own: they start at 1, not after the other streams' ids
    // (packets lost on the wire may end a track and start another)
    assert_eq!(ids.first(), Some(&1), "{ids:?}");
    assert!(ids.windows(2).all(|w| w[1] >= w[0]), "{ids:?}");
    // every stream's summary line
    for name in ["a", "b", "c", "net"] {
        assert!(stderr.lines().any(|l| l.starts_with(&format!("stream {name}: "))), "{stderr}");
    }
}

#[test]
fn a_killed_udp_stream_reconnects_and_the_others_are_unaffected() {
    let (one, _) = clips();
    let port = free_udp_port();
    let mut rx = common::bin()
        .args(["live", "--no-window", "--json", "--timeout", "1", "--reconnect", "5"])
        .args(["--source", &format!("file={}", one.display()), "--source", &format!("net=udp://127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let watched = common::procs::watch(&mut rx);
    common::wait_udp_bound(port, 60);
    // killed mid-clip
    let clip = common::media("single_face.mp4");
    let mut first = sender(&clip, port);
    std::thread::sleep(Duration::from_millis(1500));
    first.kill().unwrap();
    first.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let l = watched
            .stderr_lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the loss is logged");
        if l.contains("stream") && (l.contains("lost") || l.contains("ended") || l.contains("stopped")) {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(600));
    let mut second = sender(&clip, port);
    assert!(second.wait().unwrap().success());
    // the UDP stream is then lost for good after its attempts; the file ended long before
    let status = wait_status(&mut rx, 60);
    let lines: Vec<Value> = watched.stdout.join().unwrap().iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    let err = watched.stderr.join().unwrap();
    assert!(err.iter().any(|l| l.contains("reconnected")), "{err:?}");
    let streams = by_stream(&lines);
    let file: Vec<u64> = streams["file"].iter().map(|l| l["frame"].as_u64().unwrap()).collect();
    assert_eq!(file, (0..40).collect::<Vec<_>>(), "the file stream lost nothing: {err:?}");
    let net: Vec<u64> = streams["net"].iter().map(|l| l["frame"].as_u64().unwrap()).collect();
    assert!(net.windows(2).all(|w| w[1] > w[0]), "the UDP stream keeps counting across the gap");
    // frames from both senders: runs of frames apart by more than the 1 s timeout. The
    // first run is the first sender's; a frame or two that the decoder held come out alone
    // when its input is lost; a later run of at least 10 is the second sender's. Not a
    // count: what a sender sends before the stream is opened and reaches a keyframe is
    // lost, more of it on a busy machine (2 x 72 sent, 70 arrived in one run, and with two
    // busy loops beside it the first sender's 1.5 s gave 10 frames)
    let pts: Vec<f64> = streams["net"].iter().map(|l| l["pts_ms"].as_f64().unwrap()).collect();
    let mut runs = vec![1usize];
    for w in pts.windows(2) {
        if w[1] - w[0] >= 1000.0 {
            runs.push(1);
        } else {
            *runs.last_mut().unwrap() += 1;
        }
    }
    assert!(runs[1..].iter().any(|&n| n >= 10), "frames from both senders, runs of {runs:?}: {pts:?}");
    // one stream lost is a warning, not the run's failure: the other ended well
    assert_eq!(status, Some(0), "{err:?}");
    assert!(err.iter().any(|l| l.starts_with("stream net: ") && l.contains("ended early")), "{err:?}");
    assert!(!err.iter().any(|l| l.starts_with("error: ")), "{err:?}");
}

#[test]
fn a_stream_that_never_opens_is_one_warning_and_all_failing_is_exit_1() {
    let (one, _) = clips();
    let out = live(&["--source", &format!("good={}", one.display()), "--source", "bad=/nonexistent/clip.mp4"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("bad") && warnings[0].contains("/nonexistent/clip.mp4"), "{stderr}");
    let all = lines(&out.stdout);
    assert_eq!(all.len(), 40);
    assert!(all.iter().all(|l| l["stream"] == "good"));

    let out = live(&["--source", "x=/nonexistent/a.mp4", "--source", "y=/nonexistent/b.mp4"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("every stream failed") && errors[0].contains("x: ") && errors[0].contains("y: "),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    assert!(!stderr.contains("panicked"));
}

#[test]
fn names_must_be_unique_and_outputs_go_one_video_per_stream() {
    let (one, pexels) = clips();
    let out = live(&["--source", &format!("cam={}", one.display()), "--source", &format!("cam={}", pexels.display())]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("two streams are named 'cam'"));

    let dir = std::env::temp_dir().join(format!("fer-rt-streams-out-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let target = format!("{}/", dir.display());
    let out = common::bin()
        .args(["live", "--no-window", "--output", &target])
        .args(["--source", &format!("left={}", one.display()), "--source", &format!("right={}", pexels.display())])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    for name in ["left", "right"] {
        let frames = common::frames_of(&dir.join(format!("{name}.mp4")));
        assert_eq!(frames.len(), 40, "{name}");
        assert_eq!((frames[0].1, frames[0].2), (640, 360), "{name}");
    }
    assert!(std::fs::read_dir(&dir).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().ends_with(".part")));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_classifier_batches_mix_streams() {
    let (one, pexels) = clips();
    // a wait long enough that every stream's crops meet in one batch; the batch closes as
    // soon as it holds a frame of each
    let cfg = std::env::temp_dir().join(format!("fer-rt-streams-wait-{}.toml", std::process::id()));
    std::fs::write(&cfg, "[batch]\nstreams_max_wait_ms = 40\n").unwrap();
    let out = common::bin()
        .arg("--config")
        .arg(&cfg)
        .args(["live", "--no-window", "--json"])
        .args(["--source", &format!("a={}", one.display()), "--source", &format!("b={}", pexels.display())])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let all = lines(&out.stdout);
    let mixed = all.iter().filter(|l| l["timings_ms"]["batch_streams"] == 2).count();
    assert!(mixed >= all.len() / 2, "{mixed} of {} frames went into a batch of both streams", all.len());
}

#[test]
fn bench_reports_each_stream() {
    let out = common::bin()
        .args(["bench", "--streams", "3", "--faces", "2,1", "--fps", "10", "--frames", "30", "--warmup", "2", "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let streams = r["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 3);
    let faces: Vec<f64> = streams.iter().map(|s| s["faces_per_frame"].as_f64().unwrap()).collect();
    assert_eq!(faces, [2.0, 1.0, 2.0]);
    for s in streams {
        assert_eq!(s["frames"].as_u64().unwrap() + s["dropped"].as_u64().unwrap(), 30, "{s}");
        assert!(s["end_to_end"]["p99"].as_f64().unwrap() > 0.0);
    }
    assert!(stderr.contains("s2"), "{stderr}");
}

use common::procs::Xvfb;

/// The screen as RGB rows, by the ffmpeg CLI's x11grab.
fn screen(display: &str) -> Option<Vec<u8>> {
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "x11grab", "-video_size", "1280x800", "-i", &format!("{display}+0,0")])
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .ok()?;
    (o.status.success() && o.stdout.len() == 1280 * 800 * 3).then_some(o.stdout)
}

#[test]
fn the_window_tiles_the_streams() {
    let (one, pexels) = clips();
    let x = Xvfb::start();
    let mut child = common::bin()
        .args(["live", "--json", "--hold"])
        .args(["--source", &format!("left={}", one.display()), "--source", &format!("right={}", pexels.display())])
        .env("DISPLAY", &x.1)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // both streams' frames reach the window: wait for the end of both (40 frames each)
    let stdout = child.stdout.take().unwrap();
    let n = BufReader::new(stdout).lines().take(80).count();
    assert_eq!(n, 80);
    std::thread::sleep(Duration::from_millis(500));
    let img = screen(&x.1).expect("screenshot");
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let status = common::wait_or_kill(child, 60).status;
    assert!(matches!(status.code(), Some(0) | Some(130)), "{status:?}");
    // the window is 1280x360 (two 640x360 tiles side by side), wherever the X server put it
    let lit = |x: usize, y: usize| img[(y * 1280 + x) * 3..(y * 1280 + x) * 3 + 3].iter().any(|&v| v > 10);
    let first = (0..1280 * 800).find(|&i| lit(i % 1280, i / 1280)).expect("the window is on screen");
    let (ox, oy) = (first % 1280, first / 1280);
    let filled = |x0: usize| {
        (0..360)
            .step_by(8)
            .flat_map(|y| (x0..x0 + 640).step_by(8).map(move |x| (x, y)))
            .filter(|&(x, y)| oy + y < 800 && lit((ox + x).min(1279), oy + y))
            .count()
    };
    let (left, right) = (filled(0), filled(640.min(1279 - ox)));
    // each tile shows its frame: most of its sampled pixels are not black
    assert!(left > 2000 && right > 2000, "tiles drawn: left {left}, right {right} of 3600 samples");
    // each tile's heads-up line: white text in its top rows
    let white = |x0: usize| {
        (0..14)
            .flat_map(|y| (x0..x0 + 600).map(move |x| (x, y)))
            .filter(|&(x, y)| {
                let i = ((oy + y) * 1280 + (ox + x).min(1279)) * 3;
                img[i..i + 3].iter().all(|&v| v > 240)
            })
            .count()
    };
    assert!(white(0) > 100 && white(640) > 100, "heads-up lines: {} {}", white(0), white(640));
}

#[test]
fn ctrl_c_writes_everything_processed_and_finalises_every_video() {
    let (one, pexels) = clips();
    let dir = std::env::temp_dir().join(format!("fer-rt-streams-int-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut child = common::bin()
        .args(["live", "--no-window", "--json", "--output", &format!("{}/", dir.display())])
        .args(["--source", &format!("a={}", one.display()), "--source", &format!("b={}", pexels.display())])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let watched = common::procs::watch(&mut child);
    std::thread::sleep(Duration::from_millis(2500));
    let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    let status = wait_status(&mut child, 60);
    let all: Vec<Value> = watched.stdout.join().unwrap().iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    let err = watched.stderr.join().unwrap();
    assert_eq!(status, Some(130), "{err:?}");
    let errors: Vec<&String> = err.iter().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "{err:?}");
    assert!(errors[0].contains("interrupted"), "{err:?}");
    let streams = by_stream(&all);
    for name in ["a", "b"] {
        let lines = &streams[name];
        assert!(!lines.is_empty() && lines.len() < 40, "{name}: cut short, {} frames", lines.len());
        // every frame written as JSON is in the finalised video, renamed into place
        assert_eq!(common::frames_of(&dir.join(format!("{name}.mp4"))).len(), lines.len(), "{name}");
        assert!(!dir.join(format!("{name}.mp4.part")).exists());
        assert!(err.iter().any(|l| l.starts_with(&format!("stream {name}: {} frame(s)", lines.len()))), "{err:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn process_together_gives_each_input_its_results_alone() {
    let (one, pexels) = clips();
    let alone = |clip: &Path| {
        let out = common::bin().arg("process").arg(clip).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        lines(&out.stdout)
    };
    let want = [alone(one), alone(pexels)];
    let out = common::bin()
        .arg("process")
        .arg(one)
        .arg(format!("cut={}", pexels.display()))
        .arg("--together")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let streams = by_stream(&lines(&out.stdout));
    for (name, want) in [("one", &want[0]), ("cut", &want[1])] {
        let got = &streams[name];
        assert_eq!(got.len(), want.len(), "{name}: every frame, none dropped");
        for (g, w) in got.iter().zip(want) {
            assert_eq!(comparable(g), comparable(w), "{name}: frame {} differs from process alone", g["frame"]);
        }
    }
    // several inputs without --together are refused, with the way out
    let out = common::bin().arg("process").arg(one).arg(pexels).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--together"));
}

/// The scheduler slice (ns, `se.slice` in /proc) of each thread of a running `bench --live
/// --streams 2` with `extra` arguments, by thread name, read once its sink has started.
fn live_thread_slices(extra: &[&str]) -> HashMap<String, Vec<u64>> {
    let mut child = common::bin()
        .args(["bench", "--live", "--streams", "2", "--faces", "1", "--fps", "15", "--frames", "150"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let tasks = PathBuf::from(format!("/proc/{}/task", child.id()));
    let read = || -> HashMap<String, Vec<u64>> {
        let mut by_name: HashMap<String, Vec<u64>> = HashMap::new();
        for task in std::fs::read_dir(&tasks).into_iter().flatten().flatten() {
            let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default().trim().to_string();
            let sched = std::fs::read_to_string(task.path().join("sched")).unwrap_or_default();
            let slice = sched.lines().find(|l| l.starts_with("se.slice")).and_then(|l| l.split(':').nth(1));
            if let Some(ns) = slice.and_then(|v| v.trim().parse::<f64>().ok()) {
                by_name.entry(name).or_default().push(ns as u64);
            }
        }
        by_name
    };
    let t0 = Instant::now();
    let mut seen = HashMap::new();
    while t0.elapsed() < Duration::from_secs(60) && child.try_wait().unwrap().is_none() {
        seen = read();
        if seen.contains_key("sink") {
            // the stages have started; let the detectors take a few frames
            std::thread::sleep(Duration::from_millis(1500));
            seen = read();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    seen
}

#[test]
fn a_live_runs_stage_threads_ask_for_short_scheduler_slices() {
    // only where the kernel takes custom slices (Linux 6.12 and later) and shows them
    let takes = std::thread::spawn(|| fer_rt::runtime::slice::request(300)).join().unwrap();
    let shows = std::fs::read_to_string("/proc/self/sched").is_ok_and(|s| s.contains("se.slice"));
    if !takes || !shows {
        eprintln!("this kernel takes no custom slices or does not show them: nothing to check");
        return;
    }
    let stages = ["source", "detect", "align", "model", "analysis", "sink"];
    let on = live_thread_slices(&[]);
    for name in stages {
        let slices = on.get(name).unwrap_or_else(|| panic!("no thread {name} seen: {on:?}"));
        assert!(slices.iter().all(|&ns| ns == 100_000), "{name}: {slices:?} (100 us wanted), all: {on:?}");
    }
    // the detector pool's workers (one a core up to the streams), on frames of one face
    for (name, slices) in on.iter().filter(|(n, _)| n.len() > 6 && n.starts_with("detect")) {
        assert!(slices.iter().all(|&ns| ns == 100_000), "{name}: {slices:?} (100 us wanted)");
    }
    assert_eq!(on["source"].len(), 2, "one reader a stream");
    // pipeline.live_slice_us = 0: every thread keeps the kernel's default
    let dir = std::env::temp_dir().join(format!("fer-rt-slices-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("no_slices.toml");
    std::fs::write(&cfg, "[pipeline]\nlive_slice_us = 0\n").unwrap();
    let off = live_thread_slices(&["--config", cfg.to_str().unwrap()]);
    for name in stages {
        let slices = off.get(name).unwrap_or_else(|| panic!("no thread {name} seen: {off:?}"));
        assert!(slices.iter().all(|&ns| ns != 100_000), "{name}: {slices:?} (the default wanted)");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
