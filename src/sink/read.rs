//! fer-rt's own outputs read back: JSON lines, CSV and Parquet into one table of faces, so
//! `summary` and `report` count from the same rows whatever format a run wrote. It lives
//! beside the writers because it reads their column names ([`super::table`]) and JSON
//! fields ([`super::jsonl`]): a renamed field breaks the reader's tests, not a user.
//!
//! A reader is lenient where a run that was cut off leaves a mark (a truncated last JSON
//! line or CSV row is skipped with a warning naming the line) and strict where the file is
//! not fer-rt's at all (no recognisable line or header: [`Error::NotResults`], exit 1).
use super::csv::split_fields;
use crate::error::{Error, Result};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Which writer made a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Jsonl,
    Csv,
    Parquet,
}

impl Format {
    /// The format of `path` by its extension; None for anything else.
    pub fn of(path: &Path) -> Option<Format> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
        match ext.as_str() {
            "jsonl" | "json" | "ndjson" => Some(Format::Jsonl),
            "csv" => Some(Format::Csv),
            "parquet" => Some(Format::Parquet),
            _ => None,
        }
    }
}

/// One face of one frame: every per-face field the three formats share. Absent values
/// (no classifier, no analysis, no ensemble) are None.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaceRow {
    pub frame: u64,
    pub pts_ms: Option<f64>,
    /// Index into [`Results::streams`] (runs of several sources only).
    pub stream: Option<u16>,
    /// Index into [`Results::files`] (a folder of photos: the photo the face is in).
    pub file: Option<u32>,
    pub track_id: Option<u64>,
    pub bbox: [f32; 4],
    pub score: f32,
    /// Index into [`Results::labels`].
    pub label: Option<u16>,
    pub valence: Option<f32>,
    pub arousal: Option<f32>,
    pub valence_std: Option<f32>,
    pub arousal_std: Option<f32>,
    pub face_px: Option<f32>,
    pub blur: Option<f32>,
    pub yaw_deg: Option<f32>,
    pub pitch_deg: Option<f32>,
    pub roll_deg: Option<f32>,
    pub quality: Option<f32>,
    pub confidence: Option<f32>,
    pub model_uncertainty: Option<f32>,
    pub disagreement: Option<f32>,
    pub filtered_label: Option<u16>,
    pub filtered_confidence: Option<f32>,
    pub filtered_valence: Option<f32>,
    pub filtered_arousal: Option<f32>,
    pub filtered_valence_std: Option<f32>,
    pub filtered_arousal_std: Option<f32>,
}

impl FaceRow {
    /// The per-face numbers in [`FLOATS`] order, from `v(k)` for column `FLOATS[k]`: how the
    /// two tables fill a row.
    fn with_floats(mut self, v: impl Fn(usize) -> Option<f32>) -> Self {
        let fields = [
            &mut self.valence,
            &mut self.arousal,
            &mut self.valence_std,
            &mut self.arousal_std,
            &mut self.face_px,
            &mut self.blur,
            &mut self.yaw_deg,
            &mut self.pitch_deg,
            &mut self.roll_deg,
            &mut self.quality,
            &mut self.confidence,
            &mut self.model_uncertainty,
            &mut self.disagreement,
            &mut self.filtered_confidence,
            &mut self.filtered_valence,
            &mut self.filtered_arousal,
            &mut self.filtered_valence_std,
            &mut self.filtered_arousal_std,
        ];
        for (k, field) in fields.into_iter().enumerate() {
            *field = v(k);
        }
        self
    }
}

/// A frame the file lists: JSON lines list every frame, CSV and Parquet only the frames
/// with a face.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrameRow {
    pub frame: u64,
    pub pts_ms: Option<f64>,
    pub stream: Option<u16>,
    pub faces: u32,
    /// Frames a live source dropped before this one (JSON lines; 0 in the tables).
    pub dropped: u64,
}

