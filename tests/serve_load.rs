//! `fer-rt serve` under load and faults, each loop bounded and ending by itself: many
//! sessions at once with uncrossed results, memory flat over hundreds of requests, a
//! client that stops reading while others keep their latency, clients that vanish
//! mid-frame, and a drain on SIGTERM that answers what is in flight.
mod common;
use common::server::{get, json, next_text, post, session_frame, ws, Server};
use std::io::Write;
use std::time::{Duration, Instant};

/// The face boxes a photo gives on its own.
fn boxes_of(server: &Server, photo: &[u8]) -> Vec<Vec<f64>> {
    let (status, body) = post(&server.url("/v1/analyze"), "image/jpeg", photo);
    assert_eq!(status, 200, "{body}");
    boxes(&json(&body))
}

fn boxes(line: &serde_json::Value) -> Vec<Vec<f64>> {
    let mut b: Vec<Vec<f64>> = line["faces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["box"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect())
        .collect();
    b.sort_by(|x, y| x[0].total_cmp(&y[0]));
    b
}

/// Same faces, each box edge within `share` of the box's side (between keyframes a face's
/// box comes from the search around it, at another scale than the full frame's).
fn same_boxes(a: &[Vec<f64>], b: &[Vec<f64>], share: f64) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            let side = (y[2] - y[0]).max(y[3] - y[1]);
            x.iter().zip(y).all(|(p, q)| (p - q).abs() <= share * side)
        })
}

#[test]
fn thirty_two_sessions_for_thirty_seconds_get_their_own_results() {
    let server = Server::start_with(&[], Some("[serve]\nmax_sessions = 40\n"));
    // four photos with different faces and sizes: a reply crossed into another session
    // would show another photo's faces
    let names = ["multi_face.jpg", "single_face.jpg", "0-f1-su-ph.jpg", "45-m7-di-ph.jpg"];
    let photos: Vec<Vec<u8>> = names.iter().map(|n| std::fs::read(common::media(n)).unwrap()).collect();
    let expected: Vec<Vec<Vec<f64>>> = photos.iter().map(|p| boxes_of(&server, p)).collect();
    for (i, e) in expected.iter().enumerate() {
        for (j, f) in expected.iter().enumerate().skip(i + 1) {
            assert!(!same_boxes(e, f, 0.15), "photos {i} and {j} must be told apart by their faces");
        }
    }
    let run_for = Duration::from_secs(30);
    let threads: Vec<_> = (0..32)
        .map(|k| {
            let url = server.ws_url("/v1/session");
            let (photo, want) = (photos[k % 4].clone(), expected[k % 4].clone());
            std::thread::spawn(move || {
                let mut s = ws(&url, &[]).unwrap();
                let t = Instant::now();
                let mut n = 0u64;
                while t.elapsed() < run_for {
                    let reply = session_frame(&mut s, &photo, Some(n as f64 * 40.0));
                    assert_eq!(reply["seq"], n, "session {k}: {reply}");
                    assert_eq!(reply["result"]["frame"], n, "session {k}: its own frame count");
                    let got = boxes(&reply["result"]);
                    assert!(
                        same_boxes(&got, &want, 0.15),
                        "session {k} frame {n}: {got:?} is not its photo's {want:?}"
                    );
                    n += 1;
                }
                s.close(None).ok();
                n
            })
        })
        .collect();
    let counts: Vec<u64> = threads.into_iter().map(|t| t.join().expect("a session thread failed")).collect();
    assert!(counts.iter().all(|&n| n >= 3), "every session was served: {counts:?}");
    eprintln!("frames per session in 30 s: {counts:?}");
    let (_, health) = get(&server.url("/healthz"), &[]);
    assert!(!server.stderr().contains("panicked"), "{}", server.stderr());
    std::thread::sleep(Duration::from_millis(300));
    let (_, health2) = get(&server.url("/healthz"), &[]);
    assert_eq!(json(&health2)["sessions"], 0, "all closed: {health} {health2}");
}

#[test]
fn five_hundred_requests_leave_memory_flat() {
    let server = Server::start(&[]);
    let photo = std::fs::read(common::media("multi_face.jpg")).unwrap();
    let mut after_100 = 0;
    for i in 0..500 {
        let (status, body) = post(&server.url("/v1/analyze"), "image/jpeg", &photo);
        assert_eq!(status, 200, "request {i}: {body}");
        if i == 99 {
            after_100 = server.rss_kib();
        }
    }
    let after_500 = server.rss_kib();
    let growth = after_500 as f64 / after_100 as f64 - 1.0;
    eprintln!("RSS after 100 requests {after_100} KiB, after 500 {after_500} KiB ({:+.2} %)", growth * 100.0);
    assert!(growth < 0.03, "RSS grew {:.1} % from request 100 to 500 ({after_100} -> {after_500} KiB)", growth * 100.0);
}

