//! Training and evaluation of the ResNet-18 multi-region attention model: datasets,
//! augmentation, the SCN and RUL uncertainty methods, the trainer, evaluation reports, and
//! a synthetic expression dataset for proving it all where no labelled data can be had.
//!
//! Everything here but the synthetic dataset, its random numbers and the plots runs on
//! libtorch (the `torch` feature).
#[cfg(feature = "torch")]
pub mod augment;
#[cfg(feature = "torch")]
pub mod checkpoint;
#[cfg(feature = "torch")]
pub mod data;
#[cfg(feature = "torch")]
pub mod epoch;
#[cfg(feature = "torch")]
pub mod eval;
#[cfg(feature = "torch")]
pub mod losses;
pub mod plots;
#[cfg(feature = "torch")]
pub mod predict;
pub mod rng;
#[cfg(feature = "torch")]
pub mod settings;
pub mod synth;
#[cfg(feature = "torch")]
pub mod teachers;
#[cfg(feature = "torch")]
pub mod trainer;