/// One output file, read.
#[derive(Clone, Debug)]
pub struct Results {
    pub path: PathBuf,
    pub format: Format,
    pub schema_version: Option<u32>,
    pub classifier: Option<String>,
    pub filter: Option<String>,
    /// The input the run read (CSV's `source` column, Parquet's metadata; JSON lines do
    /// not name it).
    pub source: Option<String>,
    /// The classifier's classes in its order.
    pub classes: Vec<String>,
    /// Label names: the classes, then any label a file uses that is not one of them.
    pub labels: Vec<String>,
    /// Stream names of a run of several sources.
    pub streams: Vec<String>,
    /// Photo names of a run over a folder of photos (each frame is one photo).
    pub files: Vec<String>,
    /// True when every frame of the run is listed (JSON lines), so frames without faces
    /// count; CSV and Parquet list faces only.
    pub all_frames: bool,
    pub frames: Vec<FrameRow>,
    pub faces: Vec<FaceRow>,
    /// Per face, the class probabilities (k each, NaN when the face has none).
    probs: Vec<f32>,
    filtered_probs: Vec<f32>,
    /// What was skipped, one line each, naming the line.
    pub warnings: Vec<String>,
}

impl Results {
    fn new(path: &Path, format: Format) -> Self {
        Self {
            path: path.to_path_buf(),
            format,
            schema_version: None,
            classifier: None,
            filter: None,
            source: None,
            classes: Vec::new(),
            labels: Vec::new(),
            streams: Vec::new(),
            files: Vec::new(),
            all_frames: format == Format::Jsonl,
            frames: Vec::new(),
            faces: Vec::new(),
            probs: Vec::new(),
            filtered_probs: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Face `i`'s class probabilities (NaN when it has none).
    pub fn probs(&self, i: usize) -> &[f32] {
        let k = self.classes.len();
        &self.probs[i * k..(i + 1) * k]
    }

    /// Face `i`'s filtered class probabilities (NaN when it has none).
    pub fn filtered_probs(&self, i: usize) -> &[f32] {
        let k = self.classes.len();
        &self.filtered_probs[i * k..(i + 1) * k]
    }

    pub fn label_name(&self, l: Option<u16>) -> Option<&str> {
        l.map(|i| self.labels[i as usize].as_str())
    }

    /// The frame count: every listed frame, or through the last frame with a face when
    /// only faces are listed.
    pub fn frame_count(&self) -> u64 {
        if self.all_frames {
            return self.frames.len() as u64;
        }
        self.frames.iter().map(|f| f.frame + 1).max().unwrap_or(0)
    }

    fn intern(&mut self, label: &str) -> u16 {
        match self.labels.iter().position(|l| l == label) {
            Some(i) => i as u16,
            None => {
                self.labels.push(label.to_string());
                (self.labels.len() - 1) as u16
            }
        }
    }

    fn stream_index(&mut self, name: Option<&str>) -> Option<u16> {
        let name = name.filter(|n| !n.is_empty())?;
        Some(match self.streams.iter().position(|s| s == name) {
            Some(i) => i as u16,
            None => {
                self.streams.push(name.to_string());
                (self.streams.len() - 1) as u16
            }
        })
    }

    fn file_index(&mut self, name: &str) -> u32 {
        match self.files.iter().position(|f| f == name) {
            Some(i) => i as u32,
            None => {
                self.files.push(name.to_string());
                (self.files.len() - 1) as u32
            }
        }
    }

    /// A table names each row's source: one name is the run's input; several are the
    /// photos of a folder, each face's own.
    fn sources_to_files(&mut self, sources: Vec<Option<u32>>) {
        if self.files.len() > 1 {
            for (f, s) in self.faces.iter_mut().zip(sources) {
                f.file = s;
            }
        } else {
            let one = self.files.pop();
            if self.source.is_none() {
                self.source = one;
            }
        }
    }

    fn set_classes(&mut self, classes: Vec<String>) {
        self.labels = classes.clone();
        self.classes = classes;
    }

    fn push_face(&mut self, f: FaceRow, probs: Option<&[f32]>, filtered: Option<&[f32]>) {
        let k = self.classes.len();
        for (out, p) in [(&mut self.probs, probs), (&mut self.filtered_probs, filtered)] {
            match p {
                Some(p) if p.len() == k => out.extend_from_slice(p),
                _ => out.extend(std::iter::repeat_n(f32::NAN, k)),
            }
        }
        self.faces.push(f);
    }

    /// CSV and Parquet list faces only: their frames are the distinct (stream, frame) of
    /// the faces, in order of appearance.
    fn frames_from_faces(&mut self) {
        let mut seen: BTreeMap<(Option<u16>, u64), usize> = BTreeMap::new();
        for f in &self.faces {
            let i = *seen.entry((f.stream, f.frame)).or_insert_with(|| {
                self.frames.push(FrameRow { frame: f.frame, pts_ms: f.pts_ms, stream: f.stream, faces: 0, dropped: 0 });
                self.frames.len() - 1
            });
            self.frames[i].faces += 1;
        }
    }
}

fn not_results(path: &Path, why: impl Into<String>) -> Error {
    Error::NotResults { path: path.to_path_buf(), why: why.into() }
}

/// Reads one output file of `process`, `live` or `batch`, by its extension.
pub fn read(path: &Path) -> Result<Results> {
    if !path.exists() {
        let err = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder");
        return Err(Error::Io { path: path.to_path_buf(), err });
    }
    let Some(format) = Format::of(path) else {
        return Err(Error::Config(format!(
            "{}: not a fer-rt output (.jsonl, .csv, .parquet) or a batch folder",
            path.display()
        )));
    };
    let r = match format {
        Format::Jsonl => read_jsonl(path)?,
        Format::Csv => read_csv(path)?,
        Format::Parquet => read_parquet(path)?,
    };
    Ok(r)
}

/// The lines of a text file, numbered from 0, read as they come (a results file can be
/// hundreds of megabytes; it is never held whole). Bytes that are not UTF-8 (a run cut off
/// mid-character) are replaced, so the line still reaches the parser and its warning.
fn lines_of(path: &Path) -> Result<impl Iterator<Item = Result<(usize, String)>>> {
    use std::io::BufRead;
    let io = |err| Error::Io { path: path.to_path_buf(), err };
    let file = std::fs::File::open(path).map_err(io)?;
    if file.metadata().map_err(io)?.len() == 0 {
        return Err(not_results(path, "the file is empty"));
    }
    let path = path.to_path_buf();
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut n = 0;
    Ok(std::iter::from_fn(move || {
        let mut buf = Vec::new();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => None,
            Ok(_) => {
                while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    buf.pop();
                }
                let line =
                    String::from_utf8(buf).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
                n += 1;
                Some(Ok((n - 1, line)))
            }
            Err(err) => Some(Err(Error::Io { path: path.clone(), err })),
        }
    }))
}

