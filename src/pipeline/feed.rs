//! The source stage: one reader thread a stream, feeding its link to the detector. Files
//! block on a full link (back-pressure: every frame once, in order); live sources never
//! wait on the pipeline, they drop their oldest waiting frame instead, so what reaches the
//! detector is always the newest view of the camera.
use super::{stop_requested, StageOut};
use crate::error::Result;
use crate::messages::FrameMsg;
use crate::source::FrameSource;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A live link's depth: `queue` frames, the oldest dropped when a new one comes to a full
/// link, except for the stream's first `start` frames, which all wait. Every stream's
/// first frame is a keyframe, and cameras that start together queue behind each other's:
/// 26 cameras of 15 fps on two cores each lost their first frame or two to that burst
/// when a first frame was a whole-frame search at the placing scale (BENCHMARKS.md,
/// issue 26). A backlog left when the first frames are through is
/// cut back to `queue` at once (`pipeline.live_start_frames`, `live_queue_frames`).
#[derive(Clone, Copy)]
pub(super) struct Limits {
    pub(super) queue: usize,
    pub(super) start: usize,
}

/// A live source's end of its link: drop-oldest, with the start allowance of [`Limits`].
pub(super) struct LiveLink<'a> {
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
pub(super) struct Feed {
    pub(super) stream: usize,
    pub(super) name: Option<String>,
    pub(super) source: Box<dyn FrameSource>,
    pub(super) tx: Sender<FrameMsg>,
    /// A live source's own receiver of its link, to take the oldest frames back out, and
    /// how many frames the link holds before it does.
    pub(super) live: Option<(Receiver<FrameMsg>, Limits)>,
    /// Cleared when the detect stage ends.
    pub(super) consumer: Arc<AtomicBool>,
}

impl Feed {
    /// Feeds the stream's link: blocking sends for files; for live sources, when the link
    /// is full the oldest waiting frame is taken back out and counted as dropped. With
    /// `isolated` (a run of several streams) a failing source ends its stream alone: one
    /// warning, and the others go on.
    pub(super) fn run(mut self, isolated: bool) -> Result<StageOut> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::test_frames::frame;
    use crossbeam_channel::bounded;

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
}
