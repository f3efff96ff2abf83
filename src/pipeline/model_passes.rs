//! Several streams' crops through a classifier that runs in passes (ONNX Runtime on the
//! CPU, `[model] pass_faces`), one pass at a time, each pass filled round-robin across the
//! streams. Why: a batch classified whole holds every frame in it until its last crop is
//! done, so a 1-face camera's crop that lands behind a 10-face camera's waited for all ten
//! (3-5 ms on two cores), and one that arrived while that batch ran waited for it too.
//! Here a frame goes on as soon as its own crops are done; between passes the frames that
//! arrived meanwhile join (as many as a batch holds: the link before stays bounded), and
//! each pass takes one crop from each stream in turn, the stream whose waiting frame is
//! oldest first (then the one with fewest crops left), so a small frame is done in the
//! next pass and a large one still gets its share of every pass, however many small ones
//! keep coming. Within a stream nothing is reordered: its crops are taken from its oldest
//! unfinished frame on, and a finished frame waits for the ones before it. Results per
//! crop are those of any other pass (parity tests).
use crate::error::Result;
use crate::messages::{Crop, FrameMsg};
use crate::model::Classifier;
use crossbeam_channel::{Receiver, Sender, TryRecvError};
use std::collections::VecDeque;
use std::time::Instant;

/// A frame being served: which of its faces have crops and how many are done; the time of
/// the passes they went through, and its share of that time.
struct Slot {
    msg: FrameMsg,
    faces: Vec<usize>,
    done: usize,
    passes_ms: f64,
    share_ms: f64,
}

impl Slot {
    fn new(msg: FrameMsg) -> Self {
        let faces = (0..msg.faces.len()).filter(|&i| msg.faces[i].crop.is_some()).collect();
        Self { msg, faces, done: 0, passes_ms: 0.0, share_ms: 0.0 }
    }

    fn left(&self) -> usize {
        self.faces.len() - self.done
    }
}

/// How serving ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Served {
    /// Every frame went on; the input is still open.
    Open,
    /// Every frame went on and the input has ended.
    InputEnded,
    /// The next stage has gone.
    Closed,
}

/// Classifies the crops of `pending` and of the frames that arrive on
/// `rx` meanwhile (taken while fewer than `max_crops` crops and frames wait), `pass` crops
/// at a time, sending each frame on once it and its stream's earlier frames are done;
/// returns when none is left. Host crops only, as every classifier that runs in passes
/// gets: crops are aligned on a device only for a classifier on that device.
pub(super) fn serve(
    clf: &mut dyn Classifier,
    pass: usize,
    max_crops: usize,
    pending: &mut VecDeque<FrameMsg>,
    rx: &Receiver<FrameMsg>,
    tx: &Sender<FrameMsg>,
) -> Result<Served> {
    let mut slots: Vec<Slot> = pending.drain(..).map(Slot::new).collect();
    let mut open = true;
    loop {
        if !send_done(&mut slots, tx) {
            return Ok(Served::Closed);
        }
        if slots.is_empty() {
            return Ok(if open { Served::Open } else { Served::InputEnded });
        }
        run_pass(clf, pass.max(1), &mut slots)?;
        while open && slots.len() < max_crops && slots.iter().map(Slot::left).sum::<usize>() < max_crops {
            match rx.try_recv() {
                Ok(m) => slots.push(Slot::new(m)),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => open = false,
            }
        }
    }
}

/// Sends on, in arrival order, every finished frame that no unfinished frame of its stream
/// precedes; false when the next stage has gone.
fn send_done(slots: &mut Vec<Slot>, tx: &Sender<FrameMsg>) -> bool {
    let mut blocked: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < slots.len() {
        let stream = slots[i].msg.meta.stream;
        if slots[i].left() > 0 || blocked.contains(&stream) {
            blocked.push(stream);
            i += 1;
            continue;
        }
        let mut s = slots.remove(i);
        s.msg.timings.model_ms = s.passes_ms;
        s.msg.timings.model_share_ms = s.share_ms;
        if tx.send(s.msg).is_err() {
            return false;
        }
    }
    true
}

