//! Frame sources. Everything FFmpeg can demux and decode (video files, still images, image
//! sequences) goes through [`video::VideoSource`]; [`paced::PacedSource`] plays a file in
//! real time; [`webcam::Webcam`] captures from a camera (V4L2 through nokhwa); [`image`]
//! decodes one image handed over as bytes.
pub mod image;
pub mod limits;
pub mod network;
pub mod orientation;
pub mod paced;
pub mod stdin;
pub mod stills;
pub mod synthetic;
pub mod video;
pub mod webcam;

pub use video::VideoSource;

use crate::error::Result;
use crate::messages::{FrameMsg, SourceInfo, SourceSummary};

/// Anything that produces frames: a file, a paced file, a camera.
pub trait FrameSource: Send {
    fn info(&self) -> &SourceInfo;
    /// Live sources deliver in real time and must never be blocked by a slow stage.
    fn is_live(&self) -> bool;
    /// Emits frames in order until the end, an error, or `emit` returning false.
    fn run(&mut self, emit: &mut dyn FnMut(FrameMsg) -> bool) -> Result<SourceSummary>;
}

impl FrameSource for VideoSource {
    fn info(&self) -> &SourceInfo {
        VideoSource::info(self)
    }

    fn is_live(&self) -> bool {
        false
    }

    fn run(&mut self, emit: &mut dyn FnMut(FrameMsg) -> bool) -> Result<SourceSummary> {
        VideoSource::run(self, emit)
    }
}

/// Sets FFmpeg's own logging: silent unless asked, so stderr carries our one-line errors
/// rather than a burst of demuxer warnings.
pub fn init_ffmpeg(verbose: bool) {
    let _ = ffmpeg_next::init();
    ffmpeg_next::util::log::set_level(if verbose {
        ffmpeg_next::util::log::Level::Warning
    } else {
        ffmpeg_next::util::log::Level::Quiet
    });
}
