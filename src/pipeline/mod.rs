//! The staged pipeline: decode -> detect -> align -> model (batched) -> track+filter -> sink, one thread
//! per stage, bounded channels between them. File input uses back-pressure (blocking
//! sends), so every frame is processed exactly once and in order; the channels are FIFO
//! and each stage handles frames in arrival order, so order needs no re-sorting.
//!
//! Shutdown: a stage that fails returns its error and drops its channel ends; upstream
//! sends then fail and downstream receives end, so every thread finishes and is joined.
//! A stage that panics is joined as an error instead of hanging the others.
mod ahead;
mod analysis;
mod analyzer;
mod detect_pool;
mod device;
mod input;
mod latency;
mod models;

pub use analyzer::{Analyzer, Stream};
pub use input::{open_input, open_live, parse_camera_spec, InputOptions, LiveInput, SourceSpec};
pub use models::{torch_needed, Models};

use crate::align::align_face;
use crate::config::Config;
use crate::detect::Detector;
use crate::error::{Error, Result};
use crate::messages::{elapsed_ms, Crop, DeviceTensor, FrameMsg};
use crate::messages::{InputSpec, RgbImage, SourceInfo};
use crate::model::Classifier;
use crate::runtime::stop_requested;
use crate::sink::{RunInfo, Sink, SinkStatus, StreamLabel};
use crate::source::FrameSource;
use analysis::AnalysisStage;
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Select, Sender, TryRecvError, TrySendError};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Debug, Default)]
pub struct RunSummary {
    pub frames: u64,
    pub faces: u64,
    /// The run was stopped by Ctrl-C (or SIGTERM).
    pub interrupted: bool,
    /// Frames a live source dropped because the pipeline was behind.
    pub dropped: u64,
    /// Damaged packets the source skipped (the decoder recovered; see the damage policy).
    pub damaged_packets: u64,
    pub elapsed_s: f64,
    /// Time spent warming every network shape up before the first frame (0 for files on
    /// the CPU, which need none).
    pub warm_up_ms: f64,
    /// Whether resize, decoding, suppression and alignment ran on the compute device.
    pub device_preprocess: bool,
    /// Each stream's own counts, in the order of the run's sources (one for a run of one).
    pub streams: Vec<StreamSummary>,
}

/// One stream's share of a run.
#[derive(Clone, Debug, Default)]
pub struct StreamSummary {
    /// Its name in a run of several sources; empty for a run of one.
    pub name: String,
    pub frames: u64,
    pub faces: u64,
    pub dropped: u64,
    pub damaged_packets: u64,
    /// Capture to written, per frame.
    pub latency_ms: crate::sink::bench::Stats,
    /// Why the stream ended early, in a run of several (where a stream fails alone).
    pub error: Option<String>,
}

impl From<Box<dyn FrameSource>> for Streams {
    fn from(source: Box<dyn FrameSource>) -> Self {
        Self::one(source)
    }
}

/// The sources of a run, and their names when there are several ([`run_streams`]).
pub struct Streams {
    sources: Vec<Box<dyn FrameSource>>,
    labels: Vec<StreamLabel>,
}

impl Streams {
    /// One source: the run of `process` and `live` with one input. Its outputs name no
    /// stream, and its source's failure is the run's.
    pub fn one(source: Box<dyn FrameSource>) -> Self {
        Self { sources: vec![source], labels: Vec::new() }
    }

    /// Several named sources, each isolated from the others: a stream that fails ends
    /// alone, with a warning. Names must be unique (see `streams::parse_name`).
    pub fn named(streams: Vec<(StreamLabel, Box<dyn FrameSource>)>) -> Result<Self> {
        let mut seen = std::collections::HashSet::new();
        for (l, _) in &streams {
            if !seen.insert(l.name.clone()) {
                return Err(Error::Config(format!("two streams are named '{}'; names must be unique", l.name)));
            }
        }
        let (labels, sources) = streams.into_iter().unzip();
        Ok(Self { sources, labels })
    }
}

impl RunSummary {
    pub fn fps(&self) -> f64 {
        if self.elapsed_s > 0.0 {
            self.frames as f64 / self.elapsed_s
        } else {
            0.0
        }
    }
}

/// Progress reporting hook, called from the sink thread after each frame.
pub trait Progress: Send {
    fn start(&mut self, info: &SourceInfo);
    fn frame(&mut self, faces: usize);
    fn finish(&mut self);
}

/// No progress output (live runs log a summary instead; `bench` prints its own report).
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&mut self, _: &SourceInfo) {}
    fn frame(&mut self, _: usize) {}
    fn finish(&mut self) {}
}

/// Runs a source through the whole pipeline into `sink`. A file source is read with
/// back-pressure (nothing dropped, all in order); a live source never waits: its link to
/// the detector keeps only the newest frames, dropping the oldest, and every link is kept
/// short so no stale frame queues up. The models are borrowed, so one loaded set serves
/// one run after another (`batch`).
pub fn run(
    cfg: &Config,
    source: Box<dyn FrameSource>,
    detector: &mut Detector,
    classifier: &mut dyn Classifier,
    sink: Box<dyn Sink>,
    progress: Box<dyn Progress>,
) -> Result<RunSummary> {
    run_streams(cfg, Streams::one(source), detector, classifier, sink, progress)
}

