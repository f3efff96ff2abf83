//! The models behind the service: `serve.workers` threads, each with its own detector and
//! classifier in an [`Analyzer`], fed by one bounded queue. Why threads of their own: a
//! frame takes milliseconds of CPU, which must not run on the threads that carry the
//! connections; and why a queue shared by all: any idle worker takes the next frame, from
//! a session or an `analyze` request alike. A session's tracking and filter state
//! ([`Stream`]) travels with its frame to whichever worker is free and comes back with the
//! result, so a session keeps its tracks whichever worker serves it. Image bytes are
//! decoded on the worker too, under the service's limits.
use super::metrics::{Kind, Metrics};
use crate::config::{Config, ServeConfig};
use crate::error::Error;
use crate::messages::FrameMsg;
use crate::pipeline::{Analyzer, Models, Stream};
use crate::sink::RunInfo;
use crate::source::image::ImageDecoder;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::oneshot;

/// A refusal or failure, with the HTTP status it answers with.
#[derive(Debug, Clone)]
pub struct Failure {
    pub status: u16,
    pub message: String,
}

impl Failure {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }

    /// A library error as the client's fault (4xx) or the server's (500).
    fn from_error(e: &Error) -> Self {
        let status = match e {
            Error::TooLarge { .. } => 413,
            Error::Decode { .. } | Error::NoFrames { .. } | Error::NoVideoStream { .. } | Error::Open { .. } => 400,
            Error::Damaged { .. } | Error::EndedEarly { .. } => 400,
            _ => 500,
        };
        Self::new(status, e.to_string())
    }
}

/// What a worker is asked to do with one image.
pub enum Work {
    /// A photo that stands alone (`/v1/analyze`): its tracks start and end on it.
    Still,
    /// The next frame of a session, whose state comes along and goes back.
    Frame { stream: Box<Stream>, pts_ms: Option<f64>, dropped_before: u64 },
}

pub struct Job {
    /// JPEG or PNG bytes, decoded on the worker.
    pub bytes: bytes::Bytes,
    pub work: Work,
    pub kind: Kind,
    pub reply: oneshot::Sender<Outcome>,
}

pub struct Outcome {
    /// The frame's JSON line (as `process` writes it) and its face count, or why not.
    pub result: Result<(String, usize), Failure>,
    /// A session's state, back for its next frame (also after a failure).
    pub stream: Option<Box<Stream>>,
}

pub struct Engine {
    tx: crossbeam_channel::Sender<Job>,
    info: RunInfo,
    cfg: Config,
    spec: crate::messages::ClassifierSpec,
    workers: usize,
}

impl Engine {
    /// Loads `serve.workers` copies of the models (on this thread, so a missing model
    /// fails the start, not the first request) and starts their threads. The queue holds
    /// one frame per session and `serve.max_pending_requests` requests, so a send never
    /// waits once a caller holds its admission (see `routes`).
    pub fn start(cfg: &Config, metrics: Arc<Metrics>) -> anyhow::Result<Self> {
        let s = &cfg.serve;
        let (tx, rx) = crossbeam_channel::bounded::<Job>(s.max_sessions + s.max_pending_requests);
        let mut first: Option<(RunInfo, crate::messages::ClassifierSpec)> = None;
        for i in 0..s.workers {
            let mut analyzer = Analyzer::with_models(cfg.clone(), Models::load(cfg)?)?;
            analyzer.warm_up(s.warm_up_size.0, s.warm_up_size.1)?;
            if first.is_none() {
                first = Some((analyzer.run_info().clone(), analyzer.classifier_spec().clone()));
            }
            let (rx, metrics, serve) = (rx.clone(), metrics.clone(), s.clone());
            std::thread::Builder::new().name(format!("fer-rt-worker-{i}")).spawn(move || {
                // a worker that panics ends the service (the guide's rule): a hang would
                // leave requests waiting on a queue nobody reads
                let run = std::panic::AssertUnwindSafe(|| work(&mut analyzer, &rx, &metrics, &serve));
                if std::panic::catch_unwind(run).is_err() {
                    eprintln!("error: a model worker panicked; the service stops");
                    std::process::exit(1);
                }
            })?;
        }
        let (info, spec) = first.ok_or_else(|| anyhow::anyhow!("serve.workers must be at least 1"))?;
        Ok(Self { tx, info, cfg: cfg.clone(), spec, workers: s.workers })
    }

