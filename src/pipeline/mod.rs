//! The staged pipeline: decode -> detect -> align -> model (batched) -> track+filter -> sink, one thread
//! per stage, bounded channels between them. File input uses back-pressure (blocking
//! sends), so every frame is processed exactly once and in order; the channels are FIFO
//! and each stage handles frames in arrival order, so order needs no re-sorting.
//!
//! Shutdown: a stage that fails returns its error and drops its channel ends; upstream
//! sends then fail and downstream receives end, so every thread finishes and is joined.
//! A stage that panics is joined as an error instead of hanging the others.
mod analysis;
mod analyzer;
mod device;
mod input;
mod models;

pub use analyzer::{Analyzer, Stream};
pub use input::{open_input, open_live, InputOptions, LiveInput};
pub use models::{torch_needed, Models};

use crate::align::align_face;
use crate::config::Config;
use crate::detect::Detector;
use crate::error::{Error, Result};
use crate::messages::{elapsed_ms, Crop, DeviceTensor, FrameMsg};
use crate::messages::{InputSpec, SourceInfo};
use crate::model::Classifier;
use crate::runtime::stop_requested;
use crate::sink::{RunInfo, Sink, SinkStatus};
use crate::source::FrameSource;
use analysis::AnalysisStage;
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};
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
    /// Time spent warming every network shape up before the first frame.
    pub warm_up_ms: f64,
    /// Whether resize, decoding, suppression and alignment ran on the compute device.
    pub device_preprocess: bool,
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
    mut source: Box<dyn FrameSource>,
    detector: &mut Detector,
    classifier: &mut dyn Classifier,
    mut sink: Box<dyn Sink>,
    mut progress: Box<dyn Progress>,
) -> Result<RunSummary> {
    let live = source.is_live();
    let (width, height) = (source.info().width, source.info().height);
    let cap = if live { cfg.pipeline.live_queue_frames } else { link_capacity(&cfg.pipeline, width, height) };
    let spec = classifier.spec().input.clone();
    let info = RunInfo::new(classifier.spec(), cfg.filter.kind);
    let mut analysis = AnalysisStage::new(cfg, classifier.spec())?;
    let mut batch_cfg = cfg.batch.clone();
    if live {
        batch_cfg.max_wait_ms = cfg.batch.live_max_wait_ms;
    }
    // the frames the queues and stages can hold at once: 5 links and 6 stages
    cfg.limits.check_memory(std::path::Path::new("the input"), width, height, 5 * cap + 6)?;
    let warm = warm_up(cfg, detector, classifier, width, height)?;
    detector.reset_schedule();
    // the frame stays on the device from detection to alignment only when both networks
    // share that device; otherwise alignment reads the host frame
    let device_align = detector.frame_device().is_some() && detector.frame_device() == classifier.device();
    progress.start(source.info());
    let t0 = Instant::now();

    let (tx_dec, rx_dec) = bounded::<FrameMsg>(cap);
    // a live source evicts stale frames through a receiver of its own link; a file source
    // must hold none, or the link could never disconnect when its consumer goes
    let rx_drain = live.then(|| rx_dec.clone());
    let alive_flag = Arc::new(AtomicBool::new(true));
    let alive_guard = ConsumerAlive(alive_flag.clone());
    let (tx_det, rx_det) = bounded::<FrameMsg>(cap);
    let (tx_aln, rx_aln) = bounded::<FrameMsg>(cap);
    let (tx_mod, rx_mod) = bounded::<FrameMsg>(cap);
    let (tx_trk, rx_trk) = bounded::<FrameMsg>(cap);

    let results = std::thread::scope(|s| {
        let handles = [
            spawn_stage(s, "source", move || source_stage(source.as_mut(), tx_dec, rx_drain, alive_flag)),
            spawn_stage(s, "detect", move || {
                let _alive = alive_guard;
                detect_stage(detector, device_align, rx_dec, tx_det)
            }),
            spawn_stage(s, "align", move || align_stage(&spec, device_align, rx_det, tx_aln)),
            spawn_stage(s, "model", move || model_stage(classifier, &batch_cfg, rx_aln, tx_mod)),
            spawn_stage(s, "analysis", move || analysis_stage(&mut analysis, rx_mod, tx_trk, !live)),
            spawn_stage(s, "sink", move || sink_stage(sink.as_mut(), &info, progress.as_mut(), rx_trk)),
        ];
        handles
            .into_iter()
            .map(|(name, h)| match h {
                Ok(h) => h.join().unwrap_or(Err(Error::StagePanic(name))),
                Err(e) => Err(Error::Output(e)),
            })
            .collect::<Vec<_>>()
    });

    let mut summary = RunSummary {
        elapsed_s: t0.elapsed().as_secs_f64(),
        interrupted: stop_requested(),
        warm_up_ms: warm,
        device_preprocess: device_align,
        ..Default::default()
    };
    let mut first_err = None;
    for r in results {
        match r {
            Ok(StageOut::Sink { frames, faces }) => {
                summary.frames = frames;
                summary.faces = faces;
            }
            Ok(StageOut::Source { dropped, damaged }) => {
                summary.dropped = dropped;
                summary.damaged_packets = damaged;
            }
            Ok(StageOut::None) => {}
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(summary),
    }
}

/// Frames each link of a file run holds: `channel_capacity`, fewer for frames so large that
/// they would pass `channel_max_mb`, never fewer than two (one being handed over, one
/// waiting) so that the stages still overlap.
fn link_capacity(p: &crate::config::PipelineConfig, width: u32, height: u32) -> usize {
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
    let shapes = clf.warm_up(buckets, cfg.batch.max_faces);
    let det_result = det.warm_up(width, height);
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
    Source { dropped: u64, damaged: u64 },
    Sink { frames: u64, faces: u64 },
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

/// Feeds the first link: blocking sends for files; for live sources, when the link is
/// full the oldest waiting frame is taken back out and counted as dropped.
fn source_stage(
    source: &mut dyn FrameSource,
    tx: Sender<FrameMsg>,
    drain: Option<Receiver<FrameMsg>>,
    consumer: Arc<AtomicBool>,
) -> Result<StageOut> {
    let mut dropped = 0u64;
    let mut emit = |mut m: FrameMsg| -> bool {
        if stop_requested() {
            return false;
        }
        let Some(drain) = &drain else { return tx.send(m).is_ok() };
        loop {
            if !consumer.load(Ordering::SeqCst) {
                return false;
            }
            // evict first, so the frame carries every drop that happened before it
            if tx.is_full() && drain.try_recv().is_ok() {
                dropped += 1;
            }
            m.meta.dropped_before = dropped;
            match tx.try_send(m) {
                Ok(()) => return true,
                Err(TrySendError::Full(back)) => m = back,
                Err(TrySendError::Disconnected(_)) => return false,
            }
        }
    };
    source.run(&mut emit).map(|s| StageOut::Source { dropped, damaged: s.damaged_packets })
}

fn detect_stage(
    det: &mut Detector,
    keep_frame: bool,
    rx: Receiver<FrameMsg>,
    tx: Sender<FrameMsg>,
) -> Result<StageOut> {
    for mut msg in rx {
        detect_one(det, &mut msg, keep_frame)?;
        if tx.send(msg).is_err() {
            break;
        }
    }
    Ok(StageOut::None)
}

/// One frame through the detector: its faces, and with `keep_frame` the frame as the
/// detector left it on the device. The detect stage and [`Analyzer`] both run this.
fn detect_one(det: &mut Detector, msg: &mut FrameMsg, keep_frame: bool) -> Result<()> {
    let t = Instant::now();
    let found = det.detect_next(&msg.image, msg.meta.pts_ms, msg.meta.independent)?;
    let keyframe = found.keyframe;
    msg.faces = found.faces.into_iter().map(crate::messages::Face::new).collect();
    if keep_frame {
        msg.device.frame = found.frame;
    }
    msg.timings.detect_ms = elapsed_ms(t);
    msg.timings.keyframe = keyframe;
    Ok(())
}

fn align_stage(spec: &InputSpec, on_device: bool, rx: Receiver<FrameMsg>, tx: Sender<FrameMsg>) -> Result<StageOut> {
    let blur_spec = crate::quality::blur_spec(spec);
    for mut msg in rx {
        align_one(&mut msg, spec, &blur_spec, on_device)?;
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
/// the frames on in order. Frames without faces ride along without forcing a batch.
fn model_stage(
    clf: &mut dyn Classifier,
    cfg: &crate::config::BatchConfig,
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
                if crops_waiting < cfg.max_faces {
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
    let mut it = outputs.into_iter();
    for msg in pending.iter_mut() {
        msg.timings.model_ms = model_ms;
        msg.timings.batch_faces = total;
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

/// With `hold_last` (file sources, where a frame's latency does not matter), each frame
/// waits for the next one, so that the last frame of the input can carry the end events of
/// the tracks still alive: every track then ends with an event, and per-track statistics
/// need no reconstruction. Live frames go on at once; their tracks end with the stream.
fn analysis_stage(
    stage: &mut AnalysisStage,
    rx: Receiver<FrameMsg>,
    tx: Sender<FrameMsg>,
    hold_last: bool,
) -> Result<StageOut> {
    let mut held: Option<FrameMsg> = None;
    for mut msg in rx {
        let t = Instant::now();
        stage.process(&mut msg);
        msg.timings.track_ms = elapsed_ms(t);
        let ready = if hold_last { held.replace(msg) } else { Some(msg) };
        if let Some(m) = ready {
            if tx.send(m).is_err() {
                return Ok(StageOut::None);
            }
        }
    }
    if let Some(mut last) = held {
        last.track_events.extend(stage.finish());
        let _ = tx.send(last);
    }
    Ok(StageOut::None)
}

fn sink_stage(
    sink: &mut dyn Sink,
    info: &RunInfo,
    progress: &mut dyn Progress,
    rx: Receiver<FrameMsg>,
) -> Result<StageOut> {
    let (mut frames, mut faces) = (0u64, 0u64);
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
        frames += 1;
        faces += msg.faces.len() as u64;
        progress.frame(msg.faces.len());
        // the last stage done with the frame: its buffer goes back to the decoder
        if let Ok(image) = std::sync::Arc::try_unwrap(msg.image) {
            crate::imageops::pool::give(image.data);
        }
    }
    progress.finish();
    let fin = sink.finish();
    result.and(fin)?;
    Ok(StageOut::Sink { frames, faces })
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
            },
            image: Arc::new(RgbImage::new(1, 1, vec![0; 3])),
            faces,
            timings: StageTimings::default(),
            track_events: Vec::new(),
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
        model_stage(&mut clf, &cfg, rx_in, tx_out).unwrap();
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
    fn a_lone_face_is_flushed_after_max_wait() {
        let (tx_in, rx_in) = bounded(4);
        let (tx_out, rx_out) = bounded(4);
        let worker = std::thread::spawn(move || {
            let mut clf = echo();
            let cfg = crate::config::BatchConfig { max_faces: 32, max_wait_ms: 5, ..Default::default() };
            model_stage(&mut clf, &cfg, rx_in, tx_out).map(|_| clf.batches)
        });
        tx_in.send(frame(0, &[7])).unwrap();
        // arrives although the input stays open and the batch is far from full
        let got = rx_out.recv_timeout(Duration::from_secs(10)).expect("flushed by max_wait");
        assert_eq!(got.faces[0].output.as_ref().unwrap().probs, [7.0]);
        drop(tx_in);
        assert_eq!(worker.join().unwrap().unwrap(), [1]);
    }
}
