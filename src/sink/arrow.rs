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

    fn finish(&mut self) -> Result<()> {
        self.cut()
    }
}
