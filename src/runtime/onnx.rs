//! ONNX Runtime, loaded at run time (`dlopen`) from the onnxruntime wheel in fer-rt's venv.
//!
//! Why beside tch: on a small CPU, ORT's fused and depthwise-friendly kernels run the
//! RetinaFace graph about 3x faster than libtorch's eager ops (see BENCHMARKS.md), and the
//! graph it runs is the package's original ONNX file. tch stays the engine for CUDA,
//! training and the classifiers. Nothing links against ORT: a machine without it falls back
//! to the tch detector.
use super::Engine;
use crate::error::{Error, Result};
use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Environment variable naming the libonnxruntime.so to load, overriding the build's.
pub const LIB_ENV: &str = "FER_RT_ONNXRUNTIME";

/// The library to load: $FER_RT_ONNXRUNTIME, else the one build.rs found in the venv, else
/// the one in the venv `scripts/setup.sh` makes ($FER_RT_CACHE, or ~/.cache/fer-rt). The
/// last is for a `fer-rt` built without `scripts/env.sh` (no $LIBTORCH, so build.rs found
/// nothing): without it every run was handed to `fer-rt-torch`, which loads libtorch.
pub fn library_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(LIB_ENV).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let built = Some(env!("FER_RT_ONNXRUNTIME_LIB")).filter(|b| !b.is_empty()).map(PathBuf::from);
    if let Some(b) = built.as_ref().filter(|b| b.is_file()) {
        return Some(b.clone());
    }
    let cache = std::env::var_os("FER_RT_CACHE")
        .filter(|c| !c.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("fer-rt")));
    cache.and_then(|c| in_venv(&c.join("venv"))).or(built)
}

/// The libonnxruntime.so.X.Y.Z of the onnxruntime wheel in `venv`
/// (lib/python3.*/site-packages/onnxruntime/capi; the last by name if there are several),
/// or None.
fn in_venv(venv: &Path) -> Option<PathBuf> {
    let mut libs: Vec<PathBuf> = std::fs::read_dir(venv.join("lib"))
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.starts_with("python3")))
        .filter_map(|e| std::fs::read_dir(e.path().join("site-packages/onnxruntime/capi")).ok())
        .flat_map(|d| d.flatten().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("libonnxruntime.so")))
        .collect();
    libs.sort();
    libs.pop()
}

/// The variable that turns off ONNX Runtime's own telemetry on Linux.
pub const TELEMETRY_ENV: &str = "ORT_DISABLE_TELEMETRY";

/// Turns ONNX Runtime's telemetry off for this process, unless the user set
/// `ORT_DISABLE_TELEMETRY` themselves. The PyPI builds fer-rt loads (1.32) keep a device id
/// and an event store for Microsoft's collector under `~/.cache/Microsoft/DeveloperTools`,
/// written and fsynced at every start and exit, whatever `DisableTelemetryEvents` says: a
/// tool that looks at people's faces does not report on its users. Only this variable,
/// read when the library loads, stops it. Call it before any thread starts: `setenv`
/// beside a `getenv` on another thread is a data race (the doors call it first thing).
pub fn opt_out_of_telemetry() {
    if let Some(v) = telemetry_setting(std::env::var_os(TELEMETRY_ENV).as_deref()) {
        std::env::set_var(TELEMETRY_ENV, v);
    }
}

/// What `opt_out_of_telemetry` sets `ORT_DISABLE_TELEMETRY` to, given its value now:
/// "1" when unset, nothing when the user set it, to whatever value.
fn telemetry_setting(current: Option<&std::ffi::OsStr>) -> Option<&'static str> {
    current.is_none().then_some("1")
}

/// The process-wide ORT environment (ORT allows one per process), made on first use.
pub fn environment() -> Result<Environment> {
    static ENV: OnceLock<std::result::Result<Environment, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let lib = library_path().ok_or_else(|| format!("no libonnxruntime.so known (set {LIB_ENV})"))?;
        if !lib.is_file() {
            return Err(format!("{} not found (run scripts/setup.sh or set {LIB_ENV})", lib.display()));
        }
        let builder = ort::init_from(&lib).map_err(|e| format!("loading {}: {e}", lib.display()))?;
        // telemetry off here too, for what the variable above does not cover (Windows' ETW)
        builder
            .with_name("fer-rt")
            .with_telemetry(false)
            .build()
            .map_err(|e| format!("creating the ONNX Runtime environment: {e}"))
    })
    .clone()
    .map_err(|reason| Error::Model { name: "onnxruntime".into(), reason })
}

/// A CPU session for `model`, with `threads` intra-op threads that sleep instead of
/// spinning between runs: the pipeline's other stages need those cores. Its graph comes
/// optimised from the cache when an earlier run left it there (`ort_cache`), else it is
/// optimised now and left there for the next run.
pub fn session(name: &str, model: &Path, threads: usize) -> Result<Session> {
    let env = environment()?;
    let err = |e: String| Error::Model { name: name.into(), reason: format!("{}: {e}", model.display()) };
    if !model.is_file() {
        return Err(err("not found (run scripts/setup.sh)".into()));
    }
    let cached = super::ort_cache::path_for(model);
    if let Some(c) = cached.as_deref().filter(|c| c.is_file()) {
        match build(&env, c, threads, Graph::Optimised) {
            Ok(s) => return Ok(s),
            Err(e) => {
                tracing::debug!(
                    "{}: the cached optimised graph {} did not load ({e}); optimising again",
                    model.display(),
                    c.display()
                );
                let _ = std::fs::remove_file(c);
            }
        }
    }
    if let Some(c) = cached {
        let part = super::ort_cache::part_path(&c);
        if let Ok(s) = build(&env, model, threads, Graph::OptimiseInto(&part)) {
            // a graph that could not be moved into place is written again by the next run
            if super::files::commit(&part, &c).is_err() {
                let _ = std::fs::remove_file(&part);
            }
            return Ok(s);
        }
        // a graph that could not be written (a full disk): built again without keeping it
        let _ = std::fs::remove_file(&part);
    }
    build(&env, model, threads, Graph::Optimise).map_err(err)
}

