//! The training loop: one model or a deep ensemble, optionally distilled over generations
//! (each generation's students learn the previous ensemble's averaged predictions), with
//! plain cross-entropy, SCN or RUL; Adam or SGD; exponential or cosine learning-rate decay;
//! the best epoch on the validation set checkpointed (safetensors + sidecar manifest);
//! `last` checkpoint and state for resuming single-model runs.
use super::augment::{augment, AugmentConfig};
use super::data::{self, Dataset, DatasetKind, LoadOptions, Split};
use super::losses::{self, ScnConfig};
use super::rng::Rng;
use super::synth::SynthConfig;
use crate::assets::manifest::{MraConfig, RegionMode};
use crate::error::{Error, Result};
use crate::model::resnet_mra::MraNet;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Tensor};

/// ImageNet statistics on the 0..255 scale; the sidecar records them.
pub const MEAN: [f32; 3] = [123.675, 116.28, 103.53];
pub const STD: [f32; 3] = [58.395, 57.12, 57.375];
/// Alignment target of the five landmarks for checkpoints (same framing as the bundled
/// classifier and the synthetic faces): eyes at 40 % height, mouth corners at 75 %.
pub const TEMPLATE: [[f32; 2]; 5] =
    [[0.3419, 0.4016], [0.6565, 0.3999], [0.5002, 0.5727], [0.371, 0.7568], [0.6315, 0.7554]];

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
    /// The decoded training and validation images are kept on a CUDA device when they take
    /// at most this many GiB there (0 = never): batches are then gathered on the device
    /// instead of being copied up one by one.
    pub device_cache_gib: f64,
    /// Batches between reads of the running loss and accuracy for the progress bar; each
    /// read waits for the device, so on CUDA it is kept rare.
    pub log_every: usize,
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
            device_cache_gib: 8.0,
            log_every: 20,
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

