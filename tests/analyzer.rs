//! `fer_rt::Analyzer`, one frame at a time, against `fer-rt process` on the same clip: the
//! same JSON lines (timings aside), track ids, track events and filtered values, because it
//! runs the same stage functions. Process batches faces across frames and the analyzer
//! cannot, so numbers may differ in the last float bits; they must agree within 1e-5.
mod common;

use fer_rt::config::Config;
use fer_rt::source::VideoSource;
use fer_rt::Analyzer;
use serde_json::Value;

use common::{close, without_timings};

#[test]
fn frame_at_a_time_equals_process() {
    let clip = common::media("single_face.mp4");
    let (code, lines, err) = common::process(&clip, &["--no-progress"]);
    assert_eq!(code, 0, "{err}");

    std::env::set_var("FER_RT_MODELS", common::models_dir());
    let mut an = Analyzer::new(Config::default()).unwrap();
    let mut frames = Vec::new();
    VideoSource::open(&clip)
        .unwrap()
        .run(|m| {
            frames.push(m);
            true
        })
        .unwrap();
    let again = (frames[0].image.as_ref().clone(), frames[0].meta.pts_ms, lines[0].clone());
    let mut got = Vec::new();
    for m in frames {
        let image = std::sync::Arc::try_unwrap(m.image).unwrap_or_else(|a| (*a).clone());
        let r = an.analyze(image, m.meta.pts_ms).unwrap();
        got.push(serde_json::from_str::<Value>(&an.to_json(&r)).unwrap());
    }
    // the end of the input ends the tracks still alive, on the last frame
    let ends = an.finish();
    if !ends.is_empty() {
        let last = got.last_mut().unwrap().as_object_mut().unwrap();
        let events = last.entry("track_events").or_insert_with(|| Value::Array(Vec::new()));
        events.as_array_mut().unwrap().extend(ends.iter().map(|e| serde_json::to_value(e).unwrap()));
    }

    assert_eq!(got.len(), lines.len());
    assert!(lines.iter().any(|l| !l["faces"].as_array().unwrap().is_empty()), "a clip with faces");
    for (i, (a, b)) in got.into_iter().zip(lines).enumerate() {
        close(&without_timings(a), &without_timings(b), 1e-5, &format!("frame {i}")).unwrap();
    }

    // reset starts a new video: frames count from 0 and track ids start again, so the
    // first frame reads as it did the first time
    an.reset().unwrap();
    assert_eq!(an.frames(), 0);
    let r = an.analyze(again.0, again.1).unwrap();
    let v = serde_json::from_str::<Value>(&an.to_json(&r)).unwrap();
    close(&without_timings(v), &without_timings(again.2), 1e-5, "after reset").unwrap();
}
