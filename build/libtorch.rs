//! Where the libtorch that `LIBTORCH` names keeps its shared libraries, for the build
//! scripts of the binary and of the Python extension: both embed the same run-time search
//! path, so neither needs LD_LIBRARY_PATH.
use std::path::PathBuf;

/// torch/lib, and the CUDA runtime the PyPI wheels put beside torch (site-packages/nvidia/*/lib).
pub fn lib_dirs(torch: &std::path::Path) -> Vec<PathBuf> {
    let mut dirs = vec![torch.join("lib")];
    if let Some(site) = torch.parent() {
        if let Ok(entries) = std::fs::read_dir(site.join("nvidia")) {
            let mut libs: Vec<PathBuf> =
                entries.flatten().map(|e| e.path().join("lib")).filter(|l| l.is_dir()).collect();
            libs.sort();
            dirs.extend(libs);
        }
    }
    dirs
}

/// DT_RPATH (not RUNPATH) to `dirs`, because libtorch_cpu's own dependencies (libcudart,
/// libcupti from the nvidia wheels) must be found transitively.
pub fn emit_rpath(dirs: &[PathBuf]) {
    println!("cargo:rustc-link-arg=-Wl,--disable-new-dtags");
    for d in dirs {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", d.display());
    }
}
