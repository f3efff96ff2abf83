//! Where outputs may be written. Two rules hold for every command that writes a file:
//!
//! 1. **An output is never an input.** `process clip.mp4 --output clip.mp4` once truncated
//!    the only copy of a recording before a single frame was read. Every output (and its
//!    `.part`) is compared with every input by device and inode, which catches hard links,
//!    symbolic links and `./` spellings alike, and by canonical path for names that do not
//!    exist yet. An output folder that is, holds or lies inside an input folder is refused
//!    where the command would write into the data it reads (`train --out` over a dataset).
//! 2. **A file appears under its final name only when it is complete.** It is written as
//!    `NAME.part`, synced and renamed ([`commit`]): an interrupted or failed run never leaves
//!    a half-written file that looks finished, and an existing file is replaced only by a
//!    complete one (a rename within one folder is atomic).
//!
//! The checks need only paths, so they run before any model loads or any byte is written.
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

/// Suffix of an output while it is being written.
pub const PART: &str = ".part";

/// `p` with `.part` appended to its file name (`x.mp4` -> `x.mp4.part`).
pub fn part_path(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(PART);
    PathBuf::from(s)
}

/// Device and inode: the identity of a file, whatever name reaches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct FileId(u64, u64);

fn file_id(p: &Path) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).ok().map(|m| FileId(m.dev(), m.ino()))
}

/// `p` made absolute with symbolic links resolved, also when `p` (or its last components)
/// does not exist yet: the longest existing prefix is canonicalised and the rest appended
/// with `.` and `..` folded.
pub fn canonical(p: &Path) -> PathBuf {
    if let Ok(c) = std::fs::canonicalize(p) {
        return c;
    }
    let abs = if p.is_absolute() { p.to_path_buf() } else { std::env::current_dir().unwrap_or_default().join(p) };
    let parts: Vec<Component> = abs.components().collect();
    // the longest prefix that exists, resolved; the rest folded by name
    for keep in (1..parts.len()).rev() {
        let prefix: PathBuf = parts[..keep].iter().collect();
        if let Ok(mut out) = std::fs::canonicalize(&prefix) {
            for c in &parts[keep..] {
                match c {
                    Component::ParentDir => {
                        out.pop();
                    }
                    Component::CurDir => {}
                    other => out.push(other),
                }
            }
            return out;
        }
    }
    abs
}

/// The files and folders a command reads, to check its outputs against.
#[derive(Debug, Default)]
pub struct Inputs {
    by_id: HashMap<FileId, PathBuf>,
    /// Canonical path, as given.
    paths: Vec<(PathBuf, PathBuf)>,
}

impl Inputs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an input path. URLs, standard input (`-`) and names that do not exist (an image
    /// sequence pattern) are not files on this machine and are ignored.
    pub fn add(&mut self, p: &Path) -> &mut Self {
        if let Some(id) = file_id(p) {
            self.by_id.entry(id).or_insert_with(|| p.to_path_buf());
            self.paths.push((canonical(p), p.to_path_buf()));
        }
        self
    }

    pub fn with(mut self, p: &Path) -> Self {
        self.add(p);
        self
    }

    /// Refuses `out` (and `out.part`, which is written first) when it is one of the inputs.
    /// `flag` names where the output came from in the message (`--output`).
    pub fn check_file(&self, flag: &str, out: &Path) -> Result<()> {
        for candidate in [out.to_path_buf(), part_path(out)] {
            let hit = file_id(&candidate).and_then(|id| self.by_id.get(&id)).or_else(|| {
                let c = canonical(&candidate);
                self.paths.iter().find(|(p, _)| *p == c).map(|(_, given)| given)
            });
            if let Some(input) = hit {
                return Err(Error::OutputIsInput {
                    flag: flag.into(),
                    output: candidate,
                    input: input.clone(),
                    why: "would overwrite the input".into(),
                });
            }
        }
        Ok(())
    }

    /// Refuses an output folder that is an input folder, lies inside one or holds one (or
    /// is an input file): writing there would mix outputs into the data being read.
    pub fn check_folder(&self, flag: &str, out: &Path) -> Result<()> {
        let c = canonical(out);
        for (p, given) in &self.paths {
            let why = if *p == c {
                "is the input"
            } else if c.starts_with(p) {
                "would write into the input"
            } else if p.starts_with(&c) {
                "holds the input"
            } else {
                continue;
            };
            return Err(Error::OutputIsInput {
                flag: flag.into(),
                output: out.to_path_buf(),
                input: given.clone(),
                why: why.into(),
            });
        }
        Ok(())
    }

    /// The input folders `out` lies inside (or is), if any.
    pub fn folder_holding(&self, out: &Path) -> Option<&Path> {
        let c = canonical(out);
        self.paths.iter().find(|(p, _)| p.is_dir() && c.starts_with(p)).map(|(_, given)| given.as_path())
    }
}

