//! Pseudo-labels from teachers, for training a student on unlabeled faces (seed 004's
//! pseudo-label module; seed 003 distils an ensemble of teachers). A teacher is any
//! bundled classifier by manifest name (mini-Xception) or a trained checkpoint by path.
//!
//! - **Geometry.** The faces were harvested onto the checkpoints' template
//!   (`align::TEMPLATE`), so their landmarks are known: each face is re-aligned from there
//!   onto each teacher's own template, size and colour.
//! - **Classes** are matched by name. The student's classes are the first teacher's, then
//!   any class another teacher adds. A teacher without a class gives it zero mass.
//! - **Temperature** T softens (T > 1) or sharpens each teacher's distribution:
//!   p_k ∝ p_k^(1/T), which is softmax(logits / T) for a softmax teacher.
//! - **Averaging.** The teachers' distributions are averaged. Faces whose averaged maximum
//!   is below `min_confidence` are dropped.
//! - **Cache.** Each teacher's outputs are kept per face in `DIR/_teachers/<sha256>.json`,
//!   keyed by the file and the teacher's weights, so a second run does not recompute them.
use super::data::Dataset;
use crate::align::{align_face, TEMPLATE};
use crate::error::{Error, Result};
use crate::messages::RgbImage;
use crate::model::Classifier;
use crate::runtime::Engine;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// Faces per teacher batch.
const BATCH: usize = 64;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TeacherConfig {
    /// Manifest names (e.g. "fer_mini_xception") or checkpoint paths.
    pub teachers: Vec<String>,
    /// Faces whose averaged teacher maximum is below this are dropped (0 = keep all).
    pub min_confidence: f32,
    /// Temperature applied to each teacher's distribution (1 = as given).
    pub temperature: f32,
}

impl Default for TeacherConfig {
    fn default() -> Self {
        Self { teachers: Vec::new(), min_confidence: 0.0, temperature: 1.0 }
    }
}

/// What pseudo-labelling did (in the training report).
#[derive(Clone, Debug, Default, Serialize)]
pub struct PseudoReport {
    pub teachers: Vec<String>,
    pub classes: Vec<String>,
    pub faces: usize,
    pub kept: usize,
    /// Teacher outputs read from the cache / computed now.
    pub cached: usize,
    pub computed: usize,
}

/// One teacher's outputs per face file, with its class order.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Cache {
    teacher: String,
    sha256: String,
    classes: Vec<String>,
    probs: BTreeMap<String, Vec<f32>>,
}

fn load_teacher(name: &str, models_dir: &Path) -> Result<Box<dyn Classifier>> {
    let p = Path::new(name);
    if p.extension().is_some_and(|e| e == "safetensors") || p.is_file() {
        crate::model::load_classifier_file(p, Device::Cpu)
    } else {
        // a corpus labelled with nothing else running: every core on each batch, in one pass
        let cpu = crate::model::CpuRun::whole(crate::runtime::cores());
        crate::model::load_classifier(models_dir, name, Device::Cpu, Engine::Auto, cpu)
    }
}

/// The teacher's crop of a harvested face: the file as written (not the student-sized
/// copy), its landmarks where the template put them, re-aligned to the teacher's input.
pub fn teacher_crop(path: &Path, input: &crate::messages::InputSpec) -> Result<crate::messages::Crop> {
    let img: RgbImage = super::data::read_image(path)?;
    let (w, h) = (img.width as f32, img.height as f32);
    let landmarks = TEMPLATE.map(|[x, y]| [x * w, y * h]);
    align_face(&img, &landmarks, input)
        .ok_or_else(|| Error::Config(format!("{}: the face could not be aligned", path.display())))
}

/// One teacher's distribution for every face of `d`, in the teacher's class order: from
/// the cache where it has the face, computed (and added to the cache) otherwise.
fn teacher_outputs(
    teacher: &mut dyn Classifier,
    name: &str,
    root: &Path,
    files: &[PathBuf],
    cache_dir: &Path,
    report: &mut PseudoReport,
) -> Result<Vec<Vec<f32>>> {
    let spec = teacher.spec().clone();
    let path = cache_dir.join(format!("{}.json", &spec.sha256[..spec.sha256.len().min(16)]));
    let mut cache: Cache = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .filter(|c: &Cache| c.sha256 == spec.sha256 && c.classes == spec.classes)
        .unwrap_or_else(|| Cache {
            teacher: name.to_string(),
            sha256: spec.sha256.clone(),
            classes: spec.classes.clone(),
            probs: BTreeMap::new(),
        });
    let key = |f: &PathBuf| f.to_string_lossy().replace('\\', "/");
    let missing: Vec<usize> = (0..files.len()).filter(|&i| !cache.probs.contains_key(&key(&files[i]))).collect();
    report.cached += files.len() - missing.len();
    report.computed += missing.len();
    for chunk in missing.chunks(BATCH) {
        let crops =
            chunk.iter().map(|&i| teacher_crop(&root.join(&files[i]), &spec.input)).collect::<Result<Vec<_>>>()?;
        let refs: Vec<_> = crops.iter().collect();
        for (&i, out) in chunk.iter().zip(teacher.classify(&refs)?) {
            cache.probs.insert(key(&files[i]), out.probs);
        }
    }
    if !missing.is_empty() {
        std::fs::create_dir_all(cache_dir).map_err(|err| Error::Io { path: cache_dir.to_path_buf(), err })?;
        let text = serde_json::to_string(&cache)
            .map_err(|e| Error::Io { path: path.clone(), err: std::io::Error::other(e) })?;
        let part = path.with_extension("json.part");
        std::fs::write(&part, text)
            .and_then(|_| std::fs::rename(&part, &path))
            .map_err(|err| Error::Io { path, err })?;
    }
    Ok(files.iter().map(|f| cache.probs[&key(f)].clone()).collect())
}

