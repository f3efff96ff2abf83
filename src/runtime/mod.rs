//! The compute runtime under detection and classification: which device, which engine,
//! how many threads, and how bytes reach the device. `detect/` and `model/` both sit on this
//! module and never reach into each other for it; it imports no stage.
//!
//! Why one home: the CUDA path lives or dies by a few rules that must hold everywhere at
//! once: uploads go through a reused pinned ring (a fresh pinned allocation per transfer
//! costs more than the copy), batches come in a few fixed shapes (cuDNN tunes per shape),
//! and every shape is warmed up before frames flow.
pub mod buckets;
mod device;
pub mod files;
#[cfg(feature = "torch")]
pub mod layout;
pub mod onnx;
mod ort_cache;
pub mod paths;
pub mod slice;
#[cfg(feature = "torch")]
pub mod staging;
mod stop;

pub use device::{torch_thread_count, Device};

pub use stop::{
    claim_report, clear_stop, force_exit_after_grace, request_stop, signal_received, stop_requested, FORCED_EXIT_GRACE,
    OUTPUT_LINE,
};

use crate::error::{BadDevice, NoSuchDevice};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
#[cfg(feature = "torch")]
use tch::Kind;

/// What runs a network: ONNX Runtime (CPU only, faster there) or libtorch (CPU or CUDA).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Auto,
    Onnxruntime,
    Torch,
}

/// The engine a loaded network actually runs on (never `Auto`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    Onnxruntime,
    Torch,
}

impl EngineKind {
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Onnxruntime => "onnxruntime",
            EngineKind::Torch => "torch",
        }
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where the steps around the networks run (resize, anchor decoding, suppression,
/// alignment) when libtorch runs both networks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Preprocess {
    /// On the device when it is CUDA, on the host otherwise.
    #[default]
    Auto,
    /// libtorch tensor ops on the networks' device (also on the CPU device, for tests).
    Device,
    /// Plain Rust on the CPU.
    Host,
}

impl Preprocess {
    pub fn on_device(self, device: Device) -> bool {
        match self {
            Preprocess::Auto => device.is_cuda(),
            Preprocess::Device => true,
            Preprocess::Host => false,
        }
    }
}

/// `--device` / `model.device`, parsed once: auto (CUDA when present), cpu, cuda[:N].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceChoice {
    #[default]
    Auto,
    Cpu,
    Cuda(usize),
}

impl FromStr for DeviceChoice {
    type Err = BadDevice;
    fn from_str(s: &str) -> Result<Self, BadDevice> {
        match s {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceChoice::Cuda)
                .ok_or_else(|| BadDevice(s.to_string())),
        }
    }
}

impl TryFrom<String> for DeviceChoice {
    type Error = BadDevice;
    fn try_from(s: String) -> Result<Self, BadDevice> {
        s.parse()
    }
}

