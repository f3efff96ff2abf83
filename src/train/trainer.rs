//! The training loop: one model or a deep ensemble, optionally distilled over generations
//! (each generation's students learn the previous ensemble's averaged predictions), with
//! plain cross-entropy, SCN or RUL; Adam or SGD; exponential or cosine learning-rate decay;
//! the best epoch on the validation set checkpointed (safetensors + sidecar manifest);
//! `last` checkpoint and state for resuming single-model runs.
use super::checkpoint::{io_error, restore, snapshot, write_sidecar, ResumeState, RunDir, State};
use super::data::{self, Dataset, DatasetKind, LoadOptions, Split};
use super::epoch::{run_epoch, EpochCtx, LossScaler, Member};
use super::predict::{accuracy, predict};
use super::rng::Rng;
use super::settings::{EpochLog, Method, Optim, TrainConfig, TrainProgress};
use super::teachers::{self, PseudoReport};
use crate::assets::manifest::{Manifest, MraConfig};
use crate::error::{Error, Result};
use crate::model::resnet_mra::MraNet;
use crate::runtime::layout::{self, MemoryFormat};
use serde::Serialize;
use std::path::{Path, PathBuf};
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Tensor};

/// Train and validation sets for a config: the dataset's own test split where it has one;
/// for pseudo-labelled faces, whole held-out videos.
pub fn datasets(cfg: &TrainConfig) -> Result<(Dataset, Dataset, Option<PseudoReport>)> {
    let opt = cfg.load_options();
    let mut train = data::load(cfg.dataset, &cfg.data, Split::Train, &opt)?;
    if cfg.dataset == DatasetKind::FolderUnlabeled {
        let models = crate::config::Config::default().models_dir();
        let report = teachers::pseudo_label(&mut train, &cfg.data, &cfg.teacher, &models)?;
        let (mut t, v) = split_by_group(&train, cfg);
        if !cfg.labelled.as_os_str().is_empty() {
            let mut l = data::load(DatasetKind::Folder, &cfg.labelled, Split::Train, &opt)?;
            l.align_classes(&t.classes)?;
            t = t.concat(&l);
        }
        if cfg.method != Method::Ce {
            // SCN and RUL take the pseudo-labels as (noisy) hard labels
            t.soft = None;
        }
        return Ok((t, v, Some(report)));
    }
    let (t, v) = split(train, cfg, &opt)?;
    Ok((t, v, None))
}

/// Validation on whole groups (source videos): every `1/val_fraction`-th group in sorted
/// order is held out, so agreement is measured on videos the student never saw. With a
/// single group, the samples are split instead.
fn split_by_group(d: &Dataset, cfg: &TrainConfig) -> (Dataset, Dataset) {
    let groups = d.groups.clone().unwrap_or_default();
    let mut names: Vec<&String> = groups.iter().collect();
    names.sort();
    names.dedup();
    let every = ((1.0 / cfg.val_fraction.max(1e-3)).round() as usize).max(2);
    let held: Vec<&String> = if names.len() >= 2 {
        names
            .iter()
            .enumerate()
            .filter(|(i, _)| i % every == every - 1 || (names.len() < every && *i == names.len() - 1))
            .map(|(_, g)| *g)
            .collect()
    } else {
        Vec::new()
    };
    let in_val = |i: usize, g: &String| if held.is_empty() { i % every == every - 1 } else { held.contains(&g) };
    let (mut v, mut t): (Vec<i64>, Vec<i64>) =
        (0..groups.len() as i64).partition(|&i| in_val(i as usize, &groups[i as usize]));
    if v.is_empty() || t.is_empty() {
        let n = d.len() as i64;
        v = (0..n).filter(|i| i % every as i64 == 0).collect();
        t = (0..n).filter(|i| i % every as i64 != 0).collect();
    }
    (d.subset(&t), d.subset(&v))
}

fn split(train: Dataset, cfg: &TrainConfig, opt: &LoadOptions) -> Result<(Dataset, Dataset)> {
    match cfg.dataset {
        DatasetKind::Folder | DatasetKind::Affectnet => {
            if train.len() < 2 {
                return Err(Error::Config(format!(
                    "{}: {} image(s); a validation share needs at least 2",
                    cfg.data.display(),
                    train.len()
                )));
            }
            let mut idx: Vec<i64> = (0..train.len() as i64).collect();
            Rng::new(cfg.seed ^ 0x5EED).shuffle(&mut idx);
            let nv = ((train.len() as f64 * cfg.val_fraction).round() as usize).clamp(1, train.len().saturating_sub(1));
            let (v, t) = idx.split_at(nv);
            Ok((train.subset(t), train.subset(v)))
        }
        _ => Ok((train, data::load(cfg.dataset, &cfg.data, Split::Test, opt)?)),
    }
}

