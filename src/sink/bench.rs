//! What `fer-rt bench` measures: a sink that records every frame's stage timings and its
//! capture-to-output latency (JSON encoding included, the output itself discarded), and
//! the report made from them. Percentiles, not means, lead: a real-time tool is judged by
//! its slow frames.
use super::{jsonl::to_json, RunInfo, Sink, SinkStatus};
use crate::error::Result;
use crate::messages::{elapsed_ms, FrameMsg, StageTimings};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Clone, Debug)]
pub struct Sample {
    /// The stream the frame belongs to (`FrameMeta::stream`).
    pub stream: usize,
    pub faces: usize,
    pub timings: StageTimings,
    /// Capture to the JSON line being ready.
    pub latency_ms: f64,
    pub done_at: Instant,
    /// Frames the stream's live source dropped before this one (`FrameMeta::dropped_before`).
    pub dropped_before: u64,
}

/// Records samples into a shared list the caller reads after the run.
pub struct BenchSink {
    samples: Arc<Mutex<Vec<Sample>>>,
}

impl BenchSink {
    pub fn new() -> (Self, Arc<Mutex<Vec<Sample>>>) {
        let samples = Arc::new(Mutex::new(Vec::new()));
        (Self { samples: samples.clone() }, samples)
    }
}

impl Sink for BenchSink {
    fn write_frame(&mut self, frame: &FrameMsg, info: &RunInfo) -> Result<SinkStatus> {
        // the JSON line is what a user's pipeline receives; build it, then drop it
        std::hint::black_box(to_json(frame, info));
        let sample = Sample {
            stream: frame.meta.stream,
            faces: frame.faces.len(),
            timings: frame.timings.clone(),
            latency_ms: elapsed_ms(frame.meta.captured_at),
            done_at: Instant::now(),
            dropped_before: frame.meta.dropped_before,
        };
        self.samples.lock().unwrap_or_else(|e| e.into_inner()).push(sample);
        Ok(SinkStatus::Continue)
    }

