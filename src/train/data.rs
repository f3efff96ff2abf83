//! Labelled face datasets, loaded whole into memory as one u8 tensor [N, 3, S, S] (the
//! public FER sets are 15k-30k small aligned faces; AffectNet users should pass a subset
//! list). Layouts read:
//! - `folder`: DIR/<class>/<image>; classes are the sub-folder names, sorted.
//! - `rafdb`: RAF-DB basic: DIR/EmoLabel/list_patition_label.txt ("train_00001.jpg 5",
//!   labels 1-7 = surprise, fear, disgust, happy, sad, angry, neutral) and
//!   DIR/Image/aligned/train_00001_aligned.jpg.
//! - `fer2013`: fer2013.csv (emotion,pixels,Usage; 48x48 gray).
//! - `ferplus`: FER+ votes (fer2013new.csv: Usage,Image name,neutral,...,contempt,unknown,NF)
//!   row-aligned with fer2013.csv for the pixels; majority or soft labels.
//! - `affectnet`: AffectNet's CSV (subDirectory_filePath, face_x, face_y, face_width,
//!   face_height, facial_landmarks, expression, valence, arousal), images under DIR.
//! - `synthetic`: `synth::generate`, with a clean test set from another seed.
use super::synth::{self, SynthConfig};
use crate::error::{Error, Result};
use crate::messages::RgbImage;
use crate::source::VideoSource;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DatasetKind {
    Synthetic,
    Folder,
    Rafdb,
    Fer2013,
    Ferplus,
    Affectnet,
    /// Harvested faces without labels (`fer-rt harvest`), labelled by teachers.
    #[serde(rename = "folder-unlabeled")]
    #[value(name = "folder-unlabeled")]
    FolderUnlabeled,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

pub struct Dataset {
    pub classes: Vec<String>,
    /// [N, 3, S, S] uint8 RGB.
    pub images: Tensor,
    /// Training labels (may be noisy; SCN relabels them in place).
    pub labels: Vec<i64>,
    /// The true labels when known (synthetic data), for scoring noise handling.
    pub true_labels: Option<Vec<i64>>,
    /// Soft labels [N, K] (FER+ votes, or an ensemble's predictions).
    pub soft: Option<Tensor>,
    /// Valence, arousal [N, 2] in [-1, 1] when the dataset has them.
    pub va: Option<Tensor>,
    /// Unlabeled folders: each sample's file, relative to the folder.
    pub files: Option<Vec<PathBuf>>,
    /// Which group (source video) each sample comes from, so validation can hold out
    /// whole videos rather than frames of videos it trained on.
    pub groups: Option<Vec<String>>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    fn from_images(classes: Vec<String>, imgs: Vec<RgbImage>, labels: Vec<i64>, size: u32) -> Result<Self> {
        if imgs.is_empty() {
            return Err(Error::Config("the dataset holds no image".into()));
        }
        let s = size as i64;
        let mut buf = Vec::with_capacity(imgs.len() * (3 * s * s) as usize);
        for img in &imgs {
            let img = if (img.width, img.height) == (size, size) {
                img.clone()
            } else {
                crate::imageops::resize_rgb(img, size, size)
            };
            buf.extend_from_slice(&img.data);
        }
        let images = Tensor::from_slice(&buf).view([imgs.len() as i64, s, s, 3]).permute([0, 3, 1, 2]).contiguous();
        Ok(Self { classes, images, labels, true_labels: None, soft: None, va: None, files: None, groups: None })
    }

    /// A subset by index (e.g. a validation split).
    /// Relabels the set into `target`'s class order, matching classes by name (a folder
    /// read alphabetically and a model in FER order hold the same seven names in another
    /// order). The target may have classes the data lacks; a data class the target lacks is
    /// an error naming it.
    pub fn align_classes(&mut self, target: &[String]) -> Result<()> {
        if self.classes == target {
            return Ok(());
        }
        let map: Vec<i64> = self
            .classes
            .iter()
            .map(|c| {
                target.iter().position(|t| t.eq_ignore_ascii_case(c)).map(|i| i as i64).ok_or_else(|| {
                    Error::Config(format!("the dataset's class '{c}' is not one of the model's classes {target:?}"))
                })
            })
            .collect::<Result<_>>()?;
        let remap = |v: &mut Vec<i64>| v.iter_mut().for_each(|l| *l = map[*l as usize]);
        remap(&mut self.labels);
        if let Some(t) = self.true_labels.as_mut() {
            remap(t);
        }
        if let Some(s) = &self.soft {
            let n = s.size()[0];
            let out = Tensor::zeros([n, target.len() as i64], (s.kind(), s.device()));
            let idx = Tensor::from_slice(&map).to_device(s.device());
            self.soft = Some(out.index_copy(1, &idx, s));
        }
        self.classes = target.to_vec();
        Ok(())
    }

    /// This set followed by `other` (same classes and image size); soft labels become
    /// one-hot for the side that has none. Files and groups are not kept: the union is
    /// for training, after any split by group.
    pub fn concat(&self, other: &Dataset) -> Self {
        let k = self.classes.len() as i64;
        let soft = |d: &Dataset| {
            d.soft
                .as_ref()
                .map(|s| s.shallow_clone())
                .unwrap_or_else(|| Tensor::from_slice(&d.labels).one_hot(k).to_kind(Kind::Float))
        };
        let any_soft = self.soft.is_some() || other.soft.is_some();
        Self {
            classes: self.classes.clone(),
            images: Tensor::cat(&[&self.images, &other.images.to_device(self.images.device())], 0),
            labels: self.labels.iter().chain(&other.labels).copied().collect(),
            true_labels: None,
            soft: any_soft.then(|| Tensor::cat(&[soft(self), soft(other)], 0)),
            va: None,
            files: None,
            groups: None,
        }
    }

    pub fn subset(&self, idx: &[i64]) -> Self {
        let t = Tensor::from_slice(idx);
        let pick = |v: &Vec<i64>| idx.iter().map(|&i| v[i as usize]).collect::<Vec<_>>();
        Self {
            classes: self.classes.clone(),
            images: self.images.index_select(0, &t),
            labels: pick(&self.labels),
            true_labels: self.true_labels.as_ref().map(pick),
            soft: self.soft.as_ref().map(|s| s.index_select(0, &t)),
            va: self.va.as_ref().map(|s| s.index_select(0, &t)),
            files: self.files.as_ref().map(|v| idx.iter().map(|&i| v[i as usize].clone()).collect()),
            groups: self.groups.as_ref().map(|v| idx.iter().map(|&i| v[i as usize].clone()).collect()),
        }
    }
}

pub(crate) fn read_image(path: &Path) -> Result<RgbImage> {
    let mut src = VideoSource::open(path)?;
    let mut img = None;
    src.run(|m| {
        img = Some((*m.image).clone());
        false
    })?;
    img.ok_or_else(|| Error::Config(format!("{}: no image decoded", path.display())))
}

fn bad(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::Config(format!("{}: {why}", path.display()))
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// What a loader needs besides the path.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    pub size: u32,
    pub synthetic: SynthConfig,
    /// FER+: train on vote distributions instead of the majority.
    pub soft_labels: bool,
    /// At most this many samples (0 = all), for quick runs on big sets.
    pub limit: usize,
}

pub fn load(kind: DatasetKind, path: &Path, split: Split, opt: &LoadOptions) -> Result<Dataset> {
    let mut d = match kind {
        DatasetKind::Synthetic => synthetic(split, opt),
        DatasetKind::Folder => folder(path, opt),
        DatasetKind::Rafdb => rafdb(path, split, opt),
        DatasetKind::Fer2013 => fer2013(path, split, opt),
        DatasetKind::Ferplus => ferplus(path, split, opt),
        DatasetKind::Affectnet => affectnet(path, opt),
        DatasetKind::FolderUnlabeled => unlabeled(path, opt),
    }?;
    if opt.limit > 0 && d.len() > opt.limit {
        let idx: Vec<i64> = (0..opt.limit as i64).collect();
        d = d.subset(&idx);
    }
    Ok(d)
}

fn synthetic(split: Split, opt: &LoadOptions) -> Result<Dataset> {
    let cfg = match split {
        Split::Train => SynthConfig { size: opt.size, ..opt.synthetic.clone() },
        // the test set is clean, from another seed, half the size
        Split::Test => SynthConfig {
            size: opt.size,
            noise_rate: 0.0,
            n: (opt.synthetic.n / 2).max(synth::CLASSES.len()),
            seed: opt.synthetic.seed.wrapping_add(1_000_003),
            ..opt.synthetic.clone()
        },
    };
    let samples = synth::generate(&cfg);
    let labels = samples.iter().map(|s| s.label as i64).collect();
    let truth = samples.iter().map(|s| s.true_label as i64).collect();
    let imgs = samples.into_iter().map(|s| s.image).collect();
    let mut d = Dataset::from_images(strs(&synth::CLASSES), imgs, labels, opt.size)?;
    d.true_labels = Some(truth);
    Ok(d)
}

const IMAGE_EXT: [&str; 5] = ["png", "jpg", "jpeg", "bmp", "webp"];

fn folder(dir: &Path, opt: &LoadOptions) -> Result<Dataset> {
    let mut classes: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| bad(dir, e))?
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(String::from))
        .collect();
    classes.sort();
    if classes.is_empty() {
        return Err(bad(dir, "expected one sub-folder per class"));
    }
    if classes.iter().any(|c| dir.join(c).join(crate::sink::faces::FACES_CSV).is_file()) {
        return Err(bad(dir, folder_layout_hint(dir)));
    }
    let (mut imgs, mut labels) = (Vec::new(), Vec::new());
    for (k, c) in classes.iter().enumerate() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join(c))
            .map_err(|e| bad(dir, e))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.extension().and_then(|e| e.to_str()).is_some_and(|e| IMAGE_EXT.contains(&e.to_lowercase().as_str()))
            })
            .collect();
        files.sort();
        for f in files {
            imgs.push(read_image(&f)?);
            labels.push(k as i64);
        }
    }
    if imgs.is_empty() {
        return Err(bad(dir, folder_layout_hint(dir)));
    }
    Dataset::from_images(classes, imgs, labels, opt.size)
}

