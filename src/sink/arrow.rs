//! Results as Arrow record batches in memory: the Parquet sink's columns, types and
//! metadata (one row per face per frame), for a caller in the same process (the Python
//! package hands them to pyarrow or polars through the Arrow C stream interface, with no
//! file and no encoding in between). Batches are cut every `batch_rows` rows.
use super::parquet::{metadata, Rows};
use super::{RunInfo, Sink, SinkStatus};
use crate::error::Result;
use crate::messages::FrameMsg;
use arrow_array::RecordBatch;
use arrow_schema::Schema;
use std::sync::{Arc, Mutex};

/// Where the batches of a run collect; clone it before the sink goes into the pipeline.
pub type Batches = Arc<Mutex<Vec<RecordBatch>>>;

pub struct ArrowSink {
    rows: Rows,
    batch_rows: usize,
    source: String,
    out: Batches,
}

impl ArrowSink {
    pub fn new(info: &RunInfo, source: &str, batch_rows: usize, out: Batches) -> Self {
        let mut rows = Rows::new(&info.classes);
        let schema = Schema::clone(&rows.schema)
            .with_metadata(metadata(info, source).into_iter().collect::<std::collections::HashMap<String, String>>());
        rows.schema = Arc::new(schema);
        Self { rows, batch_rows: batch_rows.max(1), source: source.to_string(), out }
    }

    /// The schema every batch has (the metadata included).
    pub fn schema(&self) -> Arc<Schema> {
        self.rows.schema.clone()
    }

    fn cut(&mut self) -> Result<()> {
        if self.rows.n == 0 {
            return Ok(());
        }
        let batch = self.rows.take()?;
        self.out.lock().map_err(|_| crate::Error::StagePanic("sink"))?.push(batch);
        Ok(())
    }
}

impl Sink for ArrowSink {
    fn write_frame(&mut self, frame: &FrameMsg, info: &RunInfo) -> Result<SinkStatus> {
        for f in &frame.faces {
            self.rows.push(frame, f, info, &self.source);
        }
        if self.rows.n >= self.batch_rows {
            self.cut()?;
        }
        Ok(SinkStatus::Continue)
    }

    fn needs_pixels(&self) -> bool {
        false // rows of numbers
    }

    fn finish(&mut self) -> Result<()> {
        self.cut()
    }
}

#[cfg(test)]
mod tests {
    use super::super::parquet::tests::{frame, info};
    use super::*;

    #[test]
    fn batches_are_cut_by_rows_and_carry_the_parquet_columns_and_metadata() {
        let info = info();
        let out = Batches::default();
        let mut sink = ArrowSink::new(&info, "clip.mp4", 4, out.clone());
        for i in 0..5 {
            sink.write_frame(&frame(i, 2), &info).unwrap();
        }
        sink.write_frame(&frame(5, 0), &info).unwrap();
        sink.finish().unwrap();
        let batches = out.lock().unwrap();
        // 10 rows: cut when 4 were waiting, at the frame that brought them there
        assert_eq!(batches.iter().map(|b| b.num_rows()).collect::<Vec<_>>(), [4, 4, 2]);
        let schema = batches[0].schema();
        let plain = Schema::new(schema.fields().clone());
        assert_eq!(plain, super::super::parquet::schema(&info.classes));
        assert_eq!(schema.metadata()["fer_rt.model_sha256"], "ab");
        assert_eq!(schema.metadata()["fer_rt.source"], "clip.mp4");
    }
}