    fn needs_pixels(&self) -> bool {
        false // timings and the JSON line
    }

    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Stats {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub mean: f64,
    pub max: f64,
}

/// Nearest-rank percentile `q` in [0, 100] of sorted values.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Stats {
    pub fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return Self::default();
        }
        v.sort_by(f64::total_cmp);
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        Self {
            p50: percentile(&v, 50.0),
            p95: percentile(&v, 95.0),
            p99: percentile(&v, 99.0),
            mean,
            max: v[v.len() - 1],
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct StageStats {
    pub decode: Stats,
    pub detect: Stats,
    /// Detection on keyframes only: the whole frame searched.
    pub detect_keyframe: Stats,
    /// Detection between keyframes: the regions around known faces.
    pub detect_regions: Stats,
    /// The whole-frame searches run ahead of the detector, on a thread of their own (a file
    /// of one stream: `detect.search_ahead`), over the frames that had one; all zero
    /// without.
    pub ahead: Stats,
    pub align: Stats,
    /// Time of the batch each frame's faces went into (frames with faces only).
    pub model: Stats,
    pub track: Stats,
    /// Capture (decode done, or camera delivery) to the JSON line being ready.
    pub end_to_end: Stats,
}

#[derive(Clone, Debug, Serialize)]
pub struct BatchStats {
    pub mean: f64,
    pub max: usize,
    /// [batch size, frames whose faces went into a batch of that size].
    pub histogram: Vec<(usize, u64)>,
}

/// The run's context, filled in by the caller; the report carries it as is.
#[derive(Clone, Debug, Serialize)]
pub struct RunContext {
    pub input: String,
    pub width: u32,
    pub height: u32,
    pub live: bool,
    pub source_fps: Option<f64>,
    pub device: String,
    pub detect_backend: String,
    pub classifier: String,
    pub classifier_backend: String,
    /// Where resize, decoding, suppression and alignment ran: "device" or "host".
    pub preprocess: String,
    /// Warm-up of every network shape before the first frame (not in any figure below; 0
    /// for files on the CPU, which need none).
    pub warm_up_ms: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    #[serde(flatten)]
    pub run: RunContext,
    pub torch_threads: i32,
    pub cores: usize,
    /// Frames that reached the output, warm-up included.
    pub frames: u64,
    /// Leading frames left out of every figure below (model warm-up).
    pub warmup_frames: u64,
    pub dropped: u64,
    pub dropped_pct: f64,
    /// Of `dropped`, those after the warm-up frames: what a stream drops once it runs, apart
    /// from the start, when every stream's first frame needs a keyframe at once.
    pub dropped_after_warmup: u64,
    pub faces_per_frame: f64,
    /// Frames out per second of wall time, from the first frame after warm-up to the last.
    pub throughput_fps: f64,
    pub stages_ms: StageStats,
    /// Share of the measured wall time each stage spent working on frames, in percent (on
    /// CUDA including the waits for its own kernels, so roughly the share of time it keeps
    /// the GPU busy). A stage near 100 bounds the throughput.
    pub stage_busy_pct: StageBusy,
    pub batch_faces: BatchStats,
    /// Streams whose frames shared a batch, mean over frames with faces (1 for one stream).
    pub batch_streams_mean: f64,
    /// Each stream's own figures, in a run of several (`bench --streams N`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<StreamReport>,
}

/// One stream's figures in a run of several.
#[derive(Clone, Debug, Serialize)]
pub struct StreamReport {
    pub name: String,
    pub frames: u64,
    pub dropped: u64,
    pub dropped_pct: f64,
    pub dropped_after_warmup: u64,
    pub faces_per_frame: f64,
    pub throughput_fps: f64,
    pub end_to_end: Stats,
}

#[derive(Clone, Debug, Serialize)]
pub struct StageBusy {
    pub decode: f64,
    pub detect: f64,
    pub align: f64,
    pub model: f64,
    pub track: f64,
}

impl Report {
    /// `dropped`: frames a live source dropped; `warmup`: leading frames to leave out.
    pub fn new(run: RunContext, dropped: u64, warmup: u64, samples: &[Sample]) -> Self {
        let total = samples.len() as u64;
        let warm = if total > warmup + 1 { warmup } else { 0 };
        let s = &samples[warm as usize..];
        let throughput_fps = match (s.first(), s.last()) {
            (Some(a), Some(b)) if s.len() > 1 => {
                let dt = b.done_at.duration_since(a.done_at).as_secs_f64();
                if dt > 0.0 {
                    (s.len() - 1) as f64 / dt
                } else {
                    0.0
                }
            }
            _ => 0.0,
        };
        let with_faces: Vec<&Sample> = s.iter().filter(|x| x.faces > 0).collect();
        let wall_ms = match (s.first(), s.last()) {
            (Some(a), Some(b)) => b.done_at.duration_since(a.done_at).as_secs_f64() * 1e3,
            _ => 0.0,
        };
        // the first sample's work happened before the measured span began
        let busy = |f: fn(&StageTimings) -> f64| {
            let sum: f64 = s.iter().skip(1).map(|x| f(&x.timings)).sum();
            if wall_ms > 0.0 {
                100.0 * sum / wall_ms
            } else {
                0.0
            }
        };
        let stage_busy_pct = StageBusy {
            decode: busy(|t| t.decode_ms),
            detect: busy(|t| t.detect_ms),
            align: busy(|t| t.align_ms),
            model: busy(|t| t.model_share_ms),
            track: busy(|t| t.track_ms),
        };
        let mut hist = std::collections::BTreeMap::<usize, u64>::new();
        for x in &with_faces {
            *hist.entry(x.timings.batch_faces).or_default() += 1;
        }
        let batch_faces = BatchStats {
            mean: if with_faces.is_empty() {
                0.0
            } else {
                with_faces.iter().map(|x| x.timings.batch_faces as f64).sum::<f64>() / with_faces.len() as f64
            },
            max: with_faces.iter().map(|x| x.timings.batch_faces).max().unwrap_or(0),
            histogram: hist.into_iter().collect(),
        };
        let offered = total + dropped;
        // one stream's samples: the drops before its first frame after warm-up were in it
        let in_warmup = if warm > 0 { s.first().map_or(dropped, |x| x.dropped_before.min(dropped)) } else { 0 };
        let batch_streams_mean = if with_faces.is_empty() {
            0.0
        } else {
            with_faces.iter().map(|x| x.timings.batch_streams as f64).sum::<f64>() / with_faces.len() as f64
        };
        Self {
            run,
            torch_threads: crate::runtime::torch_thread_count(),
            cores: crate::runtime::cores(),
            frames: total,
            warmup_frames: warm,
            dropped,
            dropped_pct: if offered > 0 { 100.0 * dropped as f64 / offered as f64 } else { 0.0 },
            dropped_after_warmup: dropped - in_warmup,
            faces_per_frame: if s.is_empty() {
                0.0
            } else {
                s.iter().map(|x| x.faces as f64).sum::<f64>() / s.len() as f64
            },
            throughput_fps,
            stages_ms: StageStats {
                decode: Stats::of(s.iter().map(|x| x.timings.decode_ms)),
                detect: Stats::of(s.iter().map(|x| x.timings.detect_ms)),
                detect_keyframe: Stats::of(s.iter().filter(|x| x.timings.keyframe).map(|x| x.timings.detect_ms)),
                detect_regions: Stats::of(s.iter().filter(|x| !x.timings.keyframe).map(|x| x.timings.detect_ms)),
                ahead: Stats::of(s.iter().filter(|x| x.timings.ahead_ms > 0.0).map(|x| x.timings.ahead_ms)),
                align: Stats::of(s.iter().map(|x| x.timings.align_ms)),
                model: Stats::of(with_faces.iter().map(|x| x.timings.model_ms)),
                track: Stats::of(s.iter().map(|x| x.timings.track_ms)),
                end_to_end: Stats::of(s.iter().map(|x| x.latency_ms)),
            },
            stage_busy_pct,
            batch_faces,
            batch_streams_mean,
            streams: Vec::new(),
        }
    }

    /// The report of a run of several streams: every figure over all of them, then each
    /// stream's own (`names[i]` with `dropped[i]`), from the same samples.
    pub fn with_streams(run: RunContext, names: &[String], dropped: &[u64], warmup: u64, samples: &[Sample]) -> Self {
        let mut all = Self::new(run.clone(), dropped.iter().sum(), warmup, samples);
        all.streams = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let own: Vec<Sample> = samples.iter().filter(|x| x.stream == i).cloned().collect();
                let d = dropped.get(i).copied().unwrap_or(0);
                let r = Self::new(run.clone(), d, warmup, &own);
                StreamReport {
                    name: name.clone(),
                    frames: r.frames,
                    dropped: r.dropped,
                    dropped_pct: r.dropped_pct,
                    dropped_after_warmup: r.dropped_after_warmup,
                    faces_per_frame: r.faces_per_frame,
                    throughput_fps: r.throughput_fps,
                    end_to_end: r.stages_ms.end_to_end,
                }
            })
            .collect();
        all.dropped_after_warmup = all.streams.iter().map(|s| s.dropped_after_warmup).sum();
        all
    }

    /// The human table for stderr.
    pub fn table(&self) -> String {
        let mut out = format!(
            "fer-rt bench: {} {}x{}, {} frames ({} warm-up left out), {}\n",
            self.run.input,
            self.run.width,
            self.run.height,
            self.frames,
            self.warmup_frames,
            if self.run.live {
                format!("live at {:.1} fps", self.run.source_fps.unwrap_or(0.0))
            } else {
                "file (back-pressure, nothing dropped)".into()
            }
        );
        out += &format!(
            "device {} | detector on {} | classifier {} on {} | libtorch threads {} | {} cores\n",
            self.run.device,
            self.run.detect_backend,
            self.run.classifier,
            self.run.classifier_backend,
            self.torch_threads,
            self.cores
        );
        out += &format!("{:<12}{:>9}{:>9}{:>9}{:>9}{:>9}\n", "stage (ms)", "p50", "p95", "p99", "mean", "max");
        let st = &self.stages_ms;
        // the searches ahead only where they ran
        let ahead = (st.ahead.max > 0.0).then_some(("  ahead", &st.ahead));
        let detect = [("detect", &st.detect), ("  keyframes", &st.detect_keyframe), ("  regions", &st.detect_regions)];
        let rows = [("decode", &st.decode)].into_iter().chain(detect).chain(ahead).chain([
            ("align", &st.align),
            ("model", &st.model),
            ("track", &st.track),
            ("end-to-end", &st.end_to_end),
        ]);
        for (name, s) in rows {
            out += &format!("{name:<12}{:>9.2}{:>9.2}{:>9.2}{:>9.2}{:>9.2}\n", s.p50, s.p95, s.p99, s.mean, s.max);
        }
        out += &format!(
            "throughput {:.1} fps | faces/frame {:.2} | batch faces mean {:.1}, max {} | dropped {} ({:.1} %), {} after warm-up\n",
            self.throughput_fps,
            self.faces_per_frame,
            self.batch_faces.mean,
            self.batch_faces.max,
            self.dropped,
            self.dropped_pct,
            self.dropped_after_warmup
        );
        let b = &self.stage_busy_pct;
        out += &format!(
            "busy % of wall time: decode {:.0} | detect {:.0} | align {:.0} | model {:.0} | track {:.0} | preprocessing on the {} | warm-up {:.0} ms\n",
            b.decode, b.detect, b.align, b.model, b.track, self.run.preprocess, self.run.warm_up_ms
        );
        if !self.streams.is_empty() {
            out += &format!(
                "{} streams, batches mix {:.2} streams on average\n",
                self.streams.len(),
                self.batch_streams_mean
            );
            out += &format!(
                "{:<12}{:>7}{:>9}{:>9}{:>9}{:>9}{:>9}{:>15}\n",
                "stream", "faces", "fps out", "p50 ms", "p99 ms", "max ms", "dropped", "after warm-up"
            );
            for s in &self.streams {
                let e = &s.end_to_end;
                out += &format!(
                    "{:<12}{:>7.1}{:>9.1}{:>9.2}{:>9.2}{:>9.2}{:>9}{:>15}\n",
                    s.name, s.faces_per_frame, s.throughput_fps, e.p50, e.p99, e.max, s.dropped, s.dropped_after_warmup
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[7.0], 95.0), 7.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
        let s = Stats::of([3.0, 1.0, 2.0, f64::NAN]);
        assert_eq!((s.p50, s.max, s.mean), (2.0, 3.0, 2.0));
    }

    fn sample(i: u64, t0: Instant, faces: usize, batch: usize) -> Sample {
        Sample {
            stream: 0,
            faces,
            timings: StageTimings {
                decode_ms: 1.0,
                detect_ms: i as f64,
                keyframe: i % 3 == 0,
                // every other keyframe's whole frame searched ahead
                ahead_ms: if i % 6 == 0 { 5.0 + i as f64 } else { 0.0 },
                align_ms: 0.1,
                model_ms: 2.0,
                track_ms: 0.05,
                batch_faces: batch,
                batch_streams: 1,
                model_share_ms: if faces > 0 { 1.0 } else { 0.0 },
            },
            latency_ms: 10.0 + i as f64,
            done_at: t0 + Duration::from_millis(10 * i),
            // three drops before frame 3, then none until after the last frame
            dropped_before: i.min(3),
        }
    }

    fn context() -> RunContext {
        RunContext {
            input: "x".into(),
            width: 640,
            height: 360,
            live: true,
            source_fps: Some(30.0),
            device: "cpu".into(),
            preprocess: "host".into(),
            warm_up_ms: 0.0,
            detect_backend: "torch".into(),
            classifier: "c".into(),
            classifier_backend: "onnxruntime".into(),
        }
    }

    #[test]
    fn report_leaves_out_warm_up_and_counts_batches() {
        let t0 = Instant::now();
        let samples: Vec<Sample> = (0..21).map(|i| sample(i, t0, if i % 2 == 0 { 2 } else { 0 }, 4)).collect();
        let r = Report::new(context(), 7, 5, &samples);
        assert_eq!((r.frames, r.warmup_frames), (21, 5));
        assert_eq!(r.dropped_after_warmup, 4, "7 dropped, 3 of them in the warm-up");
        // frames 5..=20 finish 10 ms apart: 15 intervals in 150 ms
        assert!((r.throughput_fps - 100.0).abs() < 1e-6, "{}", r.throughput_fps);
        assert_eq!(r.stages_ms.detect.max, 20.0);
        // 15 measured frames after the first of the span: decode 1 ms each over 150 ms = 10 %,
        // model 1 ms on the 8 frames with faces among them (6, 8, ..., 20) = 5.33 %
        assert!((r.stage_busy_pct.decode - 10.0).abs() < 1e-6, "{}", r.stage_busy_pct.decode);
        assert!((r.stage_busy_pct.model - 800.0 / 150.0).abs() < 1e-6, "{}", r.stage_busy_pct.model);
        assert_eq!(r.stages_ms.detect.p50, 12.0);
        // keyframes 6, 9, ..., 18 and the frames between them, apart
        assert_eq!((r.stages_ms.detect_keyframe.p50, r.stages_ms.detect_keyframe.max), (12.0, 18.0));
        assert_eq!((r.stages_ms.detect_regions.p50, r.stages_ms.detect_regions.max), (13.0, 20.0));
        assert_eq!(r.batch_faces.histogram, vec![(4, 8)]);
        assert!((r.dropped_pct - 25.0).abs() < 1e-9);
        assert!(r.table().contains("end-to-end"));
        // the searches ahead: frames 6, 12, 18, over those frames only; a row of their own
        assert_eq!((r.stages_ms.ahead.p50, r.stages_ms.ahead.max), (17.0, 23.0));
        assert!(r.table().contains("  ahead "));
    }

    #[test]
    fn no_row_for_searches_ahead_that_never_ran() {
        let t0 = Instant::now();
        let samples: Vec<Sample> = (0..8)
            .map(|i| {
                let mut s = sample(i, t0, 1, 1);
                s.timings.ahead_ms = 0.0;
                s
            })
            .collect();
        let r = Report::new(context(), 0, 0, &samples);
        assert_eq!(r.stages_ms.ahead.max, 0.0);
        assert!(!r.table().contains("ahead"), "{}", r.table());
        assert!(r.table().contains("  regions "));
    }
}
