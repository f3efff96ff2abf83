//! Training and evaluation of the ResNet-18 multi-region attention model: datasets,
//! augmentation, the SCN and RUL uncertainty methods, the trainer, evaluation reports, and
//! a synthetic expression dataset for proving it all where no labelled data can be had.
pub mod augment;
pub mod checkpoint;
pub mod data;
pub mod epoch;
pub mod eval;
pub mod losses;
pub mod plots;
pub mod predict;
pub mod rng;
pub mod settings;
pub mod synth;
pub mod teachers;
pub mod trainer;
