//! `fer-rt summary DIR`: per-input and overall label distributions, mean valence and
//! arousal and face counts of a batch folder (see `crate::batch::summary`).
use super::Cli;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct SummaryArgs {
    /// A folder `fer-rt batch --out` wrote.
    pub dir: PathBuf,
    /// One JSON object on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(_cli: &Cli, args: &SummaryArgs) -> anyhow::Result<()> {
    let s = crate::batch::summary::summarise(&args.dir)?;
    if args.json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        print!("{}", crate::batch::summary::table(&s));
    }
    Ok(())
}
