//! JSON lines: one object per frame, flushed as soon as the frame is done so consumers see
//! a live stream. The schema is documented in README.md ("Output"); bump SCHEMA_VERSION
//! on any change to field names or meaning.
use super::{RunInfo, Sink, SinkStatus, StreamWriter};
use crate::error::Result;
use crate::filter::FilterKind;
use crate::messages::{elapsed_ms, AffectSource, Face, FrameMsg, TrackEvent, Uncertainty};
use crate::metrics::top_class;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use std::io::Write;

pub const SCHEMA_VERSION: u32 = 6;

#[derive(Serialize)]
struct FrameRecord<'a> {
    schema_version: u32,
    /// The stream's name, in a run of several sources (schema 6).
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<&'a str>,
    /// The image this frame is, when the input is a folder of photos.
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<&'a str>,
    frame: u64,
    pts_ms: Option<f64>,
    width: u32,
    height: u32,
    dropped_frames: u64,
    classifier: &'a str,
    filter: FilterKind,
    faces: Vec<FaceRecord<'a>>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    track_events: &'a [TrackEvent],
    timings_ms: Timings,
}

#[derive(Serialize)]
struct FaceRecord<'a> {
    track_id: Option<u64>,
    #[serde(rename = "box")]
    bbox: [f32; 4],
    landmarks: [[f32; 2]; 5],
    score: f32,
    expression: Option<Probs<'a>>,
    label: Option<&'a str>,
    label_prob: Option<f32>,
    valence: Option<f32>,
    arousal: Option<f32>,
    valence_std: Option<f32>,
    arousal_std: Option<f32>,
    va_source: Option<AffectSource>,
    uncertainty: Option<&'a Uncertainty>,
    filtered: Option<FilteredRecord<'a>>,
}

#[derive(Serialize)]
struct FilteredRecord<'a> {
    expression: Probs<'a>,
    label: Option<&'a str>,
    confidence: f32,
    valence: f32,
    arousal: f32,
    valence_std: f32,
    arousal_std: f32,
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
    batch_streams: usize,
    track: f64,
    latency: f64,
}

fn face_record<'a>(f: &'a Face, classes: &'a [String]) -> FaceRecord<'a> {
    let (expression, label, label_prob) = match &f.output {
        Some(o) => {
            let (label, prob) = top_class(classes, &o.probs);
            (Some(Probs(classes, &o.probs)), label, prob)
        }
        None => (None, None, None),
    };
    let a = f.analysis.as_ref();
    let filtered = a.map(|a| {
        let (label, prob) = top_class(classes, &a.filtered.probs);
        FilteredRecord {
            expression: Probs(classes, &a.filtered.probs),
            label,
            confidence: prob.unwrap_or(0.0),
            valence: a.filtered.valence,
            arousal: a.filtered.arousal,
            valence_std: a.filtered.valence_std,
            arousal_std: a.filtered.arousal_std,
        }
    });
    FaceRecord {
        track_id: f.track_id,
        bbox: f.detection.bbox,
        landmarks: f.detection.landmarks,
        score: f.detection.score,
        expression,
        label,
        label_prob,
        valence: a.map(|a| a.affect.valence),
        arousal: a.map(|a| a.affect.arousal),
        valence_std: a.map(|a| a.affect.valence_var.sqrt()),
        arousal_std: a.map(|a| a.affect.arousal_var.sqrt()),
        va_source: a.map(|a| a.affect.source),
        uncertainty: a.map(|a| &a.uncertainty),
        filtered,
    }
}

/// Serialises one frame as a JSON object (no newline).
pub fn to_json(frame: &FrameMsg, info: &RunInfo) -> String {
    let t = &frame.timings;
    let rec = FrameRecord {
        schema_version: SCHEMA_VERSION,
        stream: info.stream_of(frame).map(|s| s.name.as_str()),
        file: frame.meta.file.as_deref(),
        frame: frame.meta.index,
        pts_ms: frame.meta.pts_ms,
        width: frame.image.width,
        height: frame.image.height,
        dropped_frames: frame.meta.dropped_before,
        classifier: &info.classifier,
        filter: info.filter,
        track_events: &frame.track_events,
        faces: frame.faces.iter().map(|f| face_record(f, &info.classes)).collect(),
        timings_ms: Timings {
            decode: t.decode_ms,
            detect: t.detect_ms,
            align: t.align_ms,
            model: t.model_ms,
            batch_faces: t.batch_faces,
            batch_streams: t.batch_streams,
            track: t.track_ms,
            latency: elapsed_ms(frame.meta.captured_at),
        },
    };
    serde_json::to_string(&rec).expect("frame records always serialise")
}

pub struct JsonlSink<W: Write + Send>(StreamWriter<W>);

impl<W: Write + Send> JsonlSink<W> {
    pub fn new(out: W) -> Self {
        Self(StreamWriter::new(out))
    }
}

impl<W: Write + Send> Sink for JsonlSink<W> {
    fn write_frame(&mut self, frame: &FrameMsg, info: &RunInfo) -> Result<SinkStatus> {
        let mut line = to_json(frame, info);
        line.push('\n');
        self.0.write(&line)
    }

    fn needs_pixels(&self) -> bool {
        false // the JSON line carries the size only
    }

    fn finish(&mut self) -> Result<()> {
        self.0.flush()
    }
}