/// Why a folder holds nothing `--dataset folder` can read, and what to do instead.
fn folder_layout_hint(dir: &Path) -> String {
    fn has_faces_csv(d: &Path, depth: usize) -> bool {
        d.join(crate::sink::faces::FACES_CSV).is_file()
            || (depth > 0
                && std::fs::read_dir(d)
                    .map(|r| r.flatten().any(|e| e.path().is_dir() && has_faces_csv(&e.path(), depth - 1)))
                    .unwrap_or(false))
    }
    if has_faces_csv(dir, 8) {
        "this is a `fer-rt harvest` folder: unlabelled crops (with faces.csv); train on it with \
         --dataset folder-unlabeled --teacher fer_mini_xception, or sort the crops into DIR/<class>/ folders"
            .into()
    } else {
        format!(
            "no image where --dataset folder looks: DIR/<class>/<image> ({}), one sub-folder per class",
            IMAGE_EXT.join(", ")
        )
    }
}

/// Every image under `dir` (recursively; `_*` and `*.part` entries skipped), sorted, with
/// no labels yet: the teachers give them. A sample's group is its folder (one per
/// harvested video).
fn unlabeled(dir: &Path, opt: &LoadOptions) -> Result<Dataset> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir).map_err(|e| bad(dir, e))?.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            let p = e.path();
            // the ledger, the teachers' cache and unfinished outputs are not faces
            if name.starts_with('_') || name.ends_with(".part") || (name.starts_with('.') && !p.is_dir()) {
                continue;
            }
            if p.is_dir() {
                walk(root, &p, out)?;
            } else if p
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| IMAGE_EXT.contains(&e.to_lowercase().as_str()))
            {
                out.push(p.strip_prefix(root).unwrap_or(&p).to_path_buf());
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files)?;
    if files.is_empty() {
        return Err(bad(dir, "no face image here (fer-rt harvest writes them)"));
    }
    let imgs = files.iter().map(|f| read_image(&dir.join(f))).collect::<Result<Vec<_>>>()?;
    let groups =
        files.iter().map(|f| f.parent().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default()).collect();
    let n = imgs.len();
    let mut d = Dataset::from_images(Vec::new(), imgs, vec![0; n], opt.size)?;
    d.files = Some(files);
    d.groups = Some(groups);
    Ok(d)
}

