//! The live page in a real browser: Debian's headless Chromium, driven by chromedriver over
//! the WebDriver protocol, with a bundled clip as its fake camera. Set to "my webcam", the
//! page sends the camera's frames to `/v1/session` and draws what comes back; the test
//! reads the page's state, checks the console for errors, and checks a screenshot for the
//! boxes where `process` finds the faces. No browser is a failure with the reason, never a
//! skip.
mod common;
use common::browser::{base64, call, console_errors, start_driver};
use common::server::Server;
use serde_json::json as j;
use std::time::{Duration, Instant};

#[test]
fn the_page_shows_the_webcams_faces_with_labels() {
    let dir = tempfile::tempdir().unwrap();
    // the fake camera: the bundled clip at 640×480, as Chromium reads it (Y4M)
    let y4m = dir.path().join("camera.y4m");
    let clip = common::media("WolfgangLanger_Pexels.mp4");
    common::ffmpeg(&[
        "-i",
        clip.to_str().unwrap(),
        "-t",
        "8",
        "-vf",
        "crop=480:360:160:0,scale=640:480",
        "-pix_fmt",
        "yuv420p",
        y4m.to_str().unwrap(),
    ]);
    // where process finds the face in those frames
    let (code, lines, err) = common::process(&y4m, &["--keyframe-interval", "1"]);
    assert_eq!(code, 0, "{err}");
    let process_boxes: Vec<Vec<f64>> = lines
        .iter()
        .flat_map(|l| l["faces"].as_array().unwrap().clone())
        .map(|f| f["box"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect())
        .collect();
    assert!(!process_boxes.is_empty(), "process finds the clip's face");

    let server = Server::start(&[]);
    let driver = start_driver();
    let caps = j!({"capabilities": {"alwaysMatch": {
        "browserName": "chrome",
        "goog:loggingPrefs": {"browser": "ALL"},
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,960",
                "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                format!("--use-file-for-fake-video-capture={}", y4m.display()),
            ],
        },
    }}});
    let session = call("POST", &format!("{}/session", driver.base), Some(caps));
    let sid = session["sessionId"].as_str().expect("a WebDriver session").to_string();
    let s = format!("{}/session/{sid}", driver.base);
    call("POST", &format!("{s}/url"), Some(j!({"url": server.url("/?source=webcam")})));
    let state = |script: &str| call("POST", &format!("{s}/execute/sync"), Some(j!({"script": script, "args": []})));
    // wait for results with faces: the page is live, so the test waits for it, bounded
    let t = Instant::now();
    let stats = loop {
        let st = state("return window.ferStats ? JSON.parse(JSON.stringify(window.ferStats)) : null;");
        let faces = st["last"]["faces"].as_array().map_or(0, Vec::len);
        if st["frames"].as_u64().unwrap_or(0) >= 20 && faces > 0 {
            break st;
        }
        assert!(st["errors"].as_array().is_none_or(Vec::is_empty), "the page reported errors: {st}");
        assert!(t.elapsed() < Duration::from_secs(90), "no results with faces in 90 s: {st}\n{}", server.stderr());
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(stats["mode"], "webcam");
    assert!(stats["errors"].as_array().unwrap().is_empty(), "{stats}");
    let face = &stats["last"]["faces"][0];
    assert!(face["filtered"]["label"].is_string(), "a label: {face}");
    let b: Vec<f64> = face["box"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let near = process_boxes.iter().map(|p| p.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max));
    let nearest = near.fold(f64::MAX, f64::min);
    assert!(nearest < 40.0, "the page's face {b:?} is not where process finds it (nearest off by {nearest:.0} px)");

    // the console: no JavaScript errors
    let severe = console_errors(&s);
    assert!(severe.is_empty(), "console errors: {severe:?}");

    // freeze the picture on a frame with its boxes (the page's pause), then screenshot it
    state("document.getElementById('pause').click(); return true;");
    std::thread::sleep(Duration::from_millis(500));
    let geometry = state(
        "const c = document.getElementById('frame'); const r = c.getBoundingClientRect();\
         return {x: r.left, y: r.top, w: r.width, h: r.height, cw: c.width, ch: c.height, dpr: window.devicePixelRatio};",
    );
    let shot = call("GET", &format!("{s}/screenshot"), None);
    let png_bytes = base64(shot.as_str().unwrap());
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-webcam.png");
    std::fs::write(&out, &png_bytes).unwrap();
    let decoder = png::Decoder::new(std::io::Cursor::new(&png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let (w, ch) = (info.width as usize, info.color_type.samples());
    let px = |x: usize, y: usize| &buf[(y * w + x) * ch..(y * w + x) * ch + 3];
    // not blank: the camera's picture has many distinct colours
    let mut colours = std::collections::HashSet::new();
    for y in (0..info.height as usize).step_by(7) {
        for x in (0..w).step_by(7) {
            colours.insert(px(x, y).to_vec());
        }
    }
    assert!(colours.len() > 500, "the screenshot is nearly blank ({} colours): {}", colours.len(), out.display());
    // the box: its track's colour along the top edge of the face the page shows now
    let last = state("return window.ferStats.last;");
    let f = &last["faces"][0];
    let track = f["track_id"].as_u64().unwrap_or(0) as usize;
    let palette = [[0u8, 200, 255], [255, 170, 0], [120, 255, 80], [255, 80, 160], [180, 120, 255], [255, 255, 80]];
    let want = palette[track % palette.len()];
    let g = |k: &str| geometry[k].as_f64().unwrap();
    let (sx, sy) = (g("w") / g("cw") * g("dpr"), g("h") / g("ch") * g("dpr"));
    let bx: Vec<f64> = f["box"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let (x0, x1) = ((g("x") * g("dpr") + bx[0] * sx) as usize, (g("x") * g("dpr") + bx[2] * sx) as usize);
    let y_top = (g("y") * g("dpr") + bx[1] * sy) as i64;
    let mut hits = 0;
    for x in x0..x1.min(w) {
        let hit = (-3..=3).any(|dy| {
            let y = (y_top + dy).clamp(0, info.height as i64 - 1) as usize;
            px(x, y).iter().zip(want).all(|(a, b)| (*a as i32 - b as i32).abs() < 40)
        });
        hits += usize::from(hit);
    }
    assert!(
        hits * 2 > x1.saturating_sub(x0),
        "the box's top edge in the track's colour {want:?}: {hits} of {} pixels ({})",
        x1 - x0,
        out.display()
    );
    call("DELETE", &s, None);
}
