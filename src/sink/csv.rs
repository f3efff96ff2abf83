//! CSV: one row per face per frame (frames without faces give no row), for spreadsheets
//! and pandas. The header names every column; class probabilities are `p_<class>` (raw)
//! and `filtered_p_<class>`, in the classifier's class order.
use super::{RunInfo, Sink, SinkStatus, StreamWriter};
use crate::error::Result;
use crate::messages::FrameMsg;
use crate::metrics::top_class;
use std::io::Write;

pub struct CsvSink<W: Write + Send> {
    out: StreamWriter<W>,
    header_done: bool,
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

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// Columns before the landmarks.
pub(crate) const FACE_COLUMNS: [&str; 8] = ["frame", "pts_ms", "track_id", "x1", "y1", "x2", "y2", "score"];
/// The raw label columns, before `p_<class>`.
pub(crate) const LABEL_COLUMNS: [&str; 2] = ["label", "label_prob"];
/// What the analysis stage adds, before `filtered_p_<class>`.
pub(crate) const ANALYSIS_COLUMNS: [&str; 17] = [
    "valence",
    "arousal",
    "valence_std",
    "arousal_std",
    "va_source",
    "det_score",
    "face_px",
    "blur",
    "yaw_deg",
    "pitch_deg",
    "roll_deg",
    "entropy",
    "quality",
    "confidence",
    "disagreement",
    "filtered_label",
    "filtered_confidence",
];
/// After `filtered_p_<class>`.
pub(crate) const FILTERED_VA_COLUMNS: [&str; 4] =
    ["filtered_valence", "filtered_arousal", "filtered_valence_std", "filtered_arousal_std"];

/// Every column name in order, for a classifier with these classes.
pub fn columns(classes: &[String]) -> Vec<String> {
    let mut cols: Vec<String> = FACE_COLUMNS.map(String::from).to_vec();
    for i in 0..5 {
        cols.push(format!("lm{i}_x"));
        cols.push(format!("lm{i}_y"));
    }
    cols.extend(LABEL_COLUMNS.map(String::from));
    cols.extend(classes.iter().map(|c| format!("p_{c}")));
    cols.extend(ANALYSIS_COLUMNS.map(String::from));
    cols.extend(classes.iter().map(|c| format!("filtered_p_{c}")));
    cols.extend(FILTERED_VA_COLUMNS.map(String::from));
    cols
}

pub fn header(info: &RunInfo) -> String {
    columns(&info.classes).iter().map(|c| field(c)).collect::<Vec<_>>().join(",")
}

pub fn rows(frame: &FrameMsg, info: &RunInfo) -> Vec<String> {
    let k = info.classes.len();
    frame
        .faces
        .iter()
        .map(|f| {
            let d = &f.detection;
            let mut r: Vec<String> = vec![frame.meta.index.to_string(), opt(frame.meta.pts_ms), opt(f.track_id)];
            r.extend(d.bbox.iter().map(|v| v.to_string()));
            r.push(d.score.to_string());
            r.extend(d.landmarks.iter().flat_map(|p| [p[0].to_string(), p[1].to_string()]));
            match &f.output {
                Some(o) => {
                    let (label, prob) = top_class(&info.classes, &o.probs);
                    r.push(field(label.unwrap_or("")));
                    r.push(opt(prob));
                    r.extend(o.probs.iter().map(|p| p.to_string()));
                }
                None => r.extend(std::iter::repeat_n(String::new(), LABEL_COLUMNS.len() + k)),
            }
            match &f.analysis {
                Some(a) => {
                    let (af, u, fl) = (&a.affect, &a.uncertainty, &a.filtered);
                    r.extend(
                        [af.valence, af.arousal, af.valence_var.sqrt(), af.arousal_var.sqrt()].map(|v| v.to_string()),
                    );
                    r.push(af.source.as_str().to_string());
                    r.extend(u.scores().map(|v| v.to_string()));
                    r.push(opt(u.inputs.disagreement));
                    let (label, prob) = top_class(&info.classes, &fl.probs);
                    r.push(field(label.unwrap_or("")));
                    r.push(opt(prob));
                    r.extend(fl.probs.iter().map(|p| p.to_string()));
                    r.extend([fl.valence, fl.arousal, fl.valence_std, fl.arousal_std].map(|v| v.to_string()));
                }
                None => {
                    r.extend(std::iter::repeat_n(String::new(), ANALYSIS_COLUMNS.len() + k + FILTERED_VA_COLUMNS.len()))
                }
            }
            r.join(",")
        })
        .collect()
}

impl<W: Write + Send> CsvSink<W> {
    pub fn new(out: W) -> Self {
        Self { out: StreamWriter::new(out), header_done: false }
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
        for row in rows(frame, info) {
            text += &row;
            text.push('\n');
        }
        self.out.write(&text)
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
        };
        let h = header(&info);
        assert!(h.contains(",p_happy,p_sad,"));
        assert!(h.ends_with("filtered_valence_std,filtered_arousal_std"));
    }
}
