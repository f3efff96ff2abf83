//! `fer-rt eval`: scores a trained checkpoint on a labelled set and writes the report
//! (report.json, confusion.png, reliability.png, saliency_<i>.png) into `--out`.
use super::Cli;
use crate::assets::manifest::Manifest;
use crate::train::data::{self, DatasetKind, LoadOptions, Split};
use crate::train::synth::SynthConfig;
use anyhow::Context;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Checkpoint (OUT/best.safetensors from `train`, with best.json beside it).
    #[arg(long)]
    pub model: PathBuf,
    /// What --data holds (as for train). Required: without it eval would score the
    /// generated synthetic faces, which says nothing about a model trained on real ones;
    /// pass `--dataset synthetic` for those explicitly.
    #[arg(long, value_enum)]
    pub dataset: Option<DatasetKind>,
    /// Dataset root or CSV (see `train --help`).
    #[arg(long, value_name = "PATH")]
    pub data: Option<PathBuf>,
    /// Which split: the test split (default) or the training split.
    #[arg(long)]
    pub train_split: bool,
    /// Synthetic data: number of faces in the (clean) test set is half of this.
    #[arg(long, default_value_t = 1400)]
    pub samples: usize,
    /// Seed of the synthetic test set and of the held-out split of a folder.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// At most this many samples.
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
    /// Report folder.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Indices of images to draw saliency maps for.
    #[arg(long, value_delimiter = ',')]
    pub saliency: Vec<usize>,
    /// auto | cpu | cuda | cuda:N
    #[arg(long, default_value = "auto")]
    pub device: crate::runtime::DeviceChoice,
    /// The report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(_cli: &Cli, args: &EvalArgs) -> anyhow::Result<()> {
    let device = args.device.select()?;
    let name = args.model.file_stem().and_then(|s| s.to_str()).unwrap_or("model").to_string();
    if !args.model.is_file() {
        anyhow::bail!(crate::Error::Config(format!("--model {}: no such file", args.model.display())));
    }
    let m = Manifest::load_file(&args.model.with_extension("json"), &name).context("--model")?;
    let (_vs, net) = crate::model::resnet_mra::load_net(&m, &args.model, device).context("--model")?;
    let opt = LoadOptions {
        size: net.cfg.input_size,
        synthetic: SynthConfig { n: args.samples, seed: args.seed, ..Default::default() },
        soft_labels: false,
        limit: args.limit,
    };
    let split = if args.train_split { Split::Train } else { Split::Test };
    let path = args.data.clone().unwrap_or_default();
    let Some(kind) = args.dataset else {
        anyhow::bail!(crate::Error::Config(
            "--dataset is required: what --data holds (folder, rafdb, fer2013, ferplus, affectnet); `--dataset synthetic` scores generated faces".into()
        ));
    };
    if kind != DatasetKind::Synthetic && path.as_os_str().is_empty() {
        anyhow::bail!(crate::Error::Config("--data is needed for this dataset".into()));
    }
    let whole = matches!(kind, DatasetKind::Folder | DatasetKind::Affectnet | DatasetKind::FolderUnlabeled);
    if whole && args.train_split {
        anyhow::bail!(crate::Error::Config(format!(
            "--train-split: a {} dataset has no train/test split of its own",
            clap::ValueEnum::to_possible_value(&kind).map(|p| p.get_name().to_string()).unwrap_or_default()
        )));
    }
    let mut d = data::load(kind, &path, split, &opt).context("loading the evaluation set")?;
    if whole {
        tracing::warn!(
            "{}: a {} dataset has no test split of its own, so eval scores all {} images in it; for an unbiased figure none of them may have been trained on (a held-out folder, e.g. synth --test-fraction's test/)",
            path.display(),
            clap::ValueEnum::to_possible_value(&kind).map(|p| p.get_name().to_string()).unwrap_or_default(),
            d.len()
        );
    }
    d.align_classes(&m.classes).context("matching the dataset's classes to the model's")?;
    let r = crate::train::eval::evaluate(&net, &d, &args.out, &args.saliency, device)?;
    eprintln!("{} samples: accuracy {:.4}, macro-F1 {:.4}, ECE {:.4}", r.samples, r.accuracy, r.macro_f1, r.ece);
    for (c, v) in &r.per_class_recall {
        eprintln!("  recall {c:<10} {v:.3}");
    }
    if let (Some(v), Some(a)) = (r.ccc_valence, r.ccc_arousal) {
        eprintln!("CCC valence {v:.3}, arousal {a:.3}");
    }
    eprintln!("wrote {} into {}", r.files.join(", "), args.out.display());
    if args.json {
        println!("{}", serde_json::to_string(&r)?);
    }
    Ok(())
}
