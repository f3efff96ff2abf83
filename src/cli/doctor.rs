//! `fer-rt doctor`: what this machine gives fer-rt — libtorch, CUDA, models, cameras.
use super::{base_config, Cli, ModelFlags};
use crate::assets::manifest::Manifest;
use serde_json::json;
use std::io::Read;
use std::path::Path;

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub model: ModelFlags,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::Digest;
    let mut f = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// V4L2 capture devices as the kernel lists them.
fn cameras() -> Vec<serde_json::Value> {
    let mut out: Vec<_> = std::fs::read_dir("/sys/class/video4linux")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let name = std::fs::read_to_string(e.path().join("name")).unwrap_or_default();
            json!({"device": format!("/dev/{}", e.file_name().to_string_lossy()), "name": name.trim()})
        })
        .collect();
    out.sort_by_key(|v| v["device"].as_str().unwrap_or_default().to_string());
    out
}

/// Each manifest in `dir` with whether its weights are there and match their sha256.
fn model_status(dir: &Path) -> Vec<serde_json::Value> {
    Manifest::list(dir)
        .into_iter()
        .map(|(name, m)| match m {
            Ok(m) => {
                let path = dir.join(&m.weights);
                let status = match sha256_file(&path) {
                    Ok(h) if h == m.sha256 => "ok".to_string(),
                    Ok(_) => "sha256 mismatch (re-run scripts/setup.sh)".to_string(),
                    Err(_) => "weights missing (run scripts/setup.sh)".to_string(),
                };
                // a detector's INT8 graph, written at setup where its check passed on this CPU
                let int8 = m.onnx.as_ref().and_then(|o| o.int8.as_ref()).map(|i| dir.join(&i.file).is_file());
                json!({"name": name, "kind": m.kind, "architecture": m.architecture, "source": m.source_label(),
                       "classes": m.classes, "status": status, "int8_graph": int8})
            }
            Err(e) => json!({"name": name, "status": format!("unreadable manifest: {e}")}),
        })
        .collect()
}

/// What libtorch says of CUDA and its threads; all absent without libtorch.
struct TorchFacts {
    libtorch: String,
    cuda: bool,
    devices: i64,
    cudnn: bool,
    threads: i32,
}

#[cfg(feature = "torch")]
fn torch_facts() -> TorchFacts {
    TorchFacts {
        libtorch: env!("FER_RT_LIBTORCH_VERSION").to_string(),
        cuda: tch::Cuda::is_available(),
        devices: tch::Cuda::device_count(),
        cudnn: tch::Cuda::cudnn_is_available(),
        threads: tch::get_num_threads(),
    }
}

#[cfg(not(feature = "torch"))]
fn torch_facts() -> TorchFacts {
    TorchFacts { libtorch: "not in this build".into(), cuda: false, devices: 0, cudnn: false, threads: 0 }
}

pub fn run(cli: &Cli, args: &DoctorArgs) -> anyhow::Result<()> {
    // libtorch and CUDA are what a doctor is most often asked about: the binary that has
    // them answers, when it is there
    #[cfg(not(feature = "torch"))]
    if super::torch::binary().is_some() {
        return Err(super::torch::HandOver::error("the libtorch and CUDA report"));
    }
    let mut cfg = base_config(cli)?;
    args.model.apply(&mut cfg);
    let dir = cfg.models_dir();
    let models = model_status(&dir);
    let t = torch_facts();
    let cuda = t.cuda;
    let gpus = if cuda { nvidia_smi() } else { Vec::new() };
    let cudnn_lib = if cuda && t.cudnn { loaded_library("libcudnn") } else { None };
    let cudnn_version = cudnn_lib.as_deref().and_then(wheel_version);
    let ort_lib = crate::runtime::onnx::library_path().map(|p| p.display().to_string()).unwrap_or_default();
    let ort_status = match crate::runtime::onnx::environment() {
        Ok(_) => "loaded".to_string(),
        Err(e) => e.to_string(),
    };
    let report = json!({
        "fer_rt": env!("CARGO_PKG_VERSION"),
        "libtorch": t.libtorch,
        "libtorch_path": env!("FER_RT_LIBTORCH_PATH"),
        // `fer-rt` runs without libtorch and hands what needs it to this binary
        "torch_binary": super::torch::binary().map(|p| p.display().to_string()),
        "cuda_available": cuda,
        "cuda_devices": t.devices,
        "cudnn_available": t.cudnn,
        "cudnn_library": cudnn_lib,
        "cudnn_version": cudnn_version,
        "built_with_cuda_feature": cfg!(feature = "cuda"),
        "gpus": gpus,
        "cpu_threads": t.threads,
        "onnxruntime": { "library": ort_lib, "status": ort_status },
        "cpu_vnni": crate::detect::cpu_has_vnni(),
        "models_dir": dir.display().to_string(),
        "models": models,
        "cameras": cameras(),
        "ffmpeg": { "libavcodec": ffmpeg_version() },
    });
    if args.json {
        println!("{report}");
    } else {
        print_table(&report);
    }
    Ok(())
}

