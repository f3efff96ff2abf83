//! A folder of unrelated photos as one input (`process DIR`). Each image is its own
//! one-frame input: its frame is marked independent, so no track id, filter state or
//! smoothing crosses from one person's photo to the next, and each JSON line names its
//! file. Images are taken in name order from the folder itself (not its subfolders:
//! `batch` is the command for trees of media, with one output per input).
use super::video::VideoSource;
use super::FrameSource;
use crate::error::{Error, Result};
use crate::messages::{FrameMsg, SourceInfo, SourceSummary};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// File extensions read as photos.
pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "bmp", "tif", "tiff", "webp"];

pub struct StillsSource {
    limits: super::limits::Limits,
    dir: PathBuf,
    files: Vec<PathBuf>,
    info: SourceInfo,
    autorotate: bool,
}

fn is_image(p: &Path) -> bool {
    p.extension().and_then(|e| e.to_str()).is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

impl StillsSource {
    /// The photos of `dir`; a folder without any is a usage error that points to `batch`.
    pub fn open_dir(dir: &Path, limits: &super::limits::Limits) -> Result<Self> {
        let entries = std::fs::read_dir(dir).map_err(|err| Error::Io { path: dir.into(), err })?;
        let mut files: Vec<PathBuf> =
            entries.flatten().map(|e| e.path()).filter(|p| p.is_file() && is_image(p)).collect();
        files.sort();
        let Some(first) = files.first() else {
            return Err(Error::Config(format!(
                "{}: a folder given to process is read as independent photos ({}), and it holds none; for videos or subfolders use `fer-rt batch {} --out OUT`",
                dir.display(),
                IMAGE_EXTENSIONS.join(", "),
                dir.display()
            )));
        };
        // the first photo's size for the warm-up; every photo keeps its own size
        let opts = super::video::OpenOptions { limits: limits.clone(), ..Default::default() };
        let first_info = VideoSource::open_with(first, &opts)?.info().clone();
        let info = SourceInfo {
            expected_frames: Some(files.len() as u64),
            estimated_frames: Some(files.len() as u64),
            fps: None,
            codec: "photos".into(),
            ..first_info
        };
        Ok(Self { limits: limits.clone(), dir: dir.into(), files, info, autorotate: true })
    }

    pub fn set_autorotate(&mut self, on: bool) {
        self.autorotate = on;
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

impl FrameSource for StillsSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn is_live(&self) -> bool {
        false
    }

    /// One frame per photo, numbered in name order. A photo that cannot be read is skipped
    /// with a warning; the run then fails (exit 1) after the others, naming how many.
    fn run(&mut self, emit: &mut dyn FnMut(FrameMsg) -> bool) -> Result<SourceSummary> {
        let mut summary = SourceSummary::default();
        let mut failed: Vec<String> = Vec::new();
        for file in &self.files {
            let opts = super::video::OpenOptions { limits: self.limits.clone(), ..Default::default() };
            let mut src = match VideoSource::open_with(file, &opts) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("skipped: {e}");
                    failed.push(file.display().to_string());
                    continue;
                }
            };
            src.set_autorotate(self.autorotate);
            let name: Arc<str> = Arc::from(file.display().to_string());
            let index = summary.frames;
            let mut sent = None;
            let r = src.run(|mut msg| {
                msg.meta.index = index;
                msg.meta.independent = true;
                msg.meta.file = Some(name.clone());
                sent = Some(emit(msg));
                false // one frame per photo
            });
            match (r, sent) {
                (_, Some(true)) => summary.frames += 1,
                (_, Some(false)) => {
                    summary.frames += 1;
                    summary.stopped_early = true;
                    return Ok(summary);
                }
                (Err(e), None) => {
                    tracing::warn!("skipped: {e}");
                    failed.push(file.display().to_string());
                }
                (Ok(_), None) => failed.push(file.display().to_string()),
            }
        }
        if !failed.is_empty() {
            return Err(Error::Decode {
                path: self.dir.clone(),
                reason: format!(
                    "{} of {} photo(s) could not be read (the others were processed): {}",
                    failed.len(),
                    self.files.len(),
                    failed.join(", ")
                ),
            });
        }
        Ok(summary)
    }
}
