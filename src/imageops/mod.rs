//! Image operations on the plain image types of `messages`, used by several stages (the
//! detector's input, the synthetic source, the training data): one operation per file.
pub mod jpeg;
pub mod png;
pub mod pool;
pub mod resize;

pub use resize::resize_rgb;

/// Whether this CPU has AVX2 (asked once; `FER_RT_NO_AVX2` set: as if it had not). The
/// resampler and the face warp choose their AVX2 builds by it, so the variable turns both
/// off, for comparing their output with the portable code's.
#[cfg(target_arch = "x86_64")]
pub(crate) fn avx2() -> bool {
    static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HAS.get_or_init(|| std::is_x86_feature_detected!("avx2") && std::env::var_os("FER_RT_NO_AVX2").is_none())
}
