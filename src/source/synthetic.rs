//! Generated frames for benchmarks: N copies of one real face on a plain background, at a
//! chosen resolution, each drifting slowly in its own grid cell so the tracker has real
//! work. A real face (not a drawn one) keeps the detector's cost and behaviour realistic;
//! the frame rate decides the timestamps and, for a live source, the release times.
use super::{FrameSource, SourceInfo, SourceSummary};
use crate::error::{Error, Result};
use crate::imageops::resize_rgb;
use crate::messages::{elapsed_ms, FrameMeta, FrameMsg, RgbImage};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct SyntheticSource {
    info: SourceInfo,
    frames: u64,
    live: bool,
    background: Vec<u8>,
    patch: RgbImage,
    /// Top-left corner of each face's cell and the cell size.
    cells: Vec<(u32, u32)>,
    cell: (u32, u32),
    /// Live mode: the first frame is delivered this late (see [`Self::with_phase`]).
    phase: Duration,
}

/// Columns and rows of a grid holding `n` cells on a `width` x `height` frame, cells as
/// square as the frame allows.
pub fn grid(n: usize, width: u32, height: u32) -> (u32, u32) {
    let n = n.max(1) as f64;
    let cols = (n * width as f64 / height as f64).sqrt().ceil().clamp(1.0, n) as u32;
    let rows = (n / cols as f64).ceil() as u32;
    (cols, rows)
}

impl SyntheticSource {
    /// `face`: an RGB crop around one face (the face filling roughly its middle 60 %).
    pub fn new(
        face: &RgbImage,
        faces: usize,
        width: u32,
        height: u32,
        frames: u64,
        fps: f64,
        live: bool,
    ) -> Result<Self> {
        if faces == 0 || width < 32 || height < 32 || frames == 0 || !(fps > 0.0) {
            return Err(Error::Config(format!(
                "synthetic input needs >= 1 face, >= 32x32 pixels, >= 1 frame and fps > 0 (got {faces} faces, \
                 {width}x{height}, {frames} frames, {fps} fps)"
            )));
        }
        let (cols, rows) = grid(faces, width, height);
        let cell = (width / cols, height / rows);
        // the face patch fills 80 % of the cell's shorter side; the rest is room to drift
        let side = ((cell.0.min(cell.1) as f32) * 0.8).floor() as u32;
        if side < 24 {
            return Err(Error::Config(format!("{faces} faces do not fit {width}x{height} (cells of {side} px)")));
        }
        let patch = resize_rgb(face, side, side);
        let cells = (0..faces as u32).map(|k| ((k % cols) * cell.0, (k / cols) * cell.1)).collect();
        let mut background = Vec::with_capacity((width * height * 3) as usize);
        for y in 0..height {
            for x in 0..width {
                let g = (60 + 80 * x / width.max(1) + 40 * y / height.max(1)) as u8;
                background.extend_from_slice(&[g, g.saturating_add(10), g.saturating_add(25)]);
            }
        }
        let info = SourceInfo {
            width,
            height,
            expected_frames: Some(frames),
            estimated_frames: Some(frames),
            fps: Some(fps),
            codec: format!("synthetic ({faces} faces)"),
            time_base: (1, 1000),
        };
        Ok(Self { info, frames, live, background, patch, cells, cell, phase: Duration::ZERO })
    }

    /// Live mode: deliver every frame `share` of a frame period late, as an independent
    /// camera's clock is: N generated cameras that all delivered at the same instant
    /// would be a burst no set of real cameras makes (`bench --streams` spreads them).
    pub fn with_phase(mut self, share: f64) -> Self {
        let fps = self.info.fps.unwrap_or(30.0);
        self.phase = Duration::from_secs_f64(share.clamp(0.0, 1.0) / fps);
        self
    }

    /// Frame `i`: the background with every face pasted at its drifted position.
    pub fn frame(&self, i: u64) -> RgbImage {
        let (w, h) = (self.info.width, self.info.height);
        // from the decoders' pool, as a real camera's frames are: at many streams a fresh
        // buffer per frame was page faults on every frame (bench --streams 24)
        let mut data = crate::imageops::pool::take(self.background.len());
        data.extend_from_slice(&self.background);
        let t = i as f64 / self.info.fps.unwrap_or(30.0);
        let side = self.patch.width;
        let room = ((self.cell.0 - side) as f64, (self.cell.1 - side) as f64);
        for (k, &(cx, cy)) in self.cells.iter().enumerate() {
            let phase = 0.37 * k as f64;
            let dx = (room.0 * 0.5 * (1.0 + (0.9 * t + phase).sin())) as u32;
            let dy = (room.1 * 0.5 * (1.0 + (0.7 * t + 2.0 * phase).cos())) as u32;
            let (x0, y0) = ((cx + dx).min(w - side), (cy + dy).min(h - side));
            let row = side as usize * 3;
            for r in 0..side as usize {
                let dst = ((y0 as usize + r) * w as usize + x0 as usize) * 3;
                data[dst..dst + row].copy_from_slice(&self.patch.data[r * row..(r + 1) * row]);
            }
        }
        RgbImage::new(w, h, data)
    }
}

