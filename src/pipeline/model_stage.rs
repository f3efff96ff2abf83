//! The model stage: crops from many frames (and streams) classified in batches, the
//! frames passed on in their order. Batching is where the classifier's cost per face falls;
//! waiting for a batch is latency, so how long a crop may wait is the config's to say.
use super::model_passes::{self, Served};
use super::{device, StageOut};
use crate::error::{Error, Result};
use crate::messages::{elapsed_ms, Crop, DeviceTensor, FrameMsg};
use crate::model::Classifier;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Collects frames until `max_faces` crops are waiting or the oldest has waited
/// `max_wait_ms`, then classifies all waiting crops (in chunks of `max_faces`) and passes
/// the frames on in order. Frames without faces ride along without forcing a batch. With
/// several `streams`, a batch also closes once it holds a frame of each: every camera is
/// served by one pass, and none waits for a stream that has nothing to add; and where the
/// classifier runs a batch in passes (on the CPU), it is served pass by pass, round-robin
/// across the streams, each frame going on once its own crops are done ([`model_passes`]).
pub(super) fn model_stage(
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
            recv_until(&rx, deadline)
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
        crops_waiting = 0;
        match clf.pass_faces().filter(|_| streams > 1) {
            // several streams on the CPU: pass by pass, round-robin across the streams
            Some(pass) => match model_passes::serve(clf, pass, cfg.max_faces, &mut pending, &rx, &tx)? {
                Served::Open if !disconnected => {}
                Served::Open | Served::InputEnded | Served::Closed => return Ok(StageOut::None),
            },
            None => {
                classify_pending(clf, cfg.max_faces, &mut pending)?;
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
    }
}

/// The next frame, waiting until `deadline` at most. A deadline already passed (a batch
/// that waits for nothing: live runs) only takes a frame already there. crossbeam's
/// `recv_timeout` spins and yields the core a few times before it looks at the clock. On a
/// busy CPU each yield can give a whole scheduler slice to another thread, and a 1-face
/// frame beside a 10-face one waited ~4 ms for a batch that waits 0 ms (BENCHMARKS.md,
/// twenty-third pass).
fn recv_until(rx: &Receiver<FrameMsg>, deadline: Instant) -> Result<FrameMsg, RecvTimeoutError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if !left.is_zero() {
        return rx.recv_timeout(left);
    }
    rx.try_recv().map_err(|e| match e {
        TryRecvError::Empty => RecvTimeoutError::Timeout,
        TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
    })
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
pub(super) fn classify_pending(
    clf: &mut dyn Classifier,
    max_batch: usize,
    pending: &mut VecDeque<FrameMsg>,
) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{ClassOutput, ClassifierSpec};
    use crate::pipeline::test_frames::{frame, one_pixel_spec};
    use crossbeam_channel::bounded;

    #[test]
    fn a_passed_deadline_takes_only_what_waits() {
        let (tx, rx) = bounded::<FrameMsg>(2);
        let past = Instant::now();
        assert!(matches!(recv_until(&rx, past), Err(RecvTimeoutError::Timeout)));
        tx.send(frame(7, &[1])).unwrap();
        assert_eq!(recv_until(&rx, past).unwrap().meta.index, 7);
        // a deadline ahead waits for a frame that comes meanwhile
        let later = Instant::now() + Duration::from_secs(10);
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            tx.send(frame(8, &[1])).unwrap();
        });
        assert_eq!(recv_until(&rx, later).unwrap().meta.index, 8);
        sender.join().unwrap();
        assert!(matches!(recv_until(&rx, past), Err(RecvTimeoutError::Disconnected)));
    }

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

    fn echo() -> Echo {
        Echo { spec: one_pixel_spec(), batches: vec![] }
    }

    /// `frames` through a model stage of one stream to their end, batches of up to
    /// `max_faces` crops: the frames out, and the batch sizes the classifier saw.
    fn through(frames: Vec<FrameMsg>, max_faces: usize) -> (Vec<FrameMsg>, Vec<usize>) {
        let (tx_in, rx_in) = bounded(16);
        let (tx_out, rx_out) = bounded(16);
        for f in frames {
            tx_in.send(f).unwrap();
        }
        drop(tx_in);
        let mut clf = echo();
        let cfg = crate::config::BatchConfig { max_faces, max_wait_ms: 10_000, ..Default::default() };
        model_stage(&mut clf, &cfg, 1, rx_in, tx_out).unwrap();
        (rx_out.iter().collect(), clf.batches)
    }

    #[test]
    fn batches_across_frames_keeps_order_and_assigns_outputs() {
        let (out, batches) = through(vec![frame(0, &[1, 2]), frame(1, &[]), frame(2, &[3, 4, 5]), frame(3, &[6])], 4);
        assert_eq!(out.iter().map(|f| f.meta.index).collect::<Vec<_>>(), [0, 1, 2, 3]);
        let ids: Vec<f32> =
            out.iter().flat_map(|f| f.faces.iter().map(|x| x.output.as_ref().unwrap().probs[0])).collect();
        assert_eq!(ids, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        // frames 0-2 fill a batch (5 crops, split 4 + 1); frame 3 is flushed when input ends
        assert_eq!(batches, [4, 1, 1]);
        assert_eq!(out[0].timings.batch_faces, 5);
        assert!(out.iter().all(|f| f.faces.iter().all(|x| x.crop.is_none())));
    }

    #[test]
    fn a_batch_mixes_streams_and_says_how_many() {
        let frames = [0usize, 1, 0, 2].into_iter().enumerate().map(|(i, stream)| {
            let mut f = frame(i as u64, &[i as u8 + 1]);
            f.meta.stream = stream;
            f
        });
        let (out, batches) = through(frames.collect(), 3);
        // the first batch holds frames of streams 0, 1, 0; the last frame (stream 2) alone
        assert_eq!(batches, [3, 1]);
        assert_eq!(out.iter().map(|f| f.timings.batch_streams).collect::<Vec<_>>(), [2, 2, 2, 1]);
        assert_eq!(out.iter().map(|f| f.meta.stream).collect::<Vec<_>>(), [0, 1, 0, 2]);
    }

    /// A model stage of `streams` streams on a thread of its own, batches of up to 32 crops
    /// waiting at most `max_wait_ms`: its input, its output, and its batch sizes at the end.
    #[allow(clippy::type_complexity)]
    fn running(
        max_wait_ms: u64,
        streams: usize,
    ) -> (Sender<FrameMsg>, Receiver<FrameMsg>, std::thread::JoinHandle<Result<Vec<usize>>>) {
        let (tx_in, rx_in) = bounded(4);
        let (tx_out, rx_out) = bounded(4);
        let worker = std::thread::spawn(move || {
            let mut clf = echo();
            let cfg = crate::config::BatchConfig { max_faces: 32, max_wait_ms, ..Default::default() };
            model_stage(&mut clf, &cfg, streams, rx_in, tx_out).map(|_| clf.batches)
        });
        (tx_in, rx_out, worker)
    }

    #[test]
    fn a_batch_closes_once_every_stream_has_a_frame_in_it() {
        let (tx_in, rx_out, worker) = running(60_000, 2);
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
    fn a_lone_face_is_flushed_after_max_wait() {
        let (tx_in, rx_out, worker) = running(5, 1);
        tx_in.send(frame(0, &[7])).unwrap();
        // arrives although the input stays open and the batch is far from full
        let got = rx_out.recv_timeout(Duration::from_secs(10)).expect("flushed by max_wait");
        assert_eq!(got.faces[0].output.as_ref().unwrap().probs, [7.0]);
        drop(tx_in);
        assert_eq!(worker.join().unwrap().unwrap(), [1]);
    }
}
