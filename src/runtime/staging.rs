//! Host-to-device uploads through a small ring of reused staging buffers.
//!
//! Why: on CUDA an asynchronous copy needs page-locked (pinned) host memory, and pinning a
//! fresh buffer per transfer (what `Tensor::pin_memory` on a new tensor does) costs more
//! than the copy itself and printed a deprecation warning per call. The ring pins a few
//! buffers once (`_pin_memory`, which has no deprecated argument), and each upload copies
//! the bytes into the next slot and queues a non-blocking copy from it.
//!
//! Reuse rule: a slot is rewritten only `slots` uploads later. Every owner of a ring (the
//! detector, a classifier) waits on a result computed from each upload before it uploads
//! again (it downloads boxes or probabilities, which synchronises the stream), so by then
//! the copy out of the slot has finished. On the CPU the same ring is used, with plain
//! buffers and a real copy out of the slot, so its reuse is tested without a GPU.
use tch::{Device, Kind, Tensor};

pub struct StagingRing {
    device: Device,
    slots: Vec<Tensor>,
    next: usize,
    allocations: usize,
}

impl StagingRing {
    /// A ring of `slots` (at least 1) buffers for uploads to `device`; buffers are made on
    /// first use and grown when a larger upload comes.
    pub fn new(device: Device, slots: usize) -> Self {
        Self {
            device,
            slots: (0..slots.max(1)).map(|_| Tensor::empty([0], (Kind::Uint8, Device::Cpu))).collect(),
            next: 0,
            allocations: 0,
        }
    }

    /// Buffers allocated so far (a steady stream of equal-sized uploads stops at `slots`).
    pub fn allocations(&self) -> usize {
        self.allocations
    }

    /// `bytes` as a 1-D uint8 tensor on the device. On CUDA the copy is queued
    /// asynchronously on the current stream; kernels queued after it see the data.
    pub fn upload(&mut self, bytes: &[u8]) -> Tensor {
        let n = bytes.len() as i64;
        let i = self.next;
        self.next = (i + 1) % self.slots.len();
        let slot = &mut self.slots[i];
        if slot.numel() < bytes.len() {
            let fresh = Tensor::empty([n], (Kind::Uint8, Device::Cpu));
            *slot = match self.device {
                Device::Cuda(_) => fresh.internal_pin_memory(self.device),
                _ => fresh,
            };
            self.allocations += 1;
        }
        if n == 0 {
            return Tensor::empty([0], (Kind::Uint8, self.device));
        }
        // SAFETY: the slot is a contiguous CPU uint8 tensor of at least `n` elements that
        // this ring owns; no queued copy still reads it (see the reuse rule above).
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), slot.data_ptr() as *mut u8, bytes.len());
        }
        let view = slot.narrow(0, 0, n);
        if self.device.is_cuda() {
            view.to_device_(self.device, Kind::Uint8, true, false)
        } else {
            // the caller's tensor must not alias a buffer the ring will overwrite
            view.copy()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_reused_and_uploads_do_not_alias_them() {
        let mut ring = StagingRing::new(Device::Cpu, 2);
        let mut held = Vec::new();
        for i in 0..10u8 {
            let bytes: Vec<u8> = (0..100u8).map(|k| k.wrapping_mul(i)).collect();
            held.push((bytes.clone(), ring.upload(&bytes)));
        }
        assert_eq!(ring.allocations(), 2, "one buffer per slot for equal-sized uploads");
        // earlier uploads keep their bytes although their slots were rewritten since
        for (bytes, t) in held {
            assert_eq!(Vec::<u8>::try_from(&t).unwrap(), bytes);
        }
        // a larger upload grows only the slot it lands in
        let big = vec![7u8; 1000];
        assert_eq!(Vec::<u8>::try_from(&ring.upload(&big)).unwrap(), big);
        assert_eq!(ring.allocations(), 3);
        assert_eq!(ring.upload(&[]).numel(), 0);
    }
}