/// What a finished run reports (also written to OUT/report.json).
#[derive(Clone, Debug, Serialize)]
pub struct TrainReport {
    pub checkpoint: PathBuf,
    pub best_val_acc: f64,
    /// Counted from 1, as the epoch lines print it.
    pub best_epoch: usize,
    pub ensemble_val_acc: Option<f64>,
    pub images_per_s: f64,
    /// How it ran: mixed precision on or off, and the memory layout actually used.
    pub amp: bool,
    pub memory_format: MemoryFormat,
    /// SCN relabelling: how many labels were changed, and the fraction restored to the truth
    /// (when the truth is known).
    pub relabelled: usize,
    pub relabel_precision: Option<f64>,
    /// Fraction of the injected noisy labels the relabelling fixed.
    pub relabel_recall: Option<f64>,
    /// AUROC of the RUL log-variance (and of low SCN importance) for telling noisy training
    /// labels from clean ones, when the truth is known.
    pub uncertainty_auroc_noisy: Option<f64>,
    pub importance_auroc_noisy: Option<f64>,
    pub history: Vec<EpochLog>,
    /// Pseudo-labelling of an unlabeled folder: teachers, classes, faces kept; the
    /// validation accuracy is then agreement with the teachers on held-out videos.
    pub pseudo_labels: Option<PseudoReport>,
}

/// Trains as configured and writes the run to `out`. `resume`: continue a single-model
/// run from OUT/last.safetensors (the optimiser's moments restart).
pub fn train(cfg: &TrainConfig, out: &Path, resume: bool, progress: &mut dyn TrainProgress) -> Result<TrainReport> {
    cfg.validate()?;
    let device = cfg.device.select()?;
    let run = RunDir(out.to_path_buf());
    run.create()?;
    let (mut train, mut val, pseudo) = datasets(cfg)?;
    if resume {
        keep_class_order(&run, &mut train, &mut val)?;
    }
    cache_on_device(cfg, device, &mut train, &mut val);
    let mut mcfg = cfg.model.clone();
    mcfg.classes = train.classes.len();
    mcfg.valence_arousal = mcfg.valence_arousal && train.va.is_some();
    // the labels as given, before any resume or SCN relabelling, and which were flipped
    let noisy: Option<Vec<bool>> =
        train.true_labels.as_ref().map(|t| t.iter().zip(&train.labels).map(|(a, b)| a != b).collect());
    let original = train.labels.clone();
    let resume = if resume { Some(resume_labels(&run, cfg, &mut train)?) } else { None };
    let mut t = Trainer {
        cfg,
        device,
        run,
        mcfg,
        resume,
        scaler: LossScaler::new(cfg.amp && device.is_cuda()),
        layout: cfg.memory_format,
        progress,
        history: Vec::new(),
        relabelled: 0,
        rate: Vec::new(),
        best: None,
    };
    let mut ensemble_val_acc = None;
    for generation in 0..=cfg.generations {
        let members =
            (0..cfg.ensemble).map(|m| t.member(generation, m, &mut train, &val)).collect::<Result<Vec<_>>>()?;
        // the ensemble's averaged predictions: its score, and the next generation's targets
        if members.len() > 1 {
            ensemble_val_acc = Some(accuracy(&mean_probs(&members, &val, cfg.batch, device), &val.labels));
            if generation == cfg.generations {
                t.save_members(&members, &train.classes)?;
            }
        }
        if generation < cfg.generations {
            train.soft = Some(mean_probs(&members, &train, cfg.batch, device));
        }
    }
    let (best_val, best_epoch, state) = t.best.take().ok_or_else(|| Error::Config("no model trained".into()))?;
    // the checkpoint: the best member's best epoch
    let mut vs = nn::VarStore::new(device);
    let net = MraNet::new(&vs.root(), &t.mcfg);
    restore(&mut vs, &state);
    t.run.save(&vs, &t.run.best())?;
    write_sidecar(&t.run.best(), cfg, &t.mcfg, &train.classes, best_val, best_epoch + 1)?;
    let scores = noise_scores(cfg, &train, &original, noisy.as_deref(), &net, device);
    t.rate.sort_by(f64::total_cmp);
    let report = TrainReport {
        checkpoint: t.run.best(),
        best_val_acc: best_val,
        best_epoch: best_epoch + 1,
        ensemble_val_acc,
        images_per_s: t.rate.get(t.rate.len() / 2).copied().unwrap_or(0.0),
        amp: t.scaler.enabled,
        memory_format: t.layout,
        relabelled: t.relabelled,
        relabel_precision: scores.relabel_precision,
        relabel_recall: scores.relabel_recall,
        uncertainty_auroc_noisy: scores.uncertainty_auroc,
        importance_auroc_noisy: scores.importance_auroc,
        history: std::mem::take(&mut t.history),
        pseudo_labels: pseudo,
    };
    t.run.write_json(&t.run.report(), &report)?;
    Ok(report)
}

