//! `fer_rt._fer_rt`: the door from Python into the fer-rt library. It converts arguments
//! and errors and releases the GIL; everything else (the models, the stages, the limits,
//! the config and its checks, the JSON schema) is the library's, the same code the CLI
//! runs. Results cross as the JSON line `fer-rt process` writes, so the Python side has no
//! copy of the schema to keep in step (`fer_rt/__init__.py` wraps it in objects).
use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::RecordBatchIterator;
use arrow_schema::SchemaRef;
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError};
use fer_rt::config::Config;
use fer_rt::messages::RgbImage;
use fer_rt::pipeline::{InputOptions, LiveInput, Models, NoProgress, RunSummary};
use fer_rt::sink::{RunInfo, Sink, SinkStatus};
use numpy::{PyReadonlyArray3, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

create_exception!(_fer_rt, Error, PyException, "Any fer-rt failure; the message is the CLI's.");
create_exception!(_fer_rt, InputError, Error, "An input that cannot be opened, decoded or is over the limits.");
create_exception!(_fer_rt, ModelError, Error, "A model that cannot be loaded or run.");
create_exception!(_fer_rt, ConfigError, Error, "A config key or value the CLI would refuse too.");

/// The library's error as the exception a Python caller catches, with the CLI's message.
fn to_py(e: fer_rt::Error) -> PyErr {
    use fer_rt::Error as E;
    let msg = e.to_string();
    match e {
        E::Config(_) | E::BadDevice(_) | E::NoSuchDevice(_) | E::OutputIsInput { .. } => ConfigError::new_err(msg),
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
        | E::StreamLost { .. }
        | E::NotResults { .. } => InputError::new_err(msg),
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

/// Waits for `rx` with the GIL released, a little at a time, so that Ctrl-C reaches
/// Python between waits. On KeyboardInterrupt every run is asked to stop and the error is
/// returned: the caller winds its run down, then calls `fer_rt::runtime::clear_stop` so
/// later runs start fresh, and raises it. None: every sender is gone.
fn recv_or_interrupt<T: Send>(py: Python<'_>, rx: &Receiver<T>) -> PyResult<Option<T>> {
    loop {
        match py.detach(|| rx.recv_timeout(Duration::from_millis(50))) {
            Ok(v) => return Ok(Some(v)),
            Err(RecvTimeoutError::Disconnected) => return Ok(None),
            Err(RecvTimeoutError::Timeout) => {}
        }
        if let Err(e) = py.check_signals() {
            fer_rt::runtime::request_stop();
            return Err(e);
        }
    }
}

/// How a door's options open the input.
fn input_options(strict: bool, autorotate: bool, fps: Option<f64>) -> InputOptions {
    InputOptions { fps, strict, autorotate, stills: false }
}

/// The whole threaded pipeline over `input` (a file, folder, pattern or URL), as
/// `fer-rt process` runs it, into record batches with the columns, types and metadata of
/// `batch --format parquet`: an Arrow C stream in a PyCapsule ("arrow_array_stream"),
/// for pyarrow or polars to take over without a copy.
#[pyfunction]
#[pyo3(signature = (input, config=None, model=None, device=None, filter=None, strict=false, autorotate=true, fps=None))]
#[allow(clippy::too_many_arguments)]
fn process_arrow<'py>(
    py: Python<'py>,
    input: PathBuf,
    config: Option<&Bound<'py, PyAny>>,
    model: Option<String>,
    device: Option<String>,
    filter: Option<String>,
    strict: bool,
    autorotate: bool,
    fps: Option<f64>,
) -> PyResult<Bound<'py, PyCapsule>> {
    let cfg = settle(config, model, device, filter)?;
    let opts = input_options(strict, autorotate, fps);
    let batches = fer_rt::sink::arrow::Batches::default();
    let out = batches.clone();
    let (tx, rx) = bounded::<fer_rt::Result<(RunSummary, SchemaRef)>>(1);
    let worker = std::thread::Builder::new()
        .name("fer-rt process".into())
        .spawn(move || {
            let run = || -> fer_rt::Result<(RunSummary, SchemaRef)> {
                let mut models = Models::load(&cfg)?;
                let (source, _) = fer_rt::pipeline::open_input(&input, &opts, &cfg)?;
                let info = RunInfo::new(models.classifier.spec(), cfg.filter.kind);
                let name = input.display().to_string();
                let rows = cfg.output.parquet_row_group_rows;
                let sink = fer_rt::sink::arrow::ArrowSink::new(&info, &name, rows, out);
                let schema = sink.schema();
                let s = models.run(&cfg, source, Box::new(sink), Box::new(NoProgress))?;
                Ok((s, schema))
            };
            let _ = tx.send(run());
        })
        .map_err(|e| Error::new_err(format!("cannot start the run: {e}")))?;
    let got = recv_or_interrupt(py, &rx);
    // the run ends by itself, or at once after a stop request (an interrupt)
    let joined = py.detach(|| worker.join());
    if let Err(e) = got {
        fer_rt::runtime::clear_stop();
        return Err(e);
    }
    joined.map_err(|_| Error::new_err("the run panicked"))?;
    let (summary, schema) = got?.ok_or_else(|| Error::new_err("the run ended without a result"))?.map_err(to_py)?;
    if summary.interrupted {
        return Err(pyo3::exceptions::PyKeyboardInterrupt::new_err("interrupted"));
    }
    let batches = std::mem::take(&mut *batches.lock().map_err(|_| Error::new_err("the results were lost"))?);
    let reader = RecordBatchIterator::new(batches.into_iter().map(Ok), schema);
    let stream = FFI_ArrowArrayStream::new(Box::new(reader));
    PyCapsule::new_with_value(py, stream, c"arrow_array_stream")
}

/// What the run thread of a stream hands the iterator.
enum Item {
    /// A frame's JSON line, and the frames dropped before it (by the source and by this link).
    Frame(String),
    End(fer_rt::Result<RunSummary>),
}

/// The pipeline's last stage for a stream: each frame as its JSON line into a bounded
/// channel. A file waits for the consumer (back-pressure); a live source never does: when
/// the consumer is behind, the oldest waiting frame is dropped and counted in the next
/// frame's `dropped_frames`, as the source link does. When the iterator is gone the send
/// fails and the sink closes, which winds the pipeline down as a closed stdout does.
struct ChannelSink {
    tx: crossbeam_channel::Sender<Item>,
    /// Live only: a receiver of the same channel, to take the oldest frame back out.
    drain: Option<Receiver<Item>>,
    dropped: u64,
    /// Cleared when the stream is stopped: with `drain` the channel never disconnects.
    consumer: Arc<AtomicBool>,
}

impl Sink for ChannelSink {
    fn write_frame(&mut self, frame: &fer_rt::messages::FrameMsg, info: &RunInfo) -> fer_rt::Result<SinkStatus> {
        if !self.consumer.load(Ordering::SeqCst) {
            return Ok(SinkStatus::Closed);
        }
        let Some(drain) = &self.drain else {
            let line = fer_rt::sink::jsonl::to_json(frame, info);
            return Ok(if self.tx.send(Item::Frame(line)).is_ok() { SinkStatus::Continue } else { SinkStatus::Closed });
        };
        if self.tx.is_full() && drain.try_recv().is_ok() {
            self.dropped += 1;
        }
        let mut meta = frame.meta.clone();
        meta.dropped_before += self.dropped;
        let counted = fer_rt::messages::FrameMsg { meta, ..frame.clone() };
        let mut item = Item::Frame(fer_rt::sink::jsonl::to_json(&counted, info));
        loop {
            match self.tx.try_send(item) {
                Ok(()) => return Ok(SinkStatus::Continue),
                Err(crossbeam_channel::TrySendError::Disconnected(_)) => return Ok(SinkStatus::Closed),
                Err(crossbeam_channel::TrySendError::Full(back)) => {
                    item = back;
                    if drain.try_recv().is_ok() {
                        self.dropped += 1;
                    }
                }
            }
        }
    }
    fn needs_pixels(&self) -> bool {
        false // the JSON line only
    }

    fn finish(&mut self) -> fer_rt::Result<()> {
        Ok(())
    }
}

/// The threaded pipeline over a source as an iterator of JSON lines: batching across frames,
/// drop-oldest for live sources, back-pressure for files.
#[pyclass(module = "fer_rt._fer_rt")]
struct Stream {
    rx: Mutex<Option<Receiver<Item>>>,
    worker: Mutex<Option<std::thread::JoinHandle<()>>>,
    consumer: Arc<AtomicBool>,
}

impl Stream {
    /// Drops the receiving end (the sink then closes) and waits for the run thread.
    fn stop(&self) {
        self.consumer.store(false, Ordering::SeqCst);
        if let Ok(mut rx) = self.rx.lock() {
            rx.take();
        }
        let w = self.worker.lock().ok().and_then(|mut w| w.take());
        if let Some(w) = w {
            let _ = w.join();
        }
    }
}

#[pymethods]
impl Stream {
    #[new]
    #[pyo3(signature = (source, live=false, config=None, model=None, device=None, filter=None, strict=false, autorotate=true, fps=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        source: &Bound<'_, PyAny>,
        live: bool,
        config: Option<&Bound<'_, PyAny>>,
        model: Option<String>,
        device: Option<String>,
        filter: Option<String>,
        strict: bool,
        autorotate: bool,
        fps: Option<f64>,
    ) -> PyResult<Self> {
        let cfg = settle(config, model, device, filter)?;
        // a camera is an index (0) or /dev/videoN; anything else is a path or URL
        let camera = match source.extract::<u32>() {
            Ok(i) => Some(i),
            Err(_) => source
                .extract::<String>()
                .ok()
                .and_then(|s| s.starts_with("/dev/video").then(|| fer_rt::source::webcam::parse_camera(&s)).flatten()),
        };
        let path: Option<PathBuf> = match camera {
            Some(_) => None,
            None => Some(
                source.extract().map_err(|_| PyTypeError::new_err("source must be a path, a URL or a camera index"))?,
            ),
        };
        if camera.is_some() && !live {
            return Err(PyValueError::new_err("a camera is a live source: stream(camera, live=True)"));
        }
        let opts = input_options(strict, autorotate, fps);
        let cap = if live { cfg.pipeline.live_queue_frames } else { cfg.pipeline.channel_capacity };
        let (tx, rx) = bounded::<Item>(cap.max(1));
        // a live link keeps a receiver to drop the oldest frame: the sink holds it only while
        // the consumer's receiver lives, or the run could never see the consumer gone
        let drain = live.then(|| rx.clone());
        let consumer = Arc::new(AtomicBool::new(true));
        let alive = consumer.clone();
        let worker = std::thread::Builder::new()
            .name("fer-rt stream".into())
            .spawn(move || {
                let end = tx.clone();
                let run = || -> fer_rt::Result<RunSummary> {
                    let mut models = Models::load(&cfg)?;
                    let source = match (camera, &path) {
                        (Some(index), _) => {
                            let cam = fer_rt::source::webcam::WebcamConfig {
                                index,
                                width: None,
                                height: None,
                                fps: None,
                                pixel_format: fer_rt::source::webcam::PixelFormat::Auto,
                            };
                            fer_rt::pipeline::open_live(LiveInput::Camera(cam), autorotate, &cfg)?
                        }
                        (None, Some(p)) if live => fer_rt::pipeline::open_live(LiveInput::Path(p), autorotate, &cfg)?,
                        (None, Some(p)) => fer_rt::pipeline::open_input(p, &opts, &cfg)?.0,
                        (None, None) => unreachable!("a source is a camera or a path"),
                    };
                    let sink = Box::new(ChannelSink { tx, drain, dropped: 0, consumer: alive });
                    models.run(&cfg, source, sink, Box::new(NoProgress))
                };
                let _ = end.send(Item::End(run()));
            })
            .map_err(|e| Error::new_err(format!("cannot start the run: {e}")))?;
        Ok(Self { rx: Mutex::new(Some(rx)), worker: Mutex::new(Some(worker)), consumer })
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// The next frame's JSON line; StopIteration at the end, the run's error as an exception.
    fn __next__(&self, py: Python<'_>) -> PyResult<Option<String>> {
        let rx = match self.rx.lock().map_err(|_| Error::new_err("stream poisoned"))?.as_ref() {
            Some(rx) => rx.clone(),
            None => return Ok(None),
        };
        let got = recv_or_interrupt(py, &rx);
        if let Err(e) = got {
            // the run must see every receiver gone to stop handing over frames
            drop(rx);
            py.detach(|| self.stop());
            fer_rt::runtime::clear_stop();
            return Err(e);
        }
        match got? {
            Some(Item::Frame(line)) => Ok(Some(line)),
            Some(Item::End(result)) => {
                drop(rx);
                py.detach(|| self.stop());
                let summary = result.map_err(to_py)?;
                if summary.interrupted {
                    return Err(pyo3::exceptions::PyKeyboardInterrupt::new_err("interrupted"));
                }
                Ok(None)
            }
            None => {
                drop(rx);
                py.detach(|| self.stop());
                Ok(None)
            }
        }
    }

    /// Stops the pipeline and joins its threads (also done when the stream is collected).
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.stop());
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `fer-rt report`: the page (and figures) of results files and batch folders, through the
/// library's one run path; what was written, as JSON. The GIL is released meanwhile.
#[pyfunction]
#[pyo3(signature = (inputs, out, videos=Vec::new(), thumbnails=false, png=None, svg=None, config=None))]
#[allow(clippy::too_many_arguments)]
fn report_json(
    py: Python<'_>,
    inputs: Vec<PathBuf>,
    out: PathBuf,
    videos: Vec<PathBuf>,
    thumbnails: bool,
    png: Option<PathBuf>,
    svg: Option<PathBuf>,
    config: Option<&Bound<'_, PyAny>>,
) -> PyResult<String> {
    let cfg = settle(config, None, None, None)?;
    let req = fer_rt::report::Request { inputs, out, videos, thumbnails, png, svg };
    let written = py.detach(|| fer_rt::report::write(&req, &cfg)).map_err(to_py)?;
    serde_json::to_string(&written).map_err(|e| Error::new_err(e.to_string()))
}

/// `fer-rt summary --json`: label shares, mean V/A and flips per input and per track.
#[pyfunction]
#[pyo3(signature = (paths, raw=false))]
fn summary_json(py: Python<'_>, paths: Vec<PathBuf>, raw: bool) -> PyResult<String> {
    use fer_rt::batch::summary::{summarise_paths, Counted};
    let counted = if raw { Counted::Raw } else { Counted::Filtered };
    let s = py.detach(|| {
        let refs: Vec<&std::path::Path> = paths.iter().map(PathBuf::as_path).collect();
        summarise_paths(&refs, counted)
    });
    serde_json::to_string(&s.map_err(to_py)?).map_err(|e| Error::new_err(e.to_string()))
}

/// The bundled models: each manifest's facts, and its model card's path.
#[pyfunction]
fn models_json() -> PyResult<Vec<String>> {
    let dir = Config::default().models_dir();
    let mut out = Vec::new();
    for (name, m) in fer_rt::assets::manifest::Manifest::list(&dir) {
        m.map_err(to_py)?;
        let text = std::fs::read_to_string(dir.join(format!("{name}.json")))
            .map_err(|e| ModelError::new_err(format!("{name}: {e}")))?;
        let mut v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| ModelError::new_err(format!("{name}: {e}")))?;
        let card = dir.join(format!("{name}.md"));
        if let Some(o) = v.as_object_mut() {
            o.insert("name".into(), name.clone().into());
            o.insert("card".into(), card.is_file().then(|| card.display().to_string()).into());
        }
        out.push(v.to_string());
    }
    Ok(out)
}

#[pymodule]
fn _fer_rt(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // FFmpeg logs only errors, as under the CLI without -v
    fer_rt::source::init_ffmpeg(false);
    m.add_class::<Analyzer>()?;
    m.add_class::<Stream>()?;
    m.add_function(wrap_pyfunction!(process_arrow, m)?)?;
    m.add_function(wrap_pyfunction!(models_json, m)?)?;
    m.add_function(wrap_pyfunction!(report_json, m)?)?;
    m.add_function(wrap_pyfunction!(summary_json, m)?)?;
    m.add("Error", m.py().get_type::<Error>())?;
    m.add("InputError", m.py().get_type::<InputError>())?;
    m.add("ModelError", m.py().get_type::<ModelError>())?;
    m.add("ConfigError", m.py().get_type::<ConfigError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
