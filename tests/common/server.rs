//! A `fer-rt serve` child on a free loopback port, and the HTTP and WebSocket clients the
//! service tests talk to it with (ureq, tungstenite: real clients, not hand-made bytes,
//! except where a test breaks the protocol on purpose).
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub type Ws = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>;

pub struct Server {
    pub child: Option<Child>,
    pub addr: String,
    /// Everything it wrote on stderr so far.
    pub stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `fer-rt serve --listen 127.0.0.1:0 ARGS` and waits for its listening line.
    pub fn start(args: &[&str]) -> Self {
        Self::start_with(args, None)
    }

    /// [`start`](Self::start) with a config file of `toml`.
    pub fn start_with(args: &[&str], toml: Option<&str>) -> Self {
        let mut cmd = super::bin();
        if let Some(t) = toml {
            let p = std::env::temp_dir().join(format!("fer-rt-serve-{}-{}.toml", std::process::id(), unique()));
            std::fs::write(&p, t).unwrap();
            cmd.arg("--config").arg(p);
        }
        let mut child = cmd
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("FER_RT_TOKEN")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start fer-rt serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let err = BufReader::new(child.stderr.take().unwrap());
        let log = stderr.clone();
        std::thread::spawn(move || {
            for line in err.lines().map_while(Result::ok) {
                if let Some(a) = line.strip_prefix("fer-rt serve: listening on http://") {
                    let _ = tx.send(a.trim_end_matches('/').to_string());
                }
                let mut l = log.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!("fer-rt serve did not start listening:\n{}", stderr.lock().unwrap());
            }
        };
        Self { child: Some(child), addr, stderr }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Resident memory of the server, KiB (from /proc).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .unwrap()
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .unwrap()
    }

    /// SIGTERM, then the exit code and stderr (killed after `secs`).
    pub fn stop(mut self) -> (Option<i32>, String) {
        let mut child = self.child.take().unwrap();
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let t = Instant::now();
        let code = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s.code();
            }
            if t.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        std::thread::sleep(Duration::from_millis(100));
        let err = self.stderr.lock().unwrap().clone();
        (code, err)
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn unique() -> u64 {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// An HTTP client that hands back 4xx and 5xx answers instead of failing on them.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// (status, body) of a GET.
pub fn get(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut req = agent().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut r = req.call().expect("GET");
    let status = r.status().as_u16();
    (status, r.body_mut().read_to_string().unwrap_or_default())
}

/// (status, body) of a POST of `body` as `content_type`.
pub fn post(url: &str, content_type: &str, body: &[u8]) -> (u16, String) {
    let mut r = agent().post(url).header("Content-Type", content_type).send(body).expect("POST");
    let status = r.status().as_u16();
    (status, r.body_mut().read_to_string().unwrap_or_default())
}

pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A WebSocket to `url`, with extra request headers.
pub fn ws(url: &str, headers: &[(&str, &str)]) -> Result<Ws, tungstenite::Error> {
    use tungstenite::client::IntoClientRequest;
    let mut req = url.into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
    }
    let (mut socket, _) = tungstenite::connect(req)?;
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = socket.get_mut() {
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    }
    Ok(socket)
}

/// The next text message (pings and pongs skipped); None when the socket closed, with the
/// close frame's code and reason in `closed`.
pub fn next_text(ws: &mut Ws, closed: &mut Option<(u16, String)>) -> Option<String> {
    loop {
        match ws.read() {
            Ok(tungstenite::Message::Text(t)) => return Some(t.to_string()),
            Ok(tungstenite::Message::Close(f)) => {
                *closed = Some(f.map(|f| (u16::from(f.code), f.reason.to_string())).unwrap_or((1005, String::new())));
                return None;
            }
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

/// Sends one frame (with its timestamp) on a session and returns the reply.
pub fn session_frame(ws: &mut Ws, jpeg: &[u8], pts_ms: Option<f64>) -> serde_json::Value {
    if let Some(p) = pts_ms {
        ws.send(tungstenite::Message::Text(format!("{{\"pts_ms\": {p}}}").into())).unwrap();
    }
    ws.send(tungstenite::Message::Binary(jpeg.to_vec().into())).unwrap();
    let mut closed = None;
    let text = next_text(ws, &mut closed).unwrap_or_else(|| panic!("session closed: {closed:?}"));
    json(&text)
}

/// The frames of `clip` as JPEG files in `dir` (what a browser sends), at most `max`.
pub fn jpeg_frames(clip: &Path, dir: &Path, max: usize) -> Vec<std::path::PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    let pattern = dir.join("%05d.jpg");
    super::ffmpeg(&[
        "-i",
        clip.to_str().unwrap(),
        "-frames:v",
        &max.to_string(),
        "-q:v",
        "3",
        "-start_number",
        "0",
        pattern.to_str().unwrap(),
    ]);
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.path()).collect();
    files.sort();
    files
}
