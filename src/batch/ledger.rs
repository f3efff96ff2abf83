//! The batch's record of finished inputs: `DIR/_manifest.jsonl` (one JSON object per line),
//! or one `_manifest.shard-IIII-of-NNNN.jsonl` per shard so tasks never write the same
//! file. A line is appended, flushed and synced only after the input's outputs were
//! renamed into place, so a line always means complete outputs; a run killed mid-line
//! leaves a torn last line, which readers skip. Readers take every ledger file in the
//! folder as one, the newest line per input winning; `merge` folds them into
//! `_manifest.jsonl`.
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const LEDGER: &str = "_manifest.jsonl";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Failed,
    /// Not finished within `--input-timeout`: its partial outputs were discarded.
    #[serde(rename = "timed_out")]
    TimedOut,
}

/// One finished input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The output name (see `inputs::output_key`), the key of the ledger.
    pub key: String,
    /// What was opened: the path or URL.
    pub input: String,
    /// Size in bytes and modification time (Unix seconds) of a file input when it was
    /// read: a changed file is processed again.
    pub size: Option<u64>,
    pub mtime_s: Option<f64>,
    /// Output files, relative to the output folder.
    pub outputs: Vec<String>,
    pub frames: u64,
    pub faces: u64,
    /// Face crops written (harvest only: one per track per `every_frames`, of enough quality).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crops: Option<u64>,
    pub seconds: f64,
    pub status: Status,
    /// 0 when ok; 1 for a runtime failure (damaged input, decode error), 2 for a usage
    /// error (missing file), as `fer-rt process` would exit.
    pub exit_code: i32,
    pub error: Option<String>,
    /// The shard that ran it (`INDEX/COUNT`), when sharded.
    pub shard: Option<String>,
    /// Unix seconds when the line was written.
    pub finished_s: f64,
}

/// Size and modification time of a file input (None for URLs and unreadable paths).
pub fn file_stamp(location: &str) -> (Option<u64>, Option<f64>) {
    match std::fs::metadata(location) {
        Ok(m) => {
            let mtime = m.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
            (Some(m.len()), mtime.map(|d| d.as_secs_f64()))
        }
        Err(_) => (None, None),
    }
}

pub fn now_s() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// An open ledger file, appended to line by line.
pub struct Ledger {
    path: PathBuf,
    file: std::fs::File,
    /// The file ends in a torn line (a killed run): the next record starts a new line.
    torn: bool,
}

impl Ledger {
    pub fn open(dir: &Path, name: &str) -> Result<Self> {
        let path = dir.join(name);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|err| Error::Io { path: path.clone(), err })?;
        Ok(Self { torn: ends_torn(&path), path, file })
    }

    /// Appends one record durably (write, then fsync). If the file ended in a torn line
    /// when opened, a newline first keeps the new record on a line of its own.
    pub fn append(&mut self, r: &Record) -> Result<()> {
        let io = |err| Error::Io { path: self.path.clone(), err };
        let mut line = if std::mem::take(&mut self.torn) { "\n".to_string() } else { String::new() };
        line += &serde_json::to_string(r).map_err(|e| io(std::io::Error::other(e)))?;
        line.push('\n');
        self.file.write_all(line.as_bytes()).map_err(io)?;
        self.file.sync_data().map_err(io)
    }
}

/// Whether the file's last byte is not a newline (read from the end, not the whole file).
fn ends_torn(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let mut last = [0u8; 1];
    std::fs::File::open(path)
        .and_then(|mut f| f.seek(SeekFrom::End(-1)).and_then(|_| f.read_exact(&mut last)))
        .is_ok_and(|_| last[0] != b'\n')
}

/// The ledger files in `dir`: `_manifest.jsonl` and every shard's.
pub fn ledger_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n == LEDGER || (n.starts_with("_manifest.shard-") && n.ends_with(".jsonl")))
        })
        .collect();
    files.sort();
    files
}

/// Every input's newest record across all ledger files of `dir` (none yet: empty). Lines
/// that do not parse (a torn last line) are skipped.
pub fn read_all(dir: &Path) -> Result<BTreeMap<String, Record>> {
    let mut out: BTreeMap<String, Record> = BTreeMap::new();
    for f in ledger_files(dir) {
        let text = std::fs::read_to_string(&f).map_err(|err| Error::Io { path: f.clone(), err })?;
        for r in text.lines().filter_map(|l| serde_json::from_str::<Record>(l).ok()) {
            match out.get(&r.key) {
                Some(old) if old.finished_s > r.finished_s => {}
                _ => {
                    out.insert(r.key.clone(), r);
                }
            }
        }
    }
    Ok(out)
}

/// Folds every ledger file into `_manifest.jsonl` (newest record per input, sorted by
/// input) and removes the shard files. The new file is written beside and renamed over
/// the old one, so a crash leaves either the old files or the merged one. Returns the
/// number of records and of files merged.
pub fn merge(dir: &Path) -> Result<(usize, usize)> {
    let files = ledger_files(dir);
    let records = read_all(dir)?;
    let tmp = dir.join("_manifest.jsonl.part");
    let mut text = String::new();
    for r in records.values() {
        text += &serde_json::to_string(r).unwrap_or_default();
        text.push('\n');
    }
    let io = |p: &Path, err| Error::Io { path: p.to_path_buf(), err };
    let mut f = std::fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
    f.write_all(text.as_bytes()).and_then(|_| f.sync_all()).map_err(|e| io(&tmp, e))?;
    let main = dir.join(LEDGER);
    std::fs::rename(&tmp, &main).map_err(|e| io(&main, e))?;
    for p in files.iter().filter(|p| **p != main) {
        std::fs::remove_file(p).map_err(|e| io(p, e))?;
    }
    Ok((records.len(), files.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(key: &str, status: Status, finished_s: f64) -> Record {
        Record {
            crops: None,
            key: key.into(),
            input: format!("/in/{key}"),
            size: Some(1),
            mtime_s: Some(2.0),
            outputs: vec![format!("{key}.jsonl")],
            frames: 3,
            faces: 4,
            seconds: 0.5,
            status,
            exit_code: if status == Status::Ok { 0 } else { 1 },
            error: None,
            shard: None,
            finished_s,
        }
    }

    #[test]
    fn newest_record_wins_torn_lines_are_skipped_and_merge_folds_shards() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let mut a = Ledger::open(d, "_manifest.shard-0000-of-0002.jsonl").unwrap();
        a.append(&rec("x", Status::Failed, 1.0)).unwrap();
        a.append(&rec("x", Status::Ok, 2.0)).unwrap();
        let mut b = Ledger::open(d, "_manifest.shard-0001-of-0002.jsonl").unwrap();
        b.append(&rec("y", Status::Ok, 1.5)).unwrap();
        // a run killed in the middle of a line
        let p = d.join("_manifest.shard-0001-of-0002.jsonl");
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"{\"key\":\"z\",\"inp").unwrap();
        let all = read_all(d).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all["x"].status, Status::Ok);
        // a ledger opened after a torn line starts a fresh line
        let mut b = Ledger::open(d, "_manifest.shard-0001-of-0002.jsonl").unwrap();
        b.append(&rec("w", Status::Ok, 3.0)).unwrap();
        assert_eq!(read_all(d).unwrap().len(), 3);
        assert_eq!(merge(d).unwrap(), (3, 2));
        assert_eq!(ledger_files(d), vec![d.join(LEDGER)]);
        let merged = read_all(d).unwrap();
        assert_eq!(merged.keys().collect::<Vec<_>>(), ["w", "x", "y"]);
    }
}