impl SyntheticSource {
    /// Frame `i` as the pipeline receives it: timestamped at its place in the clip, captured now.
    pub fn message(&self, i: u64) -> FrameMsg {
        let pts_ms = i as f64 * 1e3 / self.info.fps.unwrap_or(30.0);
        FrameMsg::new(FrameMeta::new(i, Some(pts_ms), Some(pts_ms.round() as i64)), Arc::new(self.frame(i)))
    }
}

impl FrameSource for SyntheticSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn is_live(&self) -> bool {
        self.live
    }

    fn run(&mut self, emit: &mut dyn FnMut(FrameMsg) -> bool) -> Result<SourceSummary> {
        let fps = self.info.fps.unwrap_or(30.0);
        let start = Instant::now() + if self.live { self.phase } else { Duration::ZERO };
        let mut summary = SourceSummary::default();
        let due = |i: u64| start + Duration::from_secs_f64(i as f64 / fps);
        let (mut i, mut skipped) = (0u64, 0u64);
        while i < self.frames {
            if self.live {
                if let Some(wait) = due(i).checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                // a camera read too late has delivered the frames since: it keeps the newest
                // and drops the rest, as a driver's ring buffer does. Without this a starved
                // reader thread slowed its camera down and hid the drops (bench, 30 processes)
                let now = Instant::now();
                let newest = (i..self.frames).take_while(|&k| due(k) <= now).last().unwrap_or(i);
                skipped += newest - i;
                i = newest;
            }
            let t = Instant::now();
            let mut msg = self.message(i);
            msg.meta.dropped_before = skipped;
            msg.timings.decode_ms = elapsed_ms(t);
            summary.frames += 1;
            if !emit(msg) {
                summary.stopped_early = true;
                break;
            }
            i += 1;
        }
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_holds_every_face() {
        for n in [1usize, 2, 5, 20, 33] {
            for (w, h) in [(640u32, 360u32), (360, 640), (1920, 1080)] {
                let (c, r) = grid(n, w, h);
                assert!((c * r) as usize >= n, "{n} faces in {c}x{r}");
                assert!((r - 1) * c < n as u32, "{n} faces: an empty row in {c}x{r}");
            }
        }
        assert_eq!(grid(1, 640, 360), (1, 1));
    }

    #[test]
    fn faces_are_pasted_and_move() {
        let face = RgbImage::new(10, 10, vec![255; 300]);
        let src = SyntheticSource::new(&face, 4, 320, 180, 10, 30.0, false).unwrap();
        let (a, b) = (src.frame(0), src.frame(9));
        let white = |img: &RgbImage| img.data.chunks(3).filter(|p| p == &[255, 255, 255]).count();
        let side = src.patch.width as usize;
        assert_eq!(white(&a), 4 * side * side, "four whole patches, no overlap");
        assert_ne!(a.data, b.data, "faces drift between frames");
    }

    #[test]
    fn a_live_camera_read_late_drops_the_frames_it_could_not_deliver() {
        let face = RgbImage::new(10, 10, vec![255; 300]);
        // 100 fps: a reader that takes 35 ms over frame 0 finds frames 1-3 due
        let mut src = SyntheticSource::new(&face, 1, 64, 36, 8, 100.0, true).unwrap();
        let mut got = Vec::new();
        src.run(&mut |m: FrameMsg| {
            if m.meta.index == 0 {
                std::thread::sleep(std::time::Duration::from_millis(35));
            }
            got.push((m.meta.index, m.meta.dropped_before));
            true
        })
        .unwrap();
        assert_eq!(got[0], (0, 0));
        let (index, dropped) = got[1];
        assert!(index >= 3 && dropped == index - 1, "the newest due frame, the rest counted: {got:?}");
        assert_eq!(got.last().unwrap().0, 7, "the last frame still comes");
        // a reader that keeps up drops nothing (10 fps: 100 ms of slack a frame)
        let mut src = SyntheticSource::new(&face, 1, 64, 36, 3, 10.0, true).unwrap();
        let mut seen = Vec::new();
        src.run(&mut |m: FrameMsg| {
            seen.push((m.meta.index, m.meta.dropped_before));
            true
        })
        .unwrap();
        assert_eq!(seen, [(0, 0), (1, 0), (2, 0)]);
    }

    #[test]
    fn rejects_what_cannot_be_drawn() {
        let face = RgbImage::new(10, 10, vec![255; 300]);
        assert!(SyntheticSource::new(&face, 0, 320, 180, 10, 30.0, false).is_err());
        assert!(SyntheticSource::new(&face, 500, 320, 180, 10, 30.0, false).is_err());
        assert!(SyntheticSource::new(&face, 1, 320, 180, 10, 0.0, false).is_err());
    }
}