/// Class probabilities as an object, kept in the file's key order (the classifier's).
#[derive(Default)]
struct Ordered(Vec<(String, f32)>);

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of class probabilities")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> std::result::Result<Ordered, A::Error> {
                let mut v = Vec::new();
                while let Some((k, p)) = m.next_entry::<String, f32>()? {
                    v.push((k, p));
                }
                Ok(Ordered(v))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize)]
struct JLine {
    schema_version: Option<u32>,
    stream: Option<String>,
    file: Option<String>,
    #[serde(default)]
    dropped_frames: u64,
    frame: u64,
    pts_ms: Option<f64>,
    classifier: Option<String>,
    filter: Option<String>,
    faces: Vec<JFace>,
}

#[derive(Deserialize)]
struct JFace {
    track_id: Option<u64>,
    #[serde(rename = "box")]
    bbox: [f32; 4],
    score: f32,
    expression: Option<Ordered>,
    label: Option<String>,
    valence: Option<f32>,
    arousal: Option<f32>,
    valence_std: Option<f32>,
    arousal_std: Option<f32>,
    uncertainty: Option<JUncertainty>,
    filtered: Option<JFiltered>,
}

#[derive(Deserialize)]
struct JUncertainty {
    face_px: Option<f32>,
    blur: Option<f32>,
    yaw_deg: Option<f32>,
    pitch_deg: Option<f32>,
    roll_deg: Option<f32>,
    model: Option<f32>,
    disagreement: Option<f32>,
    quality: Option<f32>,
    confidence: Option<f32>,
}

