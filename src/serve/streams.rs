//! Server-side sources (`--source NAME=INPUT`): each runs the threaded pipeline as `live`
//! does (a file played at its own rate, a stream URL, a camera), into a sink that hands
//! every frame's JSON line, and the annotated frame as a JPEG when someone watches, to a
//! broadcast channel. Why broadcast: each watcher reads at its own pace from a bounded
//! ring; one that falls behind loses the oldest entries (counted) and never slows the
//! pipeline or the other watchers.
use super::metrics::{Kind, Metrics};
use crate::config::Config;
use crate::imageops::jpeg::encode_jpeg;
use crate::messages::FrameMsg;
use crate::pipeline::{LiveInput, Models, NoProgress};
use crate::sink::overlay::{self, Hud, View};
use crate::sink::{RunInfo, Sink, SinkStatus};
use bytes::Bytes;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum State {
    Starting,
    Running,
    Ended { frames: u64 },
    Failed { error: String },
}

pub struct Source {
    pub name: String,
    pub input: PathBuf,
    state: Mutex<State>,
    /// None once the source has ended: watchers then see their channel close.
    results: Mutex<Option<broadcast::Sender<Arc<str>>>>,
    video: Mutex<Option<broadcast::Sender<Bytes>>>,
    pub frames: AtomicU64,
}

impl Source {
    pub fn state(&self) -> State {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_state(&self, s: State) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = s;
    }

    pub fn subscribe_results(&self) -> Option<broadcast::Receiver<Arc<str>>> {
        Some(self.results.lock().ok()?.as_ref()?.subscribe())
    }

    pub fn subscribe_video(&self) -> Option<broadcast::Receiver<Bytes>> {
        Some(self.video.lock().ok()?.as_ref()?.subscribe())
    }

    fn close(&self) {
        self.results.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.video.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    pub fn describe(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self.state()).unwrap_or_default();
        v["name"] = self.name.clone().into();
        v["input"] = self.input.display().to_string().into();
        v["frames_analysed"] = self.frames.load(Relaxed).into();
        v
    }
}

/// Opens `input` as a live source and starts its pipeline thread. Opening happens here,
/// so a source that cannot be opened fails the start with its reason.
pub fn start(
    name: String,
    input: PathBuf,
    cfg: &Config,
    metrics: Arc<Metrics>,
) -> anyhow::Result<(Arc<Source>, std::thread::JoinHandle<()>)> {
    let source = open(&input, cfg)?;
    let mut models = Models::load(cfg)?;
    let s = &cfg.serve;
    let src = Arc::new(Source {
        name,
        input,
        state: Mutex::new(State::Starting),
        results: Mutex::new(Some(broadcast::channel(s.client_queue_frames).0)),
        video: Mutex::new(Some(broadcast::channel(s.client_queue_frames.min(8)).0)),
        frames: AtomicU64::new(0),
    });
    let (metrics, min_gap, quality) =
        (metrics, Duration::from_secs_f64(1.0 / s.max_video_fps.max(0.1)), s.jpeg_quality);
    let started = Instant::now();
    let sink = move |source: Arc<Source>| BroadcastSink {
        source,
        metrics: metrics.clone(),
        min_gap,
        last_video: None,
        quality,
        started,
    };
    // a file plays again from the start at its end with serve.loop_files (a kiosk's demo):
    // a new run each time, so its tracks start over and its frames count from 0 again
    let looping = s.loop_files && src.input.is_file();
    let (cfg, shared) = (cfg.clone(), src.clone());
    let handle = std::thread::Builder::new().name(format!("fer-rt-source-{}", src.name)).spawn(move || {
        shared.set_state(State::Running);
        let mut first = Some(source);
        let mut frames = 0;
        let r = loop {
            let source = match first.take() {
                Some(s) => s,
                None => match open(&shared.input, &cfg) {
                    Ok(s) => s,
                    Err(e) => break Err(e),
                },
            };
            match models.run(&cfg, source, Box::new(sink(shared.clone())), Box::new(NoProgress)) {
                Ok(summary) => {
                    frames += summary.frames;
                    let again = looping && summary.frames > 0 && !summary.interrupted;
                    if !again || crate::runtime::stop_requested() {
                        break Ok(frames);
                    }
                }
                Err(e) => break Err(e),
            }
        };
        match r {
            Ok(frames) => {
                tracing::info!(source = %shared.name, frames, "source ended");
                shared.set_state(State::Ended { frames });
            }
            Err(e) => {
                tracing::error!(source = %shared.name, "source failed: {e}");
                shared.set_state(State::Failed { error: e.to_string() });
            }
        }
        shared.close();
    })?;
    Ok((src, handle))
}

