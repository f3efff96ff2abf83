//! `fer-rt summary PATH...`: what a run's results hold, per input, per track and overall:
//! frames, faces, the distribution of the expression label, mean valence and arousal. A
//! PATH is a `batch` output folder (its ledger lists the finished inputs, and each input's
//! first readable output is read: Parquet, then JSON lines, then CSV) or one output file of
//! `process` (`.jsonl`, `.csv`, `.parquet`). Labels and V/A are the filtered ones unless
//! `raw` is asked for; the summary says which it counted.
use super::ledger::{self, Record, Status};
use crate::error::{Error, Result};
use crate::sink::read::{self, Results};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Which label and V/A a summary counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Counted {
    /// The temporal filter's (`filtered.label`, `filtered.valence`, ...): the default.
    Filtered,
    /// Each frame's own.
    Raw,
}

/// One face of one frame, as a summary needs it (names borrowed from the results).
#[derive(Clone, Debug, Default, PartialEq)]
struct Row<'a> {
    frame: u64,
    pts_ms: Option<f64>,
    stream: Option<&'a str>,
    track_id: Option<u64>,
    label: Option<&'a str>,
    valence: Option<f32>,
    arousal: Option<f32>,
}

/// Label counts and V/A means of a set of faces.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Tally {
    pub frames: u64,
    pub faces: u64,
    /// Faces per label (faces without a classifier output are not counted).
    pub labels: BTreeMap<String, u64>,
    pub mean_valence: Option<f64>,
    pub mean_arousal: Option<f64>,
    #[serde(skip)]
    sums: (f64, f64, u64),
}

impl Tally {
    fn add(&mut self, label: Option<&str>, valence: Option<f32>, arousal: Option<f32>) {
        self.faces += 1;
        if let Some(l) = label {
            match self.labels.get_mut(l) {
                Some(n) => *n += 1,
                None => {
                    self.labels.insert(l.to_string(), 1);
                }
            }
        }
        if let (Some(v), Some(a)) = (valence, arousal) {
            self.sums.0 += v as f64;
            self.sums.1 += a as f64;
            self.sums.2 += 1;
        }
    }

    fn absorb(&mut self, o: &Tally) {
        self.frames += o.frames;
        self.faces += o.faces;
        for (k, v) in &o.labels {
            *self.labels.entry(k.clone()).or_default() += v;
        }
        self.sums.0 += o.sums.0;
        self.sums.1 += o.sums.1;
        self.sums.2 += o.sums.2;
        self.close();
    }

    fn close(&mut self) {
        let n = self.sums.2 as f64;
        self.mean_valence = (self.sums.2 > 0).then(|| self.sums.0 / n);
        self.mean_arousal = (self.sums.2 > 0).then(|| self.sums.1 / n);
    }

    /// The most frequent label (the first by name on ties).
    pub fn dominant(&self) -> Option<&str> {
        self.labels.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map(|(k, _)| k.as_str())
    }
}

/// One track of one input.
#[derive(Clone, Debug, Serialize)]
pub struct Track {
    /// The stream the track is in (runs of several sources; a track id is per stream).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    pub track_id: u64,
    pub first_frame: u64,
    pub last_frame: u64,
    /// Seconds from its first to its last face (None without timestamps).
    pub seconds: Option<f64>,
    #[serde(flatten)]
    pub tally: Tally,
    /// Times the counted label changed from one face of the track to its next.
    pub flips: u64,
    /// `flips` per minute of `seconds` (None for a track of one instant).
    pub flips_per_minute: Option<f64>,
    #[serde(skip)]
    pts: (Option<f64>, Option<f64>),
    #[serde(skip)]
    last_label: Option<String>,
    /// The track's faces: their indices in the rows summarised (the results' faces), in
    /// file order.
    #[serde(skip)]
    rows: Vec<usize>,
}

