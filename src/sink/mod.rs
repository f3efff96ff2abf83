//! Where results go. A sink sees every frame in order, once; a sink whose reader went
//! away (stdout closed by `| head`) says so and the pipeline winds down quietly.
pub mod jsonl;

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