/// One pass: up to `pass` crops, one from each stream in turn ([`stream_order`]), each
/// stream's taken from its oldest unfinished frame on.
fn run_pass(clf: &mut dyn Classifier, pass: usize, slots: &mut [Slot]) -> Result<()> {
    // per stream in that order, its crops not yet done as (slot, face), oldest frame first
    let order = stream_order(slots);
    let mut queues: Vec<VecDeque<(usize, usize)>> = vec![VecDeque::new(); order.len()];
    for (i, slot) in slots.iter().enumerate() {
        if let Some(q) = order.iter().position(|&stream| stream == slot.msg.meta.stream) {
            queues[q].extend(slot.faces[slot.done..].iter().map(|&f| (i, f)));
        }
    }
    let mut picked: Vec<(usize, usize)> = Vec::with_capacity(pass);
    while picked.len() < pass && queues.iter().any(|q| !q.is_empty()) {
        for q in &mut queues {
            if picked.len() == pass {
                break;
            }
            picked.extend(q.pop_front());
        }
    }
    let t = Instant::now();
    let crops: Vec<&Crop> = picked.iter().map(|&(s, f)| slots[s].msg.faces[f].crop.as_ref().expect("a crop")).collect();
    let outputs = clf.classify(&crops)?;
    let pass_ms = crate::messages::elapsed_ms(t);
    let mut streams: Vec<usize> = picked.iter().map(|&(s, _)| slots[s].msg.meta.stream).collect();
    streams.sort_unstable();
    streams.dedup();
    for ((s, f), out) in picked.iter().copied().zip(outputs) {
        let slot = &mut slots[s];
        let face = &mut slot.msg.faces[f];
        face.output = Some(out);
        face.crop = None; // pixels are not needed past this point
        slot.done += 1;
        slot.share_ms += pass_ms / picked.len() as f64;
    }
    let mut frames: Vec<usize> = picked.iter().map(|&(s, _)| s).collect();
    frames.sort_unstable();
    frames.dedup();
    for s in frames {
        // the pass is a batch of this frame's: its time, and its size and streams
        let slot = &mut slots[s];
        slot.passes_ms += pass_ms;
        slot.msg.timings.batch_faces = picked.len();
        slot.msg.timings.batch_streams = streams.len();
    }
    Ok(())
}

