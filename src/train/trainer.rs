//! The training loop: one model or a deep ensemble, optionally distilled over generations
//! (each generation's students learn the previous ensemble's averaged predictions), with
//! plain cross-entropy, SCN or RUL; Adam or SGD; exponential or cosine learning-rate decay;
//! the best epoch on the validation set checkpointed (safetensors + sidecar manifest);
//! `last` checkpoint and state for resuming single-model runs.
use super::augment::AugmentConfig;
use super::checkpoint::{io_error, restore, snapshot, write_sidecar, ResumeState, RunDir, State};
use super::data::{self, Dataset, DatasetKind, LoadOptions, Split};
use super::epoch::{run_epoch, EpochCtx, LossScaler, Member};
use super::losses::ScnConfig;
use super::rng::Rng;
use super::synth::SynthConfig;
use super::teachers::{self, PseudoReport, TeacherConfig};
use crate::assets::manifest::{Manifest, MraConfig};
use crate::error::{Error, Result};
use crate::model::resnet_mra::MraNet;
use crate::runtime::layout::{self, MemoryFormat};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Tensor};

/// ImageNet statistics on the 0..255 scale; the sidecar records them.
pub const MEAN: [f32; 3] = [123.675, 116.28, 103.53];
pub const STD: [f32; 3] = [58.395, 57.12, 57.375];
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Ce,
    Scn,
    Rul,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Optim {
    Adam,
    Sgd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    Exponential,
    Cosine,
    Constant,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub dataset: DatasetKind,
    /// Dataset root or file (see `train::data`); unused for `synthetic`.
    pub data: PathBuf,
    /// At most this many training samples (0 = all).
    pub limit: usize,
    /// FER+: learn the vote distributions instead of the majority label.
    pub soft_labels: bool,
    /// Held-out fraction for validation when the dataset has no test split (folder, AffectNet).
    pub val_fraction: f64,
    pub model: MraConfig,
    pub method: Method,
    pub scn: ScnConfig,
    pub epochs: usize,
    pub batch: usize,
    pub optimizer: Optim,
    pub lr: f64,
    /// Learning-rate multiplier for the heads (RUL: 10x the backbone's).
    pub head_lr_mult: f64,
    pub weight_decay: f64,
    /// SGD momentum (Nesterov).
    pub momentum: f64,
    pub schedule: Schedule,
    /// Exponential decay per epoch.
    pub gamma: f64,
    /// Members of the deep ensemble (1 = a single model).
    pub ensemble: usize,
    /// Self-distillation generations after the first ensemble (0 = none).
    pub generations: usize,
    pub augment: AugmentConfig,
    pub synthetic: SynthConfig,
    pub seed: u64,
    /// "auto", "cpu", "cuda", "cuda:N".
    pub device: crate::runtime::DeviceChoice,
    /// Mixed precision on CUDA: forward and loss under fp16 autocast, fp32 master weights,
    /// dynamic loss scaling (no effect on the CPU).
    pub amp: bool,
    /// Layout of images and conv weights while training (see `runtime::layout`); checkpoints
    /// are saved contiguous either way.
    pub memory_format: MemoryFormat,
    /// The decoded training and validation images are kept on a CUDA device when they take
    /// at most this many GiB there (0 = never): batches are then gathered on the device
    /// instead of being copied up one by one.
    pub device_cache_gib: f64,
    /// Batches between reads of the running loss and accuracy for the progress bar; each
    /// read waits for the device, so on CUDA it is kept rare.
    pub log_every: usize,
    /// `folder-unlabeled`: the teachers that label the faces (see `train::teachers`).
    pub teacher: TeacherConfig,
    /// A labelled folder (DIR/<class>/<image>) trained on together with the pseudo-labelled
    /// faces: cross-entropy on its labels plus on the pseudo-labels (seed 004's recipe).
    pub labelled: PathBuf,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            dataset: DatasetKind::Synthetic,
            data: PathBuf::new(),
            limit: 0,
            soft_labels: false,
            val_fraction: 0.1,
            model: MraConfig::default(),
            method: Method::Rul,
            scn: ScnConfig::default(),
            epochs: 60,
            batch: 64,
            optimizer: Optim::Adam,
            lr: 2e-4,
            head_lr_mult: 10.0,
            weight_decay: 1e-4,
            momentum: 0.9,
            schedule: Schedule::Exponential,
            gamma: 0.9,
            ensemble: 1,
            generations: 0,
            augment: AugmentConfig::default(),
            synthetic: SynthConfig::default(),
            seed: 1,
            device: crate::runtime::DeviceChoice::Auto,
            amp: true,
            memory_format: MemoryFormat::Auto,
            device_cache_gib: 8.0,
            log_every: 20,
            teacher: TeacherConfig::default(),
            labelled: PathBuf::new(),
        }
    }
}

