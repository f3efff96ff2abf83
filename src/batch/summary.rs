//! `fer-rt summary DIR`: what a batch folder holds, per input and overall: frames, faces,
//! the distribution of the top expression label, mean valence and arousal. It reads the
//! ledger for the finished inputs and, for each, the first of its outputs it can read
//! (Parquet, then JSON lines, then CSV), so it works whatever formats the batch wrote.
use super::ledger::{self, Record, Status};
use crate::error::{Error, Result};
use crate::sink::csv::split_fields;
use arrow_array::{Array, Float32Array, StringArray};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Label counts and V/A sums of a set of faces.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Tally {
    pub frames: u64,
    pub faces: u64,
    /// Faces per top label (faces without a classifier output are not counted).
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
            *self.labels.entry(l.to_string()).or_default() += 1;
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
}

#[derive(Clone, Debug, Serialize)]
pub struct Video {
    pub key: String,
    pub input: String,
    /// The output the figures were read from.
    pub read_from: String,
    #[serde(flatten)]
    pub tally: Tally,
}

#[derive(Clone, Debug, Serialize)]
pub struct Failed {
    pub key: String,
    pub input: String,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub videos: Vec<Video>,
    pub overall: Tally,
    pub failed: Vec<Failed>,
}

/// Reads the batch folder `dir`.
pub fn summarise(dir: &Path) -> Result<Summary> {
    let records = ledger::read_all(dir)?;
    if records.is_empty() {
        return Err(Error::Config(format!("{}: no batch ledger (_manifest*.jsonl) here", dir.display())));
    }
    let mut videos = Vec::new();
    let mut failed = Vec::new();
    let mut overall = Tally::default();
    for r in records.values() {
        if r.status == Status::Failed {
            failed.push(Failed { key: r.key.clone(), input: r.input.clone(), error: r.error.clone() });
            continue;
        }
        let (read_from, mut tally) = read_outputs(dir, r)?;
        tally.frames = r.frames;
        tally.close();
        overall.absorb(&tally);
        videos.push(Video { key: r.key.clone(), input: r.input.clone(), read_from, tally });
    }
    overall.close();
    Ok(Summary { videos, overall, failed })
}

fn read_outputs(dir: &Path, r: &Record) -> Result<(String, Tally)> {
    let pick = |ext: &str| r.outputs.iter().find(|o| o.ends_with(ext)).cloned();
    let (name, tally) = if let Some(o) = pick(".parquet") {
        let t = read_parquet(&dir.join(&o))?;
        (o, t)
    } else if let Some(o) = pick(".jsonl") {
        let t = read_jsonl(&dir.join(&o))?;
        (o, t)
    } else if let Some(o) = pick(".csv") {
        let t = read_csv(&dir.join(&o))?;
        (o, t)
    } else {
        return Err(Error::Config(format!("{}: no Parquet, JSON lines or CSV output to read", r.key)));
    };
    Ok((name, tally))
}

fn io(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io { path: path.to_path_buf(), err: std::io::Error::other(e.to_string()) }
}

fn read_parquet(path: &Path) -> Result<Tally> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let file = std::fs::File::open(path).map_err(|err| Error::Io { path: path.to_path_buf(), err })?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).and_then(|b| b.build()).map_err(|e| io(path, e))?;
    let mut t = Tally::default();
    for batch in reader {
        let batch = batch.map_err(|e| io(path, e))?;
        let col = |n: &str| batch.column_by_name(n).ok_or_else(|| io(path, format!("no column '{n}'")));
        let label = col("label")?.as_any().downcast_ref::<StringArray>().cloned();
        let v = col("valence")?.as_any().downcast_ref::<Float32Array>().cloned();
        let a = col("arousal")?.as_any().downcast_ref::<Float32Array>().cloned();
        let (Some(label), Some(v), Some(a)) = (label, v, a) else {
            return Err(io(path, "label/valence/arousal columns of unexpected types"));
        };
        for i in 0..batch.num_rows() {
            let f = |x: &Float32Array| (!x.is_null(i)).then(|| x.value(i));
            t.add((!label.is_null(i)).then(|| label.value(i)), f(&v), f(&a));
        }
    }
    Ok(t)
}

fn read_jsonl(path: &Path) -> Result<Tally> {
    let text = std::fs::read_to_string(path).map_err(|err| Error::Io { path: path.to_path_buf(), err })?;
    let mut t = Tally::default();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| io(path, e))?;
        for f in v["faces"].as_array().into_iter().flatten() {
            let num = |k: &str| f[k].as_f64().map(|x| x as f32);
            t.add(f["label"].as_str(), num("valence"), num("arousal"));
        }
    }
    Ok(t)
}

fn read_csv(path: &Path) -> Result<Tally> {
    let text = std::fs::read_to_string(path).map_err(|err| Error::Io { path: path.to_path_buf(), err })?;
    let mut lines = text.lines();
    let header = split_fields(lines.next().unwrap_or(""));
    let idx = |n: &str| header.iter().position(|h| h == n).ok_or_else(|| io(path, format!("no column '{n}'")));
    let (li, vi, ai) = (idx("label")?, idx("valence")?, idx("arousal")?);
    let mut t = Tally::default();
    for line in lines {
        let f = split_fields(line);
        let get = |i: usize| f.get(i).filter(|s| !s.is_empty());
        t.add(get(li).map(String::as_str), get(vi).and_then(|s| s.parse().ok()), get(ai).and_then(|s| s.parse().ok()));
    }
    Ok(t)
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
    out += &format!("{:<40} {:>8} {:>8} {:>7} {:>7}  labels\n", "input", "frames", "faces", "V", "A");
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
