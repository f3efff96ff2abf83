//! `fer-rt serve`: the pipeline over HTTP and WebSockets, for apps that want live emotion
//! over the network rather than a subprocess. A thin door: requests run the library's
//! `Analyzer` (`/v1/analyze`, `/v1/session`) and `pipeline::run` (`--source`) on the config
//! `process` settles, and answer with the JSON line `process` writes; only the transport,
//! the limits and the bookkeeping live here.
//!
//! Threads: tokio carries the connections (`serve.io_threads`); the models run on
//! `serve.workers` threads of their own (`engine`); each `--source` runs the threaded
//! pipeline. Every queue is bounded: a session keeps one frame in flight and the newest
//! waiting, a watcher reads a bounded ring, requests beyond `serve.max_pending_requests`
//! and sessions beyond `serve.max_sessions` are refused with 429.
//!
//! Shutdown (Ctrl-C, SIGTERM): the listener closes, requests in flight are answered,
//! sessions answer the frame being analysed and get a close frame, sources stop; exit 0.
mod auth;
mod engine;
mod metrics;
mod page;
mod routes;
mod session;
mod streams;

use crate::config::Config;
use crate::error::Error;
use axum::routing::{get, post};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};

pub use crate::imageops::jpeg::encode_jpeg;

pub use crate::pipeline::SourceSpec;

pub struct Options {
    pub listen: SocketAddr,
    pub token: Option<String>,
    pub sources: Vec<SourceSpec>,
}

/// What every handler shares.
pub struct AppState {
    pub cfg: Config,
    engine: engine::Engine,
    metrics: Arc<metrics::Metrics>,
    sources: Vec<Arc<streams::Source>>,
    token: Option<auth::Token>,
    sessions: Arc<Semaphore>,
    requests: Arc<Semaphore>,
    shutdown: watch::Receiver<bool>,
    started: Instant,
}

/// Refuses a listen address off loopback without a token, and duplicate source names:
/// usage errors, found before anything loads.
pub fn check(opts: &Options) -> Result<(), Error> {
    if !opts.listen.ip().is_loopback() && opts.token.as_deref().is_none_or(str::is_empty) {
        return Err(Error::Config(format!(
            "--listen {}: not a loopback address, so every request must carry a token: give --token or FER_RT_TOKEN",
            opts.listen
        )));
    }
    for (i, s) in opts.sources.iter().enumerate() {
        if opts.sources[..i].iter().any(|o| o.name == s.name) {
            return Err(Error::Config(format!("--source: two sources are named '{}'; name them NAME=INPUT", s.name)));
        }
    }
    Ok(())
}

/// Loads the models, opens the sources, serves until Ctrl-C or SIGTERM, then drains.
pub fn serve(cfg: Config, opts: Options) -> anyhow::Result<()> {
    check(&opts)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cfg.serve.io_threads.max(1))
        .thread_name("fer-rt-io")
        .enable_all()
        .build()?;
    runtime.block_on(run(cfg, opts))
}

async fn run(cfg: Config, opts: Options) -> anyhow::Result<()> {
    let metrics = Arc::new(metrics::Metrics::default());
    let engine = engine::Engine::start(&cfg, metrics.clone())?;
    let mut sources = Vec::new();
    let mut threads = Vec::new();
    for s in &opts.sources {
        let (src, handle) = streams::start(s.name.clone(), s.input.clone(), &cfg, metrics.clone())
            .map_err(|e| anyhow::anyhow!("--source {}: {e:#}", s.input.display()))?;
        sources.push(src);
        threads.push(handle);
    }
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|e| Error::Config(format!("--listen {}: {e}", opts.listen)))?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let s = &cfg.serve;
    let state = Arc::new(AppState {
        engine,
        metrics,
        sources,
        token: opts.token.as_deref().filter(|t| !t.is_empty()).map(auth::Token::new),
        sessions: Arc::new(Semaphore::new(s.max_sessions)),
        requests: Arc::new(Semaphore::new(s.max_pending_requests)),
        shutdown: stop_rx,
        started: Instant::now(),
        cfg: cfg.clone(),
    });
    let app = router(state.clone());
    // the address on stderr, once bound: scripts and tests wait for this line (port 0
    // picks a free port, and this says which)
    eprintln!("fer-rt serve: listening on http://{addr}/");
    let stop = async move {
        while !crate::runtime::stop_requested() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = stop_tx.send(true);
    };
    axum::serve(listener, app).with_graceful_shutdown(stop).await?;
    // the upgraded connections (sessions, watchers) close themselves on the signal; give
    // them the time to answer the frame in flight and send their close frames
    let deadline = Instant::now() + Duration::from_secs_f64(s.drain_s);
    while (state.metrics.sessions() > 0 || state.metrics.watchers() > 0) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    crate::runtime::request_stop();
    for t in threads {
        let _ = tokio::task::spawn_blocking(move || t.join()).await;
    }
    eprintln!("fer-rt serve: stopped");
    Ok(())
}

fn router(state: Arc<AppState>) -> axum::Router {
    let s = &state.cfg.serve;
    axum::Router::new()
        .route("/", get(page::index))
        .route("/static/{file}", get(page::asset))
        .route("/healthz", get(routes::health))
        .route("/metrics", get(routes::metrics))
        .route("/v1/streams", get(routes::list_streams))
        .route("/v1/streams/{name}/results", get(routes::results))
        .route("/v1/streams/{name}/video", get(routes::video))
        .route("/v1/analyze", post(routes::analyze))
        .route("/v1/session", get(routes::session))
        .fallback(routes::not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), routes::auth))
        .layer(axum::extract::DefaultBodyLimit::max(s.max_body_mb * 1024 * 1024))
        // a request that is not answered within the limit (a stalled upload) is cut off
        // with 408; upgraded WebSockets and the MJPEG body are past this layer's reach
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs_f64(s.request_timeout_s),
        ))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_named_or_take_their_stem() {
        let s = SourceSpec::parse("cam=rtsp://host/x", 0).unwrap();
        assert_eq!((s.name.as_str(), s.input.to_str().unwrap()), ("cam", "rtsp://host/x"));
        let s = SourceSpec::parse("media/clip.mp4", 1).unwrap();
        assert_eq!((s.name.as_str(), s.input.to_str().unwrap()), ("clip", "media/clip.mp4"));
        let s = SourceSpec::parse("rtsp://host/x", 2).unwrap();
        assert_eq!(s.name, "s2");
        assert!(SourceSpec::parse("a b=clip.mp4", 0).is_err());
        assert!(SourceSpec::parse("cam=", 0).is_err());
    }

    #[test]
    fn off_loopback_needs_a_token_and_names_are_unique() {
        let o = |listen: &str, token: Option<&str>, names: &[&str]| Options {
            listen: listen.parse().unwrap(),
            token: token.map(String::from),
            sources: names.iter().map(|n| SourceSpec { name: n.to_string(), input: "x.mp4".into() }).collect(),
        };
        assert!(check(&o("127.0.0.1:8080", None, &[])).is_ok());
        assert!(check(&o("[::1]:8080", None, &[])).is_ok());
        let e = check(&o("0.0.0.0:8080", None, &[])).unwrap_err().to_string();
        assert!(e.contains("--token"), "{e}");
        assert!(check(&o("0.0.0.0:8080", Some(""), &[])).is_err());
        assert!(check(&o("0.0.0.0:8080", Some("t"), &[])).is_ok());
        assert!(check(&o("127.0.0.1:1", None, &["a", "a"])).is_err());
    }
}
