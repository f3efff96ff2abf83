//! `fer-rt summary PATH...`: per-input, per-track and overall label distributions, mean
//! valence and arousal and face counts of batch folders or `process` outputs (see
//! `crate::batch::summary`).
use super::Cli;
use crate::batch::summary::{summarise_paths, table, Counted};
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct SummaryArgs {
    /// Folders `fer-rt batch --out` wrote, or output files of `process` (.jsonl, .csv,
    /// .parquet).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Count each frame's own label and V/A instead of the filtered ones (the default).
    #[arg(long)]
    pub raw: bool,
    /// One JSON object on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(_cli: &Cli, args: &SummaryArgs) -> anyhow::Result<()> {
    let paths: Vec<&Path> = args.paths.iter().map(PathBuf::as_path).collect();
    let s = summarise_paths(&paths, if args.raw { Counted::Raw } else { Counted::Filtered })?;
    if args.json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        print!("{}", table(&s));
    }
    Ok(())
}