fn rafdb(root: &Path, split: Split, opt: &LoadOptions) -> Result<Dataset> {
    let list = root.join("EmoLabel").join("list_patition_label.txt");
    let text = std::fs::read_to_string(&list).map_err(|e| bad(&list, e))?;
    let prefix = if split == Split::Train { "train_" } else { "test_" };
    let (mut imgs, mut labels) = (Vec::new(), Vec::new());
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let mut it = line.split_whitespace();
        let (Some(name), Some(label)) = (it.next(), it.next()) else {
            return Err(bad(&list, format!("line {}: expected 'NAME LABEL'", n + 1)));
        };
        if !name.starts_with(prefix) {
            continue;
        }
        let label: i64 = label
            .parse()
            .ok()
            .filter(|l| (1..=7).contains(l))
            .ok_or_else(|| bad(&list, format!("line {}: label '{label}' is not 1-7", n + 1)))?;
        let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
        let img = root.join("Image").join("aligned").join(format!("{stem}_aligned.jpg"));
        imgs.push(read_image(&img)?);
        labels.push(label - 1);
    }
    let classes = strs(&["surprise", "fear", "disgust", "happy", "sad", "angry", "neutral"]);
    Dataset::from_images(classes, imgs, labels, opt.size)
}

/// FER2013 rows as (label, 48x48 gray pixels, usage).
fn fer2013_rows(path: &Path) -> Result<Vec<(i64, Vec<u8>, String)>> {
    let text = std::fs::read_to_string(path).map_err(|e| bad(path, e))?;
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1).filter(|(_, l)| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split(',').collect();
        if cols.len() < 3 {
            return Err(bad(path, format!("line {}: expected emotion,pixels,Usage", n + 1)));
        }
        let label: i64 = cols[0].trim().parse().map_err(|_| bad(path, format!("line {}: bad emotion", n + 1)))?;
        let px: Vec<u8> = cols[1]
            .split_whitespace()
            .map(|p| p.parse::<u8>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| bad(path, format!("line {}: bad pixels", n + 1)))?;
        if px.len() != 48 * 48 {
            return Err(bad(path, format!("line {}: {} pixels, expected 2304", n + 1, px.len())));
        }
        rows.push((label, px, cols[2].trim().to_string()));
    }
    Ok(rows)
}

