//! Many inputs, one command: `fer-rt batch`. The inputs are expanded and de-duplicated
//! ([`inputs`]), split by shard for cluster schedulers ([`shard`]), checked against the
//! output folder's ledger of finished inputs ([`ledger`]) and run by `jobs` workers, each
//! with its own loaded models reused from one input to the next. Each output is written
//! under a `.part` name and renamed when complete; only then is the input's ledger line
//! written, so a run killed at any moment leaves no output that looks complete and is not,
//! and the next run redoes at most the inputs that were in flight. One input's failure
//! is recorded and the batch goes on.
pub mod inputs;
pub mod ledger;
pub mod shard;
pub mod summary;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::messages::SourceInfo;
use crate::pipeline::{self, Models, Progress};
use crate::sink::csv::CsvSink;
use crate::sink::faces::{FacesSink, HarvestConfig};
use crate::sink::jsonl::JsonlSink;
use crate::sink::parquet::ParquetSink;
use crate::sink::video::VideoSink;
use crate::sink::{RunInfo, Sink, Tee};
use crate::source::video::Deadline;
use crate::source::VideoSource;
use inputs::Input;
use ledger::{Ledger, Record, Status};
use serde::{Deserialize, Serialize};
use shard::Shard;
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A per-input output file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    Jsonl,
    Csv,
    Parquet,
}

impl OutputFormat {
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Jsonl => "jsonl",
            OutputFormat::Csv => "csv",
            OutputFormat::Parquet => "parquet",
        }
    }
}

pub use crate::runtime::files::{part_path, PART};
/// Suffix of the annotated video of an input.
pub const VIDEO_SUFFIX: &str = "annotated.mp4";

/// What each input gives.
#[derive(Clone, Debug)]
pub enum Produce {
    /// The pipeline's results in these formats, and optionally the annotated video.
    Results { formats: Vec<OutputFormat>, video: bool },
    /// A folder of aligned face crops with `faces.csv` (`fer-rt harvest`).
    Faces(HarvestConfig),
}

/// Suffix of the folder of an input's harvested faces.
pub const FACES_SUFFIX: &str = "faces";

#[derive(Clone, Debug)]
pub struct BatchOptions {
    pub out: PathBuf,
    pub produce: Produce,
    pub jobs: usize,
    pub shard: Option<Shard>,
    pub retry_failed: bool,
    /// Damaged packets fail the input (see `process --strict`).
    pub strict: bool,
    pub autorotate: bool,
    /// Rows per Parquet row group.
    pub parquet_row_group_rows: usize,
    /// Seconds one input may take, opening included, before it is stopped and recorded as
    /// `timed_out` (None: no limit).
    pub input_timeout_s: Option<f64>,
}

impl BatchOptions {
    /// The output files of an input, relative to the output folder, in a fixed order.
    pub fn outputs(&self, key: &str) -> Vec<String> {
        match &self.produce {
            Produce::Results { formats, video } => {
                let mut v: Vec<String> = formats.iter().map(|f| format!("{key}.{}", f.extension())).collect();
                if *video {
                    v.push(format!("{key}.{VIDEO_SUFFIX}"));
                }
                v
            }
            Produce::Faces(_) => vec![format!("{key}.{FACES_SUFFIX}")],
        }
    }

    pub fn ledger_name(&self) -> String {
        self.shard.map(|s| s.ledger_name()).unwrap_or_else(|| ledger::LEDGER.to_string())
    }
}

/// Refuses a run that would write onto what it reads: an output (or its `.part`, or the
/// ledger) that is one of the inputs, and an output folder inside an input folder when the
/// outputs have an extension that folder's expansion takes (`extensions`), so that a re-run
/// would read its own outputs as inputs (harvest's PNG crops, `--video`'s MP4s).
pub fn check_outputs(inputs: &[Input], opts: &BatchOptions, folders: &[String], extensions: &[String]) -> Result<()> {
    use crate::runtime::files::Inputs;
    let mut read = Inputs::new();
    for i in inputs.iter().filter(|i| !i.is_url()) {
        read.add(Path::new(&i.location));
    }
    for i in inputs.iter().filter(|i| !i.is_url()) {
        for o in opts.outputs(&i.key) {
            read.check_file("--out", &opts.out.join(o))?;
        }
    }
    read.check_file("--out", &opts.out.join(opts.ledger_name()))?;
    let mut dirs = Inputs::new();
    folders.iter().map(Path::new).filter(|p| p.is_dir()).for_each(|p| {
        dirs.add(p);
    });
    let writes: &[&str] = match &opts.produce {
        Produce::Results { video: true, .. } => &["mp4"],
        Produce::Results { .. } => &[],
        Produce::Faces(_) => &["png"],
    };
    if let Some(folder) = dirs.folder_holding(&opts.out) {
        if let Some(ext) = writes.iter().find(|w| extensions.iter().any(|e| e == *w)) {
            return Err(Error::OutputIsInput {
                flag: "--out".into(),
                output: opts.out.clone(),
                input: folder.to_path_buf(),
                why: format!("writes .{ext} files, which a later run would take as inputs, into the input folder"),
            });
        }
    }
    Ok(())
}

