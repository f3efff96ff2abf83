//! `fer-rt harvest INPUT... --out FACES/`: aligned face crops of one's own footage, for
//! training a student on it (see `sink::faces` for what is kept). Runs like `batch`:
//! resumable through the ledger, shardable, one folder per input.
use super::batch::{run_inputs, InputsArgs};
use super::run::settle;
use super::Cli;
use crate::batch::Produce;
use crate::sink::faces::HarvestConfig;

fn h() -> HarvestConfig {
    HarvestConfig::default()
}

use super::with_default as dh;

#[derive(Debug, clap::Args)]
pub struct HarvestArgs {
    #[command(flatten)]
    pub common: InputsArgs,
    #[arg(long, value_name = "PX", help = dh("Side of the square crops in pixels: the student's input size ([harvest] size)", h().size))]
    pub size: Option<u32>,
    #[arg(long, value_name = "FRAMES", help = dh("A track gives at most one face per this many frames ([harvest] every_frames)", h().every_frames))]
    pub every: Option<u64>,
    #[arg(long, help = dh("Faces whose frame quality (0-1, see docs/filtering.md) is below this are skipped", h().min_quality))]
    pub min_quality: Option<f32>,
    #[arg(long, value_name = "PX", help = dh("Faces whose shorter box side is below this many pixels are skipped", h().min_face_px))]
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
