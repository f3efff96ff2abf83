//! `fer-rt harvest INPUT... --out FACES/`: aligned face crops of one's own footage, for
//! training a student on it (see `sink::faces` for what is kept). Runs like `batch`:
//! resumable through the ledger, shardable, one folder per input.
use super::batch::{run_inputs, InputsArgs};
use super::run::settle;
use super::Cli;
use crate::batch::Produce;

#[derive(Debug, clap::Args)]
pub struct HarvestArgs {
    #[command(flatten)]
    pub common: InputsArgs,
    /// Side of the square crops in pixels: the student's input size (default: [harvest]
    /// size in the config, 112).
    #[arg(long, value_name = "PX")]
    pub size: Option<u32>,
    /// A track gives at most one face per this many frames.
    #[arg(long, value_name = "FRAMES")]
    pub every: Option<u64>,
    /// Faces whose frame quality (0-1, see docs/filtering.md) is below this are skipped.
    #[arg(long)]
    pub min_quality: Option<f32>,
    /// Faces whose shorter box side is below this many pixels are skipped.
    #[arg(long, value_name = "PX")]
    pub min_face_px: Option<f32>,
}

pub fn run(cli: &Cli, args: &HarvestArgs) -> anyhow::Result<()> {
    let cfg = settle(cli, &args.common)?;
    let mut h = cfg.harvest.clone();
    if let Some(v) = args.size {
        h.size = v;
    }
    if let Some(v) = args.every {
        h.every_frames = v;
    }
    if let Some(v) = args.min_quality {
        h.min_quality = v;
    }
    if let Some(v) = args.min_face_px {
        h.min_face_px = v;
    }
    if !(16..=1024).contains(&h.size) || h.every_frames == 0 {
        anyhow::bail!(crate::Error::Config("--size must be in 16..=1024 and --every >= 1".into()));
    }
    run_inputs(cfg, &args.common, Produce::Faces(h))
}