/// A camera (`/dev/videoN`, or an index that names no file), else a file or stream URL, as
/// `live` opens them.
fn open(input: &std::path::Path, cfg: &Config) -> crate::error::Result<Box<dyn crate::source::FrameSource>> {
    let s = input.to_string_lossy();
    let camera =
        (s.starts_with("/dev/video") || !input.exists()).then(|| crate::source::webcam::parse_camera(&s)).flatten();
    match camera {
        Some(index) => {
            let cam = crate::source::webcam::WebcamConfig {
                index,
                width: None,
                height: None,
                fps: None,
                pixel_format: crate::source::webcam::PixelFormat::Auto,
            };
            crate::pipeline::open_live(LiveInput::Camera(cam), true, cfg)
        }
        None => crate::pipeline::open_live(LiveInput::Path(input), true, cfg),
    }
}

struct BroadcastSink {
    source: Arc<Source>,
    metrics: Arc<Metrics>,
    /// At most `serve.max_video_fps` JPEGs a second are encoded, and none without a watcher.
    min_gap: Duration,
    last_video: Option<Instant>,
    quality: u8,
    started: Instant,
}

impl BroadcastSink {
    fn video_frame(&mut self, frame: &FrameMsg, info: &RunInfo) -> Option<Bytes> {
        let watching = self.source.video.lock().ok()?.as_ref().is_some_and(|tx| tx.receiver_count() > 0);
        if !watching || self.last_video.is_some_and(|t| t.elapsed() < self.min_gap) {
            return None;
        }
        self.last_video = Some(Instant::now());
        let mut img = (*frame.image).clone();
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let hud = Hud {
            fps: Some(self.source.frames.load(Relaxed) as f64 / secs),
            latency_ms: Some(crate::messages::elapsed_ms(frame.meta.captured_at)),
            dropped: frame.meta.dropped_before,
            note: self.source.name.clone(),
        };
        overlay::draw(&mut img, frame, &info.classes, View::Filtered, &hud);
        encode_jpeg(&img, self.quality).ok().map(Bytes::from)
    }
}

impl Sink for BroadcastSink {
    fn write_frame(&mut self, frame: &FrameMsg, info: &RunInfo) -> crate::error::Result<SinkStatus> {
        self.source.frames.fetch_add(1, Relaxed);
        let t = &frame.timings;
        let total = crate::messages::elapsed_ms(frame.meta.captured_at);
        self.metrics.frame(
            Kind::Source,
            frame.faces.len(),
            [t.decode_ms, t.detect_ms, t.align_ms, t.model_ms, t.track_ms, total],
        );
        let line: Arc<str> = crate::sink::jsonl::to_json(frame, info).into();
        if let Some(tx) = self.source.results.lock().ok().and_then(|g| g.clone()) {
            // no watcher is not an error: the results are there for whoever connects
            let _ = tx.send(line);
        }
        if let Some(jpeg) = self.video_frame(frame, info) {
            if let Some(tx) = self.source.video.lock().ok().and_then(|g| g.clone()) {
                let _ = tx.send(jpeg);
            }
        }
        Ok(SinkStatus::Continue)
    }

    fn finish(&mut self) -> crate::error::Result<()> {
        Ok(())
    }
}