#[derive(Deserialize)]
struct JFiltered {
    expression: Option<Ordered>,
    label: Option<String>,
    confidence: Option<f32>,
    valence: Option<f32>,
    arousal: Option<f32>,
    valence_std: Option<f32>,
    arousal_std: Option<f32>,
}

fn read_jsonl(path: &Path) -> Result<Results> {
    let mut r = Results::new(path, Format::Jsonl);
    let mut bad = 0usize;
    for item in lines_of(path)? {
        let (n, line) = item?;
        if line.trim().is_empty() {
            continue;
        }
        let l: JLine = match serde_json::from_str(&line) {
            Ok(l) => l,
            Err(e) => {
                bad += 1;
                r.warnings.push(format!("{}: line {}: not a fer-rt result line ({e}); skipped", path.display(), n + 1));
                continue;
            }
        };
        if r.classes.is_empty() {
            if let Some(e) = l.faces.iter().find_map(|f| f.expression.as_ref()) {
                r.set_classes(e.0.iter().map(|(k, _)| k.clone()).collect());
            }
        }
        r.schema_version = r.schema_version.or(l.schema_version);
        r.classifier = r.classifier.take().or(l.classifier);
        r.filter = r.filter.take().or(l.filter);
        let stream = r.stream_index(l.stream.as_deref());
        let file = l.file.as_deref().map(|f| r.file_index(f));
        let (faces, dropped) = (l.faces.len() as u32, l.dropped_frames);
        r.frames.push(FrameRow { frame: l.frame, pts_ms: l.pts_ms, stream, faces, dropped });
        for f in l.faces {
            let label = f.label.as_deref().map(|s| r.intern(s));
            let u = f.uncertainty.as_ref();
            let fl = f.filtered.as_ref();
            let row = FaceRow {
                frame: l.frame,
                pts_ms: l.pts_ms,
                stream,
                file,
                track_id: f.track_id,
                bbox: f.bbox,
                score: f.score,
                label,
                valence: f.valence,
                arousal: f.arousal,
                valence_std: f.valence_std,
                arousal_std: f.arousal_std,
                face_px: u.and_then(|u| u.face_px),
                blur: u.and_then(|u| u.blur),
                yaw_deg: u.and_then(|u| u.yaw_deg),
                pitch_deg: u.and_then(|u| u.pitch_deg),
                roll_deg: u.and_then(|u| u.roll_deg),
                quality: u.and_then(|u| u.quality),
                confidence: u.and_then(|u| u.confidence),
                model_uncertainty: u.and_then(|u| u.model),
                disagreement: u.and_then(|u| u.disagreement),
                filtered_label: fl.and_then(|x| x.label.as_deref()).map(|s| r.intern(s)),
                filtered_confidence: fl.and_then(|x| x.confidence),
                filtered_valence: fl.and_then(|x| x.valence),
                filtered_arousal: fl.and_then(|x| x.arousal),
                filtered_valence_std: fl.and_then(|x| x.valence_std),
                filtered_arousal_std: fl.and_then(|x| x.arousal_std),
            };
            let probs: Option<Vec<f32>> = f.expression.map(|e| e.0.into_iter().map(|(_, p)| p).collect());
            let fprobs: Option<Vec<f32>> =
                f.filtered.and_then(|x| x.expression).map(|e| e.0.into_iter().map(|(_, p)| p).collect());
            r.push_face(row, probs.as_deref(), fprobs.as_deref());
        }
    }
    if r.frames.is_empty() {
        let why = if bad == 0 {
            "the file is empty".to_string()
        } else {
            format!("none of its {bad} line(s) is a fer-rt result line")
        };
        return Err(not_results(path, why));
    }
    Ok(r)
}

/// Classes from the `p_<class>` columns, in order.
fn classes_of(header: &[String]) -> Vec<String> {
    header.iter().filter_map(|h| h.strip_prefix("p_")).map(String::from).collect()
}

