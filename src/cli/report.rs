//! `fer-rt report INPUT... --out report.html`: a run's results as one HTML page (and, with
//! `--png DIR` / `--svg DIR`, as figure files). Parsing only: the run path is
//! `crate::report::write`, which the Python package's `fer_rt.report` calls too.
use super::Cli;
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
    let req = crate::report::Request {
        inputs: args.inputs.clone(),
        out: args.out.clone(),
        videos: args.video.clone(),
        thumbnails: args.thumbnails,
        png: args.png.clone(),
        svg: args.svg.clone(),
    };
    let w = crate::report::write(&req, &cfg)?;
    if !w.figures.is_empty() {
        tracing::info!("{} figure(s) written", w.figures.len());
    }
    eprintln!(
        "report: {} ({} video(s), {} track(s), {} KB{})",
        w.page.display(),
        w.videos,
        w.tracks,
        w.bytes.div_ceil(1024),
        if w.figures.is_empty() { String::new() } else { format!(", {} figure files", w.figures.len()) }
    );
    Ok(())
}
