//! What `batch` runs over: the command line's files, folders (searched recursively by
//! extension), glob patterns and manifests (a text or CSV file with one path or URL per
//! line), expanded into a sorted, de-duplicated list. Each input gets an output name made
//! from its path as given, so two inputs never share one and the same input always gets
//! the same one (which resume and sharding rely on).
use crate::error::{Error, Result};
use crate::sink::csv::split_fields;
use crate::source::network::is_url;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// File extensions `batch` takes from folders: the video containers and image formats
/// FFmpeg reads that cameras and phones write.
pub const DEFAULT_EXTENSIONS: &[&str] = &[
    "mp4", "mov", "m4v", "mkv", "webm", "avi", "mpg", "mpeg", "ts", "mts", "m2ts", "flv", "wmv", "3gp", "ogv", "jpg",
    "jpeg", "png", "bmp", "tif", "tiff", "webp",
];

/// Extensions that make an input a manifest (a list of inputs) rather than media.
const MANIFEST_EXTENSIONS: &[&str] = &["txt", "csv", "lst", "list"];

/// One video, image or stream to process.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Input {
    /// The output name, relative to the output folder, without extension: the input's
    /// path as given (folders, `..` and the root resolved lexically), or `url/HOST/PATH`.
    pub key: String,
    /// What to open: a path or a URL.
    pub location: String,
}

impl Input {
    pub fn is_url(&self) -> bool {
        is_url(&self.location)
    }
}

/// Expands the command line's inputs. A pattern that matches nothing, a missing path and
/// an unreadable manifest are errors: a typo should not become an empty batch.
pub fn expand(args: &[String], extensions: &[String]) -> Result<Vec<Input>> {
    let mut found: BTreeMap<String, Input> = BTreeMap::new();
    let mut add = |location: String| {
        let key = output_key(&location);
        found.entry(key.clone()).or_insert(Input { key, location });
    };
    for a in args {
        if is_url(a) {
            add(a.clone());
            continue;
        }
        let p = Path::new(a);
        if p.is_dir() {
            let mut files = Vec::new();
            walk(p, extensions, &mut files)?;
            files.into_iter().for_each(|f| add(f.to_string_lossy().into_owned()));
        } else if p.is_file() && has_extension(p, MANIFEST_EXTENSIONS) {
            for entry in read_manifest(p)? {
                add(entry);
            }
        } else if p.is_file() {
            add(a.clone());
        } else if a.contains(['*', '?', '[']) {
            let matches = glob(a)?;
            if matches.is_empty() {
                return Err(Error::Config(format!("{a}: the pattern matches no file")));
            }
            matches.into_iter().for_each(|f| add(f.to_string_lossy().into_owned()));
        } else {
            return Err(Error::Io { path: p.to_path_buf(), err: std::io::ErrorKind::NotFound.into() });
        }
    }
    Ok(found.into_values().collect())
}

fn has_extension(p: &Path, exts: &[impl AsRef<str>]) -> bool {
    p.extension().and_then(|e| e.to_str()).is_some_and(|e| exts.iter().any(|x| x.as_ref().eq_ignore_ascii_case(e)))
}

/// Files under `dir` with one of `extensions`, recursively, skipping hidden entries and
/// not following symlinked folders (no loops).
fn walk(dir: &Path, extensions: &[String], out: &mut Vec<PathBuf>) -> Result<()> {
    let rd = std::fs::read_dir(dir).map_err(|err| Error::Io { path: dir.to_path_buf(), err })?;
    let mut entries: Vec<_> = rd.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let p = e.path();
        let ft = e.file_type().map_err(|err| Error::Io { path: p.clone(), err })?;
        if ft.is_dir() {
            walk(&p, extensions, out)?;
        } else if (ft.is_file() || (ft.is_symlink() && p.is_file())) && has_extension(&p, extensions) {
            out.push(p);
        }
    }
    Ok(())
}

/// One path or URL per line; `#` comments and blank lines skipped. In a CSV the first
/// column is taken and a header row (`path`, `url`, `input`, `file`) is skipped. Relative
/// paths are relative to the manifest's folder.
fn read_manifest(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|err| Error::Io { path: path.to_path_buf(), err })?;
    let base = path.parent().unwrap_or(Path::new(""));
    let csv = has_extension(path, &["csv"]);
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let entry = if csv {
            split_fields(line).into_iter().next().unwrap_or_default().trim().to_string()
        } else {
            line.to_string()
        };
        if csv && i == 0 && ["path", "url", "input", "file", "video"].contains(&entry.to_lowercase().as_str()) {
            continue;
        }
        if is_url(&entry) || Path::new(&entry).is_absolute() {
            out.push(entry);
        } else {
            out.push(base.join(&entry).to_string_lossy().into_owned());
        }
    }
    Ok(out)
}

