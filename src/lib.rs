//! fer-rt: a real-time facial expression recognition pipeline.
//!
//! One frame's path: [`source`] decodes it, [`detect`] finds faces and landmarks,
//! [`align`] warps each face to the classifier's template, [`model`] classifies crops in
//! batches, and the pipeline's analysis stage gives faces stable ids ([`track`]), valence
//! and arousal ([`affect`]), an uncertainty ([`quality`]) and a filtered estimate
//! ([`filter`]); [`sink`] writes the results. [`pipeline`] runs each stage on its own
//! thread with bounded channels between them; [`messages`] holds what flows along and
//! imports nothing. [`runtime`] (devices, engines, threads, uploads, batch shapes, the stop
//! flag), [`assets`] (manifests, weights) and [`imageops`] sit under the stages.
//! [`cli`] and [`serve`] are the doors: the command line, and the HTTP/WebSocket service.
//! ARCHITECTURE.md has the layers and which may import which (a test holds them).
//!
//! A program that embeds the library calls [`runtime::onnx::opt_out_of_telemetry`] first
//! thing in `main`, as the doors do: without it, ONNX Runtime's PyPI build keeps a device id
//! and a telemetry store in the user's home.
pub mod affect;
pub mod align;
pub mod assets;
pub mod batch;
pub mod cli;
pub mod config;
pub mod detect;
pub mod error;
pub mod filter;
pub mod imageops;
pub mod messages;
pub mod metrics;
pub mod model;
pub mod pipeline;
pub mod plot;
pub mod quality;
pub mod report;
pub mod runtime;
pub mod serve;
pub mod sink;
pub mod source;
pub mod track;
pub mod train;

pub use error::{Error, Result};
pub use pipeline::Analyzer;