/// `--resume`: the interrupted run's class order (its checkpoint's sidecar) wins, so a
/// dataset read in another order is relabelled by name and the outputs keep their meaning.
fn keep_class_order(run: &RunDir, train: &mut Dataset, val: &mut Dataset) -> Result<()> {
    if let Ok(m) = Manifest::load_file(&run.best().with_extension("json"), "resume") {
        train.align_classes(&m.classes)?;
        val.align_classes(&m.classes)?;
    }
    Ok(())
}

/// `--resume`: the interrupted run's state, its training labels (SCN may have changed
/// some) put back.
fn resume_labels(run: &RunDir, cfg: &TrainConfig, train: &mut Dataset) -> Result<ResumeState> {
    if cfg.ensemble > 1 || cfg.generations > 0 {
        return Err(Error::Config("--resume continues single-model runs (ensemble 1, generations 0)".into()));
    }
    let st = ResumeState::read(run)?;
    if st.labels.len() != train.len() {
        return Err(Error::Config("--resume: the dataset differs from the interrupted run's".into()));
    }
    train.labels = st.labels.clone();
    Ok(st)
}

/// On CUDA, both image sets move to the device when they fit `device_cache_gib`.
fn cache_on_device(cfg: &TrainConfig, device: Device, train: &mut Dataset, val: &mut Dataset) {
    if !device.is_cuda() {
        return;
    }
    let gib = (train.images.numel() + val.images.numel()) as f64 / (1u64 << 30) as f64;
    if gib <= cfg.device_cache_gib {
        train.images = train.images.to_device(device);
        val.images = val.images.to_device(device);
        tracing::info!(gib = format!("{gib:.2}"), "images cached on the device");
    } else {
        tracing::info!(gib = format!("{gib:.2}"), limit = cfg.device_cache_gib, "images stay on the host");
    }
}

/// The members' averaged class probabilities over a dataset.
fn mean_probs(members: &[Member], d: &Dataset, batch: usize, device: Device) -> Tensor {
    members
        .iter()
        .map(|m| predict(&m.net, d, batch, device).probs)
        .reduce(|a, b| a + b)
        .map(|s| s / members.len() as f64)
        .unwrap_or_else(|| Tensor::zeros([1], (Kind::Float, Device::Cpu)))
}

/// How well the run found injected label noise, when the truth is known.
#[derive(Default)]
struct NoiseScores {
    relabel_precision: Option<f64>,
    relabel_recall: Option<f64>,
    uncertainty_auroc: Option<f64>,
    importance_auroc: Option<f64>,
}

fn noise_scores(
    cfg: &TrainConfig,
    train: &Dataset,
    original: &[i64],
    noisy: Option<&[bool]>,
    net: &MraNet,
    device: Device,
) -> NoiseScores {
    let (Some(noisy), Some(truth)) = (noisy, &train.true_labels) else { return NoiseScores::default() };
    let mut s = NoiseScores::default();
    let changed: Vec<usize> = (0..train.len()).filter(|&i| train.labels[i] != original[i]).collect();
    if !changed.is_empty() {
        s.relabel_precision =
            Some(changed.iter().filter(|&&i| train.labels[i] == truth[i]).count() as f64 / changed.len() as f64);
    }
    let n_noisy = noisy.iter().filter(|&&b| b).count();
    if n_noisy > 0 && cfg.method == Method::Scn {
        let fixed = (0..train.len()).filter(|&i| noisy[i] && train.labels[i] == truth[i]).count();
        s.relabel_recall = Some(fixed as f64 / n_noisy as f64);
    }
    // the uncertainty heads, scored on the training samples against the injected noise
    let p = predict(net, train, cfg.batch, device);
    let lv = Vec::<f32>::try_from(&p.logvar).unwrap_or_default();
    let imp = Vec::<f32>::try_from(&(-p.importance)).unwrap_or_default();
    // each method's own head only: an SCN run's log-variance head was never trained
    if cfg.method == Method::Rul {
        s.uncertainty_auroc = crate::metrics::auroc(&lv, noisy);
    }
    if cfg.method == Method::Scn {
        s.importance_auroc = crate::metrics::auroc(&imp, noisy);
    }
    s
}

/// A run in progress: what every member shares and what the report collects.
struct Trainer<'a> {
    cfg: &'a TrainConfig,
    device: Device,
    run: RunDir,
    mcfg: MraConfig,
    resume: Option<ResumeState>,
    scaler: LossScaler,
    /// `cfg.memory_format` resolved for the device and network (by the first member).
    layout: MemoryFormat,
    progress: &'a mut dyn TrainProgress,
    history: Vec<EpochLog>,
    relabelled: usize,
    rate: Vec<f64>,
    /// Best validation accuracy over all members, its epoch and weights.
    best: Option<(f64, usize, State)>,
}

