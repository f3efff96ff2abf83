//! JSON lines: one object per frame, flushed as soon as the frame is done so consumers see
//! a live stream. The schema is documented in README.md ("Output"); bump SCHEMA_VERSION
//! on any change to field names or meaning.
use super::{RunInfo, Sink, SinkStatus};
use crate::error::{Error, Result};
use crate::messages::{elapsed_ms, Face, FrameMsg};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use std::io::{ErrorKind, Write};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct FrameRecord<'a> {
    schema_version: u32,
    frame: u64,
    pts_ms: Option<f64>,
    width: u32,
    height: u32,
    classifier: &'a str,
    faces: Vec<FaceRecord<'a>>,
    timings_ms: Timings,
}

#[derive(Serialize)]
struct FaceRecord<'a> {
    #[serde(rename = "box")]
    bbox: [f32; 4],
    landmarks: [[f32; 2]; 5],
    score: f32,
    expression: Option<Probs<'a>>,
    label: Option<&'a str>,
    label_prob: Option<f32>,
}

/// Class probabilities as an object in the classifier's class order.
struct Probs<'a>(&'a [String], &'a [f32]);

impl Serialize for Probs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0.iter().zip(self.1) {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

#[derive(Serialize)]
struct Timings {
    decode: f64,
    detect: f64,
    align: f64,
    model: f64,
    batch_faces: usize,
    latency: f64,
}

fn face_record<'a>(f: &'a Face, classes: &'a [String]) -> FaceRecord<'a> {
    let (expression, label, label_prob) = match &f.output {
        Some(o) => {
            let (i, p) = o.probs.iter().enumerate().fold((0, f32::MIN), |b, (i, &p)| if p > b.1 { (i, p) } else { b });
            (Some(Probs(classes, &o.probs)), classes.get(i).map(String::as_str), Some(p))
        }
        None => (None, None, None),
    };
    FaceRecord { bbox: f.detection.bbox, landmarks: f.detection.landmarks, score: f.detection.score, expression, label, label_prob }
}

/// Serialises one frame as a JSON object (no newline).
pub fn to_json(frame: &FrameMsg, info: &RunInfo) -> String {
    let t = &frame.timings;
    let rec = FrameRecord {
        schema_version: SCHEMA_VERSION,
        frame: frame.meta.index,
        pts_ms: frame.meta.pts_ms,
        width: frame.image.width,
        height: frame.image.height,
        classifier: &info.classifier,
        faces: frame.faces.iter().map(|f| face_record(f, &info.classes)).collect(),
        timings_ms: Timings {
            decode: t.decode_ms,
            detect: t.detect_ms,
            align: t.align_ms,
            model: t.model_ms,
            batch_faces: t.batch_faces,
            latency: elapsed_ms(frame.meta.captured_at),
        },
    };
    serde_json::to_string(&rec).expect("frame records always serialise")
}

pub struct JsonlSink<W: Write + Send> {
    out: W,
    closed: bool,
}

impl<W: Write + Send> JsonlSink<W> {
    pub fn new(out: W) -> Self {
        Self { out, closed: false }
    }

    fn io(&mut self, r: std::io::Result<()>) -> Result<SinkStatus> {
        match r {
            Ok(()) => Ok(SinkStatus::Continue),
            Err(e) if e.kind() == ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(SinkStatus::Closed)
            }
            Err(e) => Err(Error::Output(e)),
        }
    }
}

impl<W: Write + Send> Sink for JsonlSink<W> {
    fn write_frame(&mut self, frame: &FrameMsg, info: &RunInfo) -> Result<SinkStatus> {
        if self.closed {
            return Ok(SinkStatus::Closed);
        }
        let mut line = to_json(frame, info);
        line.push('\n');
        let r = self.out.write_all(line.as_bytes()).and_then(|_| self.out.flush());
        self.io(r)
    }

    fn finish(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        let r = self.out.flush();
        self.io(r).map(|_| ())
    }
}