fn gray48(px: &[u8]) -> RgbImage {
    RgbImage::new(48, 48, px.iter().flat_map(|&g| [g, g, g]).collect())
}

fn in_split(usage: &str, split: Split) -> bool {
    match split {
        Split::Train => usage == "Training",
        Split::Test => usage == "PublicTest" || usage == "PrivateTest",
    }
}

fn fer2013(path: &Path, split: Split, opt: &LoadOptions) -> Result<Dataset> {
    let rows = fer2013_rows(path)?;
    let (mut imgs, mut labels) = (Vec::new(), Vec::new());
    for (label, px, _) in rows.into_iter().filter(|r| in_split(&r.2, split)) {
        if !(0..7).contains(&label) {
            return Err(bad(path, format!("emotion {label} is not 0-6")));
        }
        imgs.push(gray48(&px));
        labels.push(label);
    }
    Dataset::from_images(strs(&synth::CLASSES), imgs, labels, opt.size)
}

/// `path`: fer2013new.csv; fer2013.csv must sit beside it (same rows, same order).
fn ferplus(path: &Path, split: Split, opt: &LoadOptions) -> Result<Dataset> {
    let pixels = path.with_file_name("fer2013.csv");
    let rows = fer2013_rows(&pixels)?;
    let text = std::fs::read_to_string(path).map_err(|e| bad(path, e))?;
    let votes: Vec<&str> = text.lines().skip(1).filter(|l| !l.trim().is_empty()).collect();
    if votes.len() != rows.len() {
        return Err(bad(path, format!("{} rows, but fer2013.csv has {}", votes.len(), rows.len())));
    }
    let (mut imgs, mut labels, mut soft) = (Vec::new(), Vec::new(), Vec::new());
    for (n, (line, (_, px, _))) in votes.iter().zip(&rows).enumerate() {
        let cols: Vec<&str> = line.split(',').collect();
        if cols.len() < 12 {
            return Err(bad(path, format!("line {}: expected 12 columns", n + 2)));
        }
        if !in_split(cols[0].trim(), split) {
            continue;
        }
        let v: Vec<f32> = cols[2..12].iter().map(|c| c.trim().parse::<f32>().unwrap_or(0.0)).collect();
        let emo = &v[..8];
        let total: f32 = emo.iter().sum();
        let best = crate::metrics::argmax(&v);
        // FER+ practice: drop faces whose majority is "unknown" or "not a face"
        if total <= 0.0 || best >= 8 {
            continue;
        }
        imgs.push(gray48(px));
        labels.push(best as i64);
        soft.extend(emo.iter().map(|x| x / total));
    }
    let classes = strs(&["neutral", "happy", "surprise", "sad", "angry", "disgust", "fear", "contempt"]);
    let n = labels.len() as i64;
    let mut d = Dataset::from_images(classes, imgs, labels, opt.size)?;
    if opt.soft_labels {
        d.soft = Some(Tensor::from_slice(&soft).view([n, 8]));
    }
    Ok(d)
}