impl Trainer<'_> {
    /// Trains one member to the end (or from the resume point) and leaves its best epoch's
    /// weights in it.
    fn member(&mut self, generation: usize, member: usize, train: &mut Dataset, val: &Dataset) -> Result<Member> {
        let cfg = self.cfg;
        let seed = cfg.seed.wrapping_add((generation * 1000 + member) as u64);
        tch::manual_seed(seed as i64);
        let mut vs = nn::VarStore::new(self.device);
        let net = MraNet::new(&vs.root(), &self.mcfg);
        let (mut start, mut best_val, mut best_epoch) = (0, f64::NEG_INFINITY, 0);
        if let Some(st) = &self.resume {
            let last = self.run.last();
            vs.load(&last).map_err(|e| io_error(&last, format!("--resume: {e}")))?;
            start = st.epochs_done;
            (best_val, best_epoch) = (st.best_val, st.best_epoch);
        }
        let narrowest = layout::narrowest_1x1_input(&vs);
        self.layout = layout::resolve(cfg.memory_format, self.device, narrowest)?;
        if generation == 0 && member == 0 {
            tracing::info!(amp = self.scaler.enabled, memory_format = ?self.layout, "training on {:?}", self.device);
        }
        if self.layout == MemoryFormat::ChannelsLast {
            layout::vars_to_channels_last(&vs);
        }
        let best_state = snapshot(&vs);
        let rng = Rng::new(seed ^ 0xA5A5);
        let opt = match cfg.optimizer {
            Optim::Adam => nn::adam(0.9, 0.999, cfg.weight_decay).build(&vs, cfg.lr),
            Optim::Sgd => nn::sgd(cfg.momentum, 0.0, cfg.weight_decay, true).build(&vs, cfg.lr),
        }
        .map_err(Error::Torch)?;
        let mut m = Member { vs, net, opt, rng, best_val, best_epoch, best_state };
        let single = cfg.ensemble == 1 && cfg.generations == 0;
        let label =
            if single { String::new() } else { format!("gen {generation} member {}/{}", member + 1, cfg.ensemble) };
        for epoch in start..cfg.epochs {
            let mut ctx = EpochCtx {
                cfg,
                device: self.device,
                scaler: &mut self.scaler,
                channels_last: self.layout == MemoryFormat::ChannelsLast,
                progress: &mut *self.progress,
                label: &label,
            };
            let log = run_epoch(&mut ctx, &mut m, train, val, epoch)?;
            self.relabelled += log.relabelled;
            self.rate.push(log.images_per_s);
            let log = EpochLog { generation, member, epoch: epoch + 1, ..log };
            self.progress.epoch_end(&log);
            self.run.append_history(&log);
            if log.val_acc > m.best_val {
                m.best_val = log.val_acc;
                m.best_epoch = epoch;
                m.best_state = snapshot(&m.vs);
            }
            self.history.push(log);
            if single {
                self.save_resume_point(&m, epoch, &train.labels)?;
            }
        }
        restore(&mut m.vs, &m.best_state);
        if self.best.as_ref().is_none_or(|b| m.best_val > b.0) {
            let state = m.best_state.iter().map(|(k, t)| (k.clone(), t.copy())).collect();
            self.best = Some((m.best_val, m.best_epoch, state));
        }
        Ok(m)
    }

    /// The last generation's members, each at its best epoch, as OUT/members/member-I
    /// checkpoints with sidecars: `--model OUT/members` runs them as an ensemble.
    fn save_members(&self, members: &[Member], classes: &[String]) -> Result<()> {
        let dir = self.run.members();
        std::fs::create_dir_all(&dir).map_err(|err| Error::Io { path: dir.clone(), err })?;
        for (i, m) in members.iter().enumerate() {
            let path = dir.join(format!("member-{i}.safetensors"));
            self.run.save(&m.vs, &path)?;
            write_sidecar(&path, self.cfg, &self.mcfg, classes, m.best_val, m.best_epoch + 1)?;
        }
        Ok(())
    }

    /// last.safetensors and state.json after each epoch of a single-model run.
    fn save_resume_point(&self, m: &Member, epoch: usize, labels: &[i64]) -> Result<()> {
        self.run.save(&m.vs, &self.run.last())?;
        let st = ResumeState {
            epochs_done: epoch + 1,
            best_val: m.best_val,
            best_epoch: m.best_epoch,
            labels: labels.to_vec(),
            config: self.cfg.clone(),
        };
        let path = self.run.state();
        crate::runtime::files::write_file(&path, serde_json::to_string(&st).unwrap_or_default())
    }
}
