//! `fer-rt serve` over loopback with real clients: its answers equal `process` on the same
//! media, sessions keep tracks as `process` does, sources stream their results, and every
//! bad body, token and limit gets its 4xx with a reason.
mod common;
use common::server::{get, json, next_text, post, session_frame, ws, Server};
use serde_json::Value;

/// The faces of a result as the fields that must agree between two runs.
fn faces(line: &Value) -> Vec<(Option<u64>, String, String, Vec<f64>)> {
    line["faces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["track_id"].as_u64(),
                f["label"].as_str().unwrap_or("").to_string(),
                f["filtered"]["label"].as_str().unwrap_or("").to_string(),
                f["box"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect(),
            )
        })
        .collect()
}

fn assert_same_faces(a: &Value, b: &Value, what: &str) {
    let (fa, fb) = (faces(a), faces(b));
    assert_eq!(fa.len(), fb.len(), "{what}: face counts\n{a}\n{b}");
    for (x, y) in fa.iter().zip(&fb) {
        assert_eq!((&x.0, &x.1, &x.2), (&y.0, &y.1, &y.2), "{what}: track id, label, filtered label");
        for (p, q) in x.3.iter().zip(&y.3) {
            assert!((p - q).abs() < 1e-3, "{what}: boxes {:?} vs {:?}", x.3, y.3);
        }
    }
    // everything else too, but for timings and the last float bits (process batches faces
    // across frames, a request or session cannot)
    let (a, b) = (common::without_timings(a.clone()), common::without_timings(b.clone()));
    if let Err(e) = common::close(&a, &b, 1e-5, what) {
        panic!("{e}\n{a}\n{b}");
    }
}

#[test]
fn analyze_answers_what_process_finds_in_a_photo() {
    let photo = common::media("multi_face.jpg");
    let (code, lines, err) = common::process(&photo, &[]);
    assert_eq!(code, 0, "{err}");
    let expected = &lines[0];
    assert!(faces(expected).len() >= 2, "the bundled photo has several faces");
    let server = Server::start(&[]);
    let bytes = std::fs::read(&photo).unwrap();
    let (status, body) = post(&server.url("/v1/analyze"), "image/jpeg", &bytes);
    assert_eq!(status, 200, "{body}");
    let got = json(&body);
    assert_same_faces(&got, expected, "raw body");
    assert_eq!(got["schema_version"], expected["schema_version"]);
    assert_eq!(got["track_events"], expected["track_events"], "tracks start and end on a photo");
    // the same photo as a multipart form, as `curl -F image=@photo.jpg` sends it
    let boundary = "fer-rt-test-boundary";
    let mut form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"multi_face.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
    )
    .into_bytes();
    form.extend_from_slice(&bytes);
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let (status, body) = post(&server.url("/v1/analyze"), &format!("multipart/form-data; boundary={boundary}"), &form);
    assert_eq!(status, 200, "{body}");
    assert_same_faces(&json(&body), expected, "multipart");
    // a second request is as stateless as the first
    let (_, body) = post(&server.url("/v1/analyze"), "image/jpeg", &bytes);
    assert_same_faces(&json(&body), expected, "again");

    let (status, health) = get(&server.url("/healthz"), &[]);
    assert_eq!(status, 200);
    assert_eq!(json(&health)["status"], "ok");
    let (status, metrics) = get(&server.url("/metrics"), &[]);
    assert_eq!(status, 200);
    assert!(metrics.contains("fer_rt_frames_total{kind=\"analyze\"} 3"), "{metrics}");
    let n = faces(expected).len() * 3;
    assert!(metrics.contains(&format!("fer_rt_faces_total{{kind=\"analyze\"}} {n}")), "{metrics}");
    assert!(metrics.contains("fer_rt_stage_latency_ms_count{stage=\"detect\"} 3"), "{metrics}");
    let (code, err) = server.stop();
    assert_eq!(code, Some(0), "SIGTERM drains and exits 0:\n{err}");
}

