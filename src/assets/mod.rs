//! Model files on disk: the manifests (provenance, preprocessing, class order, the
//! architecture blocks of the detector's anchors and of trained checkpoints) and the
//! safetensors weights. Both the detector and the classifiers read them, so they sit below
//! both and import neither.
pub mod manifest;
#[cfg(feature = "torch")]
pub mod weights;
