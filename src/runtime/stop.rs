//! The process-wide stop request. Ctrl-C / SIGTERM set it; sources stop reading, the
//! window closes, and everything already read is finished and written. It sits in the
//! runtime layer because sources, sinks and the pipeline all read it.
//!
//! Why a second signal does not exit at once: `timeout` and a terminal's process group
//! deliver the same signal twice, and `exit()` from the handler tore libraries (ONNX
//! Runtime) down under stage threads still using them, which printed a wrong error or
//! nothing. Now every signal only asks to stop; a run that has not wound down
//! `FORCED_EXIT_GRACE` after the second one (a read blocked on a dead network peer) is
//! ended by [`force_exit_after_grace`]: between two whole output lines (it takes
//! [`OUTPUT_LINE`]), with the one interruption line, and without running destructors.
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Set by the Ctrl-C handler: sources stop reading, everything already read is finished
/// and written, outputs are finalised.
static STOP: AtomicBool = AtomicBool::new(false);
/// Signals received.
static SIGNALS: AtomicU32 = AtomicU32::new(0);
/// Set once the error line of the run has been (or is being) printed: by `main`, or by
/// the forced exit, never both.
static REPORTED: AtomicBool = AtomicBool::new(false);

/// Held while a line of results is written to stdout, so a forced exit never cuts one.
pub static OUTPUT_LINE: Mutex<()> = Mutex::new(());

/// How long a run may take to wind down after the second signal.
pub const FORCED_EXIT_GRACE: Duration = Duration::from_secs(5);

pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}

/// Withdraws a stop request once the runs it stopped have ended: for a library embedding
/// (the Python package), where a KeyboardInterrupt stops the runs of that moment and the
/// process goes on to start others. The CLI never calls it: there a stop ends the process.
pub fn clear_stop() {
    STOP.store(false, Ordering::SeqCst);
}

pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Counts a signal and asks to stop; returns how many signals have come.
pub fn signal_received() -> u32 {
    request_stop();
    SIGNALS.fetch_add(1, Ordering::SeqCst) + 1
}

/// Claims the right to print the run's one error line; false when it was already taken.
pub fn claim_report() -> bool {
    !REPORTED.swap(true, Ordering::SeqCst)
}

/// After `grace`, unless the process has exited by then: wait for the line being written
/// to stdout to finish, flush, print `line` (when no other error line was printed) and
/// end the process with `code` at once, running no destructors.
pub fn force_exit_after_grace(grace: Duration, line: String, code: i32) {
    let _ = std::thread::Builder::new().name("forced-exit".into()).spawn(move || {
        std::thread::sleep(grace);
        let _guard = OUTPUT_LINE.lock();
        use std::io::Write;
        let _ = std::io::stdout().flush();
        if claim_report() {
            let _ = writeln!(std::io::stderr(), "{line}");
        }
        // SAFETY: _exit ends the process without unwinding or destructors, which is the
        // point: no library is torn down under a thread still using it.
        unsafe { libc::_exit(code) }
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_error_line_is_claimed_once() {
        // REPORTED is process-wide; this test only checks the swap semantics on a local
        let flag = std::sync::atomic::AtomicBool::new(false);
        assert!(!flag.swap(true, std::sync::atomic::Ordering::SeqCst));
        assert!(flag.swap(true, std::sync::atomic::Ordering::SeqCst));
    }
}
