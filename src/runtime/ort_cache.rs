//! ONNX Runtime's optimised graphs, kept between runs (`<cache>/ort/`).
//!
//! Why: building a session optimises the graph first (constant folding, fusions, the NCHWc
//! layout for this CPU's vector width), and that is most of the build: the INT8 RetinaFace
//! 25 ms, the f32 one 10 ms, on every start of every run. ONNX Runtime can write the graph
//! it optimised and load it back without optimising again (3-4x faster, BENCHMARKS.md,
//! twentieth pass), the same nodes running the same kernels. Such a graph holds this CPU's
//! layout and this ONNX Runtime build's fused operators, so it is keyed by the model's
//! bytes, the runtime's build string and the CPU features its kernels dispatch on; a graph
//! that fails to load is dropped and built again from the original.
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Raised when what a cached graph depends on changes in a way the key does not see.
const FORMAT: &str = "fer-rt ort-cache 1";

/// Where the optimised graph of `model` for this runtime and CPU is kept, or None when
/// there is no cache folder to keep it in (it cannot be made) or the model cannot be read.
pub(super) fn path_for(model: &Path) -> Option<PathBuf> {
    let bytes = std::fs::read(model).ok()?;
    let dir = super::paths::cache_dir().join("ort");
    std::fs::create_dir_all(&dir).ok()?;
    let stem = model.file_stem()?.to_string_lossy();
    Some(dir.join(format!("{stem}-{}.onnx", key(&bytes, ort::info(), &cpu_features()))))
}

/// The hex digest (16 bytes) naming a graph of `model` bytes, for `runtime` and `cpu`.
fn key(model: &[u8], runtime: &str, cpu: &str) -> String {
    let mut h = Sha256::new();
    for part in [FORMAT.as_bytes(), runtime.as_bytes(), cpu.as_bytes()] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.update(model);
    h.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The CPU features an optimised graph can depend on (the vector width its NCHWc layout
/// is blocked for, 8-bit dot products), as a list of those present.
fn cpu_features() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! present {
            ($($f:tt),*) => { [$((stringify!($f), std::is_x86_feature_detected!($f))),*] };
        }
        let all = present!(
            "sse4.1",
            "avx",
            "avx2",
            "fma",
            "f16c",
            "avx512f",
            "avx512bw",
            "avx512dq",
            "avx512vl",
            "avx512vnni",
            "avx512bf16",
            "avx512fp16",
            "avxvnni"
        );
        all.iter().filter(|(_, on)| *on).map(|(f, _)| f.trim_matches('"')).collect::<Vec<_>>().join(",")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        std::env::consts::ARCH.to_string()
    }
}

/// A path beside `cached` for this build to write to, renamed into place once complete
/// ([`super::files::commit`]), so that no process reads half a graph; its own to this
/// process and call, as two threads may build the same model at once (a run's two detect
/// workers).
pub(super) fn part_path(cached: &Path) -> PathBuf {
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut name = cached.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}-{call}{}", std::process::id(), super::files::PART));
    cached.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_changes_with_the_model_the_runtime_and_the_cpu() {
        let k = key(b"graph", "ORT 1.32 abc", "avx2,fma");
        assert_eq!(k.len(), 32);
        assert_eq!(k, key(b"graph", "ORT 1.32 abc", "avx2,fma"));
        assert_ne!(k, key(b"graph!", "ORT 1.32 abc", "avx2,fma"));
        assert_ne!(k, key(b"graph", "ORT 1.32 abd", "avx2,fma"));
        assert_ne!(k, key(b"graph", "ORT 1.32 abc", "avx2,fma,avx512f"));
        // the parts are length-prefixed: moving bytes from one to the next is another key
        assert_ne!(key(b"graph", "ab", "c"), key(b"graph", "a", "bc"));
    }

    #[test]
    fn a_part_file_is_renamed_into_place() {
        let dir = tempfile::tempdir().unwrap();
        let cached = dir.path().join("net-00.onnx");
        let part = part_path(&cached);
        assert_ne!(part, cached);
        assert_ne!(part, part_path(&cached), "each build writes its own part file");
        assert_eq!(part.parent(), cached.parent());
        std::fs::write(&part, b"optimised").unwrap();
        super::super::files::commit(&part, &cached).unwrap();
        assert_eq!(std::fs::read(&cached).unwrap(), b"optimised");
        assert!(!part.exists());
    }

    #[test]
    fn the_cpu_features_list_what_this_cpu_has() {
        let f = cpu_features();
        #[cfg(target_arch = "x86_64")]
        assert_eq!(f.split(',').any(|x| x == "avx2"), std::is_x86_feature_detected!("avx2"), "{f}");
        assert!(!f.contains('"'));
    }
}