fn affectnet(path: &Path, opt: &LoadOptions) -> Result<Dataset> {
    let root = path.parent().unwrap_or(Path::new("."));
    let text = std::fs::read_to_string(path).map_err(|e| bad(path, e))?;
    let (mut imgs, mut labels, mut va) = (Vec::new(), Vec::new(), Vec::new());
    for (n, line) in text.lines().enumerate().skip(1).filter(|(_, l)| !l.trim().is_empty()) {
        // the landmark column is quoted and holds ';'-separated numbers, so split from both ends
        let cols: Vec<&str> = line.split(',').collect();
        if cols.len() < 9 {
            return Err(bad(path, format!("line {}: expected 9 columns", n + 1)));
        }
        let k = cols.len();
        let num = |s: &str| s.trim().parse::<f64>().map_err(|_| bad(path, format!("line {}: bad number '{s}'", n + 1)));
        let (expr, v, a) = (num(cols[k - 3])? as i64, num(cols[k - 2])?, num(cols[k - 1])?);
        if !(0..8).contains(&expr) {
            continue; // 8-10: none, uncertain, non-face
        }
        let (x, y, w, h) = (num(cols[1])? as u32, num(cols[2])? as u32, num(cols[3])? as u32, num(cols[4])? as u32);
        let img = read_image(&root.join(cols[0].trim()))?;
        let (x1, y1) = ((x + w).min(img.width), (y + h).min(img.height));
        if x >= x1 || y >= y1 {
            return Err(bad(path, format!("line {}: face box outside the image", n + 1)));
        }
        let mut data = Vec::with_capacity(((x1 - x) * (y1 - y) * 3) as usize);
        for row in y..y1 {
            let s = ((row * img.width + x) * 3) as usize;
            data.extend_from_slice(&img.data[s..s + ((x1 - x) * 3) as usize]);
        }
        imgs.push(RgbImage::new(x1 - x, y1 - y, data));
        labels.push(expr);
        va.extend([v.clamp(-1.0, 1.0) as f32, a.clamp(-1.0, 1.0) as f32]);
        if opt.limit > 0 && labels.len() >= opt.limit {
            break;
        }
    }
    let classes = strs(&["neutral", "happy", "sad", "surprise", "fear", "disgust", "angry", "contempt"]);
    let n = labels.len() as i64;
    let mut d = Dataset::from_images(classes, imgs, labels, opt.size)?;
    d.va = Some(Tensor::from_slice(&va).view([n, 2]).to_kind(Kind::Float));
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> LoadOptions {
        LoadOptions {
            size: 24,
            synthetic: SynthConfig { n: 28, noise_rate: 0.25, ..Default::default() },
            soft_labels: true,
            limit: 0,
        }
    }

    #[test]
    fn classes_are_matched_by_name() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let imgs = Tensor::zeros([3, 3, 4, 4], (tch::Kind::Uint8, tch::Device::Cpu));
        let mut d = Dataset {
            classes: names(&["angry", "happy", "neutral"]),
            images: imgs,
            labels: vec![0, 1, 2],
            true_labels: Some(vec![2, 1, 0]),
            soft: Some(Tensor::from_slice(&[1.0f32, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.2, 0.8]).view([3, 3])),
            va: None,
            files: None,
            groups: None,
        };
        let target = names(&["angry", "disgust", "happy", "neutral"]);
        d.align_classes(&target).unwrap();
        assert_eq!(d.labels, [0, 2, 3]);
        assert_eq!(d.true_labels.as_deref(), Some(&[3, 2, 0][..]));
        let soft = Vec::<f32>::try_from(&d.soft.as_ref().unwrap().view([-1])).unwrap();
        assert_eq!(soft, [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.2, 0.8]);
        assert_eq!(d.classes, target);
        let err = d.align_classes(&names(&["angry", "happy"])).unwrap_err().to_string();
        assert!(err.contains("'disgust'") || err.contains("'neutral'"), "{err}");
    }

    #[test]
    fn synthetic_train_is_noisy_and_test_clean() {
        let tr = load(DatasetKind::Synthetic, Path::new(""), Split::Train, &opts()).unwrap();
        let te = load(DatasetKind::Synthetic, Path::new(""), Split::Test, &opts()).unwrap();
        assert_eq!(tr.images.size(), [28, 3, 24, 24]);
        let t = tr.true_labels.as_ref().unwrap();
        assert_eq!(tr.labels.iter().zip(t).filter(|(a, b)| a != b).count(), 7);
        let t = te.true_labels.as_ref().unwrap();
        assert_eq!(te.len(), 14);
        assert!(te.labels.iter().zip(t).all(|(a, b)| a == b));
    }

    #[test]
    fn fer2013_and_ferplus_csv() {
        let dir = tempfile::tempdir().unwrap();
        let px = vec!["128"; 2304].join(" ");
        let fer = format!("emotion,pixels,Usage\n3,{px},Training\n5,{px},PublicTest\n0,{px},Training\n");
        std::fs::write(dir.path().join("fer2013.csv"), fer).unwrap();
        let plus = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF\n\
                    Training,a.png,0,8,2,0,0,0,0,0,0,0\nPublicTest,b.png,0,0,10,0,0,0,0,0,0,0\n\
                    Training,c.png,0,0,0,0,0,0,0,0,0,10\n";
        std::fs::write(dir.path().join("fer2013new.csv"), plus).unwrap();
        let d = load(DatasetKind::Fer2013, &dir.path().join("fer2013.csv"), Split::Train, &opts()).unwrap();
        assert_eq!(d.labels, [3, 0]);
        assert_eq!(d.images.size(), [2, 3, 24, 24]);
        let p = load(DatasetKind::Ferplus, &dir.path().join("fer2013new.csv"), Split::Train, &opts()).unwrap();
        assert_eq!(p.labels, [1], "the not-a-face row is dropped");
        let soft = Vec::<f32>::try_from(p.soft.unwrap().view([-1])).unwrap();
        assert!((soft[1] - 0.8).abs() < 1e-6 && (soft[2] - 0.2).abs() < 1e-6);
        let bad = load(DatasetKind::Fer2013, &dir.path().join("missing.csv"), Split::Train, &opts());
        assert!(bad.is_err());
    }
}
