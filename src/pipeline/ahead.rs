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

/// The search ahead being loaded, and what the detector tells it.
pub(super) struct Ahead {
    loading: JoinHandle<Result<SearchAhead>>,
    pub told: Told,
}

/// Starts loading the search ahead when the run can use it: one stream, read from a file
/// (a live frame must not wait for a search before the detector sees it) that may hold a
/// scheduled keyframe (not a photo: `frames`, when known, over `keyframe_interval`), on a
/// detector that follows faces between keyframes on the CPU. Its session loads and warms
/// up at the `size` of the stream's frames on a thread of its own, beside the main warm-up.
pub(super) fn plan(
    cfg: &Config,
    det: &Detector,
    streams: usize,
    live: bool,
    frames: Option<u64>,
    size: (u32, u32),
) -> Option<Ahead> {
    let keyframes = frames.is_none_or(|n| n > u64::from(cfg.detect.keyframe_interval));
    if streams != 1 || live || !keyframes || !det.searches_ahead() {
        return None;
    }
    tracing::info!(threads = cfg.detect.search_ahead_threads, "keyframes' whole frames searched ahead of the detector");
    let (cfg, told) = (cfg.clone(), Told::default());
    let sent = told.clone();
    let loading = std::thread::Builder::new()
        .name("ahead-load".into())
        .spawn(move || {
            let det = models::load_cpu_detector_for_frames(&cfg, cfg.detect.search_ahead_threads)?;
            let mut ahead = SearchAhead::new(det, cfg.detect.clone(), sent);
            ahead.warm_up(size.0, size.1)?;
            Ok(ahead)
        })
        .ok()?;
    Some(Ahead { loading, told })
}

/// Passes every frame on from `rx` to `tx`, with its whole-frame search on the frames due
/// to be keyframes.
pub(super) fn stage(ahead: Ahead, rx: Receiver<FrameMsg>, tx: Sender<FrameMsg>) -> Result<StageOut> {
    let mut search = ahead.loading.join().map_err(|_| Error::StagePanic("ahead"))??;
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
