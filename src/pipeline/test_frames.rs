//! Frames for the stages' unit tests.
use crate::messages::{ClassifierSpec, Crop, Detection, Face, FrameMeta, FrameMsg, InputSpec, RgbImage};
use std::sync::Arc;

/// Frame `index` of stream 0 with one 1×1 crop per face, its byte the face's id.
pub fn frame(index: u64, face_ids: &[u8]) -> FrameMsg {
    let faces = face_ids
        .iter()
        .map(|&id| Face {
            crop: Some(Crop { width: 1, height: 1, channels: 1, data: vec![id] }),
            ..Face::new(Detection { bbox: [0.0; 4], landmarks: [[0.0; 2]; 5], score: 1.0 })
        })
        .collect();
    FrameMsg { faces, ..FrameMsg::new(FrameMeta::new(index, None, None), Arc::new(RgbImage::new(1, 1, vec![0; 3]))) }
}

/// The spec of a one-class classifier of 1×1 gray crops, for stand-in classifiers.
pub fn one_pixel_spec() -> ClassifierSpec {
    ClassifierSpec {
        name: "echo".into(),
        classes: vec!["x".into()],
        input: InputSpec::test_gray(1, 1, [[0.0; 2]; 5]),
        has_valence_arousal: false,
        has_uncertainty: false,
        sha256: String::new(),
    }
}