/// Train and validation sets for a config: the dataset's own test split where it has one.
pub fn datasets(cfg: &TrainConfig) -> Result<(Dataset, Dataset)> {
    let opt = cfg.load_options();
    let train = data::load(cfg.dataset, &cfg.data, Split::Train, &opt)?;
    match cfg.dataset {
        DatasetKind::Folder | DatasetKind::Affectnet => {
            let mut idx: Vec<i64> = (0..train.len() as i64).collect();
            Rng::new(cfg.seed ^ 0x5EED).shuffle(&mut idx);
            let nv = ((train.len() as f64 * cfg.val_fraction).round() as usize).clamp(1, train.len().saturating_sub(1));
            let (v, t) = idx.split_at(nv);
            Ok((train.subset(t), train.subset(v)))
        }
        _ => Ok((train, data::load(cfg.dataset, &cfg.data, Split::Test, &opt)?)),
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
    pub best_epoch: usize,
    pub ensemble_val_acc: Option<f64>,
    pub images_per_s: f64,
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
}

struct Member {
    vs: nn::VarStore,
    net: MraNet,
    best_val: f64,
    best_epoch: usize,
    best_state: Vec<(String, Tensor)>,
}

fn lr_at(cfg: &TrainConfig, epoch: usize) -> f64 {
    match cfg.schedule {
        Schedule::Constant => cfg.lr,
        Schedule::Exponential => cfg.lr * cfg.gamma.powi(epoch as i32),
        Schedule::Cosine => {
            let t = epoch as f64 / cfg.epochs.max(1) as f64;
            cfg.lr * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
        }
    }
}

fn snapshot(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> =
        vs.variables().into_iter().map(|(k, t)| (k, t.detach().to_device(Device::Cpu).copy())).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn restore(vs: &mut nn::VarStore, state: &[(String, Tensor)]) {
    let vars = vs.variables();
    tch::no_grad(|| {
        for (k, t) in state {
            if let Some(mut v) = vars.get(k).map(|v| v.shallow_clone()) {
                v.copy_(t);
            }
        }
    });
}

/// Where a run writes: OUT/best.safetensors + best.json, last.safetensors + state.json,
/// history.jsonl, report.json.
pub struct RunDir(pub PathBuf);

impl RunDir {
    pub fn best(&self) -> PathBuf {
        self.0.join("best.safetensors")
    }
    fn last(&self) -> PathBuf {
        self.0.join("last.safetensors")
    }
    fn state(&self) -> PathBuf {
        self.0.join("state.json")
    }
}

#[derive(Serialize, Deserialize)]
struct ResumeState {
    epochs_done: usize,
    best_val: f64,
    best_epoch: usize,
    labels: Vec<i64>,
    config: TrainConfig,
}

/// Trains as configured and writes the run to `out`. `resume`: continue a single-model
/// run from OUT/last.safetensors (the optimiser's moments restart).
pub fn train(cfg: &TrainConfig, out: &Path, resume: bool, progress: &mut dyn TrainProgress) -> Result<TrainReport> {
    cfg.validate()?;
    let device = cfg.device.select()?;
    let run = RunDir(out.to_path_buf());
    std::fs::create_dir_all(out).map_err(|e| Error::Config(format!("{}: {e}", out.display())))?;
    let (mut train, mut val) = datasets(cfg)?;
    if resume {
        // the interrupted run's class order (its checkpoint's sidecar) wins: a dataset read
        // in another order is relabelled by name, so the network's outputs keep their meaning
        let sidecar = run.best().with_extension("json");
        if let Ok(m) = crate::assets::manifest::Manifest::load_file(&sidecar, "resume") {
            train.align_classes(&m.classes)?;
            val.align_classes(&m.classes)?;
        }
    }
    if device.is_cuda() {
        let gib = (train.images.numel() + val.images.numel()) as f64 / (1u64 << 30) as f64;
        if gib <= cfg.device_cache_gib {
            train.images = train.images.to_device(device);
            val.images = val.images.to_device(device);
            tracing::info!(gib = format!("{gib:.2}"), "images cached on the device");
        } else {
            tracing::info!(gib = format!("{gib:.2}"), limit = cfg.device_cache_gib, "images stay on the host");
        }
    }
    let mut scaler = LossScaler::new(cfg.amp && device.is_cuda());
    let mut mcfg = cfg.model.clone();
    mcfg.classes = train.classes.len();
    mcfg.valence_arousal = mcfg.valence_arousal && train.va.is_some();
    let noisy: Option<Vec<bool>> =
        train.true_labels.as_ref().map(|t| t.iter().zip(&train.labels).map(|(a, b)| a != b).collect());
    let original = train.labels.clone();
    let mut resume_state: Option<ResumeState> = None;
    if resume {
        if cfg.ensemble > 1 || cfg.generations > 0 {
            return Err(Error::Config("--resume continues single-model runs (ensemble 1, generations 0)".into()));
        }
        let text = std::fs::read_to_string(run.state())
            .map_err(|e| Error::Config(format!("--resume: {}: {e}", run.state().display())))?;
        let st: ResumeState = serde_json::from_str(&text)
            .map_err(|e| Error::Config(format!("--resume: {}: {e}", run.state().display())))?;
        if st.labels.len() != train.len() {
            return Err(Error::Config("--resume: the dataset differs from the interrupted run's".into()));
        }
        train.labels = st.labels.clone();
        resume_state = Some(st);
    }
    let mut history = Vec::new();
    let mut relabelled_total = 0usize;
    let mut rate = Vec::new();
    let mut best_overall: Option<(f64, usize, Vec<(String, Tensor)>)> = None;
    let mut ensemble_val_acc = None;
    for generation in 0..=cfg.generations {
        let mut members = Vec::new();
        for member in 0..cfg.ensemble {
            let seed = cfg.seed.wrapping_add((generation * 1000 + member) as u64);
            tch::manual_seed(seed as i64);
            let mut vs = nn::VarStore::new(device);
            let net = MraNet::new(&vs.root(), &mcfg);
            let mut start = 0;
            let (mut best_val, mut best_epoch) = (f64::NEG_INFINITY, 0);
            if let Some(st) = &resume_state {
                vs.load(run.last()).map_err(|e| Error::Config(format!("--resume: {e}")))?;
                start = st.epochs_done;
                (best_val, best_epoch) = (st.best_val, st.best_epoch);
            }
            let mut m = Member { best_state: snapshot(&vs), vs, net, best_val, best_epoch };
            let label = if cfg.ensemble > 1 || cfg.generations > 0 {
                format!("gen {generation} member {}/{}", member + 1, cfg.ensemble)
            } else {
                String::new()
            };
            let mut rng = Rng::new(seed ^ 0xA5A5);
            let mut opt = match cfg.optimizer {
                Optim::Adam => nn::adam(0.9, 0.999, cfg.weight_decay).build(&m.vs, cfg.lr),
                Optim::Sgd => nn::sgd(cfg.momentum, 0.0, cfg.weight_decay, true).build(&m.vs, cfg.lr),
            }
            .map_err(Error::Torch)?;
            for epoch in start..cfg.epochs {
                let log = run_epoch(
                    cfg,
                    &mut m,
                    &mut opt,
                    &mut scaler,
                    &mut train,
                    &val,
                    epoch,
                    &mut rng,
                    device,
                    progress,
                    &label,
                )?;
                relabelled_total += log.relabelled;
                rate.push(log.images_per_s);
                let log = EpochLog { generation, member, ..log };
                progress.epoch_end(&log);
                append_history(&run, &log);
                if log.val_acc > m.best_val {
                    m.best_val = log.val_acc;
                    m.best_epoch = epoch;
                    m.best_state = snapshot(&m.vs);
                }
                history.push(log);
                if cfg.ensemble == 1 && cfg.generations == 0 {
                    m.vs.save(run.last())
                        .map_err(|e| Error::Config(format!("saving {}: {e}", run.last().display())))?;
                    let st = ResumeState {
                        epochs_done: epoch + 1,
                        best_val: m.best_val,
                        best_epoch: m.best_epoch,
                        labels: train.labels.clone(),
                        config: cfg.clone(),
                    };
                    std::fs::write(run.state(), serde_json::to_string(&st).unwrap_or_default())
                        .map_err(|e| Error::Config(format!("{}: {e}", run.state().display())))?;
                }
            }
            restore(&mut m.vs, &m.best_state);
            if best_overall.as_ref().is_none_or(|b| m.best_val > b.0) {
                best_overall =
                    Some((m.best_val, m.best_epoch, m.best_state.iter().map(|(k, t)| (k.clone(), t.copy())).collect()));
            }
            members.push(m);
        }
        // the ensemble's averaged predictions: its score, and the next generation's targets
        if members.len() > 1 {
            let mean = members
                .iter()
                .map(|m| predict(&m.net, &val, cfg.batch, device).probs)
                .reduce(|a, b| a + b)
                .map(|s| s / members.len() as f64);
            ensemble_val_acc = mean.map(|p| accuracy(&p, &val.labels));
        }
        if generation < cfg.generations {
            let soft: Tensor = members
                .iter()
                .map(|m| predict(&m.net, &train, cfg.batch, device).probs)
                .reduce(|a, b| a + b)
                .map(|s| s / members.len() as f64)
                .unwrap_or_else(|| Tensor::zeros([1], (Kind::Float, Device::Cpu)));
            train.soft = Some(soft);
        }
    }
    let (best_val, best_epoch, state) = best_overall.ok_or_else(|| Error::Config("no model trained".into()))?;
    // the checkpoint: the best member's best epoch
    let mut vs = nn::VarStore::new(device);
    let net = MraNet::new(&vs.root(), &mcfg);
    restore(&mut vs, &state);
    vs.save(run.best()).map_err(|e| Error::Config(format!("saving {}: {e}", run.best().display())))?;
    write_sidecar(&run, cfg, &mcfg, &train.classes, best_val, best_epoch)?;

    let (mut precision, mut recall, mut auroc_u, mut auroc_i) = (None, None, None, None);
    if let (Some(noisy), Some(truth)) = (&noisy, &train.true_labels) {
        let changed: Vec<usize> = (0..train.len()).filter(|&i| train.labels[i] != original[i]).collect();
        if !changed.is_empty() {
            precision =
                Some(changed.iter().filter(|&&i| train.labels[i] == truth[i]).count() as f64 / changed.len() as f64);
        }
        let n_noisy = noisy.iter().filter(|&&b| b).count();
        if n_noisy > 0 && cfg.method == Method::Scn {
            let fixed = (0..train.len()).filter(|&i| noisy[i] && train.labels[i] == truth[i]).count();
            recall = Some(fixed as f64 / n_noisy as f64);
        }
        // the uncertainty heads, scored on the training samples against the injected noise
        let p = predict(&net, &train, cfg.batch, device);
        let lv = Vec::<f32>::try_from(&p.logvar).unwrap_or_default();
        let imp = Vec::<f32>::try_from(&(-p.importance)).unwrap_or_default();
        auroc_u = crate::metrics::auroc(&lv, noisy);
        auroc_i = crate::metrics::auroc(&imp, noisy);
    }
    rate.sort_by(f64::total_cmp);
    let report = TrainReport {
        checkpoint: run.best(),
        best_val_acc: best_val,
        best_epoch,
        ensemble_val_acc,
        images_per_s: rate.get(rate.len() / 2).copied().unwrap_or(0.0),
        relabelled: relabelled_total,
        relabel_precision: precision,
        relabel_recall: recall,
        uncertainty_auroc_noisy: auroc_u,
        importance_auroc_noisy: auroc_i,
        history,
    };
    let text = serde_json::to_string_pretty(&report).unwrap_or_default();
    std::fs::write(out.join("report.json"), text).map_err(|e| Error::Config(format!("{}: {e}", out.display())))?;
    Ok(report)
}

fn append_history(run: &RunDir, log: &EpochLog) {
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(run.0.join("history.jsonl")) {
        let _ = writeln!(f, "{}", serde_json::to_string(log).unwrap_or_default());
    }
}

#[allow(clippy::too_many_arguments)]
/// Dynamic loss scaling for fp16 training: the loss is multiplied by `scale` before the
/// backward pass so small gradients survive fp16, the gradients are divided back before the
/// step, and a step whose gradients overflowed is skipped with the scale halved; after
/// `GROWTH_INTERVAL` clean steps the scale doubles (PyTorch's GradScaler recipe).
struct LossScaler {
    enabled: bool,
    scale: f64,
    clean_steps: usize,
}

impl LossScaler {
    const GROWTH_INTERVAL: usize = 2000;

    fn new(enabled: bool) -> Self {
        Self { enabled, scale: 65536.0, clean_steps: 0 }
    }

    /// Backward, unscale, step (or skip). Returns false when the step was skipped.
    fn step(&mut self, loss: &Tensor, opt: &mut nn::Optimizer, vs: &nn::VarStore) -> bool {
        opt.zero_grad();
        if !self.enabled {
            loss.backward();
            opt.step();
            return true;
        }
        (loss * self.scale).backward();
        let grads: Vec<Tensor> = vs.trainable_variables().iter().map(|v| v.grad()).filter(|g| g.defined()).collect();
        let inv = 1.0 / self.scale;
        let mut sums = Vec::with_capacity(grads.len());
        for g in &grads {
            let mut g = g.shallow_clone();
            let _ = g.g_mul_scalar_(inv);
            sums.push(g.sum(Kind::Float));
        }
        let finite = sums.is_empty() || Tensor::stack(&sums, 0).sum(Kind::Float).isfinite().int64_value(&[]) != 0;
        if finite {
            opt.step();
            self.clean_steps += 1;
            if self.clean_steps >= Self::GROWTH_INTERVAL {
                self.scale *= 2.0;
                self.clean_steps = 0;
            }
        } else {
            self.scale = (self.scale / 2.0).max(1.0);
            self.clean_steps = 0;
        }
        finite
    }
}

#[allow(clippy::too_many_arguments)]
fn run_epoch(
    cfg: &TrainConfig,
    m: &mut Member,
    opt: &mut nn::Optimizer,
    scaler: &mut LossScaler,
    train: &mut Dataset,
    val: &Dataset,
    epoch: usize,
    rng: &mut Rng,
    device: Device,
    progress: &mut dyn TrainProgress,
    label: &str,
) -> Result<EpochLog> {
    let lr = lr_at(cfg, epoch);
    // the heads (group 1) learn faster than the backbone (RUL's recipe)
    opt.set_lr_group(0, lr);
    opt.set_lr_group(1, lr * cfg.head_lr_mult);
    let n = train.len();
    let mut order: Vec<i64> = (0..n as i64).collect();
    rng.shuffle(&mut order);
    let batches = n.div_ceil(cfg.batch);
    progress.epoch_start(&format!("{label} epoch {}/{}", epoch + 1, cfg.epochs), batches as u64);
    let t0 = Instant::now();
    let (mut seen, mut relabelled, mut skipped) = (0usize, 0usize, 0usize);
    let mut data_s = 0.0f64;
    // running sums stay on the device; reading them waits for it, so only every log_every
    let loss_sum = Tensor::zeros([], (Kind::Float, device));
    let hits = Tensor::zeros([], (Kind::Int64, device));
    let relabel_now = cfg.method == Method::Scn && epoch >= cfg.scn.relabel_epoch;
    let amp = scaler.enabled;
    for (b, chunk) in order.chunks(cfg.batch).enumerate() {
        if chunk.len() < 2 {
            continue;
        }
        let td = Instant::now();
        let idx = Tensor::from_slice(chunk);
        let idx_img = idx.to_device(train.images.device());
        let x = augment(&normalise(&train.images.index_select(0, &idx_img), device), &cfg.augment, rng);
        let labels_v: Vec<i64> = chunk.iter().map(|&i| train.labels[i as usize]).collect();
        let labels = Tensor::from_slice(&labels_v).to_device(device);
        data_s += td.elapsed().as_secs_f64();
        let (out, loss) = tch::autocast(amp, || {
            let out = m.net.forward(&x, true);
            let mut loss = match (&train.soft, cfg.method) {
                (Some(soft), _) => losses::soft_ce(&out.logits, &soft.index_select(0, &idx).to_device(device)),
                (None, Method::Ce) => losses::ce(&out.logits, &labels),
                (None, Method::Scn) => {
                    let (l, low) = losses::scn(&out, &labels, &cfg.scn);
                    if relabel_now {
                        let logits = out.logits.detach();
                        for (k, new) in
                            losses::relabels(&logits, &labels_v, &low, cfg.scn.relabel_margin).into_iter().enumerate()
                        {
                            if let Some(c) = new {
                                train.labels[chunk[k] as usize] = c;
                                relabelled += 1;
                            }
                        }
                    }
                    l
                }
                (None, Method::Rul) => losses::rul(&m.net, &out, &labels, rng),
            };
            if let (Some((v, lv)), Some(target)) = (&out.va, &train.va) {
                loss = loss + losses::va_nll(v, lv, &target.index_select(0, &idx).to_device(device));
            }
            (out, loss.to_kind(Kind::Float))
        });
        if !scaler.step(&loss, opt, &m.vs) {
            skipped += 1;
        }
        tch::no_grad(|| {
            let mut l = loss_sum.shallow_clone();
            let _ = l.g_add_(&(loss.detach() * chunk.len() as f64));
            let mut h = hits.shallow_clone();
            let _ = h.g_add_(&out.logits.argmax(1, false).eq_tensor(&labels).sum(Kind::Int64));
        });
        seen += chunk.len();
        if (b + 1) % cfg.log_every.max(1) == 0 || b + 1 == batches {
            let s = seen.max(1) as f64;
            progress.batch(b as u64 + 1, loss_sum.double_value(&[]) / s, hits.int64_value(&[]) as f64 / s);
        }
    }
    let (loss_total, hit_total) = (loss_sum.double_value(&[]), hits.int64_value(&[]) as usize);
    let secs = t0.elapsed().as_secs_f64();
    let p = predict(&m.net, val, cfg.batch, device);
    let val_acc = accuracy(&p.probs, &val.labels);
    Ok(EpochLog {
        generation: 0,
        member: 0,
        epoch,
        lr,
        loss: loss_total / seen.max(1) as f64,
        train_acc: hit_total as f64 / seen.max(1) as f64,
        val_acc,
        images_per_s: seen as f64 / secs.max(1e-9),
        relabelled,
        data_wait_pct: 100.0 * data_s / secs.max(1e-9),
        skipped_steps: skipped,
    })
}

/// The checkpoint's manifest: everything `--model` needs to run it, plus how it was made.
fn write_sidecar(
    run: &RunDir,
    cfg: &TrainConfig,
    mcfg: &MraConfig,
    classes: &[String],
    val: f64,
    epoch: usize,
) -> Result<()> {
    let weights = run.best();
    let bytes = std::fs::read(&weights).map_err(|e| Error::Config(format!("{}: {e}", weights.display())))?;
    let sha = {
        use sha2::Digest;
        let h = sha2::Sha256::digest(&bytes);
        h.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let name = run.0.file_name().and_then(|s| s.to_str()).unwrap_or("mra").to_string();
    let doc = json!({
        "name": name,
        "kind": "classifier",
        "architecture": "resnet18-mra",
        "weights": "best.safetensors",
        "sha256": sha,
        "source": {"registry": "local", "made_by": format!("fer-rt {} train", env!("CARGO_PKG_VERSION"))},
        "license": "weights trained by the user: the training data's licence applies",
        "training_data": format!("{:?} {}", cfg.dataset, cfg.data.display()),
        "classes": classes,
        "preprocessing": {
            "width": mcfg.input_size, "height": mcfg.input_size, "color": "rgb",
            "mean": MEAN, "std": STD,
            "note": "ImageNet statistics on the 0-255 scale",
            "template": {"points": TEMPLATE},
        },
        "mra": mcfg,
        "training": {"method": cfg.method, "best_epoch": epoch, "val_acc": val, "config": cfg},
    });
    let path = weights.with_extension("json");
    std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap_or_default())
        .map_err(|e| Error::Config(format!("{}: {e}", path.display())))
}

/// Default architecture for a fast run (tests, quick experiments): narrow and small.
pub fn small_model() -> MraConfig {
    MraConfig { input_size: 48, width: 16, regions: RegionMode::Pooled, ..Default::default() }
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
