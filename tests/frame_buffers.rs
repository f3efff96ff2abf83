//! A frame's pixels are dropped after alignment when no sink reads them, and kept when one
//! does: the results are the same either way, only the memory differs.
mod common;

use fer_rt::config::Config;
use fer_rt::messages::FrameMsg;
use fer_rt::pipeline::{self, open_input, InputOptions, Models, NoProgress};
use fer_rt::sink::{RunInfo, Sink, SinkStatus};
use std::sync::{Arc, Mutex};

/// Records each frame's JSON line (timings left out) and whether its pixels came along.
struct Recorder {
    pixels: bool,
    seen: Arc<Mutex<Vec<(String, bool, (u32, u32))>>>,
}

impl Sink for Recorder {
    fn write_frame(&mut self, frame: &FrameMsg, info: &RunInfo) -> fer_rt::Result<SinkStatus> {
        let mut line: serde_json::Value = serde_json::from_str(&fer_rt::sink::jsonl::to_json(frame, info)).unwrap();
        line.as_object_mut().unwrap().remove("timings_ms");
        let img = &frame.image;
        let whole = img.data.len() == img.width as usize * img.height as usize * 3;
        self.seen.lock().unwrap().push((line.to_string(), whole, (img.width, img.height)));
        Ok(SinkStatus::Continue)
    }

    fn finish(&mut self) -> fer_rt::Result<()> {
        Ok(())
    }

    fn needs_pixels(&self) -> bool {
        self.pixels
    }
}

fn run(pixels: bool) -> Vec<(String, bool, (u32, u32))> {
    std::env::set_var("FER_RT_MODELS", common::models_dir());
    let cfg = Config::default();
    let mut models = Models::load(&cfg).unwrap();
    let (source, _) = open_input(&common::media("single_face.mp4"), &InputOptions::default(), &cfg).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Box::new(Recorder { pixels, seen: seen.clone() });
    pipeline::run(&cfg, source, &mut models.detector, models.classifier.as_mut(), sink, Box::new(NoProgress)).unwrap();
    let seen = seen.lock().unwrap().clone();
    seen
}

#[test]
fn pixels_reach_only_the_sinks_that_read_them_and_the_results_do_not_change() {
    let (kept, dropped) = (run(true), run(false));
    assert!(!kept.is_empty());
    assert_eq!(kept.len(), dropped.len());
    for ((a, whole_a, size_a), (b, whole_b, size_b)) in kept.iter().zip(&dropped) {
        assert!(whole_a, "a sink that reads pixels gets them");
        assert!(!whole_b, "no sink reads them: the buffer went back after alignment");
        assert_eq!(size_a, size_b, "the frame's size travels on");
        assert_eq!(a, b, "the same results");
    }
    assert!(kept.iter().any(|(l, ..)| l.contains("\"track_id\"")), "faces were found");
}
