//! The detect stage of one detector: frames of every stream in rounds, each stream with
//! its own keyframe schedule swapped into the detector for its frame. (Several detectors
//! on the CPU: [`super::detect_pool`].)
use super::StageOut;
use crate::detect::Detector;
use crate::error::Result;
use crate::messages::{elapsed_ms, FrameMsg};
use crate::runtime::slice::LiveSlices;
use crossbeam_channel::{Receiver, Select, Sender, TryRecvError};
use std::time::Instant;

/// Detects frames of every stream in rounds: a round holds at most one frame of each
/// stream (taken round-robin, so a busy stream cannot starve a quiet one), and within a
/// round the streams with the fewest faces to follow go first, so a frame of one face
/// does not wait behind a frame of ten that arrived with it. Each stream keeps its own
/// faces to follow between keyframes (the detector's schedule, swapped in).
pub(super) fn detect_stage(
    det: &mut Detector,
    keep_frame: bool,
    stagger: bool,
    slices: LiveSlices,
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
            slices.job(schedules[i].followed());
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
pub(super) fn schedules(n: usize, stagger: bool) -> Vec<crate::detect::keyframe::Schedule> {
    (0..n).map(|i| crate::detect::keyframe::Schedule::staggered(i, if stagger { n } else { 1 })).collect()
}

/// A frame waiting in one of the open streams that `skip` does not rule out, the first
/// from `next` on (round-robin), without blocking; `next` then points past its stream.
/// A stream found ended is marked closed.
pub(super) fn take_waiting(
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
pub(super) fn next_frame(rxs: &[Receiver<FrameMsg>], open: &mut [bool], next: &mut usize) -> Option<FrameMsg> {
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
/// detector left it on the device. The detect stage and [`super::Analyzer`] both run this.
pub(super) fn detect_one(det: &mut Detector, msg: &mut FrameMsg, keep_frame: bool) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::test_frames::frame;
    use crossbeam_channel::bounded;

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
}