    pub fn run_info(&self) -> &RunInfo {
        &self.info
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    /// A fresh session state: no tracks, frames from 0.
    pub fn new_stream(&self) -> Result<Box<Stream>, Failure> {
        Stream::new(&self.cfg, &self.spec).map(Box::new).map_err(|e| Failure::from_error(&e))
    }

    /// Queues `job`; its reply comes on the oneshot. Fails only if the queue is full, which
    /// the admission limits rule out, or the workers are gone.
    pub fn submit(&self, job: Job) -> Result<(), Failure> {
        self.tx.try_send(job).map_err(|e| match e {
            crossbeam_channel::TrySendError::Full(_) => Failure::new(429, "the service is at capacity; retry shortly"),
            crossbeam_channel::TrySendError::Disconnected(_) => Failure::new(500, "the model workers are gone"),
        })
    }
}

fn work(a: &mut Analyzer, rx: &crossbeam_channel::Receiver<Job>, metrics: &Metrics, s: &ServeConfig) {
    let mut images = ImageDecoder::default();
    for job in rx.iter() {
        let Job { bytes, work, kind, reply } = job;
        let t = Instant::now();
        let decoded = decode(&mut images, &bytes, s, a.config());
        let decode_ms = crate::messages::elapsed_ms(t);
        let (result, stream) = match (decoded, work) {
            (Err(f), Work::Still) => (Err(f), None),
            (Err(f), Work::Frame { stream, .. }) => (Err(f), Some(stream)),
            (Ok(image), Work::Still) => (a.analyze_still(image).map_err(|e| Failure::from_error(&e)), None),
            (Ok(image), Work::Frame { mut stream, pts_ms, dropped_before }) => {
                let r = a.analyze_stream(&mut stream, image, pts_ms, dropped_before);
                (r.map_err(|e| Failure::from_error(&e)), Some(stream))
            }
        };
        let result = result.map(|mut msg| {
            msg.timings.decode_ms = decode_ms;
            let faces = msg.faces.len();
            metrics.frame(kind, faces, stage_ms(&msg, crate::messages::elapsed_ms(t)));
            let line = a.to_json(&msg);
            recycle(msg);
            (line, faces)
        });
        if let Err(f) = &result {
            metrics.refused(f.status);
        }
        // the caller may have gone (a closed session): nothing to do then
        let _ = reply.send(Outcome { result, stream });
    }
}

fn stage_ms(msg: &FrameMsg, total_ms: f64) -> [f64; 6] {
    let t = &msg.timings;
    [t.decode_ms, t.detect_ms, t.align_ms, t.model_ms, t.track_ms, total_ms]
}

/// Gives the frame's buffer back to the pool it came from.
fn recycle(msg: FrameMsg) {
    if let Ok(img) = Arc::try_unwrap(msg.image) {
        crate::imageops::pool::give(img.data);
    }
}

/// The image of a request body or session frame: its declared size checked against the
/// service's limits before a pixel is decoded, then decoded as a photo on disk would be.
fn decode(
    images: &mut ImageDecoder,
    bytes: &[u8],
    s: &ServeConfig,
    cfg: &Config,
) -> Result<crate::messages::RgbImage, Failure> {
    check_header(bytes, s)?;
    images.decode(bytes, "the image", &cfg.limits).map_err(|e| Failure::from_error(&e))
}

/// 400 for what is not a JPEG or PNG, 413 for a declared size over `serve.max_image_*`.
pub fn check_header(bytes: &[u8], s: &ServeConfig) -> Result<(), Failure> {
    let Some((w, h)) = crate::source::image::header_size(bytes) else {
        return Err(Failure::new(400, "the body is not a JPEG or PNG image"));
    };
    let pixels = w as u64 * h as u64;
    if w == 0 || h == 0 {
        return Err(Failure::new(400, format!("the image declares a size of {w}×{h}")));
    }
    if w.max(h) > s.max_image_side_px || pixels > s.max_image_pixels {
        return Err(Failure::new(
            413,
            format!(
                "the image declares {w}×{h} ({:.1} MP), over serve.max_image_side_px ({} px) or serve.max_image_pixels ({:.1} MP)",
                pixels as f64 / 1e6,
                s.max_image_side_px,
                s.max_image_pixels as f64 / 1e6
            ),
        ));
    }
    Ok(())
}
