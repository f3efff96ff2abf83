//! `--output FILE` of `process` and `live`: the annotated video (or a still's annotated
//! image), refused when it is the input, written as FILE.part and renamed into place when
//! the run ends or is stopped with Ctrl-C (the video is finalised either way). After a
//! failure the finalised .part stays, and the error says where.
use super::run::Run;
use crate::messages::SourceInfo;
use crate::pipeline::{Progress, RunSummary, StreamSummary, Streams};
use crate::runtime::files::{commit, part_path, Inputs};
use crate::sink::video::{OutputKind, VideoSink};
use crate::sink::Sink;
use anyhow::Context;
use std::path::{Path, PathBuf};

pub struct AnnotatedOutput {
    final_path: PathBuf,
    part: PathBuf,
    pub kind: OutputKind,
}

impl AnnotatedOutput {
    /// Checks `out` against `input` (when it is a file) and its extension, before anything
    /// is opened or written.
    pub fn check(out: &Path, input: Option<&Path>) -> anyhow::Result<Self> {
        let mut inputs = Inputs::new();
        if let Some(i) = input {
            inputs.add(i);
        }
        inputs.check_file("--output", out)?;
        let kind = OutputKind::of(out)?;
        Ok(Self { final_path: out.to_path_buf(), part: part_path(out), kind })
    }

    pub fn path(&self) -> &Path {
        &self.final_path
    }

    /// The sink writing the .part file; a video keeps the audio of `audio_from` (the input
    /// file, when it is one).
    pub fn sink(&self, info: &SourceInfo, audio_from: Option<&Path>) -> anyhow::Result<VideoSink> {
        VideoSink::create_kind(&self.part, info, Some(self.kind), audio_from).context("--output")
    }

    /// The run ended (or was interrupted) and the sink is finished: rename into place.
    pub fn commit(&self) -> anyhow::Result<()> {
        commit(&self.part, &self.final_path).context("--output")
    }

    /// The run failed: the error, saying where the finalised partial file is.
    pub fn failed(&self, e: anyhow::Error) -> anyhow::Error {
        if self.part.exists() && e.downcast_ref::<super::Interrupted>().is_none() {
            e.context(format!("the annotated video up to the failure is in {}", self.part.display()))
        } else {
            e
        }
    }
}

/// `run.execute` for a command with results on stdout (when `stdout`) and maybe
/// annotated `outputs` (one, or one per stream): each output is renamed into place when
/// the run ends or is interrupted (finalised either way), a run of several streams
/// reports each on a line of its own, a finished run ends with the closing line, and a
/// failure names the kept `.part` files.
pub fn execute(
    run: &mut Run,
    streams: impl Into<Streams>,
    sink: Box<dyn Sink>,
    progress: Box<dyn Progress>,
    ended: &str,
    outputs: &[AnnotatedOutput],
    stdout: bool,
) -> anyhow::Result<()> {
    let result = run.execute(streams, sink, progress, ended, |s| {
        for o in outputs {
            o.commit()?;
        }
        for st in s.streams.iter().filter(|st| !st.name.is_empty()) {
            eprintln!("{}", stream_line(st));
        }
        if !s.interrupted {
            let dir = match outputs {
                [one] => Some(one.path()),
                [first, ..] => first.path().parent(),
                [] => None,
            };
            eprintln!("{}", closing_line(s, stdout, dir));
        }
        Ok(())
    });
    match result {
        Err(e) => Err(outputs.iter().fold(e, |e, o| o.failed(e))),
        Ok(_) => Ok(()),
    }
}

/// One stream's line of a run of several: its counts, drops and latency, and why it
/// ended early if it did.
fn stream_line(st: &StreamSummary) -> String {
    let mut line = format!(
        "stream {}: {} frame(s), {} face(s), {} dropped, latency p50 {:.1} ms p99 {:.1} ms",
        st.name, st.frames, st.faces, st.dropped, st.latency_ms.p50, st.latency_ms.p99
    );
    if let Some(e) = &st.error {
        line += &format!("; ended early: {e}");
    }
    line
}

/// The one line a successful run ends with on stderr: what was done and where it went.
fn closing_line(s: &RunSummary, stdout: bool, output: Option<&Path>) -> String {
    let mut line =
        format!("done: {} frame(s), {} face(s) in {:.1} s ({:.1} fps)", s.frames, s.faces, s.elapsed_s, s.fps());
    if s.damaged_packets > 0 {
        line += &format!(", {} damaged packet(s) skipped", s.damaged_packets);
    }
    if s.dropped > 0 {
        line += &format!(", {} frame(s) dropped while behind", s.dropped);
    }
    let mut went = Vec::new();
    if stdout {
        went.push("results on stdout".to_string());
    }
    if let Some(o) = output {
        went.push(format!("annotated output {}", o.display()));
    }
    if !went.is_empty() {
        line += &format!("; {}", went.join(", "));
    }
    line
}
