//! `fer-rt batch INPUT... --out DIR`: many inputs, each into its own outputs, resumable and
//! shardable (see `crate::batch`); `--merge DIR` folds the shards' ledgers into one.
use super::run::{settle, ApplyFlags};
use super::{Cli, InputFlags, Interrupted};
use crate::batch::inputs::{self, DEFAULT_EXTENSIONS};
use crate::batch::ledger::{self, Record, Status};
use crate::batch::shard::{SchedulerEnv, Shard};
use crate::batch::{self, BatchOptions, BatchProgress, OutputFormat, Produce};
use crate::config::Config;
use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressDrawTarget};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// What `batch` and `harvest` share: the inputs, the output folder, workers, sharding
/// and resume, and the pipeline's own flags.
#[derive(Debug, clap::Args)]
pub struct InputsArgs {
    /// Videos, images, folders (searched recursively by extension), quoted glob patterns
    /// ("clips/**/*.mp4"), or manifests (.txt/.csv/.lst: one path or URL per line).
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<String>,
    /// Output folder: one output per input, named by its path, and the ledger
    /// DIR/_manifest.jsonl of finished inputs.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Inputs processed at once, each worker with its own loaded models (0: one per two
    /// cores, two on 2 cores; see BENCHMARKS.md).
    #[arg(long, default_value_t = 0)]
    pub jobs: usize,
    /// This task's share of the inputs: INDEX/COUNT (0-based), or auto to read Slurm's
    /// SLURM_ARRAY_TASK_ID/COUNT or Kubernetes' JOB_COMPLETION_INDEX (with --shard-count).
    #[arg(long, value_name = "INDEX/COUNT|auto")]
    pub shard: Option<String>,
    /// With --shard auto under a Kubernetes Indexed Job: the Job's completions.
    #[arg(long, value_name = "N")]
    pub shard_count: Option<u32>,
    /// Process again the inputs the ledger records as failed or timed out (they are
    /// skipped otherwise).
    #[arg(long)]
    pub retry_failed: bool,
    /// Seconds one input may take, opening included; an input still running then is
    /// stopped, its partial outputs discarded, and recorded as timed_out (none by default).
    #[arg(long, value_name = "SECONDS", value_parser = positive_seconds)]
    pub input_timeout: Option<f64>,
    /// Print what would run (this shard's inputs still to do, one JSON line each) and exit.
    #[arg(long)]
    pub dry_run: bool,
    /// File extensions taken from folders, comma-separated (default: common video and
    /// image formats).
    #[arg(long, value_delimiter = ',', value_name = "EXT,...")]
    pub ext: Option<Vec<String>>,
    #[command(flatten)]
    pub run: super::RunFlags,
    #[command(flatten)]
    pub input_flags: InputFlags,
    /// No progress bar on stderr.
    #[arg(long)]
    pub no_progress: bool,
    /// The run's totals as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct BatchArgs {
    #[command(flatten)]
    pub common: InputsArgs,
    /// Output formats, comma-separated: jsonl, csv, parquet.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "jsonl")]
    pub format: Vec<OutputFormat>,
    /// Also write each input's annotated video (DIR/<input path>.annotated.mp4, H.264).
    #[arg(long)]
    pub video: bool,
    /// Fold the shard ledgers of DIR into DIR/_manifest.jsonl, then exit.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["inputs", "out", "shard"])]
    pub merge: Option<PathBuf>,
}

impl ApplyFlags for InputsArgs {
    fn apply(&self, cfg: &mut Config) -> anyhow::Result<()> {
        self.run.apply(cfg);
        self.input_flags.apply(cfg);
        Ok(())
    }
}

/// Workers for `--jobs 0`: one per two cores, and two on a 2-core machine. Measured on 2
/// cores (BENCHMARKS.md, batch): 2 workers beat 1 by 20-25 % (one input's start-up and
/// tail overlap another's frames), 3 gained nothing more and 4 lost. Each pipeline keeps
/// about two cores busy, hence one worker per two cores on larger machines (not measured
/// on 16 cores yet).
pub fn auto_jobs(cores: usize) -> usize {
    (cores / 2).max(2.min(cores)).max(1)
}

/// With several workers, each gets its share of the cores for its engines' threads
/// (where the config leaves them to the default), so workers do not oversubscribe.
fn share_threads(cfg: &mut Config, jobs: usize) {
    if jobs <= 1 {
        return;
    }
    let share = (crate::runtime::cores() / jobs).max(1);
    for t in [&mut cfg.detect.threads, &mut cfg.pipeline.torch_threads] {
        if *t == 0 {
            *t = share;
        }
    }
    if cfg.model.threads == 0 {
        cfg.model.threads = crate::model::CpuRun::auto_threads(share);
    }
}

pub fn run(cli: &Cli, args: &BatchArgs) -> anyhow::Result<()> {
    if let Some(dir) = &args.merge {
        let (records, files) = ledger::merge(dir).with_context(|| format!("--merge {}", dir.display()))?;
        eprintln!("merged {files} ledger file(s) into {}: {records} input(s)", dir.join(ledger::LEDGER).display());
        return Ok(());
    }
    let cfg = settle(cli, &args.common)?;
    run_inputs(cfg, &args.common, Produce::Results { formats: dedup(&args.format), video: args.video })
}

