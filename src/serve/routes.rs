//! The endpoints: each checks its input and its admission, hands the work to the engine
//! or subscribes to a source, and answers. Errors are JSON `{"error": "..."}` with the
//! status that says whose fault it was.
use super::engine::{check_header, Failure, Job, Work};
use super::metrics::{Dropped, Kind};
use super::AppState;
use axum::body::Body;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

type St = State<Arc<AppState>>;

pub fn error(status: u16, message: impl Into<String>) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = (code, axum::Json(serde_json::json!({ "error": message.into() }))).into_response();
    if status == 429 {
        r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    }
    if status == 401 {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    }
    r
}

fn refuse(state: &AppState, f: Failure) -> Response {
    state.metrics.refused(f.status);
    error(f.status, f.message)
}

/// Every request needs the token when one is set.
pub async fn auth(State(state): St, req: Request, next: Next) -> Response {
    if let Some(token) = &state.token {
        let h = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let offered = super::auth::Token::offered(h, req.uri().query());
        if !offered.is_some_and(|t| token.matches(&t)) {
            return refuse(
                &state,
                Failure::new(401, "a token is required: Authorization: Bearer TOKEN, or ?token=TOKEN"),
            );
        }
    }
    next.run(req).await
}

pub async fn health(State(state): St) -> Response {
    axum::Json(serde_json::json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "classifier": state.engine.run_info().classifier,
        "workers": state.engine.workers(),
        "sessions": state.metrics.sessions(),
        "sources": state.sources.len(),
        "uptime_s": state.started.elapsed().as_secs_f64(),
    }))
    .into_response()
}

pub async fn metrics(State(state): St) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render()).into_response()
}

pub async fn list_streams(State(state): St) -> Response {
    let streams: Vec<_> = state.sources.iter().map(|s| s.describe()).collect();
    axum::Json(serde_json::json!({ "streams": streams })).into_response()
}

/// `POST /v1/analyze`: one image as the body (any content type but multipart), or the
/// first file of a multipart form.
pub async fn analyze(State(state): St, req: Request) -> Response {
    let limit_mb = state.cfg.serve.max_body_mb;
    let too_big = || Failure::new(413, format!("the body is over serve.max_body_mb ({limit_mb} MB)"));
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let bytes = if multipart {
        match first_file(req, &state).await {
            Ok(b) => b,
            Err(f) => return refuse(&state, f),
        }
    } else {
        match Bytes::from_request(req, &state).await {
            Ok(b) => b,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return refuse(&state, too_big()),
            Err(e) => return refuse(&state, Failure::new(400, e.body_text())),
        }
    };
    if bytes.is_empty() {
        return refuse(&state, Failure::new(400, "the body is empty: send the image's bytes"));
    }
    if let Err(f) = check_header(&bytes, &state.cfg.serve) {
        return refuse(&state, f);
    }
    let Ok(_slot) = state.requests.clone().try_acquire_owned() else {
        return refuse(
            &state,
            Failure::new(
                429,
                format!(
                    "{} requests are in progress (serve.max_pending_requests); retry shortly",
                    state.cfg.serve.max_pending_requests
                ),
            ),
        );
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    if let Err(f) = state.engine.submit(Job { bytes, work: Work::Still, kind: Kind::Analyze, reply: tx }) {
        return refuse(&state, f);
    }
    match rx.await {
        Ok(outcome) => match outcome.result {
            Ok((line, _)) => ([(header::CONTENT_TYPE, "application/json")], line).into_response(),
            Err(f) => error(f.status, f.message),
        },
        Err(_) => error(500, "the model workers are gone"),
    }
}

async fn first_file(req: Request, state: &Arc<AppState>) -> Result<Bytes, Failure> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        let status = e.status().as_u16();
        Failure::new(if status == 413 { 413 } else { 400 }, format!("multipart body: {}", e.body_text()))
    };
    let mut form = axum::extract::Multipart::from_request(req, state)
        .await
        .map_err(|e| Failure::new(400, format!("multipart body: {}", e.body_text())))?;
    while let Some(field) = form.next_field().await.map_err(bad)? {
        if field.file_name().is_some() || matches!(field.name(), Some("image" | "file")) {
            return field.bytes().await.map_err(bad);
        }
    }
    Err(Failure::new(400, "the multipart form has no file field (name it image)"))
}

/// `GET /v1/session`: a WebSocket of the client's own frames.
pub async fn session(State(state): St, ws: WebSocketUpgrade) -> Response {
    let Ok(slot) = state.sessions.clone().try_acquire_owned() else {
        return refuse(
            &state,
            Failure::new(429, format!("{} sessions are open, serve.max_sessions", state.cfg.serve.max_sessions)),
        );
    };
    let max = state.cfg.serve.max_body_mb * 1024 * 1024;
    ws.max_message_size(max).max_frame_size(max).on_upgrade(move |socket| super::session::run(socket, state, slot))
}

