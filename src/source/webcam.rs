//! Webcam capture through nokhwa (V4L2 on Linux), MJPEG or YUYV decoded to RGB. Opening
//! checks the camera and fails with the list of cameras found; the capture thread then
//! opens it for real (nokhwa's camera handle stays on the thread that uses it). A camera
//! that stops delivering ends the run with an error after everything captured so far.
use super::{FrameSource, SourceInfo, SourceSummary};
use crate::error::{Error, Result};
use crate::messages::{FrameMeta, FrameMsg, RgbImage};
use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType};
use nokhwa::Camera;
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PixelFormat {
    Auto,
    Mjpeg,
    Yuyv,
}

#[derive(Clone, Debug)]
pub struct WebcamConfig {
    pub index: u32,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fps: Option<u32>,
    pub pixel_format: PixelFormat,
}

pub struct Webcam {
    cfg: WebcamConfig,
    info: SourceInfo,
}

/// "0" or "/dev/video0" -> 0.
pub fn parse_camera(s: &str) -> Option<u32> {
    s.strip_prefix("/dev/video").unwrap_or(s).parse().ok()
}

/// Cameras the system reports, as "index: name" strings.
pub fn list_cameras() -> Vec<String> {
    nokhwa::query(ApiBackend::Auto)
        .map(|cams| cams.iter().map(|c| format!("{}: {}", c.index(), c.human_name())).collect())
        .unwrap_or_default()
}

fn request(cfg: &WebcamConfig) -> RequestedFormat<'static> {
    let fmt = match cfg.pixel_format {
        PixelFormat::Mjpeg | PixelFormat::Auto => FrameFormat::MJPEG,
        PixelFormat::Yuyv => FrameFormat::YUYV,
    };
    let kind = match (cfg.width, cfg.height, cfg.fps) {
        (None, None, None) if cfg.pixel_format == PixelFormat::Auto => RequestedFormatType::AbsoluteHighestFrameRate,
        (w, h, f) => RequestedFormatType::Closest(CameraFormat::new_from(
            w.unwrap_or(640),
            h.unwrap_or(480),
            fmt,
            f.unwrap_or(30),
        )),
    };
    RequestedFormat::new::<RgbFormat>(kind)
}

fn open_camera(cfg: &WebcamConfig) -> Result<Camera> {
    let fail = |reason: String| {
        let cams = list_cameras();
        let found = if cams.is_empty() { "none".to_string() } else { cams.join(", ") };
        Error::Open {
            path: format!("camera {}", cfg.index).into(),
            reason: format!("{reason}; cameras found: {found}"),
        }
    };
    let mut cam = Camera::new(CameraIndex::Index(cfg.index), request(cfg)).map_err(|e| fail(e.to_string()))?;
    cam.open_stream().map_err(|e| fail(format!("cannot start streaming (busy?): {e}")))?;
    Ok(cam)
}

impl Webcam {
    pub fn open(cfg: WebcamConfig) -> Result<Self> {
        let mut cam = open_camera(&cfg)?;
        let f = cam.camera_format();
        let info = SourceInfo {
            width: f.resolution().width(),
            height: f.resolution().height(),
            expected_frames: None,
            estimated_frames: None,
            fps: Some(f.frame_rate() as f64),
            codec: format!("{:?}", f.format()),
            time_base: (1, 1000),
        };
        let _ = cam.stop_stream();
        Ok(Self { cfg, info })
    }
}

impl FrameSource for Webcam {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn is_live(&self) -> bool {
        true
    }

    fn run(&mut self, emit: &mut dyn FnMut(FrameMsg) -> bool) -> Result<SourceSummary> {
        let mut cam = open_camera(&self.cfg)?;
        let start = Instant::now();
        let mut summary = SourceSummary::default();
        loop {
            let t = Instant::now();
            let buf = match cam.frame() {
                Ok(b) => b,
                Err(e) => {
                    let _ = cam.stop_stream();
                    return Err(Error::Camera {
                        device: format!("camera {}", self.cfg.index),
                        reason: format!("stopped delivering frames after {} ({e})", summary.frames),
                    });
                }
            };
            let captured_at = Instant::now();
            let img = buf.decode_image::<RgbFormat>().map_err(|e| Error::Camera {
                device: format!("camera {}", self.cfg.index),
                reason: format!("cannot decode {:?} frame: {e}", buf.source_frame_format()),
            })?;
            let (w, h) = (img.width(), img.height());
            let ms = captured_at.duration_since(start).as_secs_f64() * 1e3;
            let meta = FrameMeta { captured_at, ..FrameMeta::new(summary.frames, Some(ms), Some(ms.round() as i64)) };
            let mut msg = FrameMsg::new(meta, Arc::new(RgbImage::new(w, h, img.into_raw())));
            msg.timings.decode_ms = t.elapsed().as_secs_f64() * 1e3;
            summary.frames += 1;
            if !emit(msg) {
                summary.stopped_early = true;
                let _ = cam.stop_stream();
                return Ok(summary);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names() {
        assert_eq!(parse_camera("2"), Some(2));
        assert_eq!(parse_camera("/dev/video1"), Some(1));
        assert_eq!(parse_camera("cam"), None);
    }
}