/// What a run will do with its inputs.
#[derive(Debug, Default)]
pub struct Plan {
    /// This shard's inputs (all of them without sharding).
    pub selected: usize,
    pub todo: Vec<Input>,
    /// Finished with the current outputs and an unchanged input.
    pub done: usize,
    /// Failed before, left alone without `--retry-failed`.
    pub failed: Vec<Record>,
}

/// Which of `all` this run processes: its shard's, less those whose ledger record says
/// they are finished (outputs present, the file input unchanged) or failed (unless
/// `retry_failed`).
pub fn plan(all: Vec<Input>, opts: &BatchOptions, records: &BTreeMap<String, Record>) -> Plan {
    let mut p = Plan::default();
    for input in all.into_iter().filter(|i| opts.shard.is_none_or(|s| s.takes(&i.key))) {
        p.selected += 1;
        match records.get(&input.key) {
            Some(r) if r.status == Status::Ok && finished(r, &input, opts) => p.done += 1,
            Some(r) if r.status != Status::Ok && !opts.retry_failed && unchanged(r, &input) => p.failed.push(r.clone()),
            _ => p.todo.push(input),
        }
    }
    p
}

fn unchanged(r: &Record, input: &Input) -> bool {
    if input.is_url() {
        return true;
    }
    // mtime to a microsecond: a JSON float read back may differ in its last bit
    let (size, mtime) = ledger::file_stamp(&input.location);
    let close = match (r.mtime_s, mtime) {
        (Some(a), Some(b)) => (a - b).abs() < 1e-6,
        (a, b) => a == b,
    };
    r.size == size && close
}

fn finished(r: &Record, input: &Input, opts: &BatchOptions) -> bool {
    unchanged(r, input) && opts.outputs(&input.key).iter().all(|o| r.outputs.contains(o) && opts.out.join(o).exists())
}

/// The batch's progress: one bar over the inputs with frames, fps and ETA, and one line
/// per finished input.
pub trait BatchProgress: Send + Sync {
    fn frame(&self, faces: usize);
    fn finished(&self, r: &Record);
}

/// Totals of one `batch` run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BatchSummary {
    pub selected: usize,
    pub skipped_done: usize,
    pub skipped_failed: usize,
    pub processed: usize,
    /// Inputs that failed, those that timed out included.
    pub failed: usize,
    /// Inputs stopped by `--input-timeout`.
    pub timed_out: usize,
    pub frames: u64,
    pub faces: u64,
    /// Face crops written (harvest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crops: Option<u64>,
    pub seconds: f64,
    pub interrupted: bool,
}

/// Runs `plan.todo` with `opts.jobs` workers, each loading its own models from `cfg`.
pub fn run(cfg: &Config, opts: &BatchOptions, plan: Plan, progress: Arc<dyn BatchProgress>) -> Result<BatchSummary> {
    std::fs::create_dir_all(&opts.out).map_err(|err| Error::Io { path: opts.out.clone(), err })?;
    let ledger = Mutex::new(Ledger::open(&opts.out, &opts.ledger_name())?);
    let totals = Mutex::new(BatchSummary {
        selected: plan.selected,
        skipped_done: plan.done,
        skipped_failed: plan.failed.len(),
        ..Default::default()
    });
    let queue = Mutex::new(VecDeque::from(plan.todo));
    let t0 = Instant::now();
    let results: Vec<Result<()>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..opts.jobs.max(1))
            .map(|_| {
                let progress = progress.clone();
                s.spawn(|| worker(cfg, opts, &queue, &ledger, &totals, progress))
            })
            .collect();
        workers.into_iter().map(|h| h.join().unwrap_or(Err(Error::StagePanic("batch worker")))).collect()
    });
    let mut summary = totals.into_inner().map_err(|_| Error::StagePanic("batch worker"))?;
    summary.seconds = t0.elapsed().as_secs_f64();
    summary.interrupted = crate::runtime::stop_requested();
    results.into_iter().collect::<Result<Vec<()>>>()?;
    Ok(summary)
}

