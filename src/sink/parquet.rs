//! Parquet: one row per face per frame, exactly the CSV's columns (`sink::table`) with
//! types (frame and track ids as int64, pts_ms as float64, every other number as float32,
//! the landmarks as ten columns, text as UTF-8), for pandas, polars, DuckDB and Spark. The file explains itself: its key-value metadata
//! holds the schema version, the classifier, its class order, the weights' sha256, the
//! filter and the input. Rows are written in row groups of a bounded size, so memory stays
//! flat on hour-long inputs. Float columns are stored byte-stream-split and zstd-compressed
//! (the smallest encoding for noisy floats that pandas, polars, DuckDB and Spark all read),
//! with chunk-level statistics only, so a short clip's file is not mostly footer.
use super::jsonl::SCHEMA_VERSION;
use super::table::{cells, columns, Cell, Kind};
use super::{RunInfo, Sink, SinkStatus};
use crate::error::{Error, Result};
use crate::messages::{Face, FrameMsg};
use arrow_array::builder::{Float32Builder, Float64Builder, Int64Builder, StringBuilder};
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
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub struct ParquetSink<W: Write + Send = File> {
    /// Where the bytes go, for messages.
    path: PathBuf,
    row_group_rows: usize,
    /// None once closed.
    writer: Option<ArrowWriter<W>>,
    rows: Rows,
    source: String,
}

/// A typed column builder of the table (see `sink::table`).
enum Builder {
    Text(StringBuilder),
    Int(Int64Builder),
    Time(Float64Builder),
    Float(Float32Builder),
}

impl Builder {
    fn new(kind: Kind) -> Self {
        match kind {
            Kind::Text => Builder::Text(StringBuilder::new()),
            Kind::Int => Builder::Int(Int64Builder::new()),
            Kind::Time => Builder::Time(Float64Builder::new()),
            Kind::Float => Builder::Float(Float32Builder::new()),
        }
    }

    fn push(&mut self, c: &Cell) {
        match (self, c) {
            (Builder::Text(b), Cell::Text(v)) => b.append_option(*v),
            (Builder::Int(b), Cell::Int(v)) => b.append_option(*v),
            (Builder::Time(b), Cell::Time(v)) => b.append_option(*v),
            (Builder::Float(b), Cell::Float(v)) => b.append_option(*v),
            (b, _) => b.push_null(),
        }
    }

    fn push_null(&mut self) {
        match self {
            Builder::Text(b) => b.append_null(),
            Builder::Int(b) => b.append_null(),
            Builder::Time(b) => b.append_null(),
            Builder::Float(b) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Text(b) => Arc::new(b.finish()),
            Builder::Int(b) => Arc::new(b.finish()),
            Builder::Time(b) => Arc::new(b.finish()),
            Builder::Float(b) => Arc::new(b.finish()),
        }
    }
}

/// Column builders of the rows not yet written (also `sink::arrow`'s).
pub(crate) struct Rows {
    pub(crate) schema: Arc<Schema>,
    pub(crate) n: usize,
    columns: Vec<Builder>,
}

/// The Arrow schema for a classifier's classes: the CSV's columns with their types.
pub fn schema(classes: &[String]) -> Schema {
    let fields: Vec<Field> = columns(classes)
        .into_iter()
        .map(|(name, kind)| {
            let t = match kind {
                Kind::Text => DataType::Utf8,
                Kind::Int => DataType::Int64,
                Kind::Time => DataType::Float64,
                Kind::Float => DataType::Float32,
            };
            // the frame number is always there; everything else may be missing
            Field::new(name.clone(), t, name != "frame")
        })
        .collect();
    Schema::new(fields)
}