impl Track {
    /// Indices of the track's faces in the results it was summarised from, in file order
    /// (what `report` draws, grouped once, here).
    pub fn rows(&self) -> &[usize] {
        &self.rows
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Video {
    pub key: String,
    pub input: String,
    /// The output the figures were read from.
    pub read_from: String,
    #[serde(flatten)]
    pub tally: Tally,
    pub tracks: Vec<Track>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Failed {
    pub key: String,
    pub input: String,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Which labels and V/A were counted.
    pub counted: Counted,
    pub videos: Vec<Video>,
    pub overall: Tally,
    pub failed: Vec<Failed>,
}

/// Summarises `paths`: batch folders and single output files, in the order given.
pub fn summarise_paths(paths: &[&Path], counted: Counted) -> Result<Summary> {
    let mut s = Summary { counted, videos: Vec::new(), overall: Tally::default(), failed: Vec::new() };
    for p in paths {
        if p.is_dir() {
            summarise_folder(p, counted, &mut s)?;
        } else {
            let name = p.display().to_string();
            let r = read_results(p)?;
            // the input the run read, when the table names it (CSV, Parquet)
            let input = r.source.clone().unwrap_or_else(|| name.clone());
            let v = summarise_results(&name, &input, &name, &r, None, counted);
            s.overall.absorb(&v.tally);
            s.videos.push(v);
        }
    }
    s.overall.close();
    Ok(s)
}

fn summarise_folder(dir: &Path, counted: Counted, s: &mut Summary) -> Result<()> {
    let records = ledger::read_all(dir)?;
    if records.is_empty() {
        return Err(Error::NotResults {
            path: dir.to_path_buf(),
            why: "a folder, but no batch ledger (_manifest*.jsonl) in it, so no results; give `process` outputs (.jsonl, .csv, .parquet) as files".into(),
        });
    }
    for r in records.values() {
        if r.status != Status::Ok {
            s.failed.push(Failed { key: r.key.clone(), input: r.input.clone(), error: r.error.clone() });
            continue;
        }
        let o = output_of(dir, r)?;
        let results = read_results(&dir.join(&o))?;
        let v = summarise_results(&r.key, &r.input, &o, &results, Some(r.frames), counted);
        s.overall.absorb(&v.tally);
        s.videos.push(v);
    }
    Ok(())
}

/// One input's summary from results already read: what `report` shows beside its figures,
/// counted by the same code as `summary`. `frames` when the ledger knows them.
pub fn summarise_results(
    key: &str,
    input: &str,
    read_from: &str,
    results: &Results,
    frames: Option<u64>,
    counted: Counted,
) -> Video {
    let frames = frames.or(results.all_frames.then(|| results.frame_count()));
    video(key.to_string(), input.to_string(), read_from.to_string(), &rows_of(results, counted), frames)
}

/// One input's tally and tracks from its rows (in frame order); `frames` when the source
/// knows them (the ledger, JSON lines), else through the last frame with a face.
fn video(key: String, input: String, read_from: String, rows: &[Row], frames: Option<u64>) -> Video {
    let mut tally = Tally::default();
    let mut tracks: BTreeMap<(Option<&str>, u64), Track> = BTreeMap::new();
    let mut last = None;
    for (i, r) in rows.iter().enumerate() {
        tally.add(r.label, r.valence, r.arousal);
        last = last.max(Some(r.frame));
        if let Some(id) = r.track_id {
            let t = tracks.entry((r.stream, id)).or_insert_with(|| Track {
                stream: r.stream.map(String::from),
                track_id: id,
                first_frame: r.frame,
                last_frame: r.frame,
                seconds: None,
                tally: Tally::default(),
                flips: 0,
                flips_per_minute: None,
                pts: (r.pts_ms, r.pts_ms),
                last_label: None,
                rows: Vec::new(),
            });
            t.rows.push(i);
            if let Some(l) = r.label {
                if t.last_label.as_deref() != Some(l) {
                    t.flips += u64::from(t.last_label.is_some());
                    t.last_label = Some(l.to_string());
                }
            }
            t.first_frame = t.first_frame.min(r.frame);
            t.last_frame = t.last_frame.max(r.frame);
            t.pts.0 = match (t.pts.0, r.pts_ms) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            t.pts.1 = match (t.pts.1, r.pts_ms) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            t.tally.add(r.label, r.valence, r.arousal);
        }
    }
    tally.frames = frames.unwrap_or_else(|| last.map_or(0, |l| l + 1));
    tally.close();
    let tracks = tracks
        .into_values()
        .map(|mut t| {
            t.tally.frames = t.tally.faces;
            t.tally.close();
            t.seconds = t.pts.0.zip(t.pts.1).map(|(a, b)| (b - a) / 1e3);
            t.flips_per_minute = t.seconds.filter(|s| *s > 0.0).map(|s| t.flips as f64 / (s / 60.0));
            t
        })
        .collect();
    Video { key, input, read_from, tally, tracks }
}

/// The output of a finished batch input that a summary or report reads: Parquet, then JSON
/// lines, then CSV.
pub fn output_of(dir: &Path, r: &Record) -> Result<String> {
    let pick = |ext: &str| r.outputs.iter().find(|o| o.ends_with(ext)).cloned();
    pick(".parquet").or_else(|| pick(".jsonl")).or_else(|| pick(".csv")).ok_or_else(|| Error::NotResults {
        path: dir.join(&r.key),
        why: "no Parquet, JSON lines or CSV output to read".into(),
    })
}

/// One output file (`sink::read`), warning about what it skipped.
fn read_results(path: &Path) -> Result<Results> {
    let r = read::read(path)?;
    for w in &r.warnings {
        tracing::warn!("{w}");
    }
    Ok(r)
}

/// The counted label and V/A of each face of `r`.
fn rows_of(r: &Results, counted: Counted) -> Vec<Row<'_>> {
    r.faces
        .iter()
        .map(|f| {
            let (label, valence, arousal) = match counted {
                Counted::Filtered => (f.filtered_label, f.filtered_valence, f.filtered_arousal),
                Counted::Raw => (f.label, f.valence, f.arousal),
            };
            Row {
                frame: f.frame,
                pts_ms: f.pts_ms,
                stream: f.stream.map(|s| r.streams[s as usize].as_str()),
                track_id: f.track_id,
                label: r.label_name(label),
                valence,
                arousal,
            }
        })
        .collect()
}

/// The summary as a table for people.
pub fn table(s: &Summary) -> String {
    let mut out = String::new();
    let dist = |t: &Tally| {
        let n: u64 = t.labels.values().sum();
        let mut v: Vec<(&String, &u64)> = t.labels.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        v.iter()
            .map(|(k, c)| format!("{k} {:.0}%", 100.0 * **c as f64 / n.max(1) as f64))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let va = |x: Option<f64>| x.map(|v| format!("{v:+.2}")).unwrap_or_else(|| "-".into());
    out += &format!(
        "labels and V/A: {}\n",
        match s.counted {
            Counted::Filtered => "filtered (the temporal filter's; --raw for each frame's own)",
            Counted::Raw => "raw (each frame's own)",
        }
    );
    out += &format!("{:<40} {:>8} {:>8} {:>7} {:>7}  labels\n", "input / track", "frames", "faces", "V", "A");
    for v in &s.videos {
        let t = &v.tally;
        out += &format!(
            "{:<40} {:>8} {:>8} {:>7} {:>7}  {}\n",
            v.key,
            t.frames,
            t.faces,
            va(t.mean_valence),
            va(t.mean_arousal),
            dist(t)
        );
        for tr in &v.tracks {
            let span = tr.seconds.map(|s| format!(", {s:.1} s")).unwrap_or_default();
            let stream = tr.stream.as_ref().map(|s| format!("{s}/")).unwrap_or_default();
            let flips = tr.flips_per_minute.map(|f| format!("; {f:.1} flips/min")).unwrap_or_default();
            out += &format!(
                "{:<40} {:>8} {:>8} {:>7} {:>7}  {}{flips}\n",
                format!("  {stream}track {} (frames {}-{}{span})", tr.track_id, tr.first_frame, tr.last_frame),
                "",
                tr.tally.faces,
                va(tr.tally.mean_valence),
                va(tr.tally.mean_arousal),
                dist(&tr.tally)
            );
        }
    }
    let o = &s.overall;
    out += &format!(
        "{:<40} {:>8} {:>8} {:>7} {:>7}  {}\n",
        format!("all ({} inputs)", s.videos.len()),
        o.frames,
        o.faces,
        va(o.mean_valence),
        va(o.mean_arousal),
        dist(o)
    );
    for f in &s.failed {
        out += &format!("failed: {} ({})\n", f.key, f.error.as_deref().unwrap_or("no error recorded"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_count_labels_and_average_va() {
        let mut t = Tally::default();
        t.add(Some("happy"), Some(0.5), Some(0.2));
        t.add(Some("happy"), Some(0.3), Some(0.0));
        t.add(None, None, None);
        t.close();
        assert_eq!((t.faces, t.labels["happy"]), (3, 2));
        assert!((t.mean_valence.unwrap() - 0.4).abs() < 1e-6 && (t.mean_arousal.unwrap() - 0.1).abs() < 1e-6);
        let mut all = Tally::default();
        all.absorb(&t);
        all.absorb(&t);
        assert_eq!(all.labels["happy"], 4);
        assert!((all.mean_valence.unwrap() - 0.4).abs() < 1e-6);
    }
}