/// p^(1/T), renormalised.
pub fn temper(p: &[f32], temperature: f32) -> Vec<f32> {
    if (temperature - 1.0).abs() < f32::EPSILON {
        return p.to_vec();
    }
    let q: Vec<f32> = p.iter().map(|&v| v.max(0.0).powf(1.0 / temperature)).collect();
    let s: f32 = q.iter().sum();
    if s > 0.0 {
        q.iter().map(|v| v / s).collect()
    } else {
        p.to_vec()
    }
}

/// Labels an unlabeled dataset (from `data::load(FolderUnlabeled)`) with the teachers'
/// averaged distribution: sets `classes`, `soft` and `labels` (the top class), and drops
/// the faces below `min_confidence`. `root` is the folder the files are relative to.
pub fn pseudo_label(d: &mut Dataset, root: &Path, cfg: &TeacherConfig, models_dir: &Path) -> Result<PseudoReport> {
    if cfg.teachers.is_empty() {
        return Err(Error::Config("an unlabeled dataset needs --teacher NAME_OR_CHECKPOINT[,...]".into()));
    }
    if !(cfg.temperature > 0.0) || !(0.0..1.0).contains(&cfg.min_confidence) {
        return Err(Error::Config("--temperature must be > 0 and --min-confidence in [0, 1)".into()));
    }
    let files = d.files.clone().ok_or_else(|| Error::Config("pseudo-labels need an unlabeled folder".into()))?;
    let mut report = PseudoReport { teachers: cfg.teachers.clone(), faces: files.len(), ..Default::default() };
    let cache_dir = root.join("_teachers");
    let mut classes: Vec<String> = Vec::new();
    let mut per_teacher = Vec::new();
    for name in &cfg.teachers {
        let mut t = load_teacher(name, models_dir)?;
        let outs = teacher_outputs(t.as_mut(), name, root, &files, &cache_dir, &mut report)?;
        for c in &t.spec().classes {
            if !classes.contains(c) {
                classes.push(c.clone());
            }
        }
        per_teacher.push((t.spec().classes.clone(), outs));
    }
    let k = classes.len();
    let n = files.len();
    let mut soft = vec![0f32; n * k];
    for (tc, outs) in &per_teacher {
        let idx: Vec<usize> = tc.iter().map(|c| classes.iter().position(|x| x == c).unwrap_or(0)).collect();
        for (i, p) in outs.iter().enumerate() {
            for (j, v) in temper(p, cfg.temperature).into_iter().enumerate() {
                soft[i * k + idx[j]] += v / per_teacher.len() as f32;
            }
        }
    }
    let keep: Vec<i64> = (0..n)
        .filter(|&i| soft[i * k..(i + 1) * k].iter().cloned().fold(0.0, f32::max) >= cfg.min_confidence)
        .map(|i| i as i64)
        .collect();
    d.labels = (0..n).map(|i| crate::metrics::argmax(&soft[i * k..(i + 1) * k]) as i64).collect();
    d.soft = Some(Tensor::from_slice(&soft).view([n as i64, k as i64]).to_kind(Kind::Float));
    d.classes = classes.clone();
    if keep.len() < n {
        *d = d.subset(&keep);
    }
    report.classes = classes;
    report.kept = d.len();
    if d.is_empty() {
        return Err(Error::Config(format!("no face reaches --min-confidence {}", cfg.min_confidence)));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temperature_softens_and_sharpens() {
        let p = [0.6, 0.3, 0.1];
        assert_eq!(temper(&p, 1.0), p);
        let soft = temper(&p, 2.0);
        let sharp = temper(&p, 0.5);
        assert!(soft[0] < 0.6 && sharp[0] > 0.6);
        assert!((soft.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((sharp[0] - 0.36 / 0.46).abs() < 1e-6, "p^2 renormalised");
    }
}
