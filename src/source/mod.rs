//! Frame sources. Everything FFmpeg can demux and decode (video files, still images) goes
//! through [`video::VideoSource`]; webcam capture arrives with the `live` subcommand.
pub mod video;

pub use video::{SourceInfo, SourceSummary, VideoSource};

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