/// The per-face numbers of the table read into [`FaceRow`], in the order the readers fill
/// its fields.
const FLOATS: [&str; 18] = [
    "valence",
    "arousal",
    "valence_std",
    "arousal_std",
    "face_px",
    "blur",
    "yaw_deg",
    "pitch_deg",
    "roll_deg",
    "quality",
    "confidence",
    "model_uncertainty",
    "disagreement",
    "filtered_confidence",
    "filtered_valence",
    "filtered_arousal",
    "filtered_valence_std",
    "filtered_arousal_std",
];

/// The columns every fer-rt table has; a file without them is someone else's.
const REQUIRED: [&str; 8] = ["frame", "pts_ms", "track_id", "x1", "y1", "x2", "y2", "score"];

fn read_csv(path: &Path) -> Result<Results> {
    let mut r = Results::new(path, Format::Csv);
    let mut lines = lines_of(path)?;
    let header = split_fields(&lines.next().transpose()?.map(|(_, l)| l).unwrap_or_default());
    if header.iter().all(|h| h.trim().is_empty()) {
        return Err(not_results(path, "the file is empty"));
    }
    let missing: Vec<&str> = REQUIRED.iter().copied().filter(|c| !header.iter().any(|h| h == c)).collect();
    if !missing.is_empty() {
        return Err(not_results(path, format!("not a fer-rt CSV: no column {}", missing.join(", "))));
    }
    r.set_classes(classes_of(&header));
    let idx = |n: &str| header.iter().position(|h| h == n);
    let pcols: Vec<Option<usize>> = r.classes.iter().map(|c| idx(&format!("p_{c}"))).collect();
    let fcols: Vec<Option<usize>> = r.classes.iter().map(|c| idx(&format!("filtered_p_{c}"))).collect();
    let col = |n: &str| idx(n);
    let [frame, pts, track, x1, y1, x2, y2, score] = REQUIRED.map(|n| idx(n).unwrap_or(0));
    let (source, stream, label, flabel) = (col("source"), col("stream"), col("label"), col("filtered_label"));
    let floats: Vec<Option<usize>> = FLOATS.iter().map(|n| col(n)).collect();
    let mut sources = Vec::new();
    for item in lines {
        let (n, line) = item?;
        if line.is_empty() {
            continue;
        }
        let f = split_fields(&line);
        if f.len() != header.len() {
            r.warnings.push(format!(
                "{}: line {}: {} fields where the header has {} (cut off?); skipped",
                path.display(),
                n + 1,
                f.len(),
                header.len()
            ));
            continue;
        }
        let get = |i: Option<usize>| i.and_then(|i| f.get(i)).filter(|s| !s.is_empty());
        let num = |i: Option<usize>| get(i).and_then(|s| s.parse::<f32>().ok());
        let Some(fr) = get(Some(frame)).and_then(|s| s.parse::<u64>().ok()) else {
            r.warnings.push(format!("{}: line {}: no frame number; skipped", path.display(), n + 1));
            continue;
        };
        sources.push(get(source).map(|s| r.file_index(s)));
        let s = r.stream_index(get(stream).map(String::as_str));
        let v: Vec<Option<f32>> = floats.iter().map(|&i| num(i)).collect();
        let row = FaceRow {
            frame: fr,
            pts_ms: get(Some(pts)).and_then(|s| s.parse().ok()),
            stream: s,
            track_id: get(Some(track)).and_then(|s| s.parse().ok()),
            bbox: [x1, y1, x2, y2].map(|i| num(Some(i)).unwrap_or(f32::NAN)),
            score: num(Some(score)).unwrap_or(f32::NAN),
            label: get(label).map(|l| r.intern(l)),
            filtered_label: get(flabel).map(|l| r.intern(l)),
            ..FaceRow::default()
        }
        .with_floats(|k| v[k]);
        let p = |cols: &[Option<usize>]| -> Option<Vec<f32>> { cols.iter().map(|&i| num(i)).collect() };
        let (probs, fprobs) = (p(&pcols), p(&fcols));
        r.push_face(row, probs.as_deref(), fprobs.as_deref());
    }
    r.sources_to_files(sources);
    r.frames_from_faces();
    Ok(r)
}