fn worker(
    cfg: &Config,
    opts: &BatchOptions,
    queue: &Mutex<VecDeque<Input>>,
    ledger: &Mutex<Ledger>,
    totals: &Mutex<BatchSummary>,
    progress: Arc<dyn BatchProgress>,
) -> Result<()> {
    let lock_err = || Error::StagePanic("batch worker");
    // models load lazily: a worker with nothing to do loads none
    let mut models: Option<Models> = None;
    loop {
        if crate::runtime::stop_requested() {
            return Ok(());
        }
        let Some(input) = queue.lock().map_err(|_| lock_err())?.pop_front() else { return Ok(()) };
        if models.is_none() {
            models = Some(Models::load(cfg)?);
        }
        let m = models.as_mut().ok_or_else(lock_err)?;
        let Some(record) = process_one(cfg, opts, m, &input, &progress) else { return Ok(()) };
        ledger.lock().map_err(|_| lock_err())?.append(&record)?;
        {
            let mut t = totals.lock().map_err(|_| lock_err())?;
            match record.status {
                Status::Ok => t.processed += 1,
                Status::Failed => t.failed += 1,
                Status::TimedOut => {
                    t.failed += 1;
                    t.timed_out += 1;
                }
            }
            t.frames += record.frames;
            t.faces += record.faces;
            if let Some(c) = record.crops {
                *t.crops.get_or_insert(0) += c;
            }
        }
        progress.finished(&record);
    }
}

/// Processes one input into its outputs; None when the run was interrupted (nothing is
/// recorded, the partial outputs are removed, the next run redoes it).
fn process_one(
    cfg: &Config,
    opts: &BatchOptions,
    models: &mut Models,
    input: &Input,
    progress: &Arc<dyn BatchProgress>,
) -> Option<Record> {
    let (size, mtime_s) = ledger::file_stamp(&input.location);
    let outputs = opts.outputs(&input.key);
    let t0 = Instant::now();
    let emitted = Arc::new(Emitted::default());
    let result = run_input(cfg, opts, models, input, &outputs, progress, &emitted);
    let parts: Vec<PathBuf> = outputs.iter().map(|o| part_path(&opts.out.join(o))).collect();
    let mut record = Record {
        key: input.key.clone(),
        input: input.location.clone(),
        size,
        mtime_s,
        outputs: Vec::new(),
        frames: emitted.frames.load(Ordering::Relaxed),
        faces: emitted.faces.load(Ordering::Relaxed),
        crops: None,
        seconds: 0.0,
        status: Status::Ok,
        exit_code: 0,
        error: None,
        shard: opts.shard.map(|s| s.to_string()),
        finished_s: 0.0,
    };
    let outcome = result.and_then(|s| {
        if s.interrupted {
            return Ok(None);
        }
        commit(&opts.out, &outputs)?;
        Ok(Some(s))
    });
    match outcome {
        Ok(Some(s)) => {
            record.frames = s.frames;
            record.faces = s.faces;
            if let Produce::Faces(_) = opts.produce {
                record.crops = Some(outputs.iter().map(|o| crate::sink::faces::crops_in(&opts.out.join(o))).sum());
            }
            record.outputs = outputs;
        }
        Ok(None) => {
            parts.iter().for_each(|p| remove(p));
            return None;
        }
        Err(e) => {
            // the ledger and the message agree: what was emitted is counted, and said to be
            // discarded (a failed input keeps no output that could pass for complete)
            let discarded = parts.iter().any(|p| p.exists()) && record.frames > 0;
            parts.iter().for_each(|p| remove(p));
            record.status = if matches!(e, Error::TimedOut { .. }) { Status::TimedOut } else { Status::Failed };
            record.exit_code = if e.is_usage() { 2 } else { 1 };
            record.error = Some(if discarded {
                format!(
                    "{e}; its outputs of those {} frames were discarded (--retry-failed runs it again)",
                    record.frames
                )
            } else {
                e.to_string()
            });
        }
    }
    record.seconds = t0.elapsed().as_secs_f64();
    record.finished_s = ledger::now_s();
    Some(record)
}

