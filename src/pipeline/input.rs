//! What an INPUT names, opened as the source it is: a stream URL, standard input, a folder
//! of photos, an image sequence, or a file. One function, so `process`, the Python package
//! and any later door open inputs, and refuse bad combinations, in the same words.
use crate::config::Config;
use crate::error::{Error, Result};
use crate::source::stills::StillsSource;
use crate::source::video::OpenOptions;
use crate::source::{FrameSource, VideoSource};
use std::path::Path;

/// How an input is read (`process`'s input flags).
#[derive(Clone, Debug)]
pub struct InputOptions {
    /// Frame rate of an image sequence pattern.
    pub fps: Option<f64>,
    /// Any damage is an error (`--strict`).
    pub strict: bool,
    /// Frames turned upright as the stream's display matrix asks.
    pub autorotate: bool,
    /// An image sequence of unrelated photos (`--stills`).
    pub stills: bool,
}

impl Default for InputOptions {
    fn default() -> Self {
        Self { fps: None, strict: false, autorotate: true, stills: false }
    }
}

/// The source `input` names, and whether it is one still image.
pub fn open_input(input: &Path, opts: &InputOptions, cfg: &Config) -> Result<(Box<dyn FrameSource>, bool)> {
    if let Some(url) = input.to_str().filter(|s| crate::source::network::is_url(s)) {
        let mut v = VideoSource::open_url(url, &cfg.network, &cfg.limits, cfg.pipeline.decoding())?;
        v.set_strict(opts.strict);
        v.set_autorotate(opts.autorotate);
        return Ok((Box::new(v), false));
    }
    if input.is_dir() {
        if opts.fps.is_some() {
            return Err(Error::Config("--fps: a folder of photos has no frame rate".into()));
        }
        let mut s = StillsSource::open_dir(input, &cfg.limits)?;
        s.set_autorotate(opts.autorotate);
        tracing::info!(photos = s.len(), "a folder: each photo is its own one-frame input");
        return Ok((Box::new(s), false));
    }
    if opts.stills && !VideoSource::is_pattern(input) {
        return Err(Error::Config(format!(
            "--stills: {} is not an image sequence pattern (frames/%05d.png); a folder of photos is read as stills without it",
            input.display()
        )));
    }
    let mut v = VideoSource::open_with(input, &OpenOptions { fps: opts.fps, ..cfg.open_options() })?;
    v.set_strict(opts.strict);
    v.set_autorotate(opts.autorotate);
    v.set_independent(opts.stills);
    let still = v.is_still();
    Ok((Box::new(v), still))
}

/// A live source: a stream URL (reopened when lost, `[network]`), a file played in real
/// time, or a camera.
pub enum LiveInput<'a> {
    Path(&'a Path),
    Camera(crate::source::webcam::WebcamConfig),
}

/// Opens a live source as `live` does.
pub fn open_live(input: LiveInput<'_>, autorotate: bool, cfg: &Config) -> Result<Box<dyn FrameSource>> {
    Ok(match input {
        LiveInput::Path(p) if p.to_str().is_some_and(crate::source::network::is_url) => {
            let url = p.to_str().unwrap_or_default();
            Box::new(crate::source::network::Reconnecting::open(
                url,
                cfg.network.clone(),
                autorotate,
                &cfg.limits,
                cfg.pipeline.decoding(),
            )?)
        }
        LiveInput::Path(p) => {
            let mut v = VideoSource::open_with(p, &cfg.open_options())?;
            v.set_autorotate(autorotate);
            Box::new(crate::source::paced::PacedSource::new(v))
        }
        LiveInput::Camera(cam) => Box::new(crate::source::webcam::Webcam::open(cam)?),
    })
}

/// A named source (`--source NAME=INPUT` of `live` and `serve`): the name labels the
/// stream's outputs. Without `NAME=`, a file is named by its stem and a URL by its place
/// among the sources (`s0`, `s1`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceSpec {
    pub name: String,
    pub input: std::path::PathBuf,
}

impl SourceSpec {
    /// `s` is `NAME=INPUT` or `INPUT`; `k` its place among the sources.
    pub fn parse(s: &str, k: usize) -> Result<Self> {
        let (name, input) = match split_name(s) {
            Some((n, i)) => (n.to_string(), i),
            None => {
                let p = Path::new(s);
                let stem = p.file_stem().and_then(|x| x.to_str()).filter(|_| !crate::source::network::is_url(s));
                (stem.map_or_else(|| format!("s{k}"), str::to_string), s)
            }
        };
        if input.is_empty() {
            return Err(Error::Config(format!("--source {s}: no input after NAME=")));
        }
        check_name(s, &name)?;
        Ok(Self { name, input: input.into() })
    }
}

/// A camera with its name (`--camera NAME=INDEX`); unnamed, `cam<INDEX>`.
pub fn parse_camera_spec(s: &str) -> Result<(String, String)> {
    let (name, cam) = match split_name(s) {
        Some((n, c)) => (n.to_string(), c.to_string()),
        None => (format!("cam{}", s.trim_start_matches("/dev/video")), s.to_string()),
    };
    check_name(s, &name)?;
    Ok((name, cam))
}

/// `NAME=REST` where NAME could not be part of a path or URL (no `/`, `:`).
fn split_name(s: &str) -> Option<(&str, &str)> {
    s.split_once('=').filter(|(n, _)| !n.is_empty() && !n.contains('/') && !n.contains(':'))
}

fn check_name(s: &str, name: &str) -> Result<()> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(Error::Config(format!("{s}: the stream name '{name}' may hold letters, digits, - _ . only")));
    }
    Ok(())
}
