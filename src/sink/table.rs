//! The flat per-face table that CSV and Parquet both write: one row per face per frame,
//! one list of columns ([`columns`]) and one function that fills a row ([`cells`]), so the
//! two formats cannot drift apart (Parquet is the same table with types). Every per-face
//! field of the JSON line has a column: the source, the frame and its time, the track, the
//! box and score, the five landmarks as ten numbers, the raw label and class
//! probabilities, valence/arousal with their standard deviations and source, every
//! uncertainty input (the model's own uncertainty and the ensemble disagreement included,
//! empty when absent), quality and confidence, and the filtered label, probabilities and
//! V/A.
use super::RunInfo;
use crate::messages::{Face, FrameMsg};
use crate::metrics::top_class;

/// A column's type in Parquet (CSV writes every cell as text, empty for none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int,
    /// 64-bit float (timestamps).
    Time,
    Float,
}

/// One cell of a row.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell<'a> {
    Text(Option<&'a str>),
    Int(Option<i64>),
    Time(Option<f64>),
    Float(Option<f32>),
}

/// Columns before the landmarks.
const FACE: [(&str, Kind); 9] = [
    ("source", Kind::Text),
    ("frame", Kind::Int),
    ("pts_ms", Kind::Time),
    ("track_id", Kind::Int),
    ("x1", Kind::Float),
    ("y1", Kind::Float),
    ("x2", Kind::Float),
    ("y2", Kind::Float),
    ("score", Kind::Float),
];
/// What the analysis stage adds, between `p_<class>` and `filtered_p_<class>`.
const ANALYSIS: [(&str, Kind); 19] = [
    ("valence", Kind::Float),
    ("arousal", Kind::Float),
    ("valence_std", Kind::Float),
    ("arousal_std", Kind::Float),
    ("va_source", Kind::Text),
    ("det_score", Kind::Float),
    ("face_px", Kind::Float),
    ("blur", Kind::Float),
    ("yaw_deg", Kind::Float),
    ("pitch_deg", Kind::Float),
    ("roll_deg", Kind::Float),
    ("entropy", Kind::Float),
    ("quality", Kind::Float),
    ("confidence", Kind::Float),
    ("model_uncertainty", Kind::Float),
    ("disagreement", Kind::Float),
    ("filtered_label", Kind::Text),
    ("filtered_confidence", Kind::Float),
    // placeholder name, replaced by the filtered class columns
    ("filtered_p_*", Kind::Float),
];
const FILTERED_VA: [&str; 4] = ["filtered_valence", "filtered_arousal", "filtered_valence_std", "filtered_arousal_std"];

/// Every column in order, with its type, for a classifier with these classes.
pub fn columns(classes: &[String]) -> Vec<(String, Kind)> {
    let mut cols: Vec<(String, Kind)> = FACE.iter().map(|(n, k)| (n.to_string(), *k)).collect();
    for i in 0..5 {
        cols.push((format!("lm{i}_x"), Kind::Float));
        cols.push((format!("lm{i}_y"), Kind::Float));
    }
    cols.push(("label".into(), Kind::Text));
    cols.push(("label_prob".into(), Kind::Float));
    cols.extend(classes.iter().map(|c| (format!("p_{c}"), Kind::Float)));
    for (n, k) in ANALYSIS {
        if n == "filtered_p_*" {
            cols.extend(classes.iter().map(|c| (format!("filtered_p_{c}"), Kind::Float)));
        } else {
            cols.push((n.to_string(), k));
        }
    }
    cols.extend(FILTERED_VA.iter().map(|n| (n.to_string(), Kind::Float)));
    // last, so that the columns of a run of one source keep their places
    cols.push(("stream".into(), Kind::Text));
    cols
}