fn source_of(state: &AppState, name: &str) -> Result<Arc<super::streams::Source>, Failure> {
    state.sources.iter().find(|s| s.name == name).cloned().ok_or_else(|| {
        let names: Vec<&str> = state.sources.iter().map(|s| s.name.as_str()).collect();
        Failure::new(
            404,
            format!(
                "no source named '{name}' (sources: {})",
                if names.is_empty() { "none".into() } else { names.join(", ") }
            ),
        )
    })
}

fn gone(src: &super::streams::Source) -> Failure {
    Failure::new(
        410,
        format!("source '{}' is over: {}", src.name, serde_json::to_string(&src.state()).unwrap_or_default()),
    )
}

/// `GET /v1/streams/{name}/results`: a WebSocket of the source's JSON lines.
pub async fn results(State(state): St, Path(name): Path<String>, ws: WebSocketUpgrade) -> Response {
    let src = match source_of(&state, &name) {
        Ok(s) => s,
        Err(f) => return refuse(&state, f),
    };
    let Some(rx) = src.subscribe_results() else { return refuse(&state, gone(&src)) };
    ws.on_upgrade(move |socket| watch(socket, rx, state))
}

async fn watch(mut ws: WebSocket, mut rx: tokio::sync::broadcast::Receiver<Arc<str>>, state: Arc<AppState>) {
    state.metrics.watcher(1);
    let timeout = Duration::from_secs_f64(state.cfg.serve.client_timeout_s);
    let mut shutdown = state.shutdown.clone();
    let close = loop {
        tokio::select! {
            r = rx.recv() => match r {
                Ok(line) => {
                    let sent = tokio::time::timeout(timeout, ws.send(Message::Text(line.as_ref().into()))).await;
                    match sent {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => break None,
                        Err(_) => break Some((1008, "results not read within serve.client_timeout_s")),
                    }
                }
                // this watcher read too slowly: the oldest results went, the newest follow
                Err(RecvError::Lagged(n)) => state.metrics.dropped(Dropped::SlowClient, n),
                Err(RecvError::Closed) => break Some((1000, "the source ended")),
            },
            m = ws.recv() => match m {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break None,
                Some(Ok(_)) => {}
            },
            _ = shutdown.changed() => break Some((1001, "the server is shutting down")),
        }
    };
    if let Some((code, reason)) = close {
        let frame = CloseFrame { code, reason: reason.into() };
        let _ = tokio::time::timeout(Duration::from_secs(1), ws.send(Message::Close(Some(frame)))).await;
    }
    state.metrics.watcher(-1);
}

/// `GET /v1/streams/{name}/video`: the annotated frames as MJPEG
/// (`multipart/x-mixed-replace`), which an `<img>` shows as it arrives.
pub async fn video(State(state): St, Path(name): Path<String>) -> Response {
    let src = match source_of(&state, &name) {
        Ok(s) => s,
        Err(f) => return refuse(&state, f),
    };
    let Some(rx) = src.subscribe_video() else { return refuse(&state, gone(&src)) };
    state.metrics.watcher(1);
    let guard = WatcherGuard(state.clone());
    let parts = futures_util::stream::unfold((rx, state.shutdown.clone(), guard), |(mut rx, mut sd, g)| async move {
        loop {
            tokio::select! {
                r = rx.recv() => match r {
                    Ok(jpeg) => {
                        let head = format!("--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n", jpeg.len());
                        let part = [Bytes::from(head), jpeg, Bytes::from_static(b"\r\n")].concat();
                        return Some((Ok::<_, std::convert::Infallible>(Bytes::from(part)), (rx, sd, g)));
                    }
                    Err(RecvError::Lagged(n)) => g.0.metrics.dropped(Dropped::SlowClient, n),
                    Err(RecvError::Closed) => return None,
                },
                _ = sd.changed() => return None,
            }
        }
    });
    (
        [(header::CONTENT_TYPE, "multipart/x-mixed-replace; boundary=frame"), (header::CACHE_CONTROL, "no-store")],
        Body::from_stream(parts),
    )
        .into_response()
}

/// Counts a watcher of the video while its response lives.
struct WatcherGuard(Arc<AppState>);

impl Drop for WatcherGuard {
    fn drop(&mut self) {
        self.0.metrics.watcher(-1);
    }
}

pub async fn not_found() -> Response {
    error(404, "no such endpoint: /, /healthz, /metrics, /v1/analyze, /v1/session, /v1/streams")
}