/// How a session's graph is optimised.
enum Graph<'a> {
    /// Fully, as ONNX Runtime does by default.
    Optimise,
    /// Fully, and the result written to this path for later runs.
    OptimiseInto(&'a Path),
    /// Not at all: it was optimised by an earlier run on this runtime and CPU.
    Optimised,
}

fn build(env: &Environment, model: &Path, threads: usize, graph: Graph) -> std::result::Result<Session, String> {
    let builder = Session::builder(env).map_err(|e| e.to_string())?;
    let builder = builder
        .with_intra_threads(threads.max(1))
        .and_then(|b| b.with_inter_threads(1))
        .and_then(|b| b.with_config_entry("session.intra_op.allow_spinning", "0"))
        .map_err(|e| e.to_string())?;
    // No memory pattern: ORT would plan and keep a block for every input shape it meets,
    // and the detector meets many (frame sizes, regions batched at several sizes). Measured
    // (BENCHMARKS.md, issue 25): peak RSS -14 MiB at 360p and 1080p, the same speed. The
    // arena stays: without it 1080p ran 12 % slower.
    let builder = builder.with_memory_pattern(false).map_err(|e| e.to_string())?;
    let mut builder = match graph {
        Graph::Optimise => builder,
        // ONNX Runtime warns that a graph with this CPU's layout is for this machine only,
        // which is why the cache's key holds the CPU's features
        Graph::OptimiseInto(part) => builder
            .with_optimized_model_path(part)
            .and_then(|b| b.with_log_level(ort::logging::LogLevel::Error))
            .map_err(|e| e.to_string())?,
        Graph::Optimised => {
            builder.with_optimization_level(GraphOptimizationLevel::Disable).map_err(|e| e.to_string())?
        }
    };
    builder.commit_from_file(model).map_err(|e| e.to_string())
}

/// Which engine runs a network, decided before anything loads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pick {
    Onnx,
    /// libtorch; `fallback` says why ONNX Runtime, which `auto` prefers on the CPU, could not
    /// be used.
    Torch {
        fallback: Option<String>,
    },
}

/// The engine for `model`: `auto` picks ONNX Runtime on the CPU when the ONNX file exists
/// and ORT loads; `onnxruntime` insists on it; `torch` and any GPU device take libtorch.
/// Nothing is logged, so a caller can ask before it loads (`pipeline::torch_needed`).
pub fn pick(engine: Engine, device: super::Device, model: &str, onnx: Option<&Path>) -> Result<Pick> {
    let torch = |why: Option<String>| Ok(Pick::Torch { fallback: why });
    match engine {
        Engine::Torch => torch(None),
        Engine::Onnxruntime => match onnx {
            Some(_) => Ok(Pick::Onnx),
            None => Err(Error::Model { name: model.into(), reason: "the manifest names no ONNX file".into() }),
        },
        Engine::Auto if device != super::Device::Cpu => torch(None),
        Engine::Auto => match (onnx, environment()) {
            (Some(p), Ok(_)) if p.is_file() => Ok(Pick::Onnx),
            (Some(_), Err(e)) => torch(Some(e.to_string())),
            (Some(p), Ok(_)) => torch(Some(format!("{} missing", p.display()))),
            (None, _) => torch(None),
        },
    }
}

/// Whether `model` should run on ONNX Runtime ([`pick`]), saying why when `auto` falls
/// back to torch on the CPU, or when ORT is forced beside a GPU.
pub fn chosen(engine: Engine, device: super::Device, model: &str, onnx: Option<&Path>) -> Result<bool> {
    if engine == Engine::Onnxruntime && device != super::Device::Cpu {
        tracing::warn!("{model}: ONNX Runtime runs on the CPU, not {device:?}; the torch engine uses the GPU");
    }
    Ok(match pick(engine, device, model, onnx)? {
        Pick::Onnx => true,
        Pick::Torch { fallback } => {
            if let Some(why) = fallback {
                tracing::warn!("{model}: running on torch, slower on the CPU: {why}");
            }
            false
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_library_is_found_in_a_venv_of_any_python3() {
        let venv = tempfile::tempdir().unwrap();
        assert_eq!(in_venv(venv.path()), None, "no lib folder");
        std::fs::create_dir_all(venv.path().join("lib/python3.11/site-packages/numpy")).unwrap();
        assert_eq!(in_venv(venv.path()), None, "no onnxruntime wheel");
        let capi = venv.path().join("lib/python3.13/site-packages/onnxruntime/capi");
        std::fs::create_dir_all(&capi).unwrap();
        std::fs::write(capi.join("onnxruntime_pybind11_state.so"), b"").unwrap();
        std::fs::write(capi.join("libonnxruntime.so.1.32.0"), b"").unwrap();
        assert_eq!(in_venv(venv.path()), Some(capi.join("libonnxruntime.so.1.32.0")));
    }

    #[test]
    fn telemetry_goes_off_unless_the_user_set_the_variable() {
        use std::ffi::OsStr;
        assert_eq!(telemetry_setting(None), Some("1"));
        for theirs in ["0", "1", "", "false"] {
            assert_eq!(telemetry_setting(Some(OsStr::new(theirs))), None, "{theirs:?} is the user's to keep");
        }
    }
}