/// p50 of a session's send-to-reply times over `n` frames, ms.
fn session_p50(s: &mut common::server::Ws, photo: &[u8], n: usize, first_pts: usize) -> f64 {
    let mut ms: Vec<f64> = (0..n)
        .map(|i| {
            let t = Instant::now();
            session_frame(s, photo, Some((first_pts + i) as f64 * 40.0));
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    ms[n / 2]
}

#[test]
fn a_client_that_stops_reading_slows_no_one_else() {
    let clip = common::media("WolfgangLanger_Pexels.mp4");
    let server = Server::start_with(
        &["--source", &format!("clip={}", clip.display())],
        Some("[serve]\nclient_timeout_s = 2.0\nclient_queue_frames = 4\n"),
    );
    let photo = std::fs::read(common::media("single_face.jpg")).unwrap();
    let mut b = ws(&server.ws_url("/v1/session"), &[]).unwrap();
    session_p50(&mut b, &photo, 5, 0);
    let before = session_p50(&mut b, &photo, 30, 5);
    // a watcher of the source and a session that both stop reading
    let stalled_watcher = ws(&server.ws_url("/v1/streams/clip/results"), &[]).unwrap();
    let mut stalled_session = ws(&server.ws_url("/v1/session"), &[]).unwrap();
    stalled_session.send(tungstenite::Message::Binary(photo.clone().into())).unwrap();
    let mut reader = ws(&server.ws_url("/v1/streams/clip/results"), &[]).unwrap();
    let during = session_p50(&mut b, &photo, 30, 35);
    // the reading watcher keeps getting results in order while the other does not read
    let mut closed = None;
    let mut frames = Vec::new();
    while frames.len() < 20 {
        let t = next_text(&mut reader, &mut closed).expect("the reading watcher keeps its results");
        frames.push(json(&t)["frame"].as_u64().unwrap());
    }
    assert!(frames.windows(2).all(|w| w[1] > w[0]), "{frames:?}");
    eprintln!("session p50 {before:.1} ms alone, {during:.1} ms beside two clients that stopped reading");
    assert!(during < before * 3.0 + 20.0, "a stalled client slowed the others: {before:.1} -> {during:.1} ms");
    drop((stalled_watcher, stalled_session));
}

#[test]
fn clients_that_vanish_mid_frame_leave_the_service_serving() {
    let server = Server::start(&[]);
    let photo = std::fs::read(common::media("single_face.jpg")).unwrap();
    let addr = server.addr.clone();
    // an upload that promises more bytes than it sends, then hangs up
    {
        let mut t = std::net::TcpStream::connect(&addr).unwrap();
        write!(
            t,
            "POST /v1/analyze HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
            photo.len()
        )
        .unwrap();
        t.write_all(&photo[..photo.len() / 3]).unwrap();
    }
    // a session that sends half a WebSocket frame, then hangs up
    {
        let mut s = ws(&server.ws_url("/v1/session"), &[]).unwrap();
        let tungstenite::stream::MaybeTlsStream::Plain(tcp) = s.get_mut() else { unreachable!() };
        // a masked binary frame header announcing 64 KiB, and 1 KiB of it
        let mut head = vec![0x82, 0xFE, 0x01, 0x00, 1, 2, 3, 4];
        head[2..4].copy_from_slice(&(65535u16).to_be_bytes());
        tcp.write_all(&head).unwrap();
        tcp.write_all(&[0u8; 1024]).unwrap();
    }
    // a session that sends a frame and hangs up before its reply
    {
        let mut s = ws(&server.ws_url("/v1/session"), &[]).unwrap();
        s.send(tungstenite::Message::Binary(photo.clone().into())).unwrap();
    }
    let mut s = ws(&server.ws_url("/v1/session"), &[]).unwrap();
    let reply = session_frame(&mut s, &photo, None);
    assert_eq!(reply["result"]["faces"].as_array().unwrap().len(), 1, "{reply}");
    s.close(None).unwrap();
    let (status, _) = post(&server.url("/v1/analyze"), "image/jpeg", &photo);
    assert_eq!(status, 200);
    let t = Instant::now();
    while json(&get(&server.url("/healthz"), &[]).1)["sessions"] != 0 {
        assert!(t.elapsed() < Duration::from_secs(20), "sessions not closed");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!server.stderr().contains("panicked"), "{}", server.stderr());
}

#[test]
fn sigterm_answers_the_frame_in_flight_and_closes_sessions() {
    let server = Server::start(&[]);
    let photo = std::fs::read(common::media("multi_face.jpg")).unwrap();
    let mut s = ws(&server.ws_url("/v1/session"), &[]).unwrap();
    session_frame(&mut s, &photo, None);
    s.send(tungstenite::Message::Binary(photo.clone().into())).unwrap();
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(server.pid() as i32, libc::SIGTERM) };
    let mut closed = None;
    let mut replies = Vec::new();
    while let Some(t) = next_text(&mut s, &mut closed) {
        replies.push(json(&t));
    }
    assert!(replies.len() <= 1, "{replies:?}");
    if let Some(r) = replies.first() {
        assert_eq!(r["seq"], 1, "the frame in flight is answered: {r}");
    }
    let (code, reason) = closed.expect("a close frame");
    assert_eq!(code, 1001, "{reason}");
    assert!(reason.contains("shutting down"), "{reason}");
    let (code, err) = server.stop();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("stopped"), "{err}");
}