/// Shell-style patterns (`*`, `?`, `[...]`, and `**` for any depth), for schedulers that
/// pass them quoted. Sorted.
fn glob(pattern: &str) -> Result<Vec<PathBuf>> {
    let paths = glob::glob(pattern).map_err(|e| Error::Config(format!("{pattern}: {e}")))?;
    let mut out: Vec<PathBuf> = paths.flatten().filter(|p| p.is_file()).collect();
    out.sort();
    Ok(out)
}

/// The output name of an input: its path as given, resolved lexically (`a/./b/../c` is
/// `a/c`; the root and any `..` above the start are dropped), or `url/HOST/PATH` for a
/// URL; characters that are unsafe in file names become `_`.
pub fn output_key(location: &str) -> String {
    let safe = |s: &str| -> String {
        s.chars().map(|c| if c.is_alphanumeric() || "-_.+=@".contains(c) { c } else { '_' }).collect()
    };
    if let Some((scheme, rest)) = location.split_once("://") {
        let rest = rest.split(['?', '#']).next().unwrap_or("");
        let mut parts = vec!["url".to_string(), safe(scheme)];
        parts.extend(rest.split('/').filter(|s| !s.is_empty() && *s != "." && *s != "..").map(safe));
        return parts.join("/");
    }
    let mut parts: Vec<String> = Vec::new();
    for c in Path::new(location).components() {
        match c {
            Component::Normal(s) => parts.push(safe(&s.to_string_lossy())),
            Component::ParentDir => {
                parts.pop();
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    if parts.is_empty() {
        parts.push("input".into());
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_the_path_and_never_escape_the_output_folder() {
        assert_eq!(output_key("clips/a.mp4"), "clips/a.mp4");
        assert_eq!(output_key("./clips/./x/../a.mp4"), "clips/a.mp4");
        assert_eq!(output_key("/data/study 1/p01.mov"), "data/study_1/p01.mov");
        assert_eq!(output_key("../../etc/passwd"), "etc/passwd");
        assert_eq!(output_key("rtsp://cam.lab:554/live/1?x=2"), "url/rtsp/cam.lab_554/live/1");
        assert_ne!(output_key("a/b.mp4"), output_key("a/b.mov"), "the extension is part of the name");
    }

    #[test]
    fn folders_manifests_and_patterns_expand_sorted_and_once() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::create_dir_all(d.join("v/sub")).unwrap();
        std::fs::create_dir_all(d.join("v/.hidden")).unwrap();
        for f in ["v/b.mp4", "v/a.MOV", "v/sub/c.jpg", "v/notes.md", "v/.hidden/x.mp4", "other.mp4"] {
            std::fs::write(d.join(f), b"x").unwrap();
        }
        std::fs::write(d.join("list.csv"), "path,label\nother.mp4,1\n\"v/b.mp4\",2\n# comment\n\nrtsp://h/s,3\n")
            .unwrap();
        let s = |p: &str| d.join(p).to_string_lossy().into_owned();
        let exts: Vec<String> = DEFAULT_EXTENSIONS.iter().map(|e| e.to_string()).collect();
        let got = expand(&[s("v"), s("list.csv"), s("v/*.mp4")], &exts).unwrap();
        let locs: Vec<String> = got.iter().map(|i| i.location.clone()).collect();
        assert_eq!(locs.len(), 5, "{locs:?}");
        assert!(locs.contains(&s("v/a.MOV")) && locs.contains(&s("v/sub/c.jpg")) && locs.contains(&s("other.mp4")));
        assert!(locs.contains(&"rtsp://h/s".to_string()));
        assert!(!locs.iter().any(|l| l.ends_with("notes.md") || l.contains(".hidden")));
        let keys: Vec<&String> = got.iter().map(|i| &i.key).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert!(expand(&[s("nothing/*.mp4")], &exts).is_err(), "a pattern that matches nothing");
        assert!(expand(&[s("missing.mp4")], &exts).is_err());
    }
}
