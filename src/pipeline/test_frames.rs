//! Frames for the stages' unit tests.
use crate::messages::{Crop, Detection, Face, FrameMeta, FrameMsg, RgbImage, StageTimings};
use std::sync::Arc;
use std::time::Instant;

/// Frame `index` of stream 0 with one 1×1 crop per face, its byte the face's id.
pub fn frame(index: u64, face_ids: &[u8]) -> FrameMsg {
    let faces = face_ids
        .iter()
        .map(|&id| Face {
            crop: Some(Crop { width: 1, height: 1, channels: 1, data: vec![id] }),
            ..Face::new(Detection { bbox: [0.0; 4], landmarks: [[0.0; 2]; 5], score: 1.0 })
        })
        .collect();
    FrameMsg {
        meta: FrameMeta {
            index,
            pts_ms: None,
            pts: None,
            dropped_before: 0,
            captured_at: Instant::now(),
            independent: false,
            file: None,
            stream: 0,
        },
        image: Arc::new(RgbImage::new(1, 1, vec![0; 3])),
        faces,
        timings: StageTimings::default(),
        track_events: Vec::new(),
        searched_ahead: None,
        device: Default::default(),
    }
}
