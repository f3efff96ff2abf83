//! The GPU user's setup, run here on a machine without a GPU: `scripts/setup.sh --cuda` into
//! a fresh cache (downloads ~3.8 GB: the CPU venv plus the CUDA wheels torch declares; two
//! cold builds, ~15 minutes on 2 cores), then every shared library of the CUDA binary must
//! resolve. Opt-in, for the download:
//!     cargo test --release --test cuda_setup -- --ignored
mod common;

#[test]
#[ignore = "downloads ~3.8 GB of wheels; run with --ignored"]
fn cuda_setup_installs_every_library_the_cuda_binary_needs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let cache = tempfile::tempdir().unwrap();
    // builds of its own: the checkout's binaries keep their rpath to the real cache
    let target = cache.path().join("target");
    let st = std::process::Command::new(root.join("scripts/setup.sh"))
        .arg("--cuda")
        .env("FER_RT_CACHE", cache.path())
        .env("CARGO_TARGET_DIR", &target)
        .env("FER_RT_CUDA_TARGET", target.join("cuda"))
        .status()
        .unwrap();
    assert!(st.success(), "scripts/setup.sh --cuda failed");
    let bin = target.join("cuda/release/fer-rt");
    let out = std::process::Command::new("ldd").arg(&bin).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("not found"), "unresolved libraries:\n{text}");
    for lib in ["libtorch_cuda.so", "libcudnn", "libcublas", "libcusparse", "libnccl"] {
        assert!(text.contains(lib), "{lib} not among the binary's libraries:\n{text}");
    }
    let doctor = std::process::Command::new(&bin).args(["doctor", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    assert_eq!(v["built_with_cuda_feature"], true);
}
