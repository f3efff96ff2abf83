//! `/v1/session`: a client's own frames (JPEG or PNG, one binary message each) analysed in
//! order with tracking and filtering kept for the session, each answered with one text
//! message. Why at most one frame in flight: a session that sends faster than it is served
//! must not queue without end, so while one frame is analysed only the newest
//! `serve.session_queue_frames` wait; older ones are dropped and counted in the replies
//! (`dropped_frames` of the result, and the session's totals), which keeps the latency of
//! what is answered at one frame's analysis.
//!
//! Protocol: an optional text message `{"pts_ms": T}` gives the next frame's timestamp
//! (else the time since the session opened is used); each binary message is a frame.
//! Each reply is `{"seq": N, "dropped": D, "dropped_behind": B, "dropped_rate": R,
//! "server_ms": S, "result": <the JSON line process writes>}`, or `{"seq": N, "status":
//! 400, "error": "..."}` for a frame that could not be analysed (the session goes on), or
//! a 429 of the same shape, at most once a second, while frames come faster than
//! `serve.max_session_fps`. `{"finish": true}` ends the session's tracks once the frames
//! before it are answered (`{"finished": true, "frames": N, "track_events": [...]}`, the
//! end events `process` puts on a file's last frame); the next frame starts afresh.
use super::engine::{Failure, Job, Outcome, Work};
use super::metrics::{Dropped, Kind};
use super::AppState;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

struct Waiting {
    bytes: Bytes,
    pts_ms: f64,
    seq: u64,
    received: Instant,
}

struct InFlight {
    reply: oneshot::Receiver<Outcome>,
    seq: u64,
    received: Instant,
}

#[derive(Default)]
struct Counts {
    behind: u64,
    rate: u64,
    /// Dropped since the last frame that went to a worker: its `dropped_frames`.
    since: u64,
}

/// A token bucket of one second's frames: bursts of up to `fps` frames pass, a sustained
/// rate above `fps` is cut to it.
struct Rate {
    fps: f64,
    tokens: f64,
    at: Instant,
}

impl Rate {
    fn new(fps: f64) -> Self {
        Self { fps, tokens: fps.max(1.0), at: Instant::now() }
    }

