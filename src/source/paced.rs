//! A file played at its own frame rate through the live path (`live --source FILE`):
//! frames are released when their timestamp comes due, as a camera would deliver them, so
//! the drop-oldest policy and the latency figures can be exercised without a camera.
use super::{FrameSource, SourceInfo, SourceSummary, VideoSource};
use crate::error::Result;
use crate::messages::FrameMsg;
use std::time::{Duration, Instant};

pub struct PacedSource {
    inner: VideoSource,
}

impl PacedSource {
    pub fn new(inner: VideoSource) -> Self {
        Self { inner }
    }
}

impl FrameSource for PacedSource {
    fn info(&self) -> &SourceInfo {
        self.inner.info()
    }

    fn is_live(&self) -> bool {
        true
    }

    fn run(&mut self, emit: &mut dyn FnMut(FrameMsg) -> bool) -> Result<SourceSummary> {
        let fps = self.inner.info().fps.unwrap_or(30.0);
        let start = Instant::now();
        let mut first_pts: Option<f64> = None;
        self.inner.run(|mut msg| {
            let t_ms = msg.meta.pts_ms.unwrap_or(msg.meta.index as f64 * 1e3 / fps);
            let t0 = *first_pts.get_or_insert(t_ms);
            let due = start + Duration::from_secs_f64(((t_ms - t0) / 1e3).max(0.0));
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            // a camera frame is "captured" when it is delivered
            msg.meta.captured_at = Instant::now();
            emit(msg)
        })
    }
}
