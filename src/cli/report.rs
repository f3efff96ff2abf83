//! `fer-rt report INPUT... --out report.html`: a run's results as one HTML page (and, with
//! `--png DIR` / `--svg DIR`, as figure files). The work is `crate::report`; this parses,
//! checks that no output lands on an input, and writes through `.part` files.
use super::Cli;
use crate::plot::Format;
use crate::runtime::files::{write_file, Inputs};
use anyhow::Context;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Results of `process`/`live` (.jsonl, .csv, .parquet) or folders `batch --out` wrote
    /// (one section per video and an index).
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// The HTML file to write (one self-contained file).
    #[arg(long, short, value_name = "FILE", default_value = "report.html")]
    pub out: PathBuf,
    /// The video the results came from: each track's best face becomes its thumbnail.
    /// Given once per results file, in the same order.
    #[arg(long, value_name = "CLIP")]
    pub video: Vec<PathBuf>,
    /// For batch folders: thumbnails from each finished input's own video (the ledger's
    /// path; read once per video up to the last frame needed).
    #[arg(long)]
    pub thumbnails: bool,
    /// Also write every figure as a PNG at 300 dpi into this folder.
    #[arg(long, value_name = "DIR")]
    pub png: Option<PathBuf>,
    /// Also write every figure as an SVG into this folder.
    #[arg(long, value_name = "DIR")]
    pub svg: Option<PathBuf>,
}

pub fn run(cli: &Cli, args: &ReportArgs) -> anyhow::Result<()> {
    let cfg = super::base_config(cli)?;
    let mut inputs = Inputs::new();
    for p in args.inputs.iter().chain(&args.video) {
        inputs.add(p);
    }
    inputs.check_file("--out", &args.out)?;
    for (flag, dir) in [("--png", &args.png), ("--svg", &args.svg)] {
        if let Some(d) = dir {
            inputs.check_folder(flag, d)?;
        }
    }
    let (read, failed) = crate::report::collect(&args.inputs, &args.video, args.thumbnails)?;
    for w in read.iter().flat_map(|i| &i.results.warnings) {
        tracing::warn!("{w}");
    }
    tracing::info!("report on {}", crate::report::describe(&read));
    let report = crate::report::build(&read, failed, &cfg.report)?;
    let page = crate::report::html::page(&report)?;
    write_file(&args.out, page.as_bytes()).with_context(|| format!("writing {}", args.out.display()))?;
    let centroids: Vec<(String, [f32; 2])> = report
        .videos
        .first()
        .map(|v| {
            v.classes.iter().filter_map(|c| cfg.affect.centroids.get(c).map(|p| (c.clone(), *p))).collect()
        })
        .unwrap_or_default();
    for (dir, format) in [(&args.png, Format::Png), (&args.svg, Format::Svg)] {
        if let Some(d) = dir {
            let files = crate::report::figures::write_all(&report, d, format, &centroids)?;
            tracing::info!("{} figure(s) in {}", files.len(), d.display());
        }
    }
    eprintln!(
        "report: {} ({} video(s), {} track(s), {} KB)",
        args.out.display(),
        report.videos.len(),
        report.videos.iter().map(|v| v.tracks.len()).sum::<usize>(),
        page.len().div_ceil(1024)
    );
    Ok(())
}
