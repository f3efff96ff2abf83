//! What a training run keeps on disk, and how it gets back: the best checkpoint with its
//! sidecar manifest (so `--model` can run it), the last checkpoint and resume state of a
//! single-model run, and the per-epoch history. Failures here are I/O errors (exit 1),
//! not configuration errors: the run was fine, the disk was not.
use super::settings::{EpochLog, TrainConfig, MEAN, STD};
use crate::align::TEMPLATE;
use crate::assets::manifest::MraConfig;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::{Path, PathBuf};
use tch::nn;
use tch::{Device, Tensor};

/// A variable store's values, copied to the host, in name order.
pub type State = Vec<(String, Tensor)>;

/// An I/O failure on `path`, with libtorch's and serde's errors carried as I/O errors.
pub fn io_error(path: &Path, err: impl std::fmt::Display) -> Error {
    Error::Io { path: path.to_path_buf(), err: std::io::Error::other(err.to_string()) }
}

/// Where a run writes: OUT/best.safetensors + best.json, last.safetensors + state.json,
/// history.jsonl, report.json.
pub struct RunDir(pub PathBuf);

impl RunDir {
    pub fn best(&self) -> PathBuf {
        self.0.join("best.safetensors")
    }
    pub fn last(&self) -> PathBuf {
        self.0.join("last.safetensors")
    }
    pub fn state(&self) -> PathBuf {
        self.0.join("state.json")
    }
    pub fn report(&self) -> PathBuf {
        self.0.join("report.json")
    }

    pub fn create(&self) -> Result<()> {
        std::fs::create_dir_all(&self.0).map_err(|err| Error::Io { path: self.0.clone(), err })
    }

    pub fn save(&self, vs: &nn::VarStore, path: &Path) -> Result<()> {
        // contiguous copies: a channels-last run's weights are not, and safetensors wants them so
        let vars = crate::runtime::layout::contiguous_vars(vs);
        // complete or not at all: a run killed mid-save keeps the previous checkpoint
        crate::runtime::files::write_via_part(path, |p| {
            tch::Tensor::write_safetensors(&vars, p).map_err(|e| io_error(path, format!("saving: {e}")))
        })
    }

    /// Appends an epoch to history.jsonl (best effort: the report holds the same history).
    pub fn append_history(&self, log: &EpochLog) {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(self.0.join("history.jsonl")) {
            let _ = writeln!(f, "{}", serde_json::to_string(log).unwrap_or_default());
        }
    }

    pub fn write_json(&self, path: &Path, value: &impl Serialize) -> Result<()> {
        write_json(path, value)
    }

    /// Where an ensemble's members go, one checkpoint and sidecar each, so the folder can
    /// be passed to `--model` as an ensemble.
    pub fn members(&self) -> PathBuf {
        self.0.join("members")
    }
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| io_error(path, e))?;
    crate::runtime::files::write_file(path, text)
}

/// What `--resume` needs besides last.safetensors: how far the run got, its best so far,
/// the (possibly SCN-relabelled) training labels, and the config it ran with.
#[derive(Serialize, Deserialize)]
pub struct ResumeState {
    pub epochs_done: usize,
    pub best_val: f64,
    pub best_epoch: usize,
    pub labels: Vec<i64>,
    pub config: TrainConfig,
}

impl ResumeState {
    pub fn read(run: &RunDir) -> Result<Self> {
        let path = run.state();
        let text = std::fs::read_to_string(&path).map_err(|err| Error::Io { path: path.clone(), err })?;
        serde_json::from_str(&text).map_err(|e| Error::Config(format!("--resume: {}: {e}", path.display())))
    }
}

pub fn snapshot(vs: &nn::VarStore) -> State {
    let mut v: State = vs.variables().into_iter().map(|(k, t)| (k, t.detach().to_device(Device::Cpu).copy())).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

pub fn restore(vs: &mut nn::VarStore, state: &[(String, Tensor)]) {
    let vars = vs.variables();
    tch::no_grad(|| {
        for (k, t) in state {
            if let Some(mut v) = vars.get(k).map(|v| v.shallow_clone()) {
                v.copy_(t);
            }
        }
    });
}

/// The manifest beside the checkpoint `weights` (x.safetensors -> x.json): everything
/// `--model` needs to run it, plus how it was made.
pub fn write_sidecar(
    weights: &Path,
    cfg: &TrainConfig,
    mcfg: &MraConfig,
    classes: &[String],
    val: f64,
    epoch: usize,
) -> Result<()> {
    let weights = weights.to_path_buf();
    let bytes = std::fs::read(&weights).map_err(|err| Error::Io { path: weights.clone(), err })?;
    let sha = {
        use sha2::Digest;
        let h = sha2::Sha256::digest(&bytes);
        h.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    // OUT/best.safetensors is named OUT; OUT/members/member-0.safetensors OUT-member-0
    let dir = weights
        .parent()
        .filter(|p| p.file_name().is_some_and(|n| n != "members"))
        .or_else(|| weights.parent()?.parent());
    let run_name = dir.and_then(|p| p.file_name()).and_then(|s| s.to_str()).unwrap_or("mra");
    let stem = weights.file_stem().and_then(|s| s.to_str()).unwrap_or("best");
    let name = if stem == "best" { run_name.to_string() } else { format!("{run_name}-{stem}") };
    let doc = json!({
        "name": name,
        "kind": "classifier",
        "architecture": "resnet18-mra",
        "weights": weights.file_name().and_then(|s| s.to_str()).unwrap_or("best.safetensors"),
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
    write_json(&weights.with_extension("json"), &doc)
}
