//! What a training run is told (`TrainConfig` and its choices), what each epoch reports, and
//! the learning-rate schedule: the types the trainer, its epochs and its checkpoints share,
//! kept below all three so none of them imports another's home.
use super::augment::AugmentConfig;
use super::data::{DatasetKind, LoadOptions};
use super::losses::ScnConfig;
use super::synth::SynthConfig;
use super::teachers::TeacherConfig;
use crate::assets::manifest::MraConfig;
use crate::error::{Error, Result};
use crate::runtime::layout::MemoryFormat;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

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

pub fn lr_at(cfg: &TrainConfig, epoch: usize) -> f64 {
    match cfg.schedule {
        Schedule::Constant => cfg.lr,
        Schedule::Exponential => cfg.lr * cfg.gamma.powi(epoch as i32),
        Schedule::Cosine => {
            let t = epoch as f64 / cfg.epochs.max(1) as f64;
            cfg.lr * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
        }
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