#[test]
fn a_session_keeps_tracks_and_filters_as_process_does() {
    let dir = tempfile::tempdir().unwrap();
    let clip = common::media("WolfgangLanger_Pexels.mp4");
    let frames = common::server::jpeg_frames(&clip, dir.path(), 60);
    assert_eq!(frames.len(), 60);
    // the reference: process on the very JPEGs the session is sent
    let pattern = dir.path().join("%05d.jpg");
    let (code, lines, err) = common::process(&pattern, &["--fps", "25"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(lines.len(), frames.len());
    let server = Server::start(&[]);
    let mut s = ws(&server.ws_url("/v1/session"), &[]).unwrap();
    let mut with_faces = 0;
    for (i, (f, expected)) in frames.iter().zip(&lines).enumerate() {
        let reply = session_frame(&mut s, &std::fs::read(f).unwrap(), expected["pts_ms"].as_f64());
        assert_eq!(reply["seq"], i as u64, "{reply}");
        assert_eq!(reply["dropped"], 0, "sent in step with the replies: nothing dropped");
        let got = &reply["result"];
        assert_eq!(got["frame"], expected["frame"]);
        assert_eq!(got["pts_ms"], expected["pts_ms"]);
        let mut expected = expected.clone();
        if i + 1 == frames.len() {
            // the end of the file ends process's tracks on its last frame; a session ends
            // them when asked (below)
            expected.as_object_mut().unwrap().remove("track_events");
        }
        assert_same_faces(got, &expected, &format!("frame {i}"));
        with_faces += usize::from(!faces(got).is_empty());
    }
    s.send(tungstenite::Message::Text(r#"{"finish": true}"#.into())).unwrap();
    let mut closed = None;
    let done = json(&next_text(&mut s, &mut closed).unwrap());
    assert_eq!(done["finished"], true, "{done}");
    assert_eq!(done["frames"], 60);
    assert_eq!(done["track_events"], lines.last().unwrap()["track_events"], "the end events process gives");
    assert!(with_faces > 50, "the clip shows a face: {with_faces} of 60 frames had one");
    // a frame that is not an image is answered with its error, and the session goes on
    s.send(tungstenite::Message::Binary(b"not an image".to_vec().into())).unwrap();
    let reply = json(&next_text(&mut s, &mut closed).unwrap());
    assert_eq!(reply["status"], 400, "{reply}");
    assert!(reply["error"].as_str().unwrap().contains("not a JPEG or PNG"), "{reply}");
    let reply = session_frame(&mut s, &std::fs::read(&frames[0]).unwrap(), None);
    assert_eq!(reply["result"]["frame"], 0, "after finishing, a new stream: {reply}");
    assert_eq!(reply["result"]["track_events"][0]["event"], "start", "{reply}");
    s.close(None).unwrap();
}

#[test]
fn a_source_streams_its_results_and_annotated_video_to_watchers() {
    let clip = common::media("WolfgangLanger_Pexels.mp4");
    let server = Server::start(&["--source", &format!("clip={}", clip.display())]);
    let (status, body) = get(&server.url("/v1/streams"), &[]);
    assert_eq!(status, 200);
    let list = json(&body);
    assert_eq!(list["streams"][0]["name"], "clip", "{list}");
    // two watchers of one source see the same results
    let mut a = ws(&server.ws_url("/v1/streams/clip/results"), &[]).unwrap();
    let mut b = ws(&server.ws_url("/v1/streams/clip/results"), &[]).unwrap();
    let (mut closed_a, mut closed_b) = (None, None);
    let mut seen_a = Vec::new();
    while let Some(t) = next_text(&mut a, &mut closed_a) {
        seen_a.push(json(&t));
        if seen_a.len() == 20 {
            break;
        }
    }
    assert_eq!(seen_a.len(), 20, "results while the source plays: {closed_a:?}\n{}", server.stderr());
    for w in seen_a.windows(2) {
        assert!(w[1]["frame"].as_u64() > w[0]["frame"].as_u64(), "in frame order");
    }
    assert!(seen_a.iter().any(|l| !faces(l).is_empty()), "the clip's face is found");
    assert_eq!(
        seen_a[0]["schema_version"],
        common::process(&common::media("single_face.jpg"), &[]).1[0]["schema_version"]
    );
    let first_b = json(&next_text(&mut b, &mut closed_b).unwrap());
    assert!(first_b["frame"].as_u64() <= seen_a[0]["frame"].as_u64().map(|f| f + 20));
    // the annotated frames, as MJPEG
    let agent = common::server::agent();
    let mut r = agent.get(&server.url("/v1/streams/clip/video")).call().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let ct = r.headers().get("content-type").unwrap().to_str().unwrap().to_string();
    assert!(ct.starts_with("multipart/x-mixed-replace"), "{ct}");
    let mut head = vec![0u8; 64 * 1024];
    let mut reader = r.body_mut().as_reader();
    let mut got = 0;
    while got < head.len() {
        let n = std::io::Read::read(&mut reader, &mut head[got..]).unwrap();
        if n == 0 {
            break;
        }
        got += n;
        if head[..got].windows(2).filter(|w| *w == [0xFF, 0xD9]).count() >= 1 {
            break;
        }
    }
    let text = String::from_utf8_lossy(&head[..got.min(200)]).to_string();
    assert!(text.starts_with("--frame\r\nContent-Type: image/jpeg"), "{text}");
    let start = head.windows(2).position(|w| w == [0xFF, 0xD8]).expect("a JPEG in the first part");
    assert!(head[start..got].windows(2).any(|w| w == [0xFF, 0xD9]), "a whole JPEG");
    // an unknown source is a 404 with the names there are
    let (status, body) = get(&server.url("/v1/streams/nope/video"), &[]);
    assert_eq!(status, 404);
    assert!(body.contains("clip"), "{body}");
    drop(r);
    let (code, err) = server.stop();
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn bad_bodies_get_a_4xx_with_a_reason_and_the_service_goes_on() {
    let server = Server::start_with(&[], Some("[serve]\nmax_body_mb = 1\n"));
    let url = server.url("/v1/analyze");
    let photo = std::fs::read(common::media("single_face.jpg")).unwrap();
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("text", b"hello, this is not an image".to_vec(), 400, "not a JPEG or PNG"),
        ("empty", Vec::new(), 400, "empty"),
        ("truncated JPEG", photo[..photo.len() / 2].to_vec(), 400, "cut off"),
        ("50000x50000 PNG header", huge_png_header(50_000, 50_000), 413, "50000×50000"),
        ("a body over the limit", vec![0xFF; 1024 * 1024 + 10], 413, "serve.max_body_mb"),
        ("JPEG magic and garbage", [&[0xFF, 0xD8, 0xFF, 0xE0][..], &[7; 300]].concat(), 400, ""),
    ];
    for (what, body, status, reason) in cases {
        let (got, text) = post(&url, "application/octet-stream", &body);
        assert_eq!(got, status, "{what}: {text}");
        let err = json(&text)["error"].as_str().unwrap_or_else(|| panic!("{what}: no error field: {text}")).to_string();
        assert!(err.contains(reason), "{what}: {err}");
    }
    let (status, body) = post(&url, "image/jpeg", &photo);
    assert_eq!(status, 200, "after the bad bodies: {body}");
    let (_, metrics) = get(&server.url("/metrics"), &[]);
    assert!(metrics.contains("fer_rt_refused_total{status=\"413\"} 2"), "{metrics}");
    let (status, _) = get(&server.url("/v1/nothing"), &[]);
    assert_eq!(status, 404);
    assert!(!server.stderr().contains("panicked"), "{}", server.stderr());
}

/// A PNG whose header declares `w`×`h` and holds no pixels.
fn huge_png_header(w: u32, h: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
    png.extend(w.to_be_bytes());
    png.extend(h.to_be_bytes());
    png.extend([8, 2, 0, 0, 0, 0, 0, 0, 0]);
    png.extend(b"\x00\x00\x00\x00IEND\xaeB`\x82");
    png
}

#[test]
fn with_a_token_every_request_and_socket_needs_it() {
    let server = Server::start(&["--token", "s3cret-token"]);
    let (status, body) = get(&server.url("/healthz"), &[]);
    assert_eq!(status, 401, "{body}");
    assert!(json(&body)["error"].as_str().unwrap().contains("token"));
    assert_eq!(get(&server.url("/healthz"), &[("Authorization", "Bearer wrong")]).0, 401);
    assert_eq!(get(&server.url("/healthz"), &[("Authorization", "Bearer s3cret-token")]).0, 200);
    assert_eq!(get(&server.url("/healthz?token=s3cret-token"), &[]).0, 200);
    assert_eq!(get(&server.url("/?token=wrong"), &[]).0, 401);
    match ws(&server.ws_url("/v1/session"), &[]) {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 401),
        other => panic!("a session without the token: {:?}", other.map(|_| ())),
    }
    let mut s = ws(&server.ws_url("/v1/session?token=s3cret-token"), &[]).unwrap();
    let photo = std::fs::read(common::media("single_face.jpg")).unwrap();
    assert_eq!(session_frame(&mut s, &photo, None)["result"]["faces"].as_array().unwrap().len(), 1);
}

#[test]
fn off_loopback_without_a_token_is_a_usage_error() {
    let out = common::bin().args(["serve", "--listen", "0.0.0.0:0"]).env_remove("FER_RT_TOKEN").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--token") && err.lines().count() == 1, "{err}");
}

#[test]
fn the_live_page_and_its_files_are_served_from_the_binary() {
    let server = Server::start(&[]);
    let (status, page) = get(&server.url("/"), &[]);
    assert_eq!(status, 200);
    assert!(page.contains("/static/app.js") && page.contains("my webcam"), "{page}");
    assert!(!page.contains("http://") && !page.contains("https://"), "nothing fetched from elsewhere");
    let (status, js) = get(&server.url("/static/app.js"), &[]);
    assert_eq!(status, 200);
    assert!(js.contains("/v1/session") && !js.contains("https://"), "the page's script");
    assert_eq!(get(&server.url("/static/nope.js"), &[]).0, 404);
}

#[test]
fn a_session_that_falls_behind_drops_the_oldest_frames_and_says_so() {
    let server = Server::start(&[]);
    let photo = std::fs::read(common::media("multi_face.jpg")).unwrap();
    let mut s = ws(&server.ws_url("/v1/session"), &[]).unwrap();
    let sent = 30u64;
    for _ in 0..sent {
        s.send(tungstenite::Message::Binary(photo.clone().into())).unwrap();
    }
    let mut closed = None;
    let mut replies = Vec::new();
    loop {
        let r = json(&next_text(&mut s, &mut closed).unwrap_or_else(|| panic!("closed: {closed:?}")));
        let seq = r["seq"].as_u64().unwrap();
        replies.push(r);
        if seq == sent - 1 {
            break; // the newest frame is always answered
        }
    }
    let last = replies.last().unwrap();
    assert!(replies.len() < sent as usize, "frames sent faster than analysed are dropped: {}", replies.len());
    assert_eq!(last["dropped"].as_u64().unwrap() + replies.len() as u64, sent, "every frame is answered or counted");
    assert_eq!(last["dropped_behind"], last["dropped"]);
    // each result says how many frames were dropped just before it
    let per_frame: u64 = replies.iter().map(|r| r["result"]["dropped_frames"].as_u64().unwrap()).sum();
    assert_eq!(per_frame, last["dropped"].as_u64().unwrap());
    assert!(replies.windows(2).all(|w| w[1]["seq"].as_u64() > w[0]["seq"].as_u64()), "in order");
    let (_, metrics) = get(&server.url("/metrics"), &[]);
    assert!(
        metrics.contains(&format!("fer_rt_dropped_frames_total{{reason=\"session_behind\"}} {}", last["dropped"])),
        "{metrics}"
    );
}

#[test]
fn a_looping_file_source_plays_again_as_a_new_run() {
    let clip = common::media("single_face.mp4"); // 72 frames, 2.4 s
    let server = Server::start(&["--loop", "--source", &format!("loop={}", clip.display())]);
    let mut w = ws(&server.ws_url("/v1/streams/loop/results"), &[]).unwrap();
    let mut closed = None;
    let mut frames = Vec::new();
    let t = std::time::Instant::now();
    while t.elapsed() < std::time::Duration::from_secs(60) {
        let f = json(&next_text(&mut w, &mut closed).unwrap_or_else(|| panic!("closed: {closed:?}")))["frame"]
            .as_u64()
            .unwrap();
        if frames.last().is_some_and(|&l| f < l) {
            frames.push(f);
            break;
        }
        frames.push(f);
    }
    assert_eq!(frames.last(), Some(&0), "after its last frame the clip starts again from frame 0: {frames:?}");
    let (_, list) = get(&server.url("/v1/streams"), &[]);
    assert_eq!(json(&list)["streams"][0]["state"], "running", "{list}");
}

#[test]
fn a_session_over_its_frame_rate_is_told_429_and_its_excess_dropped() {
    let server = Server::start_with(&[], Some("[serve]\nmax_session_fps = 4.0\n"));
    let photo = std::fs::read(common::media("single_face.jpg")).unwrap();
    let mut s = ws(&server.ws_url("/v1/session"), &[]).unwrap();
    // a burst of 12: the bucket passes 4, the rest are over the rate
    for _ in 0..12 {
        s.send(tungstenite::Message::Binary(photo.clone().into())).unwrap();
    }
    // everything that comes back until the session falls quiet
    if let tungstenite::stream::MaybeTlsStream::Plain(t) = s.get_mut() {
        t.set_read_timeout(Some(std::time::Duration::from_secs(3))).unwrap();
    }
    let mut closed = None;
    let (mut told, mut last) = (0, None);
    while let Some(text) = next_text(&mut s, &mut closed) {
        let r = json(&text);
        if r["status"] == 429 {
            told += 1;
            assert!(r["error"].as_str().unwrap().contains("serve.max_session_fps"), "{r}");
        } else {
            last = Some(r);
        }
    }
    let last = last.expect("the frames within the rate are answered");
    assert_eq!(last["dropped_rate"], 8, "{last}");
    assert_eq!(told, 1, "told once, not once per frame");
    let (_, metrics) = get(&server.url("/metrics"), &[]);
    assert!(metrics.contains("fer_rt_dropped_frames_total{reason=\"session_rate\"} 8"), "{metrics}");
}

#[test]
fn a_source_that_cannot_be_opened_fails_the_start_with_its_reason() {
    for (source, reason) in [("cam=/dev/video63", "video63"), ("clip=no/such/clip.mp4", "no/such/clip.mp4")] {
        let out = common::bin().args(["serve", "--listen", "127.0.0.1:0", "--source", source]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{source}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(reason) && err.trim().lines().count() == 1, "{source}: {err}");
        assert!(!err.contains("listening"), "{err}");
    }
}
