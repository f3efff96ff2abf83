//! `fer-rt serve` measured side by side with the commands it stands in for, in one run:
//! `/v1/analyze` at 1, 4 and 16 concurrent clients against `fer-rt process PHOTO` in a
//! loop, and a `/v1/session` fed a clip's frames at its own rate against `bench --live` on
//! that clip. `cargo bench --bench serve` (figures in BENCHMARKS.md).
#[path = "../tests/common/mod.rs"]
mod common;
use common::server::{json, post, Server};
use std::time::{Duration, Instant};

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn analyze(server: &Server, photo: &[u8], clients: usize, per_client: usize) -> (f64, f64, f64) {
    let t = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (url, photo) = (server.url("/v1/analyze"), photo.to_vec());
            std::thread::spawn(move || {
                (0..per_client)
                    .map(|_| {
                        let t = Instant::now();
                        let (status, body) = post(&url, "image/jpeg", &photo);
                        assert_eq!(status, 200, "{body}");
                        t.elapsed().as_secs_f64() * 1000.0
                    })
                    .collect::<Vec<f64>>()
            })
        })
        .collect();
    let mut ms: Vec<f64> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    let rps = ms.len() as f64 / t.elapsed().as_secs_f64();
    (rps, pct(&mut ms, 0.5), pct(&mut ms, 0.99))
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for the list of benchmarks
    }
    let photo_path = common::media("multi_face.jpg");
    let photo = std::fs::read(&photo_path).unwrap();
    let server = Server::start(&[]);
    for _ in 0..5 {
        post(&server.url("/v1/analyze"), "image/jpeg", &photo);
    }
    println!("## /v1/analyze on {} (5 faces), 2 workers", photo_path.file_name().unwrap().to_string_lossy());
    println!("| clients | requests/s | p50 ms | p99 ms |\n|---|---|---|---|");
    for clients in [1, 4, 16] {
        let (rps, p50, p99) = analyze(&server, &photo, clients, 320 / clients);
        println!("| {clients} | {rps:.1} | {p50:.1} | {p99:.1} |");
    }
    let mut runs: Vec<f64> = (0..20)
        .map(|_| {
            let t = Instant::now();
            let (code, _, err) = common::process(&photo_path, &[]);
            assert_eq!(code, 0, "{err}");
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    let total: f64 = runs.iter().sum();
    println!(
        "| `fer-rt process PHOTO` in a loop | {:.1} | {:.1} | {:.1} |",
        runs.len() as f64 / (total / 1000.0),
        pct(&mut runs, 0.5),
        pct(&mut runs, 0.99)
    );

    // a session fed the clip's frames (as JPEGs, what a browser sends) at the clip's rate
    let clip = common::media("WolfgangLanger_Pexels.mp4");
    let dir = tempfile::tempdir().unwrap();
    let frames = common::server::jpeg_frames(&clip, dir.path(), 472);
    let jpegs: Vec<Vec<u8>> = frames.iter().map(|f| std::fs::read(f).unwrap()).collect();
    let fps = 24000.0 / 1001.0;
    let mut ws = common::server::ws(&server.ws_url("/v1/session"), &[]).unwrap();
    let start = Instant::now();
    let mut latencies = Vec::new();
    let mut server_ms = Vec::new();
    let mut overhead = Vec::new();
    let mut dropped = 0;
    let mut sent_at = Vec::with_capacity(jpegs.len());
    let mut next = 0usize;
    let mut replies = 0usize;
    // one socket, in one thread: send when a frame is due, read replies in between
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_mut() {
        s.set_nonblocking(false).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
    }
    while next < jpegs.len() || replies + dropped < jpegs.len() {
        let due = start + Duration::from_secs_f64(next as f64 / fps);
        if next < jpegs.len() && Instant::now() >= due {
            ws.send(tungstenite::Message::Text(format!("{{\"pts_ms\": {}}}", next as f64 * 1000.0 / fps).into()))
                .unwrap();
            ws.send(tungstenite::Message::Binary(jpegs[next].clone().into())).unwrap();
            sent_at.push(Instant::now());
            next += 1;
            continue;
        }
        match ws.read() {
            Ok(tungstenite::Message::Text(t)) => {
                let r = json(&t);
                assert!(r.get("error").is_none(), "{r}");
                let seq = r["seq"].as_u64().unwrap() as usize;
                let ms = sent_at[seq].elapsed().as_secs_f64() * 1000.0;
                latencies.push(ms);
                let t = &r["result"]["timings_ms"];
                let own: f64 = ["detect", "align", "model", "track"].iter().map(|k| t[k].as_f64().unwrap()).sum();
                overhead.push(ms - own);
                server_ms.push(r["server_ms"].as_f64().unwrap());
                dropped = r["dropped"].as_u64().unwrap() as usize;
                replies += 1;
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) => panic!("session: {e}"),
        }
    }
    let out = common::bin().args(["bench", "--live", "--json"]).arg(&clip).output().expect("fer-rt bench");
    let b = json(&String::from_utf8_lossy(&out.stdout));
    let e2e = &b["stages_ms"]["end_to_end"];
    println!(
        "\n## A session fed {} at {fps:.2} fps (JPEG frames) vs `bench --live` on the clip",
        clip.file_name().unwrap().to_string_lossy()
    );
    println!("| | p50 ms | p99 ms | frames answered | dropped |\n|---|---|---|---|---|");
    let n = latencies.len();
    println!(
        "| session, send → reply | {:.1} | {:.1} | {n} | {dropped} |",
        pct(&mut latencies, 0.5),
        pct(&mut latencies, 0.99)
    );
    println!(
        "| session, server receipt → reply | {:.1} | {:.1} | | |",
        pct(&mut server_ms, 0.5),
        pct(&mut server_ms, 0.99)
    );
    println!(
        "| what the session adds: send → reply less the frame's detect, align, model, track | {:.1} | {:.1} | | |",
        pct(&mut overhead, 0.5),
        pct(&mut overhead, 0.99)
    );
    println!(
        "| `bench --live`, end to end | {:.1} | {:.1} | {} | {} |",
        e2e["p50"].as_f64().unwrap(),
        e2e["p99"].as_f64().unwrap(),
        b["frames"],
        b["dropped"]
    );
    let (code, _) = server.stop();
    assert_eq!(code, Some(0));
}