/// The shared body of `batch` and `harvest`: expand, shard, plan against the ledger, run
/// the workers with a progress bar, report; exit 1 when any input failed.
pub fn run_inputs(mut cfg: Config, args: &InputsArgs, produce: Produce) -> anyhow::Result<()> {
    if args.inputs.is_empty() {
        bail!(crate::Error::Config("no INPUT given".into()));
    }
    let out = args.out.clone().ok_or_else(|| crate::Error::Config("--out DIR is required".into()))?;
    let shard =
        args.shard.as_deref().map(|s| Shard::parse(s, args.shard_count, &SchedulerEnv::from_process())).transpose()?;
    let jobs = if args.jobs == 0 { auto_jobs(crate::runtime::cores()) } else { args.jobs };
    share_threads(&mut cfg, jobs);
    let extensions: Vec<String> = match &args.ext {
        Some(e) => e.iter().map(|x| x.trim_start_matches('.').to_lowercase()).collect(),
        None => DEFAULT_EXTENSIONS.iter().map(|e| e.to_string()).collect(),
    };
    let opts = BatchOptions {
        out: out.clone(),
        produce,
        jobs,
        shard,
        retry_failed: args.retry_failed,
        strict: args.input_flags.strict,
        autorotate: !args.input_flags.no_autorotate,
        parquet_row_group_rows: cfg.output.parquet_row_group_rows,
        input_timeout_s: args.input_timeout,
    };
    let all = inputs::expand(&args.inputs, &extensions)?;
    batch::check_outputs(&all, &opts, &args.inputs, &extensions)?;
    let plan = batch::plan(all, &opts, &ledger::read_all(&out)?);
    eprintln!(
        "{} input(s){}: {} to do, {} done, {} failed before{}",
        plan.selected,
        shard.map(|s| format!(" in shard {s}")).unwrap_or_default(),
        plan.todo.len(),
        plan.done,
        plan.failed.len(),
        if plan.failed.is_empty() || args.retry_failed { "" } else { " (--retry-failed runs them again)" }
    );
    if args.dry_run {
        for i in &plan.todo {
            println!("{}", serde_json::json!({"key": i.key, "input": i.location}));
        }
        return Ok(());
    }
    let show = !args.no_progress && std::io::stderr().is_terminal();
    let bar = Arc::new(BatchBar::new(plan.todo.len() as u64, show));
    super::install_stop_handler();
    let summary = batch::run(&cfg, &opts, plan, bar.clone())?;
    bar.bar.finish_and_clear();
    eprintln!(
        "{} processed, {} failed{}, {} frames, {} faces{} in {:.1} s ({:.1} fps); {} skipped as done",
        summary.processed,
        summary.failed,
        if summary.timed_out > 0 { format!(" ({} timed out)", summary.timed_out) } else { String::new() },
        summary.frames,
        summary.faces,
        crops_note(summary.crops),
        summary.seconds,
        summary.frames as f64 / summary.seconds.max(1e-9),
        summary.skipped_done
    );
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    }
    if summary.interrupted {
        bail!(Interrupted { frames: summary.frames });
    }
    let failed = summary.failed + summary.skipped_failed;
    if failed > 0 {
        bail!("{failed} input(s) failed; the ledger {} has each error", out.join(opts.ledger_name()).display());
    }
    Ok(())
}

/// Harvest writes fewer crops than it sees faces (one per track per --every frames, of
/// enough quality and size): say both, so the counts do not seem to disagree.
fn crops_note(crops: Option<u64>) -> String {
    crops.map(|c| format!(" seen, {c} crops written")).unwrap_or_default()
}

/// A time limit in seconds: finite and above zero.
fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("'{s}' is not a number of seconds above 0")),
    }
}

fn dedup(formats: &[OutputFormat]) -> Vec<OutputFormat> {
    let mut v = formats.to_vec();
    v.sort();
    v.dedup();
    v
}

/// One bar over the inputs (position, ETA), frames and fps in its message; a line per
/// finished input above it (printed even when the bar is hidden).
struct BatchBar {
    bar: ProgressBar,
    frames: AtomicU64,
    start: Instant,
}

impl BatchBar {
    fn new(inputs: u64, show: bool) -> Self {
        let target = if show { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        let bar = ProgressBar::with_draw_target(Some(inputs), target);
        bar.set_style(super::progress_style(true));
        bar.set_prefix("inputs ");
        Self { bar, frames: AtomicU64::new(0), start: Instant::now() }
    }
}

impl BatchProgress for BatchBar {
    fn frame(&self, _faces: usize) {
        let n = self.frames.fetch_add(1, Ordering::Relaxed) + 1;
        if n % 10 == 1 {
            let fps = n as f64 / self.start.elapsed().as_secs_f64().max(1e-9);
            self.bar.set_message(format!("{n} frames, {fps:.1} fps"));
        }
    }

    fn finished(&self, r: &Record) {
        self.bar.inc(1);
        let line = match r.status {
            Status::Ok => format!(
                "done   {}: {} frames, {} faces{}, {:.1} s ({:.1} fps)",
                r.key,
                r.frames,
                r.faces,
                crops_note(r.crops),
                r.seconds,
                r.frames as f64 / r.seconds.max(1e-9)
            ),
            Status::Failed | Status::TimedOut => {
                format!("failed {}: {}", r.key, r.error.as_deref().unwrap_or("unknown error"))
            }
        };
        self.bar.suspend(|| eprintln!("{line}"));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn auto_jobs_follow_the_cores() {
        let got: Vec<usize> = [1, 2, 3, 4, 16].map(super::auto_jobs).to_vec();
        assert_eq!(got, [1, 2, 2, 2, 8]);
    }
}
