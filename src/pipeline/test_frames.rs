//! Frames for the stages' unit tests.
use crate::messages::{Crop, Detection, Face, FrameMeta, FrameMsg, RgbImage};
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
