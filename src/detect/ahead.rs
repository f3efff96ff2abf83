//! The whole-frame searches of a file's scheduled keyframes, run ahead of the detector.
//!
//! Why: on the CPU the detect thread bounds a file run (95–100 % busy), and on a keyframe
//! it waits for the whole frame's search beside its regions (`keyframe`). Each frame's
//! regions need the frame before's faces, a chain no thread can shorten; the whole frame's
//! search needs only the frame. So a thread of its own, between the reader and the
//! detector, runs that search on the frames that will be scheduled keyframes while the
//! detector is still on the frames before, and the result travels with the frame
//! (`FrameMsg::searched_ahead`). It runs the detector's own code on a session of its own,
//! and the detector uses the result only where it would have run that search, so the
//! faces are exactly what they were without it.
//!
//! Which frames are keyframes is known ahead from the stream's clock (every
//! `keyframe_interval` frames, or `keyframe_max_ms` of video) except where the regions
//! lose a face, which makes that frame a keyframe at once and restarts the count. The
//! detector reports each keyframe it runs ([`Told`]); this side then replays its schedule
//! from there, over the frames it has already passed on. A frame it guessed wrong is
//! searched by the detector itself, as before; a search made for a frame that turned out
//! not to need it is wasted work, not a different result.
use super::keyframe::Schedule;
use super::{DetectConfig, Detector};
use crate::error::Result;
use crate::messages::{Detection, RgbImage};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// A frame's index and timestamp (ms).
type FrameAt = (u64, Option<f64>);

/// The detector's latest keyframe, as it reports it to the thread ahead.
#[derive(Clone, Default)]
pub struct Told(Arc<Mutex<Option<FrameAt>>>);

impl Told {
    /// The detector ran a keyframe at frame `index`.
    pub fn keyframe(&self, index: u64, pts_ms: Option<f64>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((index, pts_ms));
    }

    fn latest(&self) -> Option<FrameAt> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One stream's searches ahead: a detector of its own (its whole-frame session only) and
/// its guess of the stream's keyframe schedule.
pub struct SearchAhead {
    det: Detector,
    cfg: DetectConfig,
    schedule: Schedule,
    /// The last frames passed on (index, timestamp): the schedule is replayed over those
    /// after a keyframe the detector reports, which is never more frames back than the
    /// links hold.
    seen: VecDeque<FrameAt>,
    /// The detector's keyframe last replayed from.
    replayed: Option<u64>,
    told: Told,
}

impl SearchAhead {
    /// Frames remembered for a replay: more than the links between here and the detector
    /// can hold.
    const SEEN: usize = 64;

    /// `det` searches the frames; `cfg` is the main detector's (its schedule and scales).
    pub fn new(det: Detector, cfg: DetectConfig, told: Told) -> Self {
        Self { det, cfg, schedule: Schedule::default(), seen: VecDeque::new(), replayed: None, told }
    }

    /// The next frame of the stream: its whole-frame search when it will be a scheduled
    /// keyframe, else None.
    pub fn next(
        &mut self,
        index: u64,
        pts_ms: Option<f64>,
        independent: bool,
        img: &RgbImage,
    ) -> Result<Option<Vec<Detection>>> {
        self.catch_up();
        let due = step(&mut self.schedule, &self.cfg, pts_ms, independent);
        if self.seen.len() == Self::SEEN {
            self.seen.pop_front();
        }
        self.seen.push_back((index, pts_ms));
        Ok(if due { Some(self.det.search_frame(img)?.faces) } else { None })
    }

    /// After a keyframe the detector reported, the schedule as it is since then (see
    /// [`replayed`]).
    fn catch_up(&mut self) {
        let Some(told) = self.told.latest() else { return };
        if self.replayed != Some(told.0) {
            self.replayed = Some(told.0);
            self.schedule = replayed(&self.cfg, told, &self.seen);
        }
    }
}

/// The schedule after the detector's keyframe at `told` (index, timestamp), replayed over
/// the frames `seen` after it: what this side guessed is replaced by what happened, which
/// differs where the detector lost a face and made a keyframe this side did not foresee.
fn replayed(cfg: &DetectConfig, told: FrameAt, seen: &VecDeque<FrameAt>) -> Schedule {
    let mut schedule = Schedule::default();
    schedule.keyframe(cfg, told.1, &[]);
    for &(_, pts) in seen.iter().filter(|(i, _)| *i > told.0) {
        step(&mut schedule, cfg, pts, false);
    }
    schedule
}

/// Moves `schedule` on by one frame as the detector will (`Detector::detect_next`, when no
/// face is lost); true when the frame is a scheduled keyframe whose whole frame is searched
/// for new faces, a stream's first frame included.
fn step(schedule: &mut Schedule, cfg: &DetectConfig, pts_ms: Option<f64>, independent: bool) -> bool {
    if independent {
        *schedule = Schedule::default();
        return false;
    }
    if !schedule.started() {
        schedule.keyframe(cfg, pts_ms, &[]);
        return true;
    }
    schedule.advance(cfg, pts_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> DetectConfig {
        DetectConfig { keyframe_interval: 4, keyframe_max_ms: 0.0, ..Default::default() }
    }

    fn keyframes(schedule: &mut Schedule, frames: std::ops::Range<u64>) -> Vec<u64> {
        frames.filter(|&i| step(schedule, &cfg(), Some(i as f64 * 40.0), false)).collect()
    }

    #[test]
    fn the_first_frame_then_every_interval() {
        let mut s = Schedule::default();
        assert_eq!(keyframes(&mut s, 0..13), [0, 4, 8, 12]);
    }

    #[test]
    fn a_reported_keyframe_restarts_the_count_over_the_frames_passed_on() {
        let mut s = Schedule::default();
        // guessed: 0, then 4; frames 0..7 passed on
        assert_eq!(keyframes(&mut s, 0..7), [0, 4]);
        let seen: VecDeque<_> = (0..7).map(|i| (i, Some(i as f64 * 40.0))).collect();
        // the detector lost a face at frame 5, a keyframe there: the next is 9, not 8
        let mut s = replayed(&cfg(), (5, Some(200.0)), &seen);
        assert_eq!(keyframes(&mut s, 7..14), [9, 13]);
        // told of the keyframe it foresaw, nothing changes
        let mut s = replayed(&cfg(), (4, Some(160.0)), &seen);
        assert_eq!(keyframes(&mut s, 7..14), [8, 12]);
    }

    #[test]
    fn time_makes_keyframes_too_and_a_photo_starts_over() {
        let cfg = DetectConfig { keyframe_interval: 100, keyframe_max_ms: 200.0, ..Default::default() };
        let mut s = Schedule::default();
        let due: Vec<u64> = (0..12).filter(|&i| step(&mut s, &cfg, Some(i as f64 * 50.0), i == 6)).collect();
        // frame 0, 200 ms after it, then frame 6 is independent and 7 starts the count again
        assert_eq!(due, [0, 4, 7, 11]);
    }
}
