//! The search-ahead stage of a file run of one stream: between the reader and the
//! detector, it runs the whole-frame searches of the frames due to be keyframes on a
//! session of its own (`detect::ahead` says why and how the faces stay the same).
use super::{models, StageOut};
use crate::config::Config;
use crate::detect::ahead::{SearchAhead, Told};
use crate::detect::Detector;
use crate::error::{Error, Result};
use crate::messages::{elapsed_ms, FrameMsg};
use crossbeam_channel::{Receiver, Sender};
use std::thread::JoinHandle;
use std::time::Instant;

/// The search ahead being loaded, and what the detector tells it. Dropped unused (the run
/// failed before its stages started), it waits for the loading thread: a thread left
/// loading ONNX Runtime while the process exits crashed it (exit 139 instead of 1).
pub(super) struct Ahead {
    loading: Option<JoinHandle<Result<SearchAhead>>>,
    pub told: Told,
}

impl Drop for Ahead {
    fn drop(&mut self) {
        if let Some(h) = self.loading.take() {
            let _ = h.join();
        }
    }
}

/// Whether the run can use a search ahead: one stream, read from a file (a live frame
/// must not wait for a search before the detector sees it) that may hold a scheduled
/// keyframe (not a photo: `frames`, when known, over `keyframe_interval`), on a detector
/// that follows faces between keyframes on the CPU.
pub(super) fn wanted(cfg: &Config, det: &Detector, streams: usize, live: bool, frames: Option<u64>) -> bool {
    let keyframes = frames.is_none_or(|n| n > u64::from(cfg.detect.keyframe_interval));
    streams == 1 && !live && keyframes && det.searches_ahead()
}

/// Starts loading the search ahead: its session loads on a thread of its own while the
/// run starts. No warm-up: the search ahead serves files, whose first keyframe pays ONNX
/// Runtime's first-run costs once (a warm-up searched a black frame of the stream's size,
/// and every frame waited for it: the stage passes them all on).
pub(super) fn start(cfg: &Config) -> Result<Ahead> {
    tracing::info!(threads = cfg.detect.search_ahead_threads, "keyframes' whole frames searched ahead of the detector");
    let (cfg, told) = (cfg.clone(), Told::default());
    let sent = told.clone();
    let loading = std::thread::Builder::new()
        .name("ahead-load".into())
        .spawn(move || {
            let det = models::load_cpu_detector_for_frames(&cfg, cfg.detect.search_ahead_threads)?;
            Ok(SearchAhead::new(det, cfg.detect.clone(), sent))
        })
        .map_err(Error::Output)?;
    Ok(Ahead { loading: Some(loading), told })
}

/// Frames the link from the search ahead to the detector holds (`pipeline.ahead_max_mb`):
/// what the detector works through between two keyframes, `keyframe_interval` - 1, so that
/// it is still busy with the frames before a keyframe when that keyframe's search is done;
/// as many frames of `size` as fit in `ahead_max_mb`, and never fewer than the reader's
/// link of `cap` less the one frame it keeps itself. Without this the link held one frame
/// at 1080p, and the detector waited out most of every keyframe's search (`fer-rt bench`:
/// detect 76 % busy against 86–96 % with 2–5 frames).
pub(super) fn link_capacity(cfg: &Config, size: (u32, u32), cap: usize) -> usize {
    let frame = (size.0 as usize * size.1 as usize * 3).max(1);
    let interval = (cfg.detect.keyframe_interval as usize).saturating_sub(1);
    let fit = cfg.pipeline.ahead_max_mb * (1 << 20) / frame;
    interval.min(fit).min(cfg.pipeline.channel_capacity).max(cap.saturating_sub(1)).max(1)
}

/// Passes every frame on from `rx` to `tx`, with its whole-frame search on the frames due
/// to be keyframes.
pub(super) fn stage(mut ahead: Ahead, rx: Receiver<FrameMsg>, tx: Sender<FrameMsg>) -> Result<StageOut> {
    let loading = ahead.loading.take().ok_or(Error::StagePanic("ahead"))?;
    let mut search = loading.join().map_err(|_| Error::StagePanic("ahead"))??;
    for mut msg in rx {
        let t = Instant::now();
        let m = &msg.meta;
        msg.searched_ahead = search.next(m.index, m.pts_ms, m.independent, &msg.image)?;
        if msg.searched_ahead.is_some() {
            msg.timings.ahead_ms = elapsed_ms(t);
        }
        if tx.send(msg).is_err() {
            break;
        }
    }
    Ok(StageOut::None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    #[test]
    fn its_link_holds_a_keyframe_interval_within_its_memory() {
        let with = |interval: u32| {
            let mut cfg = Config::default();
            cfg.detect.keyframe_interval = interval;
            cfg
        };
        let depth = |interval: u32, w: u32, h: u32| {
            let cfg = with(interval);
            link_capacity(&cfg, (w, h), super::super::link_capacity(&cfg.pipeline, w, h))
        };
        assert_eq!(depth(6, 1920, 1080), 4, "1080p: 24 MiB hold 4 of the 5 frames");
        assert_eq!(depth(6, 640, 360), 7, "360p: never fewer than the reader's link less one");
        assert_eq!(depth(3, 1280, 720), 3, "720p: the 2 frames between keyframes, or cap - 1");
        assert_eq!(depth(6, 8192, 8192), 1, "frames over the budget: one, as before");
        assert_eq!(link_capacity(&with(1), (640, 360), 1), 1, "never an empty link");
    }

    #[test]
    fn an_unused_search_ahead_waits_for_its_loading_thread() {
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let loading = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            flag.store(true, Ordering::SeqCst);
            Err(Error::Config("never used".into()))
        });
        drop(Ahead { loading: Some(loading), told: Told::default() });
        assert!(done.load(Ordering::SeqCst), "dropped while its thread was still loading");
    }
}