/// The cells of face `f` of `frame`, in [`columns`] order. `source` names the input (a
/// folder of photos names each photo instead; in a run of several streams, the frame's
/// stream names its own source, and its name fills the `stream` column).
pub fn cells<'a>(frame: &'a FrameMsg, f: &'a Face, info: &'a RunInfo, source: &'a str) -> Vec<Cell<'a>> {
    let k = info.classes.len();
    let d = &f.detection;
    let stream = info.stream_of(frame);
    let source = stream.map_or(source, |s| s.source.as_str());
    let mut r = vec![
        Cell::Text(Some(frame.meta.file.as_deref().unwrap_or(source))),
        Cell::Int(Some(frame.meta.index as i64)),
        Cell::Time(frame.meta.pts_ms),
        Cell::Int(f.track_id.map(|t| t as i64)),
    ];
    r.extend(d.bbox.iter().chain([&d.score]).map(|v| Cell::Float(Some(*v))));
    r.extend(d.landmarks.iter().flat_map(|p| [Cell::Float(Some(p[0])), Cell::Float(Some(p[1]))]));
    match &f.output {
        Some(o) => {
            let (label, prob) = top_class(&info.classes, &o.probs);
            r.push(Cell::Text(label));
            r.push(Cell::Float(prob));
            r.extend((0..k).map(|i| Cell::Float(o.probs.get(i).copied())));
        }
        None => {
            r.push(Cell::Text(None));
            r.extend(std::iter::repeat_n(Cell::Float(None), 1 + k));
        }
    }
    match &f.analysis {
        Some(a) => {
            let (af, u, fl) = (&a.affect, &a.uncertainty, &a.filtered);
            r.extend(
                [af.valence, af.arousal, af.valence_var.sqrt(), af.arousal_var.sqrt()].map(|v| Cell::Float(Some(v))),
            );
            r.push(Cell::Text(Some(af.source.as_str())));
            r.extend(u.scores().map(|v| Cell::Float(Some(v))));
            r.push(Cell::Float(u.inputs.model));
            r.push(Cell::Float(u.inputs.disagreement));
            let (label, prob) = top_class(&info.classes, &fl.probs);
            r.push(Cell::Text(label));
            r.push(Cell::Float(prob));
            r.extend((0..k).map(|i| Cell::Float(fl.probs.get(i).copied())));
            r.extend([fl.valence, fl.arousal, fl.valence_std, fl.arousal_std].map(|v| Cell::Float(Some(v))));
        }
        None => {
            let n = ANALYSIS.len() - 1 + k + FILTERED_VA.len();
            // (the stream column follows)
            let kinds = columns(&info.classes);
            let start = r.len();
            r.extend(kinds[start..start + n].iter().map(|(_, kind)| match kind {
                Kind::Text => Cell::Text(None),
                _ => Cell::Float(None),
            }));
        }
    }
    r.push(Cell::Text(stream.map(|s| s.name.as_str())));
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::FilterKind;
    use crate::messages::{ClassOutput, Detection, FrameMeta, RgbImage};
    use std::sync::Arc;

    #[test]
    fn every_row_has_a_cell_of_the_right_kind_per_column() {
        let info = RunInfo {
            classifier: "m".into(),
            classes: vec!["happy".into(), "sad".into()],
            filter: FilterKind::None,
            model_sha256: String::new(),
            streams: Vec::new(),
        };
        let mut face = Face::new(Detection { bbox: [1.0, 2.0, 3.0, 4.0], landmarks: [[5.0, 6.0]; 5], score: 0.9 });
        let frame = FrameMsg::new(FrameMeta::new(3, Some(120.0), None), Arc::new(RgbImage::new(1, 1, vec![0; 3])));
        let cols = columns(&info.classes);
        for output in [None, Some(ClassOutput::probs_only(&[0.25, 0.75]))] {
            face.output = output;
            let row = cells(&frame, &face, &info, "in.mp4");
            assert_eq!(row.len(), cols.len());
            for (c, (name, kind)) in row.iter().zip(&cols) {
                let ok = matches!(
                    (c, kind),
                    (Cell::Text(_), Kind::Text)
                        | (Cell::Int(_), Kind::Int)
                        | (Cell::Time(_), Kind::Time)
                        | (Cell::Float(_), Kind::Float)
                );
                assert!(ok, "{name}: {c:?} for {kind:?}");
            }
            assert_eq!(row[0], Cell::Text(Some("in.mp4")));
        }
        let names: Vec<&str> = cols.iter().map(|(n, _)| n.as_str()).collect();
        for want in ["lm4_y", "p_sad", "model_uncertainty", "disagreement", "filtered_p_happy", "filtered_arousal_std"]
        {
            assert!(names.contains(&want), "{want}");
        }
    }
}