impl From<DeviceChoice> for String {
    fn from(d: DeviceChoice) -> String {
        d.to_string()
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Auto => f.write_str("auto"),
            DeviceChoice::Cpu => f.write_str("cpu"),
            DeviceChoice::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

impl DeviceChoice {
    /// The device: `auto` resolves to CUDA 0 when present; an absent CUDA device is an
    /// error naming how many there are. Without libtorch there is no CUDA device.
    pub fn select(self) -> Result<Device, NoSuchDevice> {
        match self {
            DeviceChoice::Auto => Ok(Device::cuda_if_available()),
            DeviceChoice::Cpu => Ok(Device::Cpu),
            DeviceChoice::Cuda(i) => {
                let n = device::cuda_device_count();
                if i as i64 >= n {
                    return Err(NoSuchDevice { asked: self.to_string(), available: n });
                }
                Ok(Device::Cuda(i))
            }
        }
    }
}

/// Lower-case device name for reports: "cpu", "cuda:0".
pub fn device_name(d: Device) -> String {
    match d {
        Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// The floating-point kind the tch networks compute in: half precision on CUDA (tensor
/// cores, half the memory traffic), f32 on the CPU.
#[cfg(feature = "torch")]
pub fn compute_kind(device: Device) -> Kind {
    if device.is_cuda() {
        Kind::Half
    } else {
        Kind::Float
    }
}

/// CPU cores available to this process (at least 1).
pub fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// `second` on a thread of its own while `here` runs on this one; both results, once both
/// are done. A panic on the second thread goes on here, as if it had happened on this one.
/// For two pieces of mostly single-threaded work (building sessions, a session's run)
/// that a two-core machine would otherwise do one after the other.
pub fn side_by_side<A: Send, B>(second: impl FnOnce() -> A + Send, here: impl FnOnce() -> B) -> (A, B) {
    std::thread::scope(|s| {
        let second = s.spawn(second);
        let b = here();
        (second.join().unwrap_or_else(|p| std::panic::resume_unwind(p)), b)
    })
}

/// A thread count from config: `n`, or one per core when 0.
pub fn threads_or_cores(n: usize) -> usize {
    if n == 0 {
        cores()
    } else {
        n
    }
}

/// libtorch's intra-op threads: `requested`, or when 0: one per core if torch runs both
/// networks or a heavy classifier (a trained ResNet-18 checkpoint, which then bounds the
/// pipeline), else half the cores (at least one). libtorch's OpenMP workers spin while
/// waiting, so a full pool beside ONNX Runtime's starves it when torch has little to do: on
/// 2 cores a torch mini-Xception took 7 ms per face instead of 1 (BENCHMARKS.md). On CUDA
/// the host threads only launch kernels and run the few host-side ops; the same rule holds.
pub fn torch_threads(requested: usize, detector: EngineKind, classifier: EngineKind, heavy_classifier: bool) -> usize {
    let cores = cores();
    let torch = EngineKind::Torch;
    match requested {
        0 if classifier == torch && (detector == torch || heavy_classifier) => cores,
        0 => (cores / 2).max(1),
        n => n,
    }
}

/// How cuDNN picks convolution algorithms. Benchmark mode times every candidate the first
/// time it sees a shape: worth it only when all shapes are seen during warm-up, which the
/// batch buckets and the fixed detector input make true. A shape first met while frames
/// flow would stall that frame for up to seconds (measured: model p95 2.6 s on an H100).
pub fn set_cudnn_benchmark(device: Device, on: bool) {
    #[cfg(feature = "torch")]
    if device.is_cuda() {
        tch::Cuda::cudnn_set_benchmark(on);
    }
    #[cfg(not(feature = "torch"))]
    let _ = (device, on);
}

/// Waits for all queued work on `device` (a no-op on the CPU): warm-up timing needs it.
pub fn synchronize(device: Device) {
    #[cfg(feature = "torch")]
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
    #[cfg(not(feature = "torch"))]
    let _ = device;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_strings_round_trip() {
        for s in ["auto", "cpu", "cuda:0", "cuda:3"] {
            assert_eq!(s.parse::<DeviceChoice>().unwrap().to_string(), s);
        }
        assert_eq!("cuda".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cuda(0));
        let err = "gpu".parse::<DeviceChoice>().unwrap_err().to_string();
        assert!(err.contains("'gpu'"), "{err}");
        assert!("cuda:x".parse::<DeviceChoice>().is_err());
    }

    #[test]
    fn cpu_always_selects() {
        assert_eq!(DeviceChoice::Cpu.select().unwrap(), Device::Cpu);
        let n = device::cuda_device_count();
        let err = DeviceChoice::Cuda(n as usize).select().unwrap_err();
        assert_eq!(err.available, n);
    }

    #[test]
    fn torch_threads_follow_the_stage_layout() {
        use EngineKind::*;
        let cores = cores();
        assert_eq!(torch_threads(3, Onnxruntime, Torch, false), 3, "an explicit count wins");
        assert_eq!(torch_threads(0, Torch, Torch, false), cores);
        assert_eq!(torch_threads(0, Onnxruntime, Torch, true), cores, "a heavy checkpoint bounds the pipeline");
        assert_eq!(torch_threads(0, Onnxruntime, Torch, false), (cores / 2).max(1));
        assert_eq!(torch_threads(0, Onnxruntime, Onnxruntime, false), (cores / 2).max(1));
    }
}