fn read_parquet(path: &Path) -> Result<Results> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float32Type, Float64Type, Int64Type};
    use arrow_array::{Array, RecordBatch};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let file = std::fs::File::open(path).map_err(|err| Error::Io { path: path.to_path_buf(), err })?;
    if file.metadata().map(|m| m.len()).unwrap_or(0) == 0 {
        return Err(not_results(path, "the file is empty"));
    }
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| not_results(path, format!("not a readable Parquet file ({e})")))?;
    let mut r = Results::new(path, Format::Parquet);
    let meta: BTreeMap<String, String> = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .into_iter()
        .flatten()
        .filter_map(|kv| kv.value.clone().map(|v| (kv.key.clone(), v)))
        .collect();
    let header: Vec<String> = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
    let missing: Vec<&str> = REQUIRED.iter().copied().filter(|c| !header.iter().any(|h| h == c)).collect();
    if !missing.is_empty() {
        return Err(not_results(path, format!("not a fer-rt table: no column {}", missing.join(", "))));
    }
    let classes = meta
        .get("fer_rt.classes")
        .and_then(|c| serde_json::from_str::<Vec<String>>(c).ok())
        .unwrap_or_else(|| classes_of(&header));
    r.set_classes(classes);
    r.schema_version = meta.get("fer_rt.schema_version").and_then(|v| v.parse().ok());
    r.classifier = meta.get("fer_rt.classifier").cloned();
    r.filter = meta.get("fer_rt.filter").cloned();
    r.source = meta.get("fer_rt.source").cloned().filter(|s| !s.is_empty());
    let reader = builder.build().map_err(|e| not_results(path, e.to_string()))?;
    let bad = |e: &dyn std::fmt::Display| not_results(path, format!("unreadable ({e})"));
    // a column as optional f32/f64/i64/text, whatever width the writer chose
    fn f32s(b: &RecordBatch, n: &str) -> Vec<Option<f32>> {
        let Some(c) = b.column_by_name(n) else { return vec![None; b.num_rows()] };
        if let Some(a) = c.as_primitive_opt::<Float32Type>() {
            return a.iter().collect();
        }
        if let Some(a) = c.as_primitive_opt::<Float64Type>() {
            return a.iter().map(|v| v.map(|x| x as f32)).collect();
        }
        vec![None; b.num_rows()]
    }
    fn f64s(b: &RecordBatch, n: &str) -> Vec<Option<f64>> {
        let Some(c) = b.column_by_name(n) else { return vec![None; b.num_rows()] };
        if let Some(a) = c.as_primitive_opt::<Float64Type>() {
            return a.iter().collect();
        }
        f32s(b, n).into_iter().map(|v| v.map(f64::from)).collect()
    }
    fn ints(b: &RecordBatch, n: &str) -> Vec<Option<i64>> {
        let Some(c) = b.column_by_name(n) else { return vec![None; b.num_rows()] };
        c.as_primitive_opt::<Int64Type>().map(|a| a.iter().collect()).unwrap_or_else(|| vec![None; b.num_rows()])
    }
    fn texts(b: &RecordBatch, n: &str) -> Vec<Option<String>> {
        let Some(c) = b.column_by_name(n) else { return vec![None; b.num_rows()] };
        match c.as_string_opt::<i32>() {
            Some(a) => (0..a.len()).map(|i| (!a.is_null(i)).then(|| a.value(i).to_string())).collect(),
            None => vec![None; b.num_rows()],
        }
    }
    let mut sources = Vec::new();
    for batch in reader {
        let b = batch.map_err(|e| bad(&e))?;
        let (frame, pts, track) = (ints(&b, "frame"), f64s(&b, "pts_ms"), ints(&b, "track_id"));
        let bbox = ["x1", "y1", "x2", "y2", "score"].map(|n| f32s(&b, n));
        let (label, flabel, stream, source) =
            (texts(&b, "label"), texts(&b, "filtered_label"), texts(&b, "stream"), texts(&b, "source"));
        let v: Vec<Vec<Option<f32>>> = FLOATS.iter().map(|n| f32s(&b, n)).collect();
        let pc: Vec<Vec<Option<f32>>> = r.classes.iter().map(|c| f32s(&b, &format!("p_{c}"))).collect();
        let fc: Vec<Vec<Option<f32>>> = r.classes.iter().map(|c| f32s(&b, &format!("filtered_p_{c}"))).collect();
        for i in 0..b.num_rows() {
            sources.push(source[i].as_deref().map(|s| r.file_index(s)));
            let s = r.stream_index(stream[i].as_deref());
            let row = FaceRow {
                frame: frame[i].unwrap_or(0).max(0) as u64,
                pts_ms: pts[i],
                stream: s,
                track_id: track[i].map(|t| t.max(0) as u64),
                bbox: [0, 1, 2, 3].map(|k| bbox[k][i].unwrap_or(f32::NAN)),
                score: bbox[4][i].unwrap_or(f32::NAN),
                label: label[i].as_deref().map(|l| r.intern(l)),
                filtered_label: flabel[i].as_deref().map(|l| r.intern(l)),
                ..FaceRow::default()
            }
            .with_floats(|k| v[k][i]);
            let p: Option<Vec<f32>> = pc.iter().map(|c| c[i]).collect();
            let fp: Option<Vec<f32>> = fc.iter().map(|c| c[i]).collect();
            r.push_face(row, p.as_deref(), fp.as_deref());
        }
    }
    r.sources_to_files(sources);
    r.frames_from_faces();
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    const LINE: &str = r#"{"schema_version":6,"frame":0,"pts_ms":0.0,"width":4,"height":4,"dropped_frames":0,"classifier":"m","filter":"ema","faces":[{"track_id":1,"box":[1,2,3,4],"landmarks":[[0,0],[0,0],[0,0],[0,0],[0,0]],"score":0.9,"expression":{"sad":0.7,"angry":0.3},"label":"sad","label_prob":0.7,"valence":-0.5,"arousal":0.1,"valence_std":0.2,"arousal_std":0.2,"va_source":"circumplex","uncertainty":{"det_score":0.9,"face_px":40,"blur":100,"yaw_deg":1,"pitch_deg":2,"roll_deg":3,"entropy":0.5,"model":null,"disagreement":null,"quality":0.8,"confidence":0.6},"filtered":{"expression":{"sad":0.6,"angry":0.4},"label":"sad","confidence":0.6,"valence":-0.4,"arousal":0.1,"valence_std":0.3,"arousal_std":0.3}}],"timings_ms":{}}"#;

    #[test]
    fn json_lines_keep_the_class_order_and_skip_a_cut_line() {
        let dir = tempfile::tempdir().unwrap();
        let empty = r#"{"schema_version":6,"frame":1,"pts_ms":33.3,"width":4,"height":4,"dropped_frames":0,"classifier":"m","filter":"ema","faces":[],"timings_ms":{}}"#;
        let text = format!("{LINE}\n{empty}\n{}", &LINE[..80]);
        let r = read(&write(dir.path(), "a.jsonl", &text)).unwrap();
        assert_eq!(r.classes, ["sad", "angry"], "the file's order, not alphabetical");
        assert_eq!((r.frame_count(), r.faces.len()), (2, 1));
        assert_eq!(r.probs(0), [0.7, 0.3]);
        assert_eq!(r.filtered_probs(0), [0.6, 0.4]);
        assert_eq!(r.label_name(r.faces[0].filtered_label), Some("sad"));
        assert_eq!((r.faces[0].quality, r.faces[0].disagreement), (Some(0.8), None));
        assert_eq!(r.warnings.len(), 1);
        assert!(r.warnings[0].contains("line 3"), "{:?}", r.warnings);
    }

    #[test]
    fn someone_elses_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in [("e.jsonl", ""), ("e.csv", "\n"), ("o.csv", "a,b\n1,2\n"), ("o.jsonl", "{\"a\":1}\n")] {
            let e = read(&write(dir.path(), name, text)).unwrap_err();
            assert!(matches!(e, Error::NotResults { .. }), "{name}: {e}");
            assert!(!e.is_usage(), "exit 1: the file, not the command");
        }
        let e = read(&write(dir.path(), "x.txt", "x")).unwrap_err();
        assert!(e.is_usage(), "an extension no output has is a usage error");
    }
}