/// The report for people: one aligned line per fact.
fn print_table(report: &serde_json::Value) {
    let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    println!("fer-rt {}", report["fer_rt"].as_str().unwrap_or_default());
    println!(
        "libtorch   {} ({})",
        report["libtorch"].as_str().unwrap_or_default(),
        report["libtorch_path"].as_str().unwrap_or_default()
    );
    println!(
        "CUDA       {}",
        if report["cuda_available"].as_bool().unwrap_or(false) {
            format!("available, {} device(s)", report["cuda_devices"])
        } else {
            "not available (CPU inference)".into()
        }
    );
    for g in report["gpus"].as_array().into_iter().flatten() {
        println!(
            "GPU        {}: {}, {} MiB, compute capability {}, driver {}",
            g["index"].as_str().unwrap_or(""),
            g["name"].as_str().unwrap_or(""),
            g["memory_mib"].as_str().unwrap_or(""),
            g["compute_capability"].as_str().unwrap_or(""),
            g["driver"].as_str().unwrap_or("")
        );
    }
    if let Some(l) = report["cudnn_library"].as_str() {
        println!("cuDNN      {} ({l})", report["cudnn_version"].as_str().unwrap_or("version unknown"));
    }
    if !cfg!(feature = "cuda") {
        println!("build      without the `cuda` feature: CUDA kernels are not linked (cargo build --release --features cuda)");
    }
    println!("threads    {}", report["cpu_threads"]);
    let ort = &report["onnxruntime"];
    println!("ONNX RT    {} ({}); detector engine on the CPU by default", s(&ort["status"]), s(&ort["library"]));
    println!("FFmpeg     libavcodec {}", report["ffmpeg"]["libavcodec"].as_str().unwrap_or_default());
    println!("models     {}", s(&report["models_dir"]));
    for m in report["models"].as_array().into_iter().flatten() {
        println!(
            "  {:<22} {:<10} {:<24} {}",
            m["name"].as_str().unwrap_or(""),
            m["kind"].as_str().unwrap_or(""),
            m["source"].as_str().unwrap_or(""),
            m["status"].as_str().unwrap_or("")
        );
    }
    let graph = report["models"].as_array().into_iter().flatten().find_map(|m| m["int8_graph"].as_bool());
    let vnni = report["cpu_vnni"].as_bool().unwrap_or(false);
    println!(
        "INT8       keyframe search {} (CPU {} VNNI; INT8 detector graph {})",
        if vnni && graph == Some(true) { "in INT8 by default" } else { "in f32 by default" },
        if vnni { "has" } else { "lacks" },
        match graph {
            Some(true) => "present",
            Some(false) => "not written (scripts/setup.sh; its check may have failed on this CPU)",
            None => "not in the manifest",
        }
    );
    let cams = report["cameras"].as_array().cloned().unwrap_or_default();
    if cams.is_empty() {
        println!("cameras    none found");
    }
    for c in cams {
        println!("camera     {} {}", c["device"].as_str().unwrap_or(""), c["name"].as_str().unwrap_or(""));
    }
}

/// The GPUs as the NVIDIA driver reports them (name, memory, compute capability): libtorch's
/// C API, which tch wraps, has no device-properties call.
fn nvidia_smi() -> Vec<serde_json::Value> {
    let out = std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=index,name,memory.total,compute_cap,driver_version", "--format=csv,noheader,nounits"])
        .output();
    let Some(out) = out.ok().filter(|o| o.status.success()) else { return Vec::new() };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            (f.len() == 5).then(
                || json!({"index": f[0], "name": f[1], "memory_mib": f[2], "compute_capability": f[3], "driver": f[4]}),
            )
        })
        .collect()
}

/// The path of a shared library this process has loaded whose file name starts with `prefix`.
fn loaded_library(prefix: &str) -> Option<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.rsplit('/').next().is_some_and(|n| n.starts_with(prefix)))
        .map(|p| std::fs::canonicalize(p).map(|c| c.display().to_string()).unwrap_or_else(|_| p.to_string()))
}

/// The version of the PyPI wheel a library came from (site-packages/nvidia/X/lib/libY.so ->
/// the nvidia_X*.dist-info beside `nvidia/`), e.g. cuDNN's "9.19.0.56"; None elsewhere.
fn wheel_version(lib: &str) -> Option<String> {
    let p = std::path::Path::new(lib);
    let pkg = p.parent()?.parent()?; // .../nvidia/cudnn
    let site = pkg.parent()?.parent()?;
    let name = format!("nvidia_{}", pkg.file_name()?.to_str()?);
    std::fs::read_dir(site).ok()?.flatten().find_map(|e| {
        let n = e.file_name().into_string().ok()?;
        let rest = n.strip_prefix(&name)?.strip_suffix(".dist-info")?;
        // nvidia_cudnn_cu13-9.19.0.56.dist-info -> 9.19.0.56
        rest.rsplit('-').next().map(str::to_string)
    })
}

fn ffmpeg_version() -> String {
    let v = ffmpeg_next::codec::version();
    format!("{}.{}.{}", v >> 16, (v >> 8) & 0xff, v & 0xff)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_wheel_library_reports_its_wheel_version() {
        let site = tempfile::tempdir().unwrap();
        let lib = site.path().join("nvidia/cudnn/lib");
        std::fs::create_dir_all(&lib).unwrap();
        std::fs::create_dir_all(site.path().join("nvidia_cudnn_cu13-9.19.0.56.dist-info")).unwrap();
        let so = lib.join("libcudnn.so.9");
        assert_eq!(super::wheel_version(so.to_str().unwrap()).as_deref(), Some("9.19.0.56"));
        assert_eq!(super::wheel_version("/usr/lib/x86_64-linux-gnu/libcudnn.so.9"), None);
    }
}
