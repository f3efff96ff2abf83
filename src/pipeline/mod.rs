//! The staged pipeline: decode -> detect -> align -> model (batched) -> track+filter -> sink, one thread
//! per stage, bounded channels between them. File input uses back-pressure (blocking
//! sends), so every frame is processed exactly once and in order; the channels are FIFO
//! and each stage handles frames in arrival order, so order needs no re-sorting.
//!
//! Shutdown: a stage that fails returns its error and drops its channel ends; upstream
//! sends then fail and downstream receives end, so every thread finishes and is joined.
//! A stage that panics is joined as an error instead of hanging the others.
mod ahead;
mod align_stage;
mod analysis;
mod analyzer;
mod detect_pool;
mod detect_stage;
mod device;
mod feed;
mod input;
mod latency;
mod model_passes;
mod model_stage;
mod models;
#[cfg(test)]
mod test_frames;

pub use analyzer::{Analyzer, Stream};
pub use input::{open_input, open_live, parse_camera_spec, InputOptions, LiveInput, SourceSpec};
pub use models::{torch_needed, Models};

use crate::config::Config;
use crate::detect::Detector;
use crate::error::{Error, Result};
use crate::messages::SourceInfo;
use crate::messages::{elapsed_ms, FrameMsg};
use crate::model::Classifier;
use crate::runtime::slice::LiveSlices;
use crate::runtime::stop_requested;
use crate::sink::{RunInfo, Sink, SinkStatus, StreamLabel};
use crate::source::FrameSource;
use align_stage::align_stage;
use analysis::{analysis_stage, AnalysisStage};
use crossbeam_channel::{bounded, Receiver};
use detect_stage::detect_stage;
use feed::{Feed, Limits};
use model_stage::model_stage;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

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
        .map(|(s, &(w, h))| {
            if s.is_live() && n > 1 {
                cfg.pipeline.streams_queue_frames
            } else if s.is_live() {
                cfg.pipeline.live_queue_frames
            } else {
                link_capacity(&cfg.pipeline, w, h)
            }
        })
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
    // live: short scheduler slices, so a woken stage runs at once (`runtime::slice`)
    let slices = LiveSlices::new(any_live, cfg.pipeline.live_slice_us, cfg.pipeline.live_slice_faces);
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
            handles.push(spawn_stage(s, slices, "source", move || feed.run(isolated)));
        }
        if let Some((a, rx, tx)) = ahead {
            handles.push(spawn_stage(s, slices, "ahead", move || ahead::stage(a, rx, tx)));
        }
        handles.push(spawn_stage(s, slices, "detect", move || {
            let _alive = alive_guard;
            if pool.is_empty() {
                detect_stage(detector, device_align, stagger, slices, told, rx_decs, tx_det)
            } else {
                detect_pool::detect_pool(pool.iter_mut().collect(), device_align, stagger, slices, rx_decs, tx_det)
            }
        }));
        handles.push(spawn_stage(s, slices, "align", move || {
            align_stage(&spec, device_align, keep_pixels, rx_det, tx_aln)
        }));
        handles.push(spawn_stage(s, slices, "model", move || {
            // without a warm-up (a file on the CPU), the classifier runs its largest batch
            // once here, while the first frame is decoded and searched: ONNX Runtime's arena
            // then grows once, to that size, instead of a step for each larger batch met
            // (peak RSS at 1080p 224-231 -> 224-225 MiB); not for a photo, one small batch
            if !warm_up_first && !one_frame {
                classifier.warm_up(None, batch_cfg.max_faces)?;
            }
            model_stage(classifier, &batch_cfg, n, rx_aln, tx_mod)
        }));
        handles.push(spawn_stage(s, slices, "analysis", move || analysis_stage(analysis, rx_mod, tx_trk, &hold_last)));
        let sink_info = &info;
        let sink_handle = std::thread::Builder::new().name("sink".into()).spawn_scoped(s, move || {
            slices.stage();
            sink_stage(sink, sink_info, progress.as_mut(), rx_trk, n)
        });
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
    slices: LiveSlices,
    name: &'static str,
    f: F,
) -> (&'static str, StageHandle<'scope>)
where
    F: FnOnce() -> Result<StageOut> + Send + 'scope,
{
    let run = move || {
        slices.stage();
        f()
    };
    (name, std::thread::Builder::new().name(name.into()).spawn_scoped(s, run))
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

/// The sinks' stage: each frame written, counted per stream, and its buffer returned.
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

    #[test]
    fn links_hold_fewer_large_frames() {
        let p = crate::config::PipelineConfig::default();
        assert_eq!(link_capacity(&p, 640, 360), 8, "360p: 0.7 MiB frames, the full depth");
        assert_eq!(link_capacity(&p, 1920, 1080), 2, "1080p: 6 MiB frames, 12 MiB a link");
        assert_eq!(link_capacity(&p, 7680, 4320), 2, "never fewer than two");
        let one = crate::config::PipelineConfig { channel_capacity: 1, ..p };
        assert_eq!(link_capacity(&one, 64, 64), 1, "and never more than asked for");
    }
}
