//! Debian's headless Chromium, driven by chromedriver over the WebDriver protocol: what the
//! page tests (the service's live page, the report) share. No browser is a failure with the
//! reason, never a skip: `scripts/setup.sh` installs `chromium` and `chromium-driver`.
use super::server::{agent, json};
use serde_json::{json as j, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Driver {
    child: Child,
    pub base: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn start_driver() -> Driver {
    let exe = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| std::path::Path::new(p).is_file())
        .expect("chromedriver missing: scripts/setup.sh installs Debian's chromium and chromium-driver");
    let port = free_port();
    let child = Command::new(exe)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {exe}: {e}"));
    let d = Driver { child, base: format!("http://127.0.0.1:{port}") };
    let t = Instant::now();
    while agent().get(&format!("{}/status", d.base)).call().is_err() {
        assert!(t.elapsed() < Duration::from_secs(30), "chromedriver did not answer on port {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
    d
}

pub fn call(method: &str, url: &str, body: Option<Value>) -> Value {
    let a = agent();
    let mut r = match body {
        Some(b) => a.post(url).header("Content-Type", "application/json").send(b.to_string().as_bytes()),
        None if method == "DELETE" => a.delete(url).call(),
        None => a.get(url).call(),
    }
    .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let text = r.body_mut().read_to_string().unwrap();
    let v = json(&text);
    assert!(v["value"].get("error").is_none(), "{method} {url}: {text}");
    v["value"].clone()
}

/// Standard base64 (what WebDriver screenshots are).
pub fn base64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let b: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=').collect();
    let mut out = Vec::with_capacity(b.len() * 3 / 4);
    for chunk in b.chunks(4) {
        let v: Vec<u32> = chunk.iter().map(|&c| val(c) as u32).collect();
        let n = v.iter().enumerate().fold(0u32, |acc, (i, x)| acc | x << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// The SEVERE console entries of the WebDriver session at `session_url` since the last call.
pub fn console_errors(session_url: &str) -> Vec<Value> {
    let logs = agent()
        .post(&format!("{session_url}/se/log"))
        .header("Content-Type", "application/json")
        .send(j!({"type": "browser"}).to_string().as_bytes())
        .ok()
        .and_then(|mut r| r.body_mut().read_to_string().ok())
        .map(|t| json(&t)["value"].clone())
        .unwrap_or(Value::Null);
    logs.as_array().map(|a| a.iter().filter(|e| e["level"] == "SEVERE").cloned().collect()).unwrap_or_default()
}

/// A browser session (headless, sandbox off for containers) with these extra arguments.
pub struct Session<'a> {
    pub driver: &'a Driver,
    pub url: String,
}

impl<'a> Session<'a> {
    pub fn new(driver: &'a Driver, extra_args: &[String]) -> Self {
        let mut args: Vec<String> =
            ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,960"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        args.extend(extra_args.iter().cloned());
        let caps = j!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args},
        }}});
        let session = call("POST", &format!("{}/session", driver.base), Some(caps));
        let sid = session["sessionId"].as_str().expect("a WebDriver session").to_string();
        Self { driver, url: format!("{}/session/{sid}", driver.base) }
    }

    pub fn open(&self, url: &str) {
        call("POST", &format!("{}/url", self.url), Some(j!({"url": url})));
    }

    /// Runs `script` (a function body; `return` gives the value) in the page.
    pub fn exec(&self, script: &str) -> Value {
        call("POST", &format!("{}/execute/sync", self.url), Some(j!({"script": script, "args": []})))
    }

    /// Sets the window's size (CSS pixels).
    pub fn resize(&self, w: u32, h: u32) {
        call("POST", &format!("{}/window/rect", self.url), Some(j!({"width": w, "height": h})));
    }

    /// The console's SEVERE entries since the last call (errors, failed loads).
    pub fn console_errors(&self) -> Vec<Value> {
        console_errors(&self.url)
    }

    /// A screenshot of the viewport: the PNG, and its pixels as (width, height, RGB).
    pub fn screenshot(&self) -> (Vec<u8>, Shot) {
        let shot = call("GET", &format!("{}/screenshot", self.url), None);
        let png_bytes = base64(shot.as_str().unwrap());
        let decoder = png::Decoder::new(std::io::Cursor::new(&png_bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        let ch = info.color_type.samples();
        let rgb: Vec<u8> =
            buf.chunks(ch).take((info.width * info.height) as usize).flat_map(|p| [p[0], p[1], p[2]]).collect();
        (png_bytes, Shot { width: info.width as usize, height: info.height as usize, rgb })
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let _ = agent().delete(&self.url).call();
    }
}

/// A screenshot's pixels.
pub struct Shot {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
}

impl Shot {
    pub fn px(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.width + x) * 3;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// Distinct colours on a grid of every `step` pixels: a blank page has a handful.
    pub fn colours(&self, step: usize) -> usize {
        let mut c = std::collections::HashSet::new();
        for y in (0..self.height).step_by(step) {
            for x in (0..self.width).step_by(step) {
                c.insert(self.px(x, y));
            }
        }
        c.len()
    }
}