/// Syncs a finished `part` and renames it to `final_path` (replacing an older file there),
/// then syncs the folder so the rename itself is durable.
pub fn commit(part: &Path, final_path: &Path) -> Result<()> {
    let io = |err| Error::Io { path: part.to_path_buf(), err };
    if part.is_file() {
        std::fs::File::open(part).and_then(|f| f.sync_all()).map_err(io)?;
    }
    std::fs::rename(part, final_path).map_err(io)?;
    if let Some(dir) = final_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// Writes `path` through `write` (given the name to create), as `path.part` renamed into
/// place when `write` succeeds; on failure the part is removed and `path` is untouched.
pub fn write_via_part(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let part = part_path(path);
    match write(&part) {
        Ok(()) => commit(&part, path),
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            Err(e)
        }
    }
}

/// `bytes` into `path`, complete or not at all (see [`write_via_part`]).
pub fn write_file(path: &Path, bytes: impl AsRef<[u8]>) -> Result<()> {
    write_via_part(path, |p| std::fs::write(p, bytes).map_err(|err| Error::Io { path: p.to_path_buf(), err }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_file_is_caught_under_every_name() {
        let dir = tempfile::tempdir().unwrap();
        let clip = dir.path().join("clip.mp4");
        std::fs::write(&clip, b"data").unwrap();
        let inputs = Inputs::new().with(&clip);
        // the name itself, a `./` spelling, a `..` detour, a symlink and a hard link
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let link = dir.path().join("link.mp4");
        std::os::unix::fs::symlink(&clip, &link).unwrap();
        let hard = dir.path().join("hard.mp4");
        std::fs::hard_link(&clip, &hard).unwrap();
        for out in [clip.clone(), dir.path().join("./clip.mp4"), sub.join("../clip.mp4"), link, hard] {
            let e = inputs.check_file("--output", &out).unwrap_err();
            assert!(e.is_usage(), "{e}");
            assert!(e.to_string().contains("would overwrite the input"), "{e}");
        }
        // a different file, one that does not exist yet, and the input's .part are told apart
        inputs.check_file("--output", &dir.path().join("out.mp4")).unwrap();
        inputs.check_file("--output", &sub.join("new/deeper.mp4")).unwrap();
        let part_in = dir.path().join("x.mp4.part");
        std::fs::write(&part_in, b"data").unwrap();
        let e = Inputs::new().with(&part_in).check_file("--output", &dir.path().join("x.mp4")).unwrap_err();
        assert!(e.to_string().contains("x.mp4.part"), "{e}");
    }

    #[test]
    fn folders_that_overlap_an_input_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(data.join("happy")).unwrap();
        let inputs = Inputs::new().with(&data);
        for (out, why) in [
            (data.clone(), "is the input"),
            (data.join("run"), "would write into the input"),
            (data.join("./happy/../run"), "would write into the input"),
            (dir.path().to_path_buf(), "holds the input"),
        ] {
            let e = inputs.check_folder("--out", &out).unwrap_err();
            assert!(e.to_string().contains(why), "{out:?}: {e}");
        }
        inputs.check_folder("--out", &dir.path().join("runs/a")).unwrap();
        assert_eq!(inputs.folder_holding(&data.join("x")), Some(data.as_path()));
        assert_eq!(inputs.folder_holding(&dir.path().join("elsewhere")), None);
    }

    #[test]
    fn urls_patterns_and_stdin_are_not_files() {
        let mut inputs = Inputs::new();
        inputs.add(Path::new("-")).add(Path::new("rtsp://cam/1")).add(Path::new("frames/%05d.png"));
        assert!(inputs.paths.is_empty());
        inputs.check_file("--output", Path::new("-")).unwrap();
    }

    #[test]
    fn commit_replaces_only_with_the_complete_file() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.mp4");
        std::fs::write(&out, b"old").unwrap();
        let part = part_path(&out);
        assert_eq!(part.file_name().unwrap(), "out.mp4.part");
        std::fs::write(&part, b"new and complete").unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"old", "the old file stays until the commit");
        commit(&part, &out).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"new and complete");
        assert!(!part.exists());
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_part() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("report.json");
        write_file(&out, b"old").unwrap();
        let r = write_via_part(&out, |p| {
            std::fs::write(p, b"half").unwrap();
            Err(Error::Config("disk full".into()))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read(&out).unwrap(), b"old");
        assert!(!part_path(&out).exists());
        write_file(&out, b"new").unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"new");
    }

    #[test]
    fn canonical_folds_names_that_do_not_exist() {
        let dir = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(dir.path()).unwrap();
        assert_eq!(canonical(&dir.path().join("a/./b/../c.mp4")), base.join("a/c.mp4"));
    }
}
