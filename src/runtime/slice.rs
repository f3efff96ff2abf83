//! Scheduler slices for a live run's threads.
//!
//! Why: on a busy CPU, a stage woken by a frame waits for a core. Linux's EEVDF scheduler
//! (6.6 and later) runs the eligible thread with the earliest virtual deadline. That
//! deadline is the thread's time so far plus its slice (the kernel's default:
//! 1.4 ms on the 2-core build machine, more on larger ones).
//! So a thread woken beside a detector busy with a frame of ten faces often waits out that
//! slice. It then waits again at the next stage, and a frame of one face pays this at each
//! of its six hand-overs.
//!
//! Since Linux 6.12 a thread may ask for a shorter slice (`sched_attr.sched_runtime` for
//! `SCHED_OTHER`, clamped to 0.1-100 ms, no privilege needed). Its deadlines then come
//! sooner: woken, it preempts a long-running thread, does its short work and sleeps again.
//! This gives it no larger share of the CPU, only an earlier turn.
//!
//! A live run's stage threads ask for `pipeline.live_slice_us`, and so does a detector
//! for a frame that follows at most `pipeline.live_slice_faces` faces. A frame with more
//! faces is the long work the others pass. Measured in BENCHMARKS.md (issue 26,
//! twenty-third pass).
//!
//! Elsewhere, and on older kernels, which ignore the field, a request changes nothing.
//! The thread keeps its policy and nice value (a `nice fer-rt` stays nice), and threads it
//! spawns inherit the slice.
use std::cell::Cell;

thread_local! {
    /// The slice this thread last asked for (µs, 0 = the kernel's default) and whether the
    /// kernel took it, to skip repeating a request.
    static ASKED: Cell<Option<(u32, bool)>> = const { Cell::new(None) };
}

/// Asks the scheduler to give the calling thread slices of `us` microseconds, 0 = the
/// kernel's default. True when the kernel took it; false where it cannot (another OS, a
/// real-time policy, a kernel without custom slices). A request equal to the thread's last
/// one is not sent again (a detector asks before every frame).
pub fn request(us: u32) -> bool {
    if let Some((_, took)) = ASKED.with(|a| a.get()).filter(|&(asked, _)| asked == us) {
        return took;
    }
    let took = sys::set(us);
    ASKED.with(|a| a.set(Some((us, took))));
    took
}

/// The slices of a live run: the short one its stage threads ask for, and which frames a
/// detector searches with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveSlices {
    /// The short slice (µs); 0 = none asked for.
    pub us: u32,
    /// A detector takes the short slice for a frame following at most this many faces,
    /// the kernel's default for a frame following more.
    pub faces: usize,
}

impl LiveSlices {
    /// The slices of a run: none for a file run (`us` 0).
    pub fn new(live: bool, us: u32, faces: usize) -> Self {
        Self { us: if live { us } else { 0 }, faces }
    }

    /// Whether the run asks for any slice (a live run with `us` > 0).
    pub fn asks(&self) -> bool {
        self.us > 0
    }

    /// For a stage thread: the short slice.
    pub fn stage(&self) {
        if self.asks() {
            request(self.us);
        }
    }

    /// For a detector about to search a frame that follows `followed` faces.
    pub fn job(&self, followed: usize) {
        if self.asks() {
            request(if followed <= self.faces { self.us } else { 0 });
        }
    }
}

#[cfg(target_os = "linux")]
mod sys {
    /// `struct sched_attr` as of Linux 4.13 (`SCHED_ATTR_SIZE_VER1`).
    #[repr(C)]
    #[derive(Default)]
    struct SchedAttr {
        size: u32,
        policy: u32,
        flags: u64,
        nice: i32,
        priority: u32,
        runtime: u64,
        deadline: u64,
        period: u64,
        util_min: u32,
        util_max: u32,
    }

    const SCHED_OTHER: u32 = 0;
    const SCHED_BATCH: u32 = 3;

    fn get() -> Option<SchedAttr> {
        let mut a = SchedAttr::default();
        let size = std::mem::size_of::<SchedAttr>() as u32;
        // SAFETY: `a` is a writable sched_attr of `size` bytes; pid 0 is this thread.
        let r = unsafe { libc::syscall(libc::SYS_sched_getattr, 0, &mut a as *mut SchedAttr, size, 0) };
        (r == 0).then_some(a)
    }

    pub(super) fn set(us: u32) -> bool {
        let Some(mut a) = get() else { return false };
        if a.policy != SCHED_OTHER && a.policy != SCHED_BATCH {
            return false;
        }
        // the policy and nice value as they are; only the slice changes
        a.size = std::mem::size_of::<SchedAttr>() as u32;
        a.flags = 0;
        a.runtime = u64::from(us) * 1000;
        a.util_min = 0;
        a.util_max = 0;
        // SAFETY: `a` is a valid sched_attr of `a.size` bytes; pid 0 is this thread.
        let r = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &a as *const SchedAttr, 0) };
        r == 0 && (us == 0 || get().is_some_and(|b| b.runtime == a.runtime))
    }

    /// The calling thread's slice (µs) and nice value, as the kernel reports them.
    #[cfg(test)]
    pub(super) fn current() -> Option<(u64, i32)> {
        get().map(|a| (a.runtime / 1000, a.nice))
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    pub(super) fn set(_us: u32) -> bool {
        false
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// Runs `f` on a thread of its own, so that its scheduling attributes do not leak into
    /// other tests.
    fn on_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::spawn(f).join().unwrap()
    }

    #[test]
    fn a_request_sets_the_slice_and_keeps_the_nice_value() {
        on_thread(|| {
            // SAFETY: plain syscalls on this thread (gettid; setpriority for it).
            let tid = unsafe { libc::syscall(libc::SYS_gettid) } as libc::id_t;
            assert_eq!(unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, 3) }, 0);
            if !request(300) {
                eprintln!("this kernel takes no custom slices (Linux < 6.12): nothing to check");
                return;
            }
            assert_eq!(sys::current(), Some((300, 3)), "the slice asked for, the nice value kept");
            // a thread spawned now inherits the slice
            let child = std::thread::spawn(sys::current).join().unwrap();
            assert_eq!(child, Some((300, 3)));
            assert!(request(0));
            let (default_us, nice) = sys::current().unwrap();
            assert_ne!(default_us, 300, "back to the kernel's default");
            assert_eq!(nice, 3);
        });
    }

    #[test]
    fn a_detector_takes_the_short_slice_only_for_frames_of_few_faces() {
        on_thread(|| {
            let s = LiveSlices::new(true, 200, 2);
            s.job(2);
            let Some((short, _)) = sys::current().filter(|c| c.0 == 200) else {
                eprintln!("this kernel takes no custom slices (Linux < 6.12): nothing to check");
                return;
            };
            assert_eq!(short, 200);
            s.job(3);
            assert_ne!(sys::current().unwrap().0, 200, "a frame of 3 faces: the default slice");
            s.job(0);
            assert_eq!(sys::current().unwrap().0, 200);
        });
    }

    #[test]
    fn file_runs_and_a_zero_slice_ask_for_nothing() {
        assert!(!LiveSlices::new(false, 100, 2).asks());
        assert!(!LiveSlices::new(true, 0, 2).asks());
        assert_eq!(LiveSlices::new(true, 100, 2), LiveSlices { us: 100, faces: 2 });
    }
}