/// Removes a partial output, file or folder (best effort: it is named `.part` anyway).
fn remove(p: &Path) {
    let _ = if p.is_dir() { std::fs::remove_dir_all(p) } else { std::fs::remove_file(p) };
}

fn run_input(
    cfg: &Config,
    opts: &BatchOptions,
    models: &mut Models,
    input: &Input,
    outputs: &[String],
    progress: &Arc<dyn BatchProgress>,
    emitted: &Arc<Emitted>,
) -> Result<pipeline::RunSummary> {
    let deadline = opts.input_timeout_s.map(Deadline::after);
    let mut source = if input.is_url() {
        let mut s = VideoSource::open_url(&input.location, &cfg.network, &cfg.limits, cfg.pipeline.decoding())?;
        if let Some(d) = deadline {
            s.set_deadline(d);
        }
        s
    } else {
        let opts = crate::source::video::OpenOptions { deadline, ..cfg.open_options() };
        VideoSource::open_with(Path::new(&input.location), &opts)?
    };
    source.set_strict(opts.strict);
    source.set_autorotate(opts.autorotate);
    let info = RunInfo::new(models.classifier.spec(), cfg.filter.kind);
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    let formats: Vec<Option<OutputFormat>> = match &opts.produce {
        Produce::Results { formats, .. } => formats.iter().copied().map(Some).chain([None]).collect(),
        Produce::Faces(_) => vec![None],
    };
    for (o, format) in outputs.iter().zip(formats) {
        let final_path = opts.out.join(o);
        let part = part_path(&final_path);
        if let Some(dir) = part.parent() {
            std::fs::create_dir_all(dir).map_err(|err| Error::Io { path: dir.to_path_buf(), err })?;
        }
        if let Produce::Faces(h) = &opts.produce {
            remove(&part); // a folder left by a killed run
            sinks.push(Box::new(FacesSink::create(&part, &input.location, h)?));
            continue;
        }
        let create = |p: &Path| {
            std::fs::File::create(p)
                .map(std::io::BufWriter::new)
                .map_err(|err| Error::Io { path: p.to_path_buf(), err })
        };
        sinks.push(match format {
            Some(OutputFormat::Jsonl) => Box::new(JsonlSink::new(create(&part)?)),
            Some(OutputFormat::Csv) => Box::new(CsvSink::new(create(&part)?, &input.location)),
            Some(OutputFormat::Parquet) => {
                Box::new(ParquetSink::create(&part, &input.location, opts.parquet_row_group_rows, &info)?)
            }
            None => Box::new(VideoSink::create_kind(
                &part,
                source.info(),
                Some(crate::sink::video::OutputKind::Video { muxer: "mp4" }),
                (!input.is_url()).then(|| Path::new(&input.location)),
            )?),
        });
    }
    let bar = Box::new(InputProgress { batch: progress.clone(), emitted: emitted.clone() });
    models.run(cfg, Box::new(source), Box::new(Tee(sinks)), bar)
}

/// Syncs each finished `.part` file and renames it into place.
fn commit(out: &Path, outputs: &[String]) -> Result<()> {
    for o in outputs {
        let final_path = out.join(o);
        crate::runtime::files::commit(&part_path(&final_path), &final_path)?;
    }
    Ok(())
}

/// One input's frames, forwarded to the batch's bar.
struct InputProgress {
    batch: Arc<dyn BatchProgress>,
    emitted: Arc<Emitted>,
}

/// Frames and faces one input's run has handed to its outputs so far.
#[derive(Default)]
struct Emitted {
    frames: AtomicU64,
    faces: AtomicU64,
}

impl Progress for InputProgress {
    fn start(&mut self, _: &SourceInfo) {}
    fn frame(&mut self, faces: usize) {
        self.emitted.frames.fetch_add(1, Ordering::Relaxed);
        self.emitted.faces.fetch_add(faces as u64, Ordering::Relaxed);
        self.batch.frame(faces);
    }
    fn finish(&mut self) {}
}
