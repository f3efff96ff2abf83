//! Harvested faces: aligned crops of the faces in a video, for training a student on
//! footage of one's own domain (`fer-rt harvest`). Each kept face is warped from the full
//! frame onto the checkpoints' five-point template (`align::TEMPLATE`) at the student's
//! input size and written as a PNG, with one row in `faces.csv`: where it came from
//! (source, frame, pts, track), its box and detector score, quality and blur.
//!
//! Consecutive frames of one track are near-duplicates: a student learns nothing from the
//! 30th copy of a face but over-weights that person. So a track gives at most one face
//! every `every_frames` frames, and only faces that are large, sharp and frontal enough
//! (the pipeline's own quality score) are kept.
use super::csv::field;
use super::{RunInfo, Sink, SinkStatus};
use crate::align::{align_face, TEMPLATE};
use crate::error::{Error, Result};
use crate::messages::{ColorMode, FrameMsg, InputSpec, RgbImage, TrackEvent};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The crop list's name inside a harvested input's folder.
pub const FACES_CSV: &str = "faces.csv";

const HEADER: &str = "file,source,frame,pts_ms,track_id,x1,y1,x2,y2,score,quality,blur,face_px";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HarvestConfig {
    /// Side of the square crops, pixels: the student's input size.
    pub size: u32,
    /// A track gives at most one face per this many frames (1 = every frame).
    pub every_frames: u64,
    /// Faces whose frame quality (see `quality`) is below this are skipped.
    pub min_quality: f32,
    /// Faces whose shorter box side is below this many pixels are skipped.
    pub min_face_px: f32,
}

impl Default for HarvestConfig {
    fn default() -> Self {
        Self { size: 112, every_frames: 10, min_quality: 0.3, min_face_px: 40.0 }
    }
}

/// The crops a finished harvest folder holds: the rows of its `faces.csv`.
pub fn crops_in(dir: &Path) -> u64 {
    std::fs::read_to_string(dir.join(FACES_CSV))
        .map(|t| t.lines().skip(1).filter(|l| !l.is_empty()).count() as u64)
        .unwrap_or(0)
}

pub struct FacesSink {
    dir: PathBuf,
    source: String,
    cfg: HarvestConfig,
    spec: InputSpec,
    csv: std::io::BufWriter<std::fs::File>,
    /// Frame index of each track's last kept face.
    last_kept: HashMap<u64, u64>,
    written: Vec<PathBuf>,
}

impl FacesSink {
    /// Creates the folder `dir` (for one input named `source`) and its crop list.
    pub fn create(dir: &Path, source: &str, cfg: &HarvestConfig) -> Result<Self> {
        let io = |err| Error::Io { path: dir.to_path_buf(), err };
        std::fs::create_dir_all(dir).map_err(io)?;
        let path = dir.join(FACES_CSV);
        let mut csv =
            std::io::BufWriter::new(std::fs::File::create(&path).map_err(|err| Error::Io { path: path.clone(), err })?);
        writeln!(csv, "{HEADER}").map_err(|err| Error::Io { path: path.clone(), err })?;
        let spec = InputSpec {
            width: cfg.size,
            height: cfg.size,
            color: ColorMode::Rgb,
            mean: vec![0.0; 3],
            std: vec![1.0; 3],
            gray_weights: [0.299, 0.587, 0.114],
            template: TEMPLATE,
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            source: source.to_string(),
            cfg: cfg.clone(),
            spec,
            csv,
            last_kept: HashMap::new(),
            written: vec![path],
        })
    }

    fn keep(&mut self, frame: u64, track: u64, quality: f32, face_px: f32) -> bool {
        if quality < self.cfg.min_quality || face_px < self.cfg.min_face_px {
            return false;
        }
        match self.last_kept.get(&track) {
            Some(&last) if frame < last + self.cfg.every_frames.max(1) => false,
            _ => {
                self.last_kept.insert(track, frame);
                true
            }
        }
    }
}

impl Sink for FacesSink {
    fn write_frame(&mut self, frame: &FrameMsg, _info: &RunInfo) -> Result<SinkStatus> {
        let index = frame.meta.index;
        for f in &frame.faces {
            let (Some(track), Some(a)) = (f.track_id, f.analysis.as_ref()) else { continue };
            let d = &f.detection;
            if !self.keep(index, track, a.uncertainty.quality, d.short_side_px()) {
                continue;
            }
            let Some(crop) = align_face(&frame.image, &d.landmarks, &self.spec) else { continue };
            let name = format!("f{index:07}_t{track}.png");
            let path = self.dir.join(&name);
            crate::imageops::png::write_png(&path, &RgbImage::new(crop.width, crop.height, crop.data))?;
            self.written.push(path);
            let opt = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
            let row = format!(
                "{name},{},{index},{},{track},{},{},{},{},{},{},{},{}",
                field(&self.source),
                opt(frame.meta.pts_ms),
                d.bbox[0],
                d.bbox[1],
                d.bbox[2],
                d.bbox[3],
                d.score,
                a.uncertainty.quality,
                a.uncertainty.inputs.blur,
                d.short_side_px()
            );
            writeln!(self.csv, "{row}").map_err(|err| Error::Io { path: self.dir.join(FACES_CSV), err })?;
        }
        // after this frame's faces: a track that ends here (the input's last frame, a
        // photo of its own) may still have a face on it, which follows the same spacing
        for e in &frame.track_events {
            if let TrackEvent::End { track_id, .. } = e {
                self.last_kept.remove(track_id); // ids are never reused
            }
        }
        Ok(SinkStatus::Continue)
    }

    /// Flushes the list and syncs every file, so the folder can be renamed into place as
    /// complete.
    fn finish(&mut self) -> Result<()> {
        let csv = self.dir.join(FACES_CSV);
        self.csv.flush().map_err(|err| Error::Io { path: csv, err })?;
        for p in &self.written {
            std::fs::File::open(p).and_then(|f| f.sync_all()).map_err(|err| Error::Io { path: p.clone(), err })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_track_gives_one_face_per_interval_and_poor_faces_none() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = HarvestConfig { every_frames: 5, ..Default::default() };
        let mut s = FacesSink::create(&tmp.path().join("x"), "in.mp4", &cfg).unwrap();
        let kept: Vec<u64> = (0..12).filter(|&f| s.keep(f, 1, 0.9, 100.0)).collect();
        assert_eq!(kept, [0, 5, 10]);
        assert!(s.keep(3, 2, 0.9, 100.0), "another track keeps its own pace");
        assert!(!s.keep(20, 3, 0.1, 100.0), "low quality");
        assert!(!s.keep(20, 3, 0.9, 10.0), "too small");
        s.finish().unwrap();
        assert!(std::fs::read_to_string(tmp.path().join("x").join(FACES_CSV)).unwrap().starts_with("file,source"));
    }
}
