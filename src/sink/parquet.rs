//! Parquet: one row per face per frame, the CSV's columns with types (ids as int64,
//! probabilities and scores as float32, the five landmarks as one list of [x, y] pairs),
//! for pandas, polars, DuckDB and Spark. The file explains itself: its key-value metadata
//! holds the schema version, the classifier, its class order, the weights' sha256, the
//! filter and the input. Rows are written in row groups of a bounded size, so memory stays
//! flat on hour-long inputs. Float columns are stored byte-stream-split and zstd-compressed
//! (the smallest encoding for noisy floats that pandas, polars, DuckDB and Spark all read),
//! with chunk-level statistics only, so a short clip's file is not mostly footer.
use super::csv::{ANALYSIS_COLUMNS, FACE_COLUMNS, FILTERED_VA_COLUMNS, LABEL_COLUMNS};
use super::jsonl::SCHEMA_VERSION;
use super::{RunInfo, Sink, SinkStatus};
use crate::error::{Error, Result};
use crate::messages::{Face, FrameMsg};
use crate::metrics::top_class;
use arrow_array::builder::{
    FixedSizeListBuilder, Float32Builder, Float64Builder, Int64Builder, ListBuilder, StringBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::EnabledStatistics;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Float columns of the analysis block from `det_score` to `confidence` (then comes
/// `disagreement`, nullable).
const QUALITY_COLUMNS: usize = 9;

pub struct ParquetSink {
    path: PathBuf,
    row_group_rows: usize,
    /// None once closed.
    writer: Option<ArrowWriter<File>>,
    rows: Rows,
}

/// Column builders of the rows not yet written.
struct Rows {
    schema: Arc<Schema>,
    n: usize,
    frame: Int64Builder,
    pts_ms: Float64Builder,
    track_id: Int64Builder,
    bbox_score: [Float32Builder; 5],
    landmarks: ListBuilder<FixedSizeListBuilder<Float32Builder>>,
    label: StringBuilder,
    label_prob: Float32Builder,
    probs: Vec<Float32Builder>,
    va: [Float32Builder; 4],
    va_source: StringBuilder,
    quality: [Float32Builder; QUALITY_COLUMNS],
    disagreement: Float32Builder,
    filtered_label: StringBuilder,
    filtered_confidence: Float32Builder,
    filtered_probs: Vec<Float32Builder>,
    filtered_va: [Float32Builder; 4],
}

/// The Arrow schema for a classifier's classes: the CSV's columns, `lm*` folded into
/// `landmarks`.
pub fn schema(classes: &[String]) -> Schema {
    let f32 = |n: &str| Field::new(n, DataType::Float32, true);
    let utf8 = |n: &str| Field::new(n, DataType::Utf8, true);
    let mut fields = vec![
        Field::new(FACE_COLUMNS[0], DataType::Int64, false),
        Field::new(FACE_COLUMNS[1], DataType::Float64, true),
        Field::new(FACE_COLUMNS[2], DataType::Int64, true),
    ];
    fields.extend(FACE_COLUMNS[3..].iter().map(|n| Field::new(*n, DataType::Float32, false)));
    let pair = Field::new("item", DataType::Float32, false);
    let point = Field::new("item", DataType::FixedSizeList(Arc::new(pair), 2), false);
    fields.push(Field::new("landmarks", DataType::List(Arc::new(point)), false));
    fields.push(utf8(LABEL_COLUMNS[0]));
    fields.push(f32(LABEL_COLUMNS[1]));
    fields.extend(classes.iter().map(|c| f32(&format!("p_{c}"))));
    for (i, n) in ANALYSIS_COLUMNS.iter().enumerate() {
        // va_source and filtered_label are text, the rest numbers
        fields.push(if i == 4 || i == ANALYSIS_COLUMNS.len() - 2 { utf8(n) } else { f32(n) });
    }
    fields.extend(classes.iter().map(|c| f32(&format!("filtered_p_{c}"))));
    fields.extend(FILTERED_VA_COLUMNS.iter().map(|n| f32(n)));
    Schema::new(fields)
}

fn floats<const N: usize>() -> [Float32Builder; N] {
    std::array::from_fn(|_| Float32Builder::new())
}

impl Rows {
    fn new(classes: &[String]) -> Self {
        let point = FixedSizeListBuilder::new(Float32Builder::new(), 2).with_field(Arc::new(Field::new(
            "item",
            DataType::Float32,
            false,
        )));
        let pair = Field::new("item", DataType::Float32, false);
        let item = Field::new("item", DataType::FixedSizeList(Arc::new(pair), 2), false);
        let k = classes.len();
        Self {
            schema: Arc::new(schema(classes)),
            n: 0,
            frame: Int64Builder::new(),
            pts_ms: Float64Builder::new(),
            track_id: Int64Builder::new(),
            bbox_score: floats(),
            landmarks: ListBuilder::new(point).with_field(Arc::new(item)),
            label: StringBuilder::new(),
            label_prob: Float32Builder::new(),
            probs: (0..k).map(|_| Float32Builder::new()).collect(),
            va: floats(),
            va_source: StringBuilder::new(),
            quality: floats(),
            disagreement: Float32Builder::new(),
            filtered_label: StringBuilder::new(),
            filtered_confidence: Float32Builder::new(),
            filtered_probs: (0..k).map(|_| Float32Builder::new()).collect(),
            filtered_va: floats(),
        }
    }

    fn push(&mut self, frame: &FrameMsg, f: &Face, classes: &[String]) {
        let d = &f.detection;
        self.frame.append_value(frame.meta.index as i64);
        self.pts_ms.append_option(frame.meta.pts_ms);
        self.track_id.append_option(f.track_id.map(|t| t as i64));
        for (b, v) in self.bbox_score.iter_mut().zip(d.bbox.iter().chain([&d.score])) {
            b.append_value(*v);
        }
        for p in &d.landmarks {
            self.landmarks.values().values().append_slice(p);
            self.landmarks.values().append(true);
        }
        self.landmarks.append(true);
        match &f.output {
            Some(o) => {
                let (label, prob) = top_class(classes, &o.probs);
                self.label.append_option(label);
                self.label_prob.append_option(prob);
                for (b, i) in self.probs.iter_mut().zip(0..) {
                    b.append_option(o.probs.get(i).copied());
                }
            }
            None => {
                self.label.append_null();
                self.label_prob.append_null();
                self.probs.iter_mut().for_each(|b| b.append_null());
            }
        }
        match &f.analysis {
            Some(a) => {
                let (af, u, fl) = (&a.affect, &a.uncertainty, &a.filtered);
                let va = [af.valence, af.arousal, af.valence_var.sqrt(), af.arousal_var.sqrt()];
                self.va.iter_mut().zip(va).for_each(|(b, v)| b.append_value(v));
                self.va_source.append_value(af.source.as_str());
                let q = u.scores();
                self.quality.iter_mut().zip(q).for_each(|(b, v)| b.append_value(v));
                self.disagreement.append_option(u.inputs.disagreement);
                let (label, prob) = top_class(classes, &fl.probs);
                self.filtered_label.append_option(label);
                self.filtered_confidence.append_option(prob);
                for (b, i) in self.filtered_probs.iter_mut().zip(0..) {
                    b.append_option(fl.probs.get(i).copied());
                }
                let fva = [fl.valence, fl.arousal, fl.valence_std, fl.arousal_std];
                self.filtered_va.iter_mut().zip(fva).for_each(|(b, v)| b.append_value(v));
            }
            None => {
                self.va.iter_mut().for_each(|b| b.append_null());
                self.va_source.append_null();
                self.quality.iter_mut().for_each(|b| b.append_null());
                self.disagreement.append_null();
                self.filtered_label.append_null();
                self.filtered_confidence.append_null();
                self.filtered_probs.iter_mut().for_each(|b| b.append_null());
                self.filtered_va.iter_mut().for_each(|b| b.append_null());
            }
        }
        self.n += 1;
    }

    /// The buffered rows as one batch, in schema order; the builders start empty again.
    fn take(&mut self) -> Result<RecordBatch> {
        let mut cols: Vec<ArrayRef> =
            vec![Arc::new(self.frame.finish()), Arc::new(self.pts_ms.finish()), Arc::new(self.track_id.finish())];
        cols.extend(self.bbox_score.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        cols.push(Arc::new(self.landmarks.finish()));
        cols.push(Arc::new(self.label.finish()));
        cols.push(Arc::new(self.label_prob.finish()));
        cols.extend(self.probs.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        cols.extend(self.va.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        cols.push(Arc::new(self.va_source.finish()));
        cols.extend(self.quality.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        cols.push(Arc::new(self.disagreement.finish()));
        cols.push(Arc::new(self.filtered_label.finish()));
        cols.push(Arc::new(self.filtered_confidence.finish()));
        cols.extend(self.filtered_probs.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        cols.extend(self.filtered_va.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        self.n = 0;
        RecordBatch::try_new(self.schema.clone(), cols)
            .map_err(|e| Error::Output(std::io::Error::other(format!("parquet batch: {e}"))))
    }
}

impl ParquetSink {
    /// Creates `path` for a run of the classifier `info` describes; `source` (the input's
    /// name) goes into the file's metadata with the model's identity.
    pub fn create(path: &Path, source: &str, row_group_rows: usize, info: &RunInfo) -> Result<Self> {
        let io =
            |e: parquet::errors::ParquetError| Error::Io { path: path.to_path_buf(), err: std::io::Error::other(e) };
        let rows = Rows::new(&info.classes);
        let meta = [
            ("fer_rt.schema_version", SCHEMA_VERSION.to_string()),
            ("fer_rt.version", env!("CARGO_PKG_VERSION").to_string()),
            ("fer_rt.classifier", info.classifier.clone()),
            ("fer_rt.classes", serde_json::to_string(&info.classes).unwrap_or_default()),
            ("fer_rt.model_sha256", info.model_sha256.clone()),
            ("fer_rt.filter", info.filter.as_str().to_string()),
            ("fer_rt.source", source.to_string()),
        ];
        let row_group_rows = row_group_rows.max(1);
        let mut props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()))
            .set_statistics_enabled(EnabledStatistics::Chunk)
            .set_max_row_group_row_count(Some(row_group_rows))
            .set_key_value_metadata(Some(meta.into_iter().map(|(k, v)| KeyValue::new(k.into(), v)).collect()));
        for f in rows.schema.fields().iter().filter(|f| matches!(f.data_type(), DataType::Float32 | DataType::Float64))
        {
            let col = ColumnPath::from(f.name().as_str());
            props = props
                .set_column_dictionary_enabled(col.clone(), false)
                .set_column_encoding(col, Encoding::BYTE_STREAM_SPLIT);
        }
        let props = props.build();
        let file = File::create(path).map_err(|err| Error::Io { path: path.to_path_buf(), err })?;
        // no embedded Arrow IPC schema: 4 kB per file, and every reader rebuilds the same
        // types from the Parquet schema
        let options = ArrowWriterOptions::new().with_properties(props).with_skip_arrow_metadata(true);
        let writer = ArrowWriter::try_new_with_options(file, rows.schema.clone(), options).map_err(io)?;
        Ok(Self { path: path.to_path_buf(), row_group_rows, writer: Some(writer), rows })
    }

    fn io(&self, e: impl std::fmt::Display) -> Error {
        Error::Io { path: self.path.clone(), err: std::io::Error::other(e.to_string()) }
    }

    /// Writes the buffered rows as one row group.
    fn write_rows(&mut self) -> Result<()> {
        if self.rows.n == 0 {
            return Ok(());
        }
        let batch = self.rows.take()?;
        let r = self.writer.as_mut().map(|w| w.write(&batch).and_then(|_| w.flush()));
        r.transpose().map_err(|e| self.io(e)).map(|_| ())
    }
}

impl Sink for ParquetSink {
    fn write_frame(&mut self, frame: &FrameMsg, info: &RunInfo) -> Result<SinkStatus> {
        for f in &frame.faces {
            self.rows.push(frame, f, &info.classes);
        }
        if self.rows.n >= self.row_group_rows {
            self.write_rows()?;
        }
        Ok(SinkStatus::Continue)
    }

    fn finish(&mut self) -> Result<()> {
        self.write_rows()?;
        match self.writer.take() {
            Some(w) => w.close().map(|_| ()).map_err(|e| self.io(e)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::FilterKind;
    use crate::messages::{ClassOutput, Detection, FrameMeta, RgbImage, StageTimings};
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use std::time::Instant;

    fn info() -> RunInfo {
        RunInfo {
            classifier: "m".into(),
            classes: vec!["happy".into(), "sad".into()],
            filter: FilterKind::None,
            model_sha256: "ab".into(),
        }
    }

    fn frame(index: u64, faces: usize) -> FrameMsg {
        let mut face = Face::new(Detection { bbox: [1.0, 2.0, 3.0, 4.0], landmarks: [[5.0, 6.0]; 5], score: 0.9 });
        face.output = Some(ClassOutput::probs_only(&[0.25, 0.75]));
        FrameMsg {
            meta: FrameMeta {
                index,
                pts_ms: Some(index as f64),
                pts: None,
                dropped_before: 0,
                captured_at: Instant::now(),
                independent: false,
                file: None,
            },
            image: Arc::new(RgbImage::new(1, 1, vec![0; 3])),
            faces: vec![face; faces],
            timings: StageTimings::default(),
            track_events: Vec::new(),
            device: Default::default(),
        }
    }

    #[test]
    fn columns_are_the_csvs_with_landmarks_as_one_list() {
        let classes = info().classes;
        let names: Vec<String> = schema(&classes).fields().iter().map(|f| f.name().clone()).collect();
        let csv: Vec<String> =
            super::super::csv::columns(&classes).into_iter().filter(|c| !c.starts_with("lm")).collect();
        let mut want = csv.clone();
        want.insert(csv.iter().position(|c| c == "label").unwrap(), "landmarks".into());
        assert_eq!(names, want);
    }

    #[test]
    fn row_groups_are_bounded_and_every_row_is_written() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("x.parquet");
        let mut sink = ParquetSink::create(&path, "in.mp4", 4, &info()).unwrap();
        for i in 0..5 {
            sink.write_frame(&frame(i, 2), &info()).unwrap();
        }
        sink.finish().unwrap();
        let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        let meta = reader.metadata();
        assert_eq!(meta.file_metadata().num_rows(), 10);
        assert!(meta.row_groups().iter().all(|g| g.num_rows() <= 4), "row groups of at most 4 rows");
        let kv = meta.file_metadata().key_value_metadata().unwrap();
        assert!(kv.iter().any(|k| k.key == "fer_rt.source" && k.value.as_deref() == Some("in.mp4")));
    }
}
