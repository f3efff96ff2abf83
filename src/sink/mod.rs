//! Where results go. A sink sees every frame in order, once; a sink whose reader went
//! away (stdout closed by `| head`) says so and the pipeline winds down quietly.
pub mod arrow;
pub mod bench;
pub mod csv;
pub mod faces;
pub mod grid;
pub mod jsonl;
pub mod overlay;
pub mod parquet;
pub mod read;
pub mod table;
pub mod video;
pub mod window;

use crate::error::Result;
use crate::filter::FilterKind;
use crate::messages::{ClassifierSpec, FrameMsg};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SinkStatus {
    Continue,
    /// The reader is gone; stop without error.
    Closed,
}

/// What a sink needs to know about the run besides the frames.
#[derive(Clone, Debug)]
pub struct RunInfo {
    pub classifier: String,
    pub classes: Vec<String>,
    /// The temporal filter.
    pub filter: FilterKind,
    /// sha256 of the classifier's weights.
    pub model_sha256: String,
    /// The streams of a run of several sources (`live --source A --source B`), in the
    /// order `FrameMeta::stream` indexes; empty in a run of one source, whose outputs
    /// then carry no stream name.
    pub streams: Vec<StreamLabel>,
}

/// A stream's name (`--source NAME=URL`, or derived) and what it reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamLabel {
    pub name: String,
    pub source: String,
}

impl RunInfo {
    /// The name of the stream `frame` belongs to, in a run of several.
    pub fn stream_of(&self, frame: &FrameMsg) -> Option<&StreamLabel> {
        self.streams.get(frame.meta.stream)
    }
}

impl RunInfo {
    pub fn new(spec: &ClassifierSpec, filter: FilterKind) -> Self {
        Self {
            classifier: spec.name.clone(),
            classes: spec.classes.clone(),
            filter,
            model_sha256: spec.sha256.clone(),
            streams: Vec::new(),
        }
    }
}

pub trait Sink: Send {
    fn write_frame(&mut self, frame: &FrameMsg, info: &RunInfo) -> Result<SinkStatus>;
    /// Flushes and closes; called once at the end, also after errors.
    fn finish(&mut self) -> Result<()>;
    /// Whether the sink reads a frame's pixels (draws on it, crops from it). When no sink
    /// does, each frame's buffer goes back to the decoder as soon as its faces are aligned
    /// (the frame travels on as [`RgbImage::size_only`](crate::messages::RgbImage::size_only)),
    /// instead of riding through the classifier's and the tracker's queues: at 1080p that
    /// is most of the frames in flight (BENCHMARKS.md, issue 25: peak RSS 240-267 -> 199 MiB).
    fn needs_pixels(&self) -> bool {
        true
    }
}

/// A text stream (stdout) written frame by frame and flushed each time, so readers see
/// results live. A reader that went away (EPIPE, e.g. `| head`) closes it quietly.
pub struct StreamWriter<W: std::io::Write + Send> {
    out: W,
    closed: bool,
}

impl<W: std::io::Write + Send> StreamWriter<W> {
    pub fn new(out: W) -> Self {
        Self { out, closed: false }
    }

    pub fn write(&mut self, text: &str) -> Result<SinkStatus> {
        if self.closed {
            return Ok(SinkStatus::Closed);
        }
        // whole lines only: a forced exit waits for this lock (runtime::stop)
        let r = {
            let _line = crate::runtime::OUTPUT_LINE.lock();
            self.out.write_all(text.as_bytes()).and_then(|_| self.out.flush())
        };
        self.status(r)
    }

    pub fn flush(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        let r = self.out.flush();
        self.status(r).map(|_| ())
    }

    fn status(&mut self, r: std::io::Result<()>) -> Result<SinkStatus> {
        match r {
            Ok(()) => Ok(SinkStatus::Continue),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(SinkStatus::Closed)
            }
            Err(e) => Err(crate::error::Error::Output(e)),
        }
    }
}

/// Sends every frame to several sinks (e.g. JSON on stdout and an annotated video). When
/// one reports its reader gone (a closed pipe, a closed window) the run stops; every sink
/// is finished even if another fails.
pub struct Tee(pub Vec<Box<dyn Sink>>);

impl Sink for Tee {
    fn write_frame(&mut self, frame: &FrameMsg, info: &RunInfo) -> Result<SinkStatus> {
        let mut status = SinkStatus::Continue;
        for s in &mut self.0 {
            if s.write_frame(frame, info)? == SinkStatus::Closed {
                status = SinkStatus::Closed;
            }
        }
        Ok(status)
    }

    fn finish(&mut self) -> Result<()> {
        let mut first = Ok(());
        for s in &mut self.0 {
            let r = s.finish();
            if first.is_ok() {
                first = r;
            }
        }
        first
    }

    fn needs_pixels(&self) -> bool {
        self.0.iter().any(|s| s.needs_pixels())
    }
}

/// Sends each frame to the sink of its stream (`FrameMeta::stream`), in a run of several
/// sources: one annotated video per camera. A stream without a sink of its own passes by.
/// Every sink is finished even if another fails.
pub struct PerStream(pub Vec<Option<Box<dyn Sink>>>);

impl Sink for PerStream {
    fn write_frame(&mut self, frame: &FrameMsg, info: &RunInfo) -> Result<SinkStatus> {
        match self.0.get_mut(frame.meta.stream) {
            // one stream's output closing does not end the others
            Some(Some(s)) => s.write_frame(frame, info).map(|_| SinkStatus::Continue),
            _ => Ok(SinkStatus::Continue),
        }
    }

    fn finish(&mut self) -> Result<()> {
        let mut first = Ok(());
        for s in self.0.iter_mut().flatten() {
            let r = s.finish();
            if first.is_ok() {
                first = r;
            }
        }
        first
    }

    fn needs_pixels(&self) -> bool {
        self.0.iter().flatten().any(|s| s.needs_pixels())
    }
}
