//! Where results go. A sink sees every frame in order, once; a sink whose reader went
//! away (stdout closed by `| head`) says so and the pipeline winds down quietly.
pub mod csv;
pub mod jsonl;
pub mod overlay;
pub mod video;
pub mod window;

use crate::error::Result;
use crate::messages::FrameMsg;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SinkStatus {
    Continue,
    /// The reader is gone; stop without error.
    Closed,
}

/// What a sink needs to know about the run besides the frames.
#[derive(Clone, Debug)]
pub struct RunInfo {
    pub classifier: String,
    pub classes: Vec<String>,
    /// Name of the temporal filter (`none`, `ema`, `uncertainty`).
    pub filter: String,
}

pub trait Sink: Send {
    fn write_frame(&mut self, frame: &FrameMsg, info: &RunInfo) -> Result<SinkStatus>;
    /// Flushes and closes; called once at the end, also after errors.
    fn finish(&mut self) -> Result<()>;
}

/// Sends every frame to several sinks (e.g. JSON on stdout and an annotated video). When
/// one reports its reader gone (a closed pipe, a closed window) the run stops; every sink
/// is finished even if another fails.
pub struct Tee(pub Vec<Box<dyn Sink>>);

impl Sink for Tee {
    fn write_frame(&mut self, frame: &FrameMsg, info: &RunInfo) -> Result<SinkStatus> {
        let mut status = SinkStatus::Continue;
        for s in &mut self.0 {
            if s.write_frame(frame, info)? == SinkStatus::Closed {
                status = SinkStatus::Closed;
            }
        }
        Ok(status)
    }

    fn finish(&mut self) -> Result<()> {
        let mut first = Ok(());
        for s in &mut self.0 {
            let r = s.finish();
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
}
