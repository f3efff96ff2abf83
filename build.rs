//! With the `torch` feature, embeds a run-time search path to the libtorch this crate was
//! built against, so the binary runs without LD_LIBRARY_PATH. DT_RPATH (not RUNPATH) because libtorch_cpu's own
//! dependencies (libcudart, libcupti from the nvidia wheels) must be found transitively.
use std::path::PathBuf;

#[path = "build/libtorch.rs"]
mod libtorch;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=build/libtorch.rs");
    let mut version = "unknown".to_string();
    let mut path = "unknown".to_string();
    if let Ok(libtorch) = std::env::var("LIBTORCH") {
        let torch = PathBuf::from(libtorch);
        path = torch.display().to_string();
        // PyPI layout: torch/version.py holds __version__ = '2.11.0+cu130'
        if let Ok(text) = std::fs::read_to_string(torch.join("version.py")) {
            if let Some(v) = text.lines().find_map(|l| l.strip_prefix("__version__ = ")) {
                version = v.trim_matches(|c| c == '\'' || c == '"').to_string();
            }
        }
        // only a build that links libtorch needs to find it at run time
        if std::env::var_os("CARGO_FEATURE_TORCH").is_some() {
            libtorch::emit_rpath(&libtorch::lib_dirs(&torch));
        }
    }
    println!("cargo:rustc-env=FER_RT_ONNXRUNTIME_LIB={}", onnxruntime_lib().unwrap_or_default());
    println!("cargo:rustc-env=FER_RT_LIBTORCH_VERSION={version}");
    println!("cargo:rustc-env=FER_RT_LIBTORCH_PATH={path}");
    if std::env::var_os("CARGO_FEATURE_CUDA").is_some() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}

/// libonnxruntime.so.X.Y.Z from the onnxruntime wheel beside torch in the same venv
/// (site-packages/onnxruntime/capi), or None. The binary dlopens it at run time.
fn onnxruntime_lib() -> Option<String> {
    let torch = PathBuf::from(std::env::var("LIBTORCH").ok()?);
    let capi = torch.parent()?.join("onnxruntime").join("capi");
    let mut libs: Vec<PathBuf> = std::fs::read_dir(&capi)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("libonnxruntime.so")))
        .collect();
    libs.sort();
    libs.pop().map(|p| p.display().to_string())
}
