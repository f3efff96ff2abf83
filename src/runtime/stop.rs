//! The process-wide stop request. Ctrl-C / SIGTERM set it; sources stop reading, the
//! window closes, and everything already read is finished and written. It sits in the
//! runtime layer because sources, sinks and the pipeline all read it.
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by the Ctrl-C handler: sources stop reading, everything already read is finished
/// and written, outputs are finalised.
static STOP: AtomicBool = AtomicBool::new(false);

pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}

pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}