/// Runs several sources through one pipeline (see [`streams`]): one reader thread each,
/// one detector, aligner and classifier for all of them (the classifier's batches mix
/// streams), and each stream's own tracks and filters. One source is [`run`]'s case.
pub fn run_streams(
    cfg: &Config,
    streams: Streams,
    detector: &mut Detector,
    classifier: &mut dyn Classifier,
    sink: Box<dyn Sink>,
    mut progress: Box<dyn Progress>,
) -> Result<RunSummary> {
    let Streams { sources, labels } = streams;
    let n = sources.len();
    if n == 0 {
        return Err(Error::Config("no source to run".into()));
    }
    // several streams are isolated from each other: one that fails ends alone
    let isolated = !labels.is_empty();
    let any_live = sources.iter().any(|s| s.is_live());
    let sizes: Vec<(u32, u32)> = sources.iter().map(|s| (s.info().width, s.info().height)).collect();
    let caps: Vec<usize> = sources
        .iter()
        .zip(&sizes)
        .map(
            |(s, &(w, h))| {
                if s.is_live() {
                    cfg.pipeline.live_queue_frames
                } else {
                    link_capacity(&cfg.pipeline, w, h)
                }
            },
        )
        .collect();
    let largest = sizes.iter().copied().max_by_key(|(w, h)| *w as u64 * *h as u64).unwrap_or((0, 0));
    // the links after the detector carry every stream: room for each stream's share, so
    // one stream's frame in a link does not hold up the others' (one source: its own cap)
    let cap = caps.iter().sum::<usize>().max(1);
    let spec = classifier.spec().input.clone();
    let keep_pixels = sink.needs_pixels();
    let mut info = RunInfo::new(classifier.spec(), cfg.filter.kind);
    info.streams = labels.clone();
    let analysis = (0..n).map(|_| AnalysisStage::new(cfg, classifier.spec())).collect::<Result<Vec<_>>>()?;
    let hold_last: Vec<bool> = sources.iter().map(|s| !s.is_live()).collect();
    let mut batch_cfg = cfg.batch.clone();
    if any_live {
        batch_cfg.max_wait_ms = if isolated { cfg.batch.streams_max_wait_ms } else { cfg.batch.live_max_wait_ms };
    }
    // the frames the queues and stages can hold at once: each stream's link, 4 shared
    // links and 6 stages; without pixels past alignment, 1 shared link and 3 stages
    // (memory is checked for the largest frame)
    let shared = if keep_pixels { 4 * cap + 6 } else { cap + 3 };
    // a file of one stream: its keyframes' whole-frame searches run ahead of the detector,
    // on a session that loads on its own thread while the run starts
    let frames = sources[0].info().expected_frames.or(sources[0].info().estimated_frames);
    let search_ahead = ahead::wanted(cfg, detector, n, any_live, frames);
    // with it, the reader's link holds one frame, the search one more, and its link to the
    // detector `ahead_depth` instead of the reader's link's `cap`
    let ahead_depth = ahead::link_capacity(cfg, largest, caps[0]);
    cfg.limits.check_memory(
        std::path::Path::new("the input"),
        largest.0,
        largest.1,
        caps.iter().sum::<usize>() + shared + if search_ahead { 2 + ahead_depth - caps[0] } else { 0 },
    )?;
    let ahead = if search_ahead { Some(ahead::start(cfg)?) } else { None };
    let mut warm = 0.0;
    let mut warmed = Vec::new();
    let one_frame =
        sources.iter().all(|s| s.info().expected_frames.or(s.info().estimated_frames).is_some_and(|n| n <= 1));
    // warm-up is for live sources (their first frames' latency) and for CUDA (cuDNN's
    // algorithm search, the batch buckets); a file's first frame on the CPU pays ONNX
    // Runtime's first-run costs once, where a warm-up paid them on a black frame and then
    // searched that frame size again (~30 ms of a run's start, BENCHMARKS.md)
    let cuda = [detector.device(), classifier.device()].into_iter().flatten().any(|d| d.is_cuda());
    let warm_up_first = any_live || cuda;
    for size in sizes.iter().filter(|_| warm_up_first) {
        if !warmed.contains(size) {
            warm += warm_up(cfg, detector, classifier, size.0, size.1)?;
            warmed.push(*size);
        }
    }
    detector.reset_schedule();
    // the frame stays on the device from detection to alignment only when both networks
    // share that device; otherwise alignment reads the host frame
    let device_align = detector.frame_device().is_some() && detector.frame_device() == classifier.device();
    let mut pool = detect_workers(cfg, detector, n, isolated)?;
    let stagger = isolated && cfg.detect.stagger_keyframes;
    for d in &mut pool {
        for size in &warmed {
            d.warm_up(size.0, size.1)?;
        }
    }
    progress.start(sources[0].info());
    let t0 = Instant::now();

    let alive_flag = Arc::new(AtomicBool::new(true));
    let alive_guard = ConsumerAlive(alive_flag.clone());
    let mut feeds = Vec::with_capacity(n);
    let mut rx_decs = Vec::with_capacity(n);
    for (i, (source, cap)) in sources.into_iter().zip(&caps).enumerate() {
        let is_live = source.is_live();
        let limits = Limits { queue: *cap, start: cfg.pipeline.live_start_frames.max(*cap) };
        let depth = match (is_live, &ahead) {
            (true, _) => limits.start,
            (false, Some(_)) => 1,
            (false, None) => *cap,
        };
        let (tx, rx) = bounded::<FrameMsg>(depth);
        // a live source evicts stale frames through a receiver of its own link; a file
        // source must hold none, or the link could never disconnect when its consumer goes
        let live = is_live.then(|| (rx.clone(), limits));
        let name = labels.get(i).map(|l| l.name.clone());
        feeds.push(Feed { stream: i, name, source, tx, live, consumer: alive_flag.clone() });
        rx_decs.push(rx);
    }
    // the search ahead between the reader and the detector, on the detector's link
    let told = ahead.as_ref().map(|a| a.told.clone());
    let ahead = ahead.map(|a| {
        let (tx, rx) = bounded::<FrameMsg>(ahead_depth);
        (a, std::mem::replace(&mut rx_decs[0], rx), tx)
    });
    let (tx_det, rx_det) = bounded::<FrameMsg>(cap);
    let (tx_aln, rx_aln) = bounded::<FrameMsg>(cap);
    let (tx_mod, rx_mod) = bounded::<FrameMsg>(cap);
    let (tx_trk, rx_trk) = bounded::<FrameMsg>(cap);

    let (results, counts) = std::thread::scope(|s| {
        let mut handles = Vec::with_capacity(n + 5);
        for feed in feeds {
            handles.push(spawn_stage(s, "source", move || feed.run(isolated)));
        }
        if let Some((a, rx, tx)) = ahead {
            handles.push(spawn_stage(s, "ahead", move || ahead::stage(a, rx, tx)));
        }
        handles.push(spawn_stage(s, "detect", move || {
            let _alive = alive_guard;
            if pool.is_empty() {
                detect_stage(detector, device_align, stagger, told, rx_decs, tx_det)
            } else {
                detect_pool::detect_pool(pool.iter_mut().collect(), device_align, stagger, rx_decs, tx_det)
            }
        }));
        handles.push(spawn_stage(s, "align", move || align_stage(&spec, device_align, keep_pixels, rx_det, tx_aln)));
        handles.push(spawn_stage(s, "model", move || {
            // without a warm-up (a file on the CPU), the classifier runs its largest batch
            // once here, while the first frame is decoded and searched: ONNX Runtime's arena
            // then grows once, to that size, instead of a step for each larger batch met
            // (peak RSS at 1080p 224-231 -> 224-225 MiB); not for a photo, one small batch
            if !warm_up_first && !one_frame {
                classifier.warm_up(None, batch_cfg.max_faces)?;
            }
            model_stage(classifier, &batch_cfg, n, rx_aln, tx_mod)
        }));
        handles.push(spawn_stage(s, "analysis", move || analysis_stage(analysis, rx_mod, tx_trk, &hold_last)));
        let sink_info = &info;
        let sink_handle = std::thread::Builder::new()
            .name("sink".into())
            .spawn_scoped(s, move || sink_stage(sink, sink_info, progress.as_mut(), rx_trk, n));
        let results = handles
            .into_iter()
            .map(|(name, h)| match h {
                Ok(h) => h.join().unwrap_or(Err(Error::StagePanic(name))),
                Err(e) => Err(Error::Output(e)),
            })
            .collect::<Vec<_>>();
        let counts = match sink_handle {
            Ok(h) => h.join().unwrap_or(Err(Error::StagePanic("sink"))),
            Err(e) => Err(Error::Output(e)),
        };
        (results, counts)
    });

    let mut summary = RunSummary {
        elapsed_s: t0.elapsed().as_secs_f64(),
        interrupted: stop_requested(),
        warm_up_ms: warm,
        device_preprocess: device_align,
        ..Default::default()
    };
    summary.streams = (0..n)
        .map(|i| StreamSummary {
            name: labels.get(i).map(|l| l.name.clone()).unwrap_or_default(),
            ..Default::default()
        })
        .collect();
    let mut first_err = None;
    match counts {
        Ok(counts) => {
            for (st, c) in summary.streams.iter_mut().zip(counts) {
                st.frames = c.frames;
                st.faces = c.faces;
                st.latency_ms = c.latency_ms.stats();
            }
        }
        Err(e) => first_err = Some(e),
    }
    for r in results {
        match r {
            Ok(StageOut::Source { stream, dropped, damaged, error }) => {
                let st = &mut summary.streams[stream];
                st.dropped = dropped;
                st.damaged_packets = damaged;
                st.error = error;
            }
            Ok(StageOut::None) => {}
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    summary.frames = summary.streams.iter().map(|s| s.frames).sum();
    summary.faces = summary.streams.iter().map(|s| s.faces).sum();
    summary.dropped = summary.streams.iter().map(|s| s.dropped).sum();
    summary.damaged_packets = summary.streams.iter().map(|s| s.damaged_packets).sum();
    if isolated && summary.streams.iter().all(|s| s.error.is_some()) {
        let why: Vec<String> =
            summary.streams.iter().map(|s| format!("{}: {}", s.name, s.error.as_deref().unwrap_or_default())).collect();
        return Err(Error::AllStreamsFailed(why.join("; ")));
    }
    Ok(summary)
}

/// The detectors of a run of several streams (`pipeline.detect_workers`); none (the one
/// detector, in rounds) for a single stream, one worker, or a detector that is not ONNX
/// Runtime on the CPU. Each gets its share of the cores (`detect.threads` split between
/// them): on 2 cores, 2 detectors of 1 thread held 16 streams of 15 fps without a drop
/// where 2 detectors of 2 threads held 14 (BENCHMARKS.md, issue 26).
fn detect_workers(cfg: &Config, detector: &Detector, streams: usize, isolated: bool) -> Result<Vec<Detector>> {
    let cores = crate::runtime::cores();
    let wanted = match cfg.pipeline.detect_workers {
        0 => cores.min(streams),
        w => w.min(streams),
    };
    let cpu_onnx = detector.engine() == crate::runtime::EngineKind::Onnxruntime && detector.frame_device().is_none();
    if !isolated || streams < 2 || wanted < 2 || !cpu_onnx {
        return Ok(Vec::new());
    }
    let threads = (crate::runtime::threads_or_cores(cfg.detect.threads) / wanted).max(1);
    tracing::info!(detectors = wanted, threads = threads, "detect workers for {streams} streams");
    (0..wanted).map(|_| models::load_cpu_detector(cfg, threads)).collect()
}

/// Frames each link of a file run holds: `channel_capacity`, fewer for frames so large that
/// they would pass `channel_max_mb`, never fewer than two (one being handed over, one
/// waiting) so that the stages still overlap.
pub(super) fn link_capacity(p: &crate::config::PipelineConfig, width: u32, height: u32) -> usize {
    let frame = (width as usize * height as usize * 3).max(1);
    (p.channel_max_mb * (1 << 20) / frame).max(2).min(p.channel_capacity)
}

/// Runs every shape the networks will see once before frames flow: the classifier at each
/// batch bucket (fixed shapes on CUDA, see `runtime::buckets`), the detector at the
/// stream's frame size. On CUDA, cuDNN's algorithm search is on during warm-up only: the
/// shapes it tuned keep their algorithms, and a shape first met later (a camera that
/// changes resolution) gets the heuristic choice instead of a multi-second search.
/// Returns the warm-up time in milliseconds.
fn warm_up(cfg: &Config, det: &mut Detector, clf: &mut dyn Classifier, width: u32, height: u32) -> Result<f64> {
    let t = Instant::now();
    let cuda = [det.device(), clf.device()].into_iter().flatten().find(|d| d.is_cuda());
    if let Some(d) = cuda {
        crate::runtime::set_cudnn_benchmark(d, true);
    }
    let buckets = clf
        .device()
        .filter(|d| cfg.batch.shapes.fixed_on(*d))
        .map(|_| crate::runtime::buckets::Buckets::powers_of_two(cfg.batch.max_faces));
    // on the CPU both warm up at once: their first runs are mostly single-threaded set-up
    let (shapes, det_result) = if cuda.is_none() {
        crate::runtime::side_by_side(|| clf.warm_up(buckets, cfg.batch.max_faces), || det.warm_up(width, height))
    } else {
        (clf.warm_up(buckets, cfg.batch.max_faces), det.warm_up(width, height))
    };
    if let Some(d) = cuda {
        crate::runtime::set_cudnn_benchmark(d, false);
    }
    let shapes = shapes?;
    det_result?;
    let ms = elapsed_ms(t);
    tracing::info!(warm_up_ms = format!("{ms:.0}"), batch_shapes = ?shapes, frame = %format!("{width}x{height}"), "warmed up");
    Ok(ms)
}

type StageHandle<'scope> = std::io::Result<std::thread::ScopedJoinHandle<'scope, Result<StageOut>>>;

fn spawn_stage<'scope, 'env, F>(
    s: &'scope std::thread::Scope<'scope, 'env>,
    name: &'static str,
    f: F,
) -> (&'static str, StageHandle<'scope>)
where
    F: FnOnce() -> Result<StageOut> + Send + 'scope,
{
    (name, std::thread::Builder::new().name(name.into()).spawn_scoped(s, f))
}

enum StageOut {
    None,
    Source { stream: usize, dropped: u64, damaged: u64, error: Option<String> },
}

/// What the sink stage counted of one stream.
#[derive(Default)]
struct SinkCounts {
    frames: u64,
    faces: u64,
    latency_ms: latency::LatencyHistogram,
}

/// Cleared when the detect stage ends for any reason (return, error or panic), so a
/// live source, which holds a receiver of its own link to evict stale frames and so never
/// sees the link disconnect, knows to stop.
pub struct ConsumerAlive(Arc<AtomicBool>);

impl Drop for ConsumerAlive {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// A live link's depth: `queue` frames, the oldest dropped when a new one comes to a full
/// link, except for the stream's first `start` frames, which all wait. Every stream's
/// first frame is a whole-frame search, and cameras that start together queue behind each
/// other's: 26 cameras of 15 fps on two cores each lost their first frame or two to that
/// burst (BENCHMARKS.md, issue 26). A backlog left when the first frames are through is
/// cut back to `queue` at once (`pipeline.live_start_frames`, `live_queue_frames`).
#[derive(Clone, Copy)]
struct Limits {
    queue: usize,
    start: usize,
}

/// A live source's end of its link: drop-oldest, with the start allowance of [`Limits`].
struct LiveLink<'a> {
    tx: &'a Sender<FrameMsg>,
    /// The link's own receiver, to take the oldest frames back out.
    drain: &'a Receiver<FrameMsg>,
    limits: Limits,
    sent: usize,
    dropped: u64,
}

impl LiveLink<'_> {
    /// Puts `m` in the link, first taking the oldest frames out (counted as dropped) while
    /// the link holds its limit; `m` carries every drop before it, `by_source`'s too.
    /// False when the consumer has gone.
    fn offer(&mut self, mut m: FrameMsg, by_source: u64, consumer: &AtomicBool) -> bool {
        let limit = if self.sent < self.limits.start { self.limits.start } else { self.limits.queue };
        loop {
            if !consumer.load(Ordering::SeqCst) {
                return false;
            }
            while self.tx.len() >= limit && self.drain.try_recv().is_ok() {
                self.dropped += 1;
            }
            m.meta.dropped_before = self.dropped + by_source;
            match self.tx.try_send(m) {
                Ok(()) => {
                    self.sent += 1;
                    return true;
                }
                Err(TrySendError::Full(back)) => m = back,
                Err(TrySendError::Disconnected(_)) => return false,
            }
        }
    }
}

/// One stream's reader: its source and its link to the detector.
struct Feed {
    stream: usize,
    name: Option<String>,
    source: Box<dyn FrameSource>,
    tx: Sender<FrameMsg>,
    /// A live source's own receiver of its link, to take the oldest frames back out, and
    /// how many frames the link holds before it does.
    live: Option<(Receiver<FrameMsg>, Limits)>,
    /// Cleared when the detect stage ends.
    consumer: Arc<AtomicBool>,
}

impl Feed {
    /// Feeds the stream's link: blocking sends for files; for live sources, when the link
    /// is full the oldest waiting frame is taken back out and counted as dropped. With
    /// `isolated` (a run of several streams) a failing source ends its stream alone: one
    /// warning, and the others go on.
    fn run(mut self, isolated: bool) -> Result<StageOut> {
        // dropped here (evicted from the link) and before the frame reached us (a source
        // that counts the frames it could not deliver: the bench's generated cameras)
        let mut by_source = 0u64;
        let (stream, tx, consumer) = (self.stream, &self.tx, &self.consumer);
        let mut link =
            self.live.as_ref().map(|(drain, limits)| LiveLink { tx, drain, limits: *limits, sent: 0, dropped: 0 });
        let mut emit = |mut m: FrameMsg| -> bool {
            if stop_requested() {
                return false;
            }
            m.meta.stream = stream;
            by_source = m.meta.dropped_before;
            match link.as_mut() {
                Some(link) => link.offer(m, by_source, consumer),
                None => tx.send(m).is_ok(),
            }
        };
        let r = self.source.run(&mut emit);
        let dropped = link.map_or(0, |l| l.dropped) + by_source;
        let (damaged, error) = match r {
            Ok(s) => (s.damaged_packets, None),
            Err(e) if isolated => {
                let name = self.name.as_deref().unwrap_or("?");
                tracing::warn!("stream {name} ended: {e}");
                (0, Some(e.to_string()))
            }
            Err(e) => return Err(e),
        };
        Ok(StageOut::Source { stream, dropped, damaged, error })
    }
}

/// Detects frames of every stream in rounds: a round holds at most one frame of each
/// stream (taken round-robin, so a busy stream cannot starve a quiet one), and within a
/// round the streams with the fewest faces to follow go first, so a frame of one face
/// does not wait behind a frame of ten that arrived with it. Each stream keeps its own
/// faces to follow between keyframes (the detector's schedule, swapped in).
fn detect_stage(
    det: &mut Detector,
    keep_frame: bool,
    stagger: bool,
    told: Option<crate::detect::ahead::Told>,
    rxs: Vec<Receiver<FrameMsg>>,
    tx: Sender<FrameMsg>,
) -> Result<StageOut> {
    let n = rxs.len();
    let mut schedules = schedules(n, stagger);
    let mut open = vec![true; n];
    let mut next = 0usize;
    let mut round: Vec<FrameMsg> = Vec::with_capacity(n);
    while let Some(first) = next_frame(&rxs, &mut open, &mut next) {
        round.push(first);
        // whatever else has arrived meanwhile joins the round, one frame a stream
        for _ in 1..n {
            let before = next;
            match take_waiting(&rxs, &mut open, &mut next, |i| round.iter().any(|m| m.meta.stream == i)) {
                Some(m) => round.push(m),
                None => {
                    next = before;
                    break;
                }
            }
        }
        round.sort_by_key(|m| schedules[m.meta.stream.min(n - 1)].followed());
        for mut msg in round.drain(..) {
            let i = msg.meta.stream.min(n - 1);
            det.swap_schedule(&mut schedules[i]);
            let r = detect_one(det, &mut msg, keep_frame);
            det.swap_schedule(&mut schedules[i]);
            r?;
            if let Some(told) = told.as_ref().filter(|_| msg.timings.keyframe) {
                told.keyframe(msg.meta.index, msg.meta.pts_ms);
            }
            if tx.send(msg).is_err() {
                return Ok(StageOut::None);
            }
        }
    }
    Ok(StageOut::None)
}

/// Each stream's keyframe schedule, `stagger`ed across the streams or all alike.
fn schedules(n: usize, stagger: bool) -> Vec<crate::detect::keyframe::Schedule> {
    (0..n).map(|i| crate::detect::keyframe::Schedule::staggered(i, if stagger { n } else { 1 })).collect()
}

/// A frame waiting in one of the open streams that `skip` does not rule out, the first
/// from `next` on (round-robin), without blocking; `next` then points past its stream.
/// A stream found ended is marked closed.
fn take_waiting(
    rxs: &[Receiver<FrameMsg>],
    open: &mut [bool],
    next: &mut usize,
    skip: impl Fn(usize) -> bool,
) -> Option<FrameMsg> {
    let n = rxs.len();
    for k in 0..n {
        let i = (*next + k) % n;
        if !open[i] || skip(i) {
            continue;
        }
        match rxs[i].try_recv() {
            Ok(m) => {
                *next = (i + 1) % n;
                return Some(m);
            }
            Err(TryRecvError::Empty) => {}
            Err(TryRecvError::Disconnected) => open[i] = false,
        }
    }
    None
}

/// The next frame to detect: the first stream from `next` on (round-robin) with a frame
/// waiting, else whichever delivers first. None when every stream has ended.
fn next_frame(rxs: &[Receiver<FrameMsg>], open: &mut [bool], next: &mut usize) -> Option<FrameMsg> {
    loop {
        if let Some(m) = take_waiting(rxs, open, next, |_| false) {
            return Some(m);
        }
        let waiting: Vec<usize> = (0..rxs.len()).filter(|&i| open[i]).collect();
        if waiting.is_empty() {
            return None;
        }
        let mut sel = Select::new();
        for &i in &waiting {
            sel.recv(&rxs[i]);
        }
        let op = sel.select();
        let i = waiting[op.index()];
        match op.recv(&rxs[i]) {
            Ok(m) => {
                *next = (i + 1) % rxs.len();
                return Some(m);
            }
            Err(_) => open[i] = false,
        }
    }
}

/// One frame through the detector: its faces, and with `keep_frame` the frame as the
/// detector left it on the device. The detect stage and [`Analyzer`] both run this.
fn detect_one(det: &mut Detector, msg: &mut FrameMsg, keep_frame: bool) -> Result<()> {
    let t = Instant::now();
    let searched = msg.searched_ahead.take();
    let found = det.detect_next(&msg.image, msg.meta.pts_ms, msg.meta.independent, searched)?;
    let keyframe = found.keyframe;
    msg.faces = found.faces.into_iter().map(crate::messages::Face::new).collect();
    if keep_frame {
        msg.device.frame = found.frame;
    }
    msg.timings.detect_ms = elapsed_ms(t);
    msg.timings.keyframe = keyframe;
    Ok(())
}

/// Aligns each frame's faces; when no sink reads pixels (`keep_pixels` false), the frame's
/// buffer then goes back to the decoder and the frame travels on with its size only.
fn align_stage(
    spec: &InputSpec,
    on_device: bool,
    keep_pixels: bool,
    rx: Receiver<FrameMsg>,
    tx: Sender<FrameMsg>,
) -> Result<StageOut> {
    let blur_spec = crate::quality::blur_spec(spec);
    for mut msg in rx {
        align_one(&mut msg, spec, &blur_spec, on_device)?;
        if !keep_pixels {
            let size_only = Arc::new(RgbImage::size_only(msg.image.width, msg.image.height));
            if let Ok(image) = Arc::try_unwrap(std::mem::replace(&mut msg.image, size_only)) {
                crate::imageops::pool::give(image.data);
            }
        }
        if tx.send(msg).is_err() {
            break;
        }
    }
    Ok(StageOut::None)
}

/// One frame's faces aligned into the classifier's crops, with their blur measure: on the
/// device when the frame is there (`on_device`), else on the host.
fn align_one(msg: &mut FrameMsg, spec: &InputSpec, blur_spec: &InputSpec, on_device: bool) -> Result<()> {
    let t = Instant::now();
    match msg.device.frame.take().filter(|_| on_device) {
        Some(frame) => device::align_on_device(msg, frame, spec, blur_spec)?,
        None => {
            for f in &mut msg.faces {
                f.crop = align_face(&msg.image, &f.detection.landmarks, spec);
                let crop = f.crop.as_ref();
                f.blur = Some(crate::quality::face_blur(&msg.image, &f.detection.landmarks, blur_spec, crop));
            }
        }
    }
    msg.timings.align_ms = elapsed_ms(t);
    Ok(())
}

/// Collects frames until `max_faces` crops are waiting or the oldest has waited
/// `max_wait_ms`, then classifies all waiting crops (in chunks of `max_faces`) and passes
/// the frames on in order. Frames without faces ride along without forcing a batch. With
/// several `streams`, a batch also closes once it holds a frame of each: every camera is
/// served by one pass, and none waits for a stream that has nothing to add.
fn model_stage(
    clf: &mut dyn Classifier,
    cfg: &crate::config::BatchConfig,
    streams: usize,
    rx: Receiver<FrameMsg>,
    tx: Sender<FrameMsg>,
) -> Result<StageOut> {
    let max_wait = Duration::from_millis(cfg.max_wait_ms);
    let mut pending: VecDeque<FrameMsg> = VecDeque::new();
    let mut crops_waiting = 0usize;
    let mut deadline = Instant::now();
    loop {
        let got = if pending.is_empty() {
            rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        };
        let disconnected = match got {
            Ok(msg) => {
                let n = msg.faces.iter().filter(|f| f.has_crop()).count();
                if pending.is_empty() {
                    if n == 0 {
                        if tx.send(msg).is_err() {
                            return Ok(StageOut::None);
                        }
                        continue;
                    }
                    deadline = Instant::now() + max_wait;
                }
                crops_waiting += n;
                pending.push_back(msg);
                if crops_waiting < cfg.max_faces && !(streams > 1 && every_stream_waits(&pending, streams)) {
                    continue;
                }
                false
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => true,
        };
        classify_pending(clf, cfg.max_faces, &mut pending)?;
        crops_waiting = 0;
        for msg in pending.drain(..) {
            if tx.send(msg).is_err() {
                return Ok(StageOut::None);
            }
        }
        if disconnected {
            return Ok(StageOut::None);
        }
    }
}

/// Whether the frames with faces waiting for a batch come from all `streams`.
fn every_stream_waits(pending: &VecDeque<FrameMsg>, streams: usize) -> bool {
    let mut seen = vec![false; streams];
    for m in pending.iter().filter(|m| m.faces.iter().any(|f| f.has_crop())) {
        if let Some(s) = seen.get_mut(m.meta.stream) {
            *s = true;
        }
    }
    seen.iter().all(|s| *s)
}

/// Classifies every crop of the pending frames in chunks of `max_batch`: host crops through
/// `classify`, device crops (one tensor per frame, joined across frames) through
/// `classify_device`. One run makes one kind; frames never mix them.
fn classify_pending(clf: &mut dyn Classifier, max_batch: usize, pending: &mut VecDeque<FrameMsg>) -> Result<()> {
    let t = Instant::now();
    let max_batch = max_batch.max(1);
    let crops: Vec<&Crop> = pending.iter().flat_map(|m| m.faces.iter().filter_map(|f| f.crop.as_ref())).collect();
    let device_crops: Vec<&DeviceTensor> = pending.iter().filter_map(|m| m.device.crops.as_ref()).collect();
    let mut outputs = Vec::new();
    if !device_crops.is_empty() {
        if !crops.is_empty() {
            return Err(Error::Model {
                name: clf.spec().name.clone(),
                reason: "a batch mixes host and device crops".into(),
            });
        }
        outputs = device::classify_on_device(clf, max_batch, &device_crops)?;
    } else {
        for chunk in crops.chunks(max_batch) {
            outputs.extend(clf.classify(chunk)?);
        }
    }
    let total = outputs.len();
    let model_ms = elapsed_ms(t);
    let frames = pending.iter().filter(|m| m.faces.iter().any(|f| f.has_crop())).count().max(1);
    let mut mixed: Vec<usize> = pending.iter().map(|m| m.meta.stream).collect();
    mixed.sort_unstable();
    mixed.dedup();
    let streams = mixed.len();
    let mut it = outputs.into_iter();
    for msg in pending.iter_mut() {
        msg.timings.model_ms = model_ms;
        msg.timings.batch_faces = total;
        msg.timings.batch_streams = streams;
        if msg.faces.iter().any(|f| f.has_crop()) {
            msg.timings.model_share_ms = model_ms / frames as f64;
        }
        for f in msg.faces.iter_mut().filter(|f| f.has_crop()) {
            f.output = it.next();
            f.crop = None; // pixels are not needed past this point
            f.device_crop = false;
        }
        msg.device = Default::default();
    }
    Ok(())
}

/// Each stream's frames through its own tracks and filters. With `hold_last` (file
/// sources, where a frame's latency does not matter), each frame waits for the next one
/// of its stream, so that the last frame of the input can carry the end events of the
/// tracks still alive: every track then ends with an event, and per-track statistics need
/// no reconstruction. Live frames go on at once; their tracks end with the stream.
fn analysis_stage(
    mut stages: Vec<AnalysisStage>,
    rx: Receiver<FrameMsg>,
    tx: Sender<FrameMsg>,
    hold_last: &[bool],
) -> Result<StageOut> {
    let mut held: Vec<Option<FrameMsg>> = (0..stages.len()).map(|_| None).collect();
    for mut msg in rx {
        let i = msg.meta.stream.min(stages.len() - 1);
        let t = Instant::now();
        stages[i].process(&mut msg);
        msg.timings.track_ms = elapsed_ms(t);
        let ready = if hold_last[i] { held[i].replace(msg) } else { Some(msg) };
        if let Some(m) = ready {
            if tx.send(m).is_err() {
                return Ok(StageOut::None);
            }
        }
    }
    for (stage, last) in stages.iter_mut().zip(held) {
        if let Some(mut last) = last {
            last.track_events.extend(stage.finish());
            let _ = tx.send(last);
        }
    }
    Ok(StageOut::None)
}

fn sink_stage(
    mut sink: Box<dyn Sink>,
    info: &RunInfo,
    progress: &mut dyn Progress,
    rx: Receiver<FrameMsg>,
    streams: usize,
) -> Result<Vec<SinkCounts>> {
    let mut counts: Vec<SinkCounts> = (0..streams).map(|_| SinkCounts::default()).collect();
    let mut result = Ok(());
    for msg in rx {
        match sink.write_frame(&msg, info) {
            Ok(SinkStatus::Continue) => {}
            Ok(SinkStatus::Closed) => break,
            Err(e) => {
                result = Err(e);
                break;
            }
        }
        let c = &mut counts[msg.meta.stream.min(streams - 1)];
        c.frames += 1;
        c.faces += msg.faces.len() as u64;
        c.latency_ms.add(elapsed_ms(msg.meta.captured_at));
        progress.frame(msg.faces.len());
        // the last stage done with the frame: its buffer goes back to the decoder
        if let Ok(image) = std::sync::Arc::try_unwrap(msg.image) {
            crate::imageops::pool::give(image.data);
        }
    }
    progress.finish();
    let fin = sink.finish();
    result.and(fin)?;
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{ClassOutput, Detection, Face, FrameMeta, RgbImage, StageTimings};
    use crate::messages::{ClassifierSpec, InputSpec};
    use std::sync::Arc;

    /// Echoes each crop's first byte as its "probability" and records batch sizes.
    struct Echo {
        spec: ClassifierSpec,
        batches: Vec<usize>,
    }

    impl Classifier for Echo {
        fn spec(&self) -> &ClassifierSpec {
            &self.spec
        }
        fn classify(&mut self, crops: &[&Crop]) -> Result<Vec<ClassOutput>> {
            self.batches.push(crops.len());
            Ok(crops.iter().map(|c| ClassOutput::probs_only(&[c.data[0] as f32])).collect())
        }
    }

    fn frame(index: u64, face_ids: &[u8]) -> FrameMsg {
        let faces = face_ids
            .iter()
            .map(|&id| Face {
                crop: Some(Crop { width: 1, height: 1, channels: 1, data: vec![id] }),
                ..Face::new(Detection { bbox: [0.0; 4], landmarks: [[0.0; 2]; 5], score: 1.0 })
            })
            .collect();
        FrameMsg {
            meta: FrameMeta {
                index,
                pts_ms: None,
                pts: None,
                dropped_before: 0,
                captured_at: Instant::now(),
                independent: false,
                file: None,
                stream: 0,
            },
            image: Arc::new(RgbImage::new(1, 1, vec![0; 3])),
            faces,
            timings: StageTimings::default(),
            track_events: Vec::new(),
            searched_ahead: None,
            device: Default::default(),
        }
    }

    fn echo() -> Echo {
        let input = InputSpec::test_gray(1, 1, [[0.0; 2]; 5]);
        Echo {
            spec: ClassifierSpec {
                name: "echo".into(),
                classes: vec!["x".into()],
                input,
                has_valence_arousal: false,
                has_uncertainty: false,
                sha256: String::new(),
            },
            batches: vec![],
        }
    }

    #[test]
    fn a_live_link_lets_a_streams_first_frames_wait_then_drops_the_oldest() {
        let (tx, rx) = bounded::<FrameMsg>(3);
        let consumer = AtomicBool::new(true);
        let mut link = LiveLink { tx: &tx, drain: &rx, limits: Limits { queue: 1, start: 3 }, sent: 0, dropped: 0 };
        let frame = |i: u64| frame(i, &[]);
        // nothing taken yet: the first three all wait
        for i in 0..3 {
            assert!(link.offer(frame(i), 0, &consumer));
        }
        assert_eq!((tx.len(), link.dropped), (3, 0));
        // the fourth: the link is cut back to one frame, the newest
        assert!(link.offer(frame(3), 0, &consumer));
        assert_eq!((tx.len(), link.dropped), (1, 3));
        let m = rx.try_recv().unwrap();
        assert_eq!((m.meta.index, m.meta.dropped_before), (3, 3));
        // then drop-oldest at one frame, the source's own drops carried too
        assert!(link.offer(frame(4), 0, &consumer));
        assert!(link.offer(frame(5), 2, &consumer));
        let m = rx.try_recv().unwrap();
        assert_eq!((m.meta.index, m.meta.dropped_before, link.dropped), (5, 6, 4));
        consumer.store(false, Ordering::SeqCst);
        assert!(!link.offer(frame(6), 0, &consumer), "the consumer has gone");
    }

    #[test]
    fn links_hold_fewer_large_frames() {
        let p = crate::config::PipelineConfig::default();
        assert_eq!(link_capacity(&p, 640, 360), 8, "360p: 0.7 MiB frames, the full depth");
        assert_eq!(link_capacity(&p, 1920, 1080), 2, "1080p: 6 MiB frames, 12 MiB a link");
        assert_eq!(link_capacity(&p, 7680, 4320), 2, "never fewer than two");
        let one = crate::config::PipelineConfig { channel_capacity: 1, ..p };
        assert_eq!(link_capacity(&one, 64, 64), 1, "and never more than asked for");
    }

    #[test]
    fn batches_across_frames_keeps_order_and_assigns_outputs() {
        let (tx_in, rx_in) = bounded(16);
        let (tx_out, rx_out) = bounded(16);
        for f in [frame(0, &[1, 2]), frame(1, &[]), frame(2, &[3, 4, 5]), frame(3, &[6])] {
            tx_in.send(f).unwrap();
        }
        drop(tx_in);
        let mut clf = echo();
        let cfg = crate::config::BatchConfig { max_faces: 4, max_wait_ms: 10_000, ..Default::default() };
        model_stage(&mut clf, &cfg, 1, rx_in, tx_out).unwrap();
        let out: Vec<FrameMsg> = rx_out.iter().collect();
        assert_eq!(out.iter().map(|f| f.meta.index).collect::<Vec<_>>(), [0, 1, 2, 3]);
        let ids: Vec<f32> =
            out.iter().flat_map(|f| f.faces.iter().map(|x| x.output.as_ref().unwrap().probs[0])).collect();
        assert_eq!(ids, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        // frames 0-2 fill a batch (5 crops, split 4 + 1); frame 3 is flushed when input ends
        assert_eq!(clf.batches, [4, 1, 1]);
        assert_eq!(out[0].timings.batch_faces, 5);
        assert!(out.iter().all(|f| f.faces.iter().all(|x| x.crop.is_none())));
    }

    #[test]
    fn a_batch_mixes_streams_and_says_how_many() {
        let (tx_in, rx_in) = bounded(16);
        let (tx_out, rx_out) = bounded(16);
        for (i, stream) in [0usize, 1, 0, 2].into_iter().enumerate() {
            let mut f = frame(i as u64, &[i as u8 + 1]);
            f.meta.stream = stream;
            tx_in.send(f).unwrap();
        }
        drop(tx_in);
        let mut clf = echo();
        let cfg = crate::config::BatchConfig { max_faces: 3, max_wait_ms: 10_000, ..Default::default() };
        model_stage(&mut clf, &cfg, 1, rx_in, tx_out).unwrap();
        let out: Vec<FrameMsg> = rx_out.iter().collect();
        // the first batch holds frames of streams 0, 1, 0; the last frame (stream 2) alone
        assert_eq!(clf.batches, [3, 1]);
        assert_eq!(out.iter().map(|f| f.timings.batch_streams).collect::<Vec<_>>(), [2, 2, 2, 1]);
        assert_eq!(out.iter().map(|f| f.meta.stream).collect::<Vec<_>>(), [0, 1, 0, 2]);
    }

    #[test]
    fn a_batch_closes_once_every_stream_has_a_frame_in_it() {
        let (tx_in, rx_in) = bounded(4);
        let (tx_out, rx_out) = bounded(4);
        let worker = std::thread::spawn(move || {
            let mut clf = echo();
            let cfg = crate::config::BatchConfig { max_faces: 32, max_wait_ms: 60_000, ..Default::default() };
            model_stage(&mut clf, &cfg, 2, rx_in, tx_out).map(|_| clf.batches)
        });
        for stream in [0, 1] {
            let mut f = frame(stream as u64, &[7]);
            f.meta.stream = stream;
            tx_in.send(f).unwrap();
        }
        // both arrive long before max_wait, with the input still open
        let got: Vec<FrameMsg> = (0..2).map(|_| rx_out.recv_timeout(Duration::from_secs(10)).unwrap()).collect();
        assert!(got.iter().all(|f| f.timings.batch_streams == 2));
        drop(tx_in);
        assert_eq!(worker.join().unwrap().unwrap(), [2]);
    }

    #[test]
    fn streams_are_taken_round_robin_and_ended_ones_skipped() {
        let links: Vec<_> = (0..3).map(|_| bounded::<FrameMsg>(8)).collect();
        // stream 0 has four frames waiting, stream 1 two, stream 2 has ended
        for (s, k) in [(0usize, 4u64), (1, 2)] {
            for i in 0..k {
                let mut f = frame(i, &[]);
                f.meta.stream = s;
                links[s].0.send(f).unwrap();
            }
        }
        let (txs, rxs): (Vec<_>, Vec<_>) = links.into_iter().unzip();
        drop(txs); // every stream has ended after what it sent
        let (mut open, mut next) = (vec![true; 3], 0);
        let mut order = Vec::new();
        while let Some(m) = next_frame(&rxs, &mut open, &mut next) {
            order.push((m.meta.stream, m.meta.index));
        }
        assert_eq!(order, [(0, 0), (1, 0), (0, 1), (1, 1), (0, 2), (0, 3)]);
        assert_eq!(open, [false, false, false]);
    }

    #[test]
    fn a_lone_face_is_flushed_after_max_wait() {
        let (tx_in, rx_in) = bounded(4);
        let (tx_out, rx_out) = bounded(4);
        let worker = std::thread::spawn(move || {
            let mut clf = echo();
            let cfg = crate::config::BatchConfig { max_faces: 32, max_wait_ms: 5, ..Default::default() };
            model_stage(&mut clf, &cfg, 1, rx_in, tx_out).map(|_| clf.batches)
        });
        tx_in.send(frame(0, &[7])).unwrap();
        // arrives although the input stays open and the batch is far from full
        let got = rx_out.recv_timeout(Duration::from_secs(10)).expect("flushed by max_wait");
        assert_eq!(got.faces[0].output.as_ref().unwrap().probs, [7.0]);
        drop(tx_in);
        assert_eq!(worker.join().unwrap().unwrap(), [1]);
    }
}
