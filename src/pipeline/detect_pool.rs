//! The detect stage of a run of several streams on the CPU, with several detectors: one
//! dispatcher hands each idle detector the next frame of a stream that has none in
//! flight, round-robin across the streams. One detector serves frames one at a time, so a
//! stream of one face waits behind a frame of ten that came first; two detectors of one
//! thread each (on two cores) let it pass, and on ONNX Runtime two small frames at one
//! thread each go faster than each at two threads. A stream's frames stay in order: its
//! next frame is handed out only after the last one went downstream, with the stream's
//! faces to follow (its keyframe schedule) travelling with the frame.
use super::detect_stage::{detect_one, schedules, take_waiting};
use super::StageOut;
use crate::detect::keyframe::Schedule;
use crate::detect::Detector;
use crate::error::{Error, Result};
use crate::messages::FrameMsg;
use crate::runtime::slice::LiveSlices;
use crossbeam_channel::{bounded, Receiver, Select, Sender};

/// One frame for a detector, with its stream's schedule.
struct Job {
    msg: FrameMsg,
    schedule: Schedule,
}

/// A detector's report: which worker, the stream's schedule back, and how it went
/// (`Ok(false)`: the next stage has gone).
struct Done {
    worker: usize,
    stream: usize,
    schedule: Schedule,
    result: Result<bool>,
}

/// Sends a failure report when a worker panics, so the dispatcher never waits for it.
struct PanicReport<'a> {
    worker: usize,
    stream: Option<usize>,
    done: &'a Sender<Done>,
}

impl Drop for PanicReport<'_> {
    fn drop(&mut self) {
        if let (true, Some(stream)) = (std::thread::panicking(), self.stream) {
            let _ = self.done.send(Done {
                worker: self.worker,
                stream,
                schedule: Schedule::default(),
                result: Err(Error::StagePanic("detect")),
            });
        }
    }
}

pub(super) fn detect_pool(
    detectors: Vec<&mut Detector>,
    keep_frame: bool,
    stagger: bool,
    slices: LiveSlices,
    rxs: Vec<Receiver<FrameMsg>>,
    tx: Sender<FrameMsg>,
) -> Result<StageOut> {
    let n = rxs.len();
    let (done_tx, done_rx) = bounded::<Done>(detectors.len());
    std::thread::scope(|s| {
        let mut jobs = Vec::with_capacity(detectors.len());
        for (w, det) in detectors.into_iter().enumerate() {
            let (job_tx, job_rx) = bounded::<Job>(1);
            jobs.push(job_tx);
            let (done, tx) = (done_tx.clone(), tx.clone());
            let spawned = std::thread::Builder::new().name(format!("detect{w}")).spawn_scoped(s, move || {
                for Job { mut msg, mut schedule } in job_rx {
                    let mut guard = PanicReport { worker: w, stream: Some(msg.meta.stream), done: &done };
                    slices.job(schedule.followed());
                    det.swap_schedule(&mut schedule);
                    let r = detect_one(det, &mut msg, keep_frame);
                    det.swap_schedule(&mut schedule);
                    let stream = msg.meta.stream;
                    // downstream first: the stream's next frame is handed out only after
                    let result = r.map(|_| tx.send(msg).is_ok());
                    guard.stream = None;
                    if done.send(Done { worker: w, stream, schedule, result }).is_err() {
                        break;
                    }
                }
            });
            if let Err(e) = spawned {
                return Err(Error::Output(e));
            }
        }
        drop(done_tx);
        let r = dispatch(&rxs, &jobs, &done_rx, schedules(n, stagger));
        drop(jobs);
        r
    })
}

/// Hands frames to idle workers until every stream has ended (or a worker failed).
fn dispatch(
    rxs: &[Receiver<FrameMsg>],
    jobs: &[Sender<Job>],
    done: &Receiver<Done>,
    schedules: Vec<Schedule>,
) -> Result<StageOut> {
    let n = rxs.len();
    let mut schedules: Vec<Option<Schedule>> = schedules.into_iter().map(Some).collect();
    let mut open = vec![true; n];
    let mut idle: Vec<usize> = (0..jobs.len()).rev().collect();
    let mut next = 0usize;
    let handed = |msg: FrameMsg, idle: &mut Vec<usize>, schedules: &mut Vec<Option<Schedule>>| -> bool {
        let (w, i) = (idle.pop().expect("an idle worker"), msg.meta.stream);
        let schedule = schedules[i].take().unwrap_or_default();
        jobs[w].send(Job { msg, schedule }).is_ok()
    };
    loop {
        // every idle worker takes a waiting frame, round-robin across the free streams
        while !idle.is_empty() {
            let in_flight = |i: usize| schedules[i].is_none();
            let Some(msg) = take_waiting(rxs, &mut open, &mut next, in_flight) else { break };
            if !handed(msg, &mut idle, &mut schedules) {
                return Err(Error::StagePanic("detect"));
            }
        }
        let in_flight = schedules.iter().any(Option::is_none);
        let free: Vec<usize> = (0..n).filter(|&i| open[i] && schedules[i].is_some()).collect();
        if !in_flight && !open.iter().any(|&o| o) {
            return Ok(StageOut::None);
        }
        let mut sel = Select::new();
        let done_op = sel.recv(done);
        let watched: Vec<usize> = if idle.is_empty() { Vec::new() } else { free };
        for &i in &watched {
            sel.recv(&rxs[i]);
        }
        let op = sel.select();
        if op.index() == done_op {
            let Ok(d) = op.recv(done) else { return Err(Error::StagePanic("detect")) };
            idle.push(d.worker);
            schedules[d.stream] = Some(d.schedule);
            match d.result {
                Ok(true) => {}
                Ok(false) => return Ok(StageOut::None),
                Err(e) => return Err(e),
            }
        } else {
            let i = watched[op.index() - 1];
            match op.recv(&rxs[i]) {
                Ok(msg) => {
                    next = (i + 1) % n;
                    if !handed(msg, &mut idle, &mut schedules) {
                        return Err(Error::StagePanic("detect"));
                    }
                }
                Err(_) => open[i] = false,
            }
        }
    }
}
