//! Frame buffers, recycled: the decoder takes one for each frame it converts, and the last
//! stage gives it back when it is done with the frame.
//!
//! Why: a frame is 0.7 MB at 360p and 6 MB at 1080p. Allocated fresh every frame, each one
//! is an mmap, page faults that zero it, and an munmap on another thread: at 1080p that
//! was a fifth of the process's CPU time, in the kernel. A few buffers going round cost
//! none of it, and resident memory stays flat because the same pages are reused.
//!
//! The pool is process-wide (several runs, one after another or at once, share it) and
//! bounded: it keeps at most `KEEP` buffers and `KEEP_BYTES` in all, and a buffer that is
//! too small for the frame asked for (the stream changed size) is freed, not kept.
use std::sync::Mutex;

/// The buffers kept, and the bounds on them.
pub struct FramePool {
    bufs: Mutex<Vec<Vec<u8>>>,
    keep: usize,
    keep_bytes: usize,
}

/// The process's pool: at most 16 buffers, 64 MiB in all (ten 1080p frames).
static POOL: FramePool = FramePool::new(16, 64 << 20);

/// An empty buffer with room for at least `len` bytes, from the process's pool.
pub fn take(len: usize) -> Vec<u8> {
    POOL.take(len)
}

/// Gives a buffer back to the process's pool.
pub fn give(buf: Vec<u8>) {
    POOL.give(buf)
}

impl FramePool {
    pub const fn new(keep: usize, keep_bytes: usize) -> Self {
        Self { bufs: Mutex::new(Vec::new()), keep, keep_bytes }
    }

    /// An empty buffer with room for at least `len` bytes: a recycled one when the pool
    /// has one that large (smaller ones met on the way are freed).
    pub fn take(&self, len: usize) -> Vec<u8> {
        let mut bufs = self.bufs.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(mut buf) = bufs.pop() {
            if buf.capacity() >= len {
                buf.clear();
                return buf;
            }
        }
        drop(bufs);
        Vec::with_capacity(len)
    }

    /// Keeps a buffer for a later [`Self::take`]; frees it instead when the pool is full or
    /// the buffer is small (below 64 KiB malloc serves it from the heap cheaply).
    pub fn give(&self, buf: Vec<u8>) {
        if buf.capacity() < 64 << 10 {
            return;
        }
        let mut bufs = self.bufs.lock().unwrap_or_else(|p| p.into_inner());
        let held: usize = bufs.iter().map(Vec::capacity).sum();
        if bufs.len() < self.keep && held + buf.capacity() <= self.keep_bytes {
            bufs.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_given_back_is_taken_again() {
        let pool = FramePool::new(2, 8 << 20);
        let len = 1 << 20;
        let buf = pool.take(len);
        assert!(buf.capacity() >= len && buf.is_empty());
        let ptr = buf.as_ptr();
        pool.give(buf);
        let again = pool.take(len);
        assert_eq!(again.as_ptr(), ptr, "the same allocation comes back");
        pool.give(again);
        // a larger frame cannot use it: a fresh buffer, and the small one is freed
        let big = pool.take(2 * len);
        assert!(big.capacity() >= 2 * len);
        assert!(pool.bufs.lock().unwrap().is_empty());
    }

    #[test]
    fn the_pool_is_bounded_in_count_and_bytes_and_skips_small_buffers() {
        let pool = FramePool::new(2, 3 << 20);
        pool.give(Vec::with_capacity(1024));
        assert!(pool.bufs.lock().unwrap().is_empty(), "small buffers are not kept");
        for _ in 0..3 {
            pool.give(Vec::with_capacity(1 << 20));
        }
        assert_eq!(pool.bufs.lock().unwrap().len(), 2, "at most `keep` buffers");
        let pool = FramePool::new(8, 3 << 20);
        for _ in 0..4 {
            pool.give(Vec::with_capacity(1 << 20));
        }
        assert_eq!(pool.bufs.lock().unwrap().len(), 3, "at most `keep_bytes`");
    }
}