    fn take(&mut self, now: Instant) -> bool {
        if self.fps <= 0.0 {
            return true;
        }
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.fps).min(self.fps.max(1.0));
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Runs one session to its end, then closes the socket with the reason.
pub async fn run(mut ws: WebSocket, state: Arc<AppState>, _slot: tokio::sync::OwnedSemaphorePermit) {
    state.metrics.session_opened();
    let (code, reason) = serve(&mut ws, &state).await;
    if code != 0 {
        let frame = CloseFrame { code, reason: reason.into() };
        let _ = tokio::time::timeout(Duration::from_secs(1), ws.send(Message::Close(Some(frame)))).await;
    }
    state.metrics.session_closed();
}

/// Returns the close code and reason (code 0: the client closed, nothing to send).
async fn serve(ws: &mut WebSocket, state: &AppState) -> (u16, String) {
    let s = &state.cfg.serve;
    let mut stream = match state.engine.new_stream() {
        Ok(st) => Some(st),
        Err(f) => return (1011, f.message),
    };
    let send_timeout = Duration::from_secs_f64(s.client_timeout_s);
    let idle = Duration::from_secs_f64(s.session_idle_s);
    let opened = Instant::now();
    let mut shutdown = state.shutdown.clone();
    let mut waiting: VecDeque<Waiting> = VecDeque::new();
    let mut in_flight: Option<InFlight> = None;
    let mut next_pts: Option<f64> = None;
    let mut counts = Counts::default();
    let mut rate = Rate::new(s.max_session_fps);
    let mut seq = 0u64;
    let mut last_heard = Instant::now();
    let mut draining = false;
    let mut rate_told: Option<Instant> = None;
    let mut finish = false;
    loop {
        if finish && in_flight.is_none() && waiting.is_empty() {
            finish = false;
            let Some(mut st) = stream.take() else { return (1011, "the session's state was lost".into()) };
            let reply = serde_json::json!({ "finished": true, "frames": st.frames(), "track_events": st.finish() });
            stream = match state.engine.new_stream() {
                Ok(fresh) => Some(fresh),
                Err(f) => return (1011, f.message),
            };
            if !send(ws, reply.to_string(), send_timeout).await {
                return (0, String::new());
            }
        }
        if in_flight.is_none() && !draining {
            if let Some(w) = waiting.pop_front() {
                let Some(st) = stream.take() else { return (1011, "the session's state was lost".into()) };
                let (tx, rx) = oneshot::channel();
                let work = Work::Frame { stream: st, pts_ms: Some(w.pts_ms), dropped_before: counts.since };
                counts.since = 0;
                match state.engine.submit(Job { bytes: w.bytes, work, kind: Kind::Session, reply: tx }) {
                    Ok(()) => in_flight = Some(InFlight { reply: rx, seq: w.seq, received: w.received }),
                    Err(f) => return (1011, f.message),
                }
            }
        }
        if draining && in_flight.is_none() {
            return (1001, "the server is shutting down".into());
        }
        let idle_left = idle.saturating_sub(last_heard.elapsed());
        tokio::select! {
            msg = ws.recv(), if !draining => {
                let now = Instant::now();
                last_heard = now;
                match msg {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return (0, String::new()),
                    Some(Ok(Message::Text(t))) => match control(t.as_str()) {
                        Ok(c) => {
                            next_pts = c.pts_ms.or(next_pts);
                            finish |= c.finish;
                        }
                        Err(e) => {
                            let reply = error_reply(seq, &Failure::new(400, e));
                            if !send(ws, reply, send_timeout).await {
                                return (0, String::new());
                            }
                        }
                    },
                    Some(Ok(Message::Binary(bytes))) => {
                        let this = seq;
                        seq += 1;
                        let pts_ms = next_pts.take().unwrap_or_else(|| now.duration_since(opened).as_secs_f64() * 1000.0);
                        if !rate.take(now) {
                            counts.rate += 1;
                            counts.since += 1;
                            state.metrics.dropped(Dropped::Rate, 1);
                            // said once a second at most, not once per frame over the rate
                            if rate_told.is_none_or(|t: Instant| now.duration_since(t) >= Duration::from_secs(1)) {
                                rate_told = Some(now);
                                let f = Failure::new(
                                    429,
                                    format!("over serve.max_session_fps ({}/s): frames beyond it are dropped", s.max_session_fps),
                                );
                                state.metrics.refused(429);
                                if !send(ws, error_reply(this, &f), send_timeout).await {
                                    return (0, String::new());
                                }
                            }
                            continue;
                        }
                        if waiting.len() >= s.session_queue_frames.max(1) {
                            waiting.pop_front();
                            counts.behind += 1;
                            counts.since += 1;
                            state.metrics.dropped(Dropped::Behind, 1);
                        }
                        waiting.push_back(Waiting { bytes, pts_ms, seq: this, received: now });
                    }
                    Some(Ok(_)) => {} // ping and pong: answered by the socket itself
                }
            }
            out = async { (&mut in_flight.as_mut().expect("guarded").reply).await }, if in_flight.is_some() => {
                let done = in_flight.take().expect("guarded");
                let Ok(outcome) = out else { return (1011, "the model workers are gone".into()) };
                stream = outcome.stream;
                let reply = match outcome.result {
                    Ok((line, _faces)) => format!(
                        "{{\"seq\":{},\"dropped\":{},\"dropped_behind\":{},\"dropped_rate\":{},\"server_ms\":{:.3},\"result\":{}}}",
                        done.seq,
                        counts.behind + counts.rate,
                        counts.behind,
                        counts.rate,
                        crate::messages::elapsed_ms(done.received),
                        line
                    ),
                    Err(f) => error_reply(done.seq, &f),
                };
                if !send(ws, reply, send_timeout).await {
                    // a client that does not read its replies loses its session, not the
                    // service's time
                    return (1008, format!("replies not read within serve.client_timeout_s ({} s)", s.client_timeout_s));
                }
                state.metrics.session_latency(crate::messages::elapsed_ms(done.received));
            }
            _ = shutdown.changed(), if !draining => {
                // what is being analysed is answered; what waits is not
                draining = true;
                waiting.clear();
            }
            _ = tokio::time::sleep(idle_left), if !draining && in_flight.is_none() => {
                return (1001, format!("no message for serve.session_idle_s ({} s)", s.session_idle_s));
            }
        }
    }
}

/// The timestamp a control message gives the next frame.
#[derive(Debug, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Control {
    /// The next frame's timestamp.
    pts_ms: Option<f64>,
    /// End the session's tracks once the frames sent before are answered, as the end of a
    /// file does; the next frame starts a new stream.
    #[serde(default)]
    finish: bool,
}

fn control(text: &str) -> Result<Control, String> {
    let c: Control = serde_json::from_str(text).map_err(|e| {
        format!("a text message is a control object like {{\"pts_ms\": 33.3}} or {{\"finish\": true}} ({e})")
    })?;
    match c.pts_ms {
        Some(p) if !p.is_finite() || p < 0.0 => Err(format!("pts_ms {p} is not a time in milliseconds")),
        _ => Ok(c),
    }
}

fn error_reply(seq: u64, f: &Failure) -> String {
    serde_json::json!({ "seq": seq, "status": f.status, "error": f.message }).to_string()
}

async fn send(ws: &mut WebSocket, text: String, timeout: Duration) -> bool {
    matches!(tokio::time::timeout(timeout, ws.send(Message::Text(text.into()))).await, Ok(Ok(())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_messages_set_the_next_timestamp_or_are_refused() {
        assert_eq!(control(r#"{"pts_ms": 33.5}"#).unwrap().pts_ms, Some(33.5));
        assert_eq!(control("{}"), Ok(Control::default()));
        assert!(control(r#"{"finish": true}"#).unwrap().finish);
        assert!(control(r#"{"pts": 1}"#).is_err());
        assert!(control(r#"{"pts_ms": -1}"#).is_err());
        assert!(control("hello").is_err());
    }

    #[test]
    fn the_rate_bucket_passes_bursts_and_cuts_sustained_excess() {
        let mut r = Rate::new(10.0);
        let t0 = r.at;
        assert_eq!((0..10).filter(|_| r.take(t0)).count(), 10);
        assert!(!r.take(t0));
        // one second later another ten pass, not more
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!((0..20).filter(|_| r.take(t1)).count(), 10);
        let mut off = Rate::new(0.0);
        assert!((0..1000).all(|_| off.take(t0)));
    }
}