/// What a table of results says about itself: the key-value metadata of the Parquet file
/// and of the Arrow schema (`sink::arrow`).
pub fn metadata(info: &RunInfo, source: &str) -> Vec<(String, String)> {
    [
        ("fer_rt.schema_version", SCHEMA_VERSION.to_string()),
        ("fer_rt.version", env!("CARGO_PKG_VERSION").to_string()),
        ("fer_rt.classifier", info.classifier.clone()),
        ("fer_rt.classes", serde_json::to_string(&info.classes).unwrap_or_default()),
        ("fer_rt.model_sha256", info.model_sha256.clone()),
        ("fer_rt.filter", info.filter.as_str().to_string()),
        ("fer_rt.source", source.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

impl Rows {
    pub(crate) fn new(classes: &[String]) -> Self {
        let columns = columns(classes).into_iter().map(|(_, k)| Builder::new(k)).collect();
        Self { schema: Arc::new(schema(classes)), n: 0, columns }
    }

    pub(crate) fn push(&mut self, frame: &FrameMsg, f: &Face, info: &RunInfo, source: &str) {
        for (b, c) in self.columns.iter_mut().zip(cells(frame, f, info, source)) {
            b.push(&c);
        }
        self.n += 1;
    }

    /// The buffered rows as one batch, in schema order; the builders start empty again.
    pub(crate) fn take(&mut self) -> Result<RecordBatch> {
        let cols: Vec<ArrayRef> = self.columns.iter_mut().map(Builder::finish).collect();
        self.n = 0;
        RecordBatch::try_new(self.schema.clone(), cols)
            .map_err(|e| Error::Output(std::io::Error::other(format!("parquet batch: {e}"))))
    }
}

impl ParquetSink<File> {
    /// Creates `path` for a run of the classifier `info` describes; `source` (the input's
    /// name) goes into the file's metadata with the model's identity.
    pub fn create(path: &Path, source: &str, row_group_rows: usize, info: &RunInfo) -> Result<Self> {
        let file = File::create(path).map_err(|err| Error::Io { path: path.to_path_buf(), err })?;
        ParquetSink::to_writer(file, path, source, row_group_rows, info)
    }
}

impl<W: Write + Send> ParquetSink<W> {
    /// Writes the file into `out` (standard output for `process --format parquet`); `name`
    /// names it in messages.
    pub fn to_writer(out: W, name: &Path, source: &str, row_group_rows: usize, info: &RunInfo) -> Result<Self> {
        let path = name;
        let io =
            |e: parquet::errors::ParquetError| Error::Io { path: path.to_path_buf(), err: std::io::Error::other(e) };
        let rows = Rows::new(&info.classes);
        let meta = metadata(info, source);
        let row_group_rows = row_group_rows.max(1);
        let mut props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()))
            .set_statistics_enabled(EnabledStatistics::Chunk)
            .set_max_row_group_row_count(Some(row_group_rows))
            .set_key_value_metadata(Some(meta.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect()));
        for f in rows.schema.fields().iter().filter(|f| matches!(f.data_type(), DataType::Float32 | DataType::Float64))
        {
            let col = ColumnPath::from(f.name().as_str());
            props = props
                .set_column_dictionary_enabled(col.clone(), false)
                .set_column_encoding(col, Encoding::BYTE_STREAM_SPLIT);
        }
        let props = props.build();
        // no embedded Arrow IPC schema: 4 kB per file, and every reader rebuilds the same
        // types from the Parquet schema
        let options = ArrowWriterOptions::new().with_properties(props).with_skip_arrow_metadata(true);
        let writer = ArrowWriter::try_new_with_options(out, rows.schema.clone(), options).map_err(io)?;
        Ok(Self { path: path.to_path_buf(), row_group_rows, writer: Some(writer), rows, source: source.to_string() })
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

impl<W: Write + Send> Sink for ParquetSink<W> {
    fn write_frame(&mut self, frame: &FrameMsg, info: &RunInfo) -> Result<SinkStatus> {
        for f in &frame.faces {
            self.rows.push(frame, f, info, &self.source);
        }
        if self.rows.n >= self.row_group_rows {
            self.write_rows()?;
        }
        Ok(SinkStatus::Continue)
    }

    fn needs_pixels(&self) -> bool {
        false // rows of numbers
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
pub(crate) mod tests {
    use super::*;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    pub(crate) use testing::{frame, info};

    /// A run of a two-class model, and frames with `faces` identical faces: what the table
    /// sinks' tests (here and `sink::arrow`) write.
    pub(crate) mod testing {
        use crate::filter::FilterKind;
        use crate::messages::{ClassOutput, Detection, Face, FrameMeta, FrameMsg, RgbImage};
        use crate::sink::RunInfo;
        use std::sync::Arc;

        pub(crate) fn info() -> RunInfo {
            RunInfo {
                classifier: "m".into(),
                classes: vec!["happy".into(), "sad".into()],
                filter: FilterKind::None,
                model_sha256: "ab".into(),
                streams: Vec::new(),
            }
        }

        pub(crate) fn frame(index: u64, faces: usize) -> FrameMsg {
            let mut face = Face::new(Detection { bbox: [1.0, 2.0, 3.0, 4.0], landmarks: [[5.0, 6.0]; 5], score: 0.9 });
            face.output = Some(ClassOutput::probs_only(&[0.25, 0.75]));
            let meta = FrameMeta::new(index, Some(index as f64), None);
            FrameMsg { faces: vec![face; faces], ..FrameMsg::new(meta, Arc::new(RgbImage::new(1, 1, vec![0; 3]))) }
        }
    }

    #[test]
    fn columns_are_the_csvs() {
        let classes = info().classes;
        let names: Vec<String> = schema(&classes).fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names, super::super::csv::columns(&classes));
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
