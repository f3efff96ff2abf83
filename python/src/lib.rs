//! `fer_rt._fer_rt`: the door from Python into the fer-rt library. It converts arguments
//! and errors and releases the GIL; everything else (the models, the stages, the limits,
//! the config and its checks, the JSON schema) is the library's, the same code the CLI
//! runs. Results cross as the JSON line `fer-rt process` writes, so the Python side has no
//! copy of the schema to keep in step (`fer_rt/__init__.py` wraps it in objects).
use fer_rt::config::Config;
use fer_rt::messages::RgbImage;
use numpy::{PyReadonlyArray3, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyTypeError, PyValueError};
use pyo3::prelude::*;
use std::sync::Mutex;

create_exception!(_fer_rt, Error, PyException, "Any fer-rt failure; the message is the CLI's.");
create_exception!(_fer_rt, InputError, Error, "An input that cannot be opened, decoded or is over the limits.");
create_exception!(_fer_rt, ModelError, Error, "A model that cannot be loaded or run.");
create_exception!(_fer_rt, ConfigError, Error, "A config key or value the CLI would refuse too.");

/// The library's error as the exception a Python caller catches, with the CLI's message.
fn to_py(e: fer_rt::Error) -> PyErr {
    use fer_rt::Error as E;
    let msg = e.to_string();
    match e {
        E::Config(_) | E::BadDevice(_) | E::NoSuchDevice(_) => ConfigError::new_err(msg),
        E::Model { .. } | E::Torch(_) => ModelError::new_err(msg),
        E::Io { .. }
        | E::Open { .. }
        | E::NoVideoStream { .. }
        | E::Decode { .. }
        | E::Damaged { .. }
        | E::NoFrames { .. }
        | E::EndedEarly { .. }
        | E::TooLarge { .. }
        | E::TimedOut { .. }
        | E::StreamLost { .. } => InputError::new_err(msg),
        _ => Error::new_err(msg),
    }
}

/// The config: the defaults, then a TOML file or a dict with the keys of
/// configs/default.toml (a dict goes through the same TOML reader, so an unknown key is
/// refused with its name as the CLI refuses it), then the keyword arguments.
fn settle(
    config: Option<&Bound<'_, PyAny>>,
    model: Option<String>,
    device: Option<String>,
    filter: Option<String>,
) -> PyResult<Config> {
    let mut cfg = match config {
        None => Config::default(),
        Some(c) if c.is_instance_of::<pyo3::types::PyDict>() => {
            let json: String = c.py().import("json")?.call_method1("dumps", (c,))?.extract()?;
            let value: serde_json::Value =
                serde_json::from_str(&json).map_err(|e| ConfigError::new_err(format!("config: {e}")))?;
            let text = toml::to_string(&value).map_err(|e| {
                ConfigError::new_err(format!("config: not expressible as TOML ({e}); None values are not"))
            })?;
            Config::from_toml(&text).map_err(to_py)?
        }
        Some(c) => {
            let path: std::path::PathBuf =
                c.extract().map_err(|_| PyTypeError::new_err("config must be a path to a TOML file or a dict"))?;
            Config::from_file(&path).map_err(to_py)?
        }
    };
    if let Some(m) = model {
        cfg.model.classifier = m;
    }
    if let Some(d) = device {
        cfg.model.device =
            d.parse().map_err(|e: fer_rt::error::BadDevice| ConfigError::new_err(format!("config: {e}")))?;
    }
    if let Some(f) = filter {
        cfg.filter.kind = match f.as_str() {
            "none" => fer_rt::filter::FilterKind::None,
            "ema" => fer_rt::filter::FilterKind::Ema,
            "uncertainty" => fer_rt::filter::FilterKind::Uncertainty,
            other => {
                return Err(ConfigError::new_err(format!("config: filter '{other}' is not none, ema or uncertainty")))
            }
        };
    }
    cfg.validate().map_err(to_py)?;
    Ok(cfg)
}

