//! CSV: one row per face per frame (frames without faces give no row), for spreadsheets
//! and pandas. The header names every column ([`sink::table`](super::table), the same
//! table Parquet writes); class probabilities are `p_<class>` (raw) and
//! `filtered_p_<class>`, in the classifier's class order.
use super::table::{self, Cell};
use super::{RunInfo, Sink, SinkStatus, StreamWriter};
use crate::error::Result;
use crate::messages::FrameMsg;
use std::io::Write;

pub struct CsvSink<W: Write + Send> {
    out: StreamWriter<W>,
    header_done: bool,
    source: String,
}

/// Quotes a field when it holds a comma, quote or newline.
pub(crate) fn field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The fields of one CSV line, the inverse of [`field`] (RFC 4180 quoting).
pub fn split_fields(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                if let Some(s) = out.last_mut() {
                    s.push('"');
                }
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(String::new()),
            _ => {
                if let Some(s) = out.last_mut() {
                    s.push(c);
                }
            }
        }
    }
    out
}

/// Every column name in order, for a classifier with these classes (see `sink::table`).
pub fn columns(classes: &[String]) -> Vec<String> {
    table::columns(classes).into_iter().map(|(n, _)| n).collect()
}

pub fn header(info: &RunInfo) -> String {
    columns(&info.classes).iter().map(|c| field(c)).collect::<Vec<_>>().join(",")
}

fn text(c: &Cell) -> String {
    match c {
        Cell::Text(v) => v.map(field).unwrap_or_default(),
        Cell::Int(v) => v.map(|v| v.to_string()).unwrap_or_default(),
        Cell::Time(v) => v.map(|v| v.to_string()).unwrap_or_default(),
        Cell::Float(v) => v.map(|v| v.to_string()).unwrap_or_default(),
    }
}

pub fn rows(frame: &FrameMsg, info: &RunInfo, source: &str) -> Vec<String> {
    frame
        .faces
        .iter()
        .map(|f| table::cells(frame, f, info, source).iter().map(text).collect::<Vec<_>>().join(","))
        .collect()
}

impl<W: Write + Send> CsvSink<W> {
    /// `source` names the input in every row's `source` column.
    pub fn new(out: W, source: &str) -> Self {
        Self { out: StreamWriter::new(out), header_done: false, source: source.to_string() }
    }
}

impl<W: Write + Send> Sink for CsvSink<W> {
    fn write_frame(&mut self, frame: &FrameMsg, info: &RunInfo) -> Result<SinkStatus> {
        let mut text = String::new();
        if !self.header_done {
            text += &header(info);
            text.push('\n');
            self.header_done = true;
        }
        for row in rows(frame, info, &self.source) {
            text += &row;
            text.push('\n');
        }
        self.out.write(&text)
    }

    fn needs_pixels(&self) -> bool {
        false // rows of numbers
    }

    fn finish(&mut self) -> Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::FilterKind;

    #[test]
    fn csv_fields_follow_rfc4180() {
        assert_eq!(split_fields("a,\"b,c\",\"d\"\"e\","), ["a", "b,c", "d\"e", ""]);
    }

    #[test]
    fn fields_with_commas_are_quoted() {
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("x\"y,z"), "\"x\"\"y,z\"");
    }

    #[test]
    fn header_names_classes_in_order() {
        let info = RunInfo {
            classifier: "m".into(),
            classes: vec!["happy".into(), "sad".into()],
            filter: FilterKind::None,
            model_sha256: String::new(),
            streams: Vec::new(),
        };
        let h = header(&info);
        assert!(h.starts_with("source,frame,pts_ms,track_id,"));
        assert!(h.contains(",p_happy,p_sad,"));
        assert!(h.ends_with("filtered_valence_std,filtered_arousal_std,stream"), "the stream column last: {h}");
    }
}