impl TrainConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |w: &str| Err(Error::Config(w.into()));
        if self.epochs == 0 || self.batch < 2 || self.ensemble == 0 {
            return bad("train: epochs >= 1, batch >= 2 and ensemble >= 1 needed");
        }
        if !(self.lr > 0.0)
            || !(0.0..=1.0).contains(&self.model.region_weight)
            || !(0.0..1.0).contains(&self.model.dropout)
        {
            return bad("train: lr > 0, region_weight in [0, 1] and dropout in [0, 1) needed");
        }
        if self.model.input_size < 32 || self.model.width < 4 {
            return bad("train: input_size >= 32 and width >= 4 needed");
        }
        if !(0.0..1.0).contains(&self.synthetic.noise_rate) || !(0.0..1.0).contains(&self.val_fraction) {
            return bad("train: noise_rate and val_fraction must be in [0, 1)");
        }
        if self.dataset != DatasetKind::Synthetic && self.data.as_os_str().is_empty() {
            return bad("train: --data is needed for this dataset");
        }
        Ok(())
    }

    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            size: self.model.input_size,
            synthetic: self.synthetic.clone(),
            soft_labels: self.soft_labels,
            limit: self.limit,
        }
    }
}

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

/// uint8 [N, 3, S, S] -> normalised float on `device`.
pub fn normalise(images: &Tensor, device: Device) -> Tensor {
    let mean = Tensor::from_slice(&MEAN).view([1, 3, 1, 1]).to_device(device);
    let std = Tensor::from_slice(&STD).view([1, 3, 1, 1]).to_device(device);
    (images.to_device(device).to_kind(Kind::Float) - mean) / std
}

/// Predictions of a network over a dataset (no augmentation, batch by batch).
pub struct Predictions {
    pub probs: Tensor,
    pub logvar: Tensor,
    pub importance: Tensor,
    pub va: Option<Tensor>,
}

pub fn predict(net: &MraNet, d: &Dataset, batch: usize, device: Device) -> Predictions {
    let n = d.len() as i64;
    let (mut p, mut lv, mut imp, mut va) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    tch::no_grad(|| {
        let mut i = 0;
        while i < n {
            let b = (batch as i64).min(n - i);
            let x = normalise(&d.images.narrow(0, i, b), device);
            let o = net.forward(&x, false);
            p.push(o.logits.softmax(-1, Kind::Float).to_device(Device::Cpu));
            lv.push(o.logvar.to_device(Device::Cpu));
            imp.push(o.importance.to_device(Device::Cpu));
            if let Some((v, _)) = o.va {
                va.push(v.to_device(Device::Cpu));
            }
            i += b;
        }
    });
    Predictions {
        probs: Tensor::cat(&p, 0),
        logvar: Tensor::cat(&lv, 0),
        importance: Tensor::cat(&imp, 0),
        va: (!va.is_empty()).then(|| Tensor::cat(&va, 0)),
    }
}

pub fn accuracy(probs: &Tensor, labels: &[i64]) -> f64 {
    let pred = Vec::<i64>::try_from(&probs.argmax(1, false)).unwrap_or_default();
    let hit = pred.iter().zip(labels).filter(|(a, b)| a == b).count();
    hit as f64 / labels.len().max(1) as f64
}

/// One epoch's record.
#[derive(Clone, Debug, Serialize)]
pub struct EpochLog {
    pub generation: usize,
    pub member: usize,
    /// Counted from 1, as the console prints it (and `best_epoch` in the report).
    pub epoch: usize,
    pub lr: f64,
    pub loss: f64,
    pub train_acc: f64,
    pub val_acc: f64,
    pub images_per_s: f64,
    pub relabelled: usize,
    /// Share of the epoch's wall time the host spent assembling batches (gather, upload,
    /// normalisation, augmentation launches): time in which the device waits unless its
    /// queue still holds earlier work.
    pub data_wait_pct: f64,
    /// Optimiser steps skipped because the fp16 gradients overflowed (mixed precision).
    pub skipped_steps: usize,
}

/// Hooks for progress output (the CLI draws a bar; tests stay quiet).
pub trait TrainProgress {
    fn epoch_start(&mut self, _label: &str, _batches: u64) {}
    /// `done` batches of the epoch finished; running mean loss and accuracy so far.
    fn batch(&mut self, _done: u64, _loss: f64, _acc: f64) {}
    fn epoch_end(&mut self, _log: &EpochLog) {}
}

pub struct Quiet;
impl TrainProgress for Quiet {}

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

pub(crate) fn lr_at(cfg: &TrainConfig, epoch: usize) -> f64 {
    match cfg.schedule {
        Schedule::Constant => cfg.lr,
        Schedule::Exponential => cfg.lr * cfg.gamma.powi(epoch as i32),
        Schedule::Cosine => {
            let t = epoch as f64 / cfg.epochs.max(1) as f64;
            cfg.lr * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_train_config_equals_the_defaults() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/configs/train.toml")).unwrap();
        let c: TrainConfig = toml::from_str(&text).unwrap();
        assert_eq!(c, TrainConfig::default());
        assert!(toml::from_str::<TrainConfig>("epochs = 3\nbogus = 1").is_err(), "unknown keys are refused");
    }

    #[test]
    fn schedules() {
        let c = TrainConfig { lr: 1.0, gamma: 0.5, epochs: 4, ..Default::default() };
        assert_eq!(lr_at(&c, 2), 0.25);
        let c = TrainConfig { schedule: Schedule::Cosine, ..c };
        assert!((lr_at(&c, 2) - 0.5).abs() < 1e-12);
        assert_eq!(lr_at(&TrainConfig { schedule: Schedule::Constant, ..c }, 3), 1.0);
    }
}