/// An `H×W×3 uint8` array (RGB, or BGR with `bgr`) as the library's image. The checks
/// name what was expected; the pixels are copied once, into the frame the stages share.
fn image_of(frame: &Bound<'_, PyAny>, bgr: bool) -> PyResult<RgbImage> {
    let arr = frame.cast::<PyUntypedArray>().map_err(|_| {
        PyTypeError::new_err(format!(
            "frame must be a numpy array of shape (H, W, 3) and dtype uint8, not {}",
            frame.get_type().name().map(|n| n.to_string()).unwrap_or_default()
        ))
    })?;
    let dtype = arr.dtype().str()?.to_string();
    if arr.ndim() != 3 || arr.shape()[2] != 3 {
        return Err(PyValueError::new_err(format!("frame must have shape (H, W, 3), not {:?}", arr.shape())));
    }
    let typed: PyReadonlyArray3<'_, u8> =
        frame.extract().map_err(|_| PyTypeError::new_err(format!("frame must have dtype uint8, not {dtype}")))?;
    let (h, w) = (arr.shape()[0], arr.shape()[1]);
    if h == 0 || w == 0 {
        return Err(PyValueError::new_err(format!("frame is empty: shape {:?}", arr.shape())));
    }
    let data = typed
        .as_slice()
        .map_err(|_| PyValueError::new_err("frame must be C-contiguous (np.ascontiguousarray(frame) makes it so)"))?;
    let mut pixels = data.to_vec();
    if bgr {
        pixels.chunks_exact_mut(3).for_each(|p| p.swap(0, 2));
    }
    Ok(RgbImage::new(w as u32, h as u32, pixels))
}

/// Frames in, results out, one at a time, with tracks and filters carried between calls.
#[pyclass(module = "fer_rt._fer_rt")]
struct Analyzer {
    /// None once closed.
    inner: Mutex<Option<fer_rt::Analyzer>>,
}

impl Analyzer {
    fn with<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut fer_rt::Analyzer) -> fer_rt::Result<T> + Send,
    ) -> PyResult<T> {
        // the models run without the GIL, so other Python threads go on meanwhile
        py.detach(|| {
            let mut guard = self.inner.lock().map_err(|_| Error::new_err("the analyzer failed in another thread"))?;
            let an = guard.as_mut().ok_or_else(|| PyValueError::new_err("the analyzer is closed"))?;
            f(an).map_err(to_py)
        })
    }
}

#[pymethods]
impl Analyzer {
    #[new]
    #[pyo3(signature = (config=None, model=None, device=None, filter=None))]
    fn new(
        py: Python<'_>,
        config: Option<&Bound<'_, PyAny>>,
        model: Option<String>,
        device: Option<String>,
        filter: Option<String>,
    ) -> PyResult<Self> {
        let cfg = settle(config, model, device, filter)?;
        let an = py.detach(|| fer_rt::Analyzer::new(cfg)).map_err(to_py)?;
        Ok(Self { inner: Mutex::new(Some(an)) })
    }

    /// The next frame's results as the JSON line `fer-rt process` writes for it.
    #[pyo3(signature = (frame, pts_ms=None, bgr=false))]
    fn analyze_json(
        &self,
        py: Python<'_>,
        frame: &Bound<'_, PyAny>,
        pts_ms: Option<f64>,
        bgr: bool,
    ) -> PyResult<String> {
        let image = image_of(frame, bgr)?;
        self.with(py, move |an| an.analyze(image, pts_ms).map(|r| an.to_json(&r)))
    }

    /// Ends the tracks still alive; their end events, each as JSON.
    fn finish_json(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        self.with(py, |an| {
            Ok(an.finish().iter().map(|e| serde_json::to_string(e).expect("events serialise")).collect())
        })
    }

    /// Starts a new video: no track or filter state carries over.
    fn reset(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, |an| an.reset())
    }

    /// Frames analysed since the start or the last reset.
    #[getter]
    fn frames(&self, py: Python<'_>) -> PyResult<u64> {
        self.with(py, |an| Ok(an.frames()))
    }

    /// The classifier, its classes, the filter and the model's sha256, as the results name them.
    #[getter]
    fn run_info(&self, py: Python<'_>) -> PyResult<(String, Vec<String>, String, String)> {
        self.with(py, |an| {
            let i = an.run_info();
            Ok((i.classifier.clone(), i.classes.clone(), i.filter.as_str().to_string(), i.model_sha256.clone()))
        })
    }

    /// Frees the models; any later call raises ValueError.
    fn close(&self) -> PyResult<()> {
        let mut guard = self.inner.lock().map_err(|_| Error::new_err("the analyzer failed in another thread"))?;
        guard.take();
        Ok(())
    }
}

#[pymodule]
fn _fer_rt(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Analyzer>()?;
    m.add("Error", m.py().get_type::<Error>())?;
    m.add("InputError", m.py().get_type::<InputError>())?;
    m.add("ModelError", m.py().get_type::<ModelError>())?;
    m.add("ConfigError", m.py().get_type::<ConfigError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