/// The streams with crops left, the one whose oldest unfinished frame was captured first
/// ahead, then the one with fewer crops left in it.
fn stream_order(slots: &[Slot]) -> Vec<usize> {
    let mut heads: Vec<(Instant, usize, usize)> = Vec::new(); // (captured, left, stream)
    for s in slots.iter().filter(|s| s.left() > 0) {
        let stream = s.msg.meta.stream;
        if !heads.iter().any(|&(_, _, st)| st == stream) {
            heads.push((s.msg.meta.captured_at, s.left(), stream));
        }
    }
    heads.sort_unstable();
    heads.into_iter().map(|(_, _, stream)| stream).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{ClassOutput, ClassifierSpec};
    use crate::pipeline::test_frames::{frame, one_pixel_spec};
    use crossbeam_channel::bounded;

    /// Echoes each crop's first byte and records every pass's bytes; a pass takes `pass_ms`.
    struct Echo {
        spec: ClassifierSpec,
        passes: Vec<Vec<u8>>,
        pass_ms: u64,
    }

    impl Classifier for Echo {
        fn spec(&self) -> &ClassifierSpec {
            &self.spec
        }
        fn classify(&mut self, crops: &[&Crop]) -> Result<Vec<ClassOutput>> {
            self.passes.push(crops.iter().map(|c| c.data[0]).collect());
            std::thread::sleep(std::time::Duration::from_millis(self.pass_ms));
            Ok(crops.iter().map(|c| ClassOutput::probs_only(&[c.data[0] as f32])).collect())
        }
    }

    fn echo() -> Echo {
        Echo { spec: one_pixel_spec(), passes: vec![], pass_ms: 0 }
    }

    fn on(stream: usize, index: u64, crops: &[u8]) -> FrameMsg {
        let mut f = frame(index, crops);
        f.meta.stream = stream;
        f
    }

    /// `pending` served in passes of `pass`, `late` waiting on the input from the start:
    /// the passes' bytes, and the frames out as (stream, index, outputs).
    #[allow(clippy::type_complexity)]
    fn served(pending: Vec<FrameMsg>, late: Vec<FrameMsg>, pass: usize) -> (Vec<Vec<u8>>, Vec<(usize, u64, Vec<f32>)>) {
        let (tx_in, rx_in) = bounded(16);
        let (tx_out, rx_out) = bounded(64);
        for f in late {
            tx_in.send(f).unwrap();
        }
        let mut clf = echo();
        let mut pending: VecDeque<FrameMsg> = pending.into();
        assert_eq!(serve(&mut clf, pass, 32, &mut pending, &rx_in, &tx_out).unwrap(), Served::Open);
        drop(tx_out);
        let out = rx_out
            .iter()
            .map(|m| {
                let probs = m.faces.iter().map(|f| f.output.as_ref().unwrap().probs[0]).collect();
                assert!(m.faces.iter().all(|f| f.crop.is_none()));
                (m.meta.stream, m.meta.index, probs)
            })
            .collect();
        (clf.passes, out)
    }

    #[test]
    fn a_pass_takes_a_crop_of_each_stream_in_turn() {
        // a 10-face frame, then a 1-face frame of another stream: the first pass takes one
        // crop of each, then fills up from the 10-face frame; the 1-face frame goes on first
        let (passes, out) = served(vec![on(0, 0, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), on(1, 0, &[50])], vec![], 4);
        assert_eq!(passes, [vec![1, 50, 2, 3], vec![4, 5, 6, 7], vec![8, 9, 10]]);
        assert_eq!(out[0], (1, 0, vec![50.0]));
        assert_eq!(out[1], (0, 0, (1..=10).map(|x| x as f32).collect()));
    }

    #[test]
    fn a_frame_that_arrives_between_passes_is_done_before_the_rest_of_a_larger_one() {
        // the 2-face frame arrives while the 9-face frame is being served: it joins the
        // second pass and goes on after it, ahead of the 9-face frame's last three crops
        let (passes, out) = served(vec![on(0, 0, &[1, 2, 3, 4, 5, 6, 7, 8, 9])], vec![on(1, 0, &[60, 61])], 4);
        assert_eq!(passes, [vec![1, 2, 3, 4], vec![5, 60, 6, 61], vec![7, 8, 9]]);
        assert_eq!(out.iter().map(|o| (o.0, o.1)).collect::<Vec<_>>(), [(1, 0), (0, 0)]);
    }

    #[test]
    fn a_large_frame_gets_a_crop_of_every_pass_while_small_ones_keep_coming() {
        let large = on(0, 0, &[1, 2, 3, 4, 5, 6, 7, 8]);
        let late: Vec<FrameMsg> = (1..=6).map(|s| on(s, 0, &[49 + s as u8])).collect();
        let (passes, out) = served(vec![large], late, 4);
        assert_eq!(passes, [vec![1, 2, 3, 4], vec![5, 50, 51, 52], vec![6, 53, 54, 55], vec![7, 8]]);
        assert_eq!(out.last().unwrap().0, 0);
    }

    #[test]
    fn a_stream_keeps_its_order_and_frames_without_crops_wait_their_turn() {
        // stream 0: a 5-face frame, a frame without faces, a 1-face frame; stream 1: 2 faces
        let pending = vec![on(0, 0, &[1, 2, 3, 4, 5]), on(0, 1, &[]), on(0, 2, &[9]), on(1, 0, &[70, 71])];
        let (passes, out) = served(pending, vec![], 4);
        assert_eq!(passes, [vec![1, 70, 2, 71], vec![3, 4, 5, 9]]);
        let order: Vec<(usize, u64)> = out.iter().map(|o| (o.0, o.1)).collect();
        assert_eq!(order, [(1, 0), (0, 0), (0, 1), (0, 2)]);
        assert_eq!(out[1].2, [1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(out[3].2, [9.0]);
    }

    #[test]
    fn no_more_frames_are_taken_in_than_a_batch_holds() {
        // with room for 3 crops waiting, only the first of the late frames joins the second
        // pass; the others stay on the input until the waiting crops are done
        let mut pending: VecDeque<FrameMsg> = vec![on(0, 0, &[1, 2, 3, 4])].into();
        let late: Vec<FrameMsg> = (1..=3).map(|s| on(s, 0, &[60 + s as u8])).collect();
        let (tx_in, rx_in) = bounded(16);
        let (tx_out, rx_out) = bounded(64);
        for f in late {
            tx_in.send(f).unwrap();
        }
        let mut clf = echo();
        assert_eq!(serve(&mut clf, 2, 3, &mut pending, &rx_in, &tx_out).unwrap(), Served::Open);
        assert_eq!(clf.passes, [vec![1, 2], vec![3, 61], vec![4, 62], vec![63]]);
        assert_eq!(rx_out.try_iter().count(), 4);
    }

    #[test]
    fn a_frame_reports_the_passes_it_went_through() {
        let (tx_in, rx_in) = bounded::<FrameMsg>(4);
        let (tx_out, rx_out) = bounded(4);
        let mut pending: VecDeque<FrameMsg> = vec![on(0, 0, &[1, 2, 3, 4, 5]), on(1, 0, &[9])].into();
        serve(&mut Echo { pass_ms: 2, ..echo() }, 4, 32, &mut pending, &rx_in, &tx_out).unwrap();
        drop(tx_in);
        let out: Vec<FrameMsg> = rx_out.try_iter().collect();
        // the 1-face frame: the first pass (4 crops, both streams); the 5-face frame: both
        // passes, the last of 2 crops of its own stream
        let one = out.iter().find(|m| m.meta.stream == 1).unwrap();
        let five = out.iter().find(|m| m.meta.stream == 0).unwrap();
        assert_eq!((one.timings.batch_faces, one.timings.batch_streams), (4, 2));
        assert_eq!((five.timings.batch_faces, five.timings.batch_streams), (2, 1));
        // 2 ms a pass: the 1-face frame went through one, the 5-face frame through two
        assert!(one.timings.model_ms >= 2.0 && five.timings.model_ms >= 4.0);
        // shares by crops: a quarter of the first pass; three quarters of it and the second
        assert!(one.timings.model_share_ms >= 0.5 && five.timings.model_share_ms >= 3.5);
        assert!(five.timings.model_share_ms > 2.0 * one.timings.model_share_ms);
    }

    #[test]
    fn an_ended_input_is_reported_once_everything_went_on() {
        let (tx_in, rx_in) = bounded::<FrameMsg>(4);
        let (tx_out, rx_out) = bounded(4);
        tx_in.send(on(1, 0, &[8])).unwrap();
        drop(tx_in);
        let mut pending: VecDeque<FrameMsg> = vec![on(0, 0, &[7])].into();
        assert_eq!(serve(&mut echo(), 4, 32, &mut pending, &rx_in, &tx_out).unwrap(), Served::InputEnded);
        assert_eq!(rx_out.try_iter().count(), 2);
    }
}
