//! fer-rt: a real-time facial expression recognition pipeline.
//!
//! One frame's path: [`source`] decodes it, [`detect`] finds faces and landmarks,
//! [`align`] warps each face to the classifier's template, [`model`] classifies crops in
//! batches, [`track`] gives faces stable ids and runs each track's [`filter`] over
//! [`affect`] and [`quality`] estimates, [`sink`] writes the results; [`pipeline`] runs each of these on its own thread
//! with bounded channels between them, and [`messages`] holds what flows along.
//! [`runtime`] (device, engines, threads, uploads, batch shapes) sits under the stages that
//! run networks.
pub mod affect;
pub mod align;
pub mod assets;
pub mod bench;
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
pub mod quality;
pub mod runtime;
pub mod sink;
pub mod source;
pub mod track;
pub mod train;

pub use error::{Error, Result};
