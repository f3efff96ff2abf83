//! The compute device. With libtorch linked (the `torch` feature) it is libtorch's own
//! `tch::Device`, so the tensor code takes it as it is; without libtorch it is a twin with
//! the same two variants that matter here, and there is no CUDA device: only libtorch runs
//! networks on a GPU, and a build without it runs everything on the CPU through ONNX
//! Runtime. Code above this module names `runtime::Device` and compiles either way.

#[cfg(feature = "torch")]
pub use tch::Device;

/// Where networks run. Without libtorch only `Cpu` is ever selected.
#[cfg(not(feature = "torch"))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Device {
    Cpu,
    Cuda(usize),
}

#[cfg(not(feature = "torch"))]
impl Device {
    /// CUDA 0 when present: never, without libtorch.
    pub fn cuda_if_available() -> Device {
        Device::Cpu
    }

    pub fn is_cuda(&self) -> bool {
        matches!(self, Device::Cuda(_))
    }
}

/// libtorch's intra-op threads (0 without libtorch).
pub fn torch_thread_count() -> i32 {
    #[cfg(feature = "torch")]
    return tch::get_num_threads();
    #[cfg(not(feature = "torch"))]
    0
}

/// CUDA devices libtorch sees (0 without libtorch).
pub fn cuda_device_count() -> i64 {
    #[cfg(feature = "torch")]
    return tch::Cuda::device_count();
    #[cfg(not(feature = "torch"))]
    0
}
