//! Thumbnails: each track's best face cut from the source video, opened the way `process`
//! opened it (`pipeline::input::open_input`: same orientation, same frame numbers), so the
//! frame a result names is the frame cut. The video is read once, up to the last frame
//! wanted; each thumbnail is a small JPEG inlined in the page as a data URL.
use crate::config::{Config, ReportConfig};
use crate::error::Result;
use crate::imageops::resize::resize_rgb;
use crate::messages::RgbImage;
use crate::pipeline::{open_input, InputOptions};
use std::collections::BTreeMap;
use std::path::Path;

/// The square crop around `bbox` widened by `margin` per side, clamped to the image.
pub fn crop(img: &RgbImage, bbox: [f32; 4], margin: f32) -> Option<RgbImage> {
    let (w, h) = (bbox[2] - bbox[0], bbox[3] - bbox[1]);
    if !(w > 0.0 && h > 0.0) {
        return None;
    }
    let side = w.max(h) * (1.0 + 2.0 * margin);
    let (cx, cy) = ((bbox[0] + bbox[2]) / 2.0, (bbox[1] + bbox[3]) / 2.0);
    let x0 = (cx - side / 2.0).max(0.0) as u32;
    let y0 = (cy - side / 2.0).max(0.0) as u32;
    let x1 = ((cx + side / 2.0) as u32).min(img.width);
    let y1 = ((cy + side / 2.0) as u32).min(img.height);
    if x1 <= x0 + 1 || y1 <= y0 + 1 {
        return None;
    }
    let (cw, ch) = (x1 - x0, y1 - y0);
    let mut data = Vec::with_capacity((cw * ch * 3) as usize);
    for y in y0..y1 {
        let row = ((y * img.width + x0) * 3) as usize;
        data.extend_from_slice(&img.data[row..row + (cw * 3) as usize]);
    }
    Some(RgbImage::new(cw, ch, data))
}

/// Standard base64 with padding (RFC 4648).
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn jpeg_data_url(img: &RgbImage) -> Option<String> {
    let out = crate::imageops::jpeg::encode_jpeg(img, 85).ok()?;
    Some(format!("data:image/jpeg;base64,{}", base64(&out)))
}

/// One thumbnail per wanted (frame, box), None where the frame is not in the video.
pub fn grab(video: &Path, wants: &[(u64, [f32; 4])], cfg: &ReportConfig) -> Result<Vec<Option<String>>> {
    let mut out = vec![None; wants.len()];
    if wants.is_empty() {
        return Ok(out);
    }
    let mut by_frame: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (i, (f, _)) in wants.iter().enumerate() {
        by_frame.entry(*f).or_default().push(i);
    }
    let last = *by_frame.keys().next_back().unwrap_or(&0);
    let (mut source, _) = open_input(video, &InputOptions::default(), &Config::default())?;
    let mut cut = |frame: &crate::messages::FrameMsg| {
        for &i in by_frame.get(&frame.meta.index).into_iter().flatten() {
            let face = crop(&frame.image, wants[i].1, cfg.thumb_margin);
            out[i] = face.map(|c| resize_rgb(&c, cfg.thumb_px, cfg.thumb_px)).and_then(|t| jpeg_data_url(&t));
        }
        frame.meta.index < last
    };
    source.run(&mut |f| cut(&f))?;
    let missing = out.iter().filter(|t| t.is_none()).count();
    if missing > 0 {
        tracing::warn!(
            "--video {}: {missing} of {} thumbnail(s) not found (the results are of another video, or it is shorter)",
            video.display(),
            wants.len()
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_and_crops() {
        assert_eq!(base64(b"Man"), "TWFu");
        assert_eq!(base64(b"Ma"), "TWE=");
        assert_eq!(base64(b"M"), "TQ==");
        let img = RgbImage::new(10, 10, (0..300).map(|i| i as u8).collect());
        let c = crop(&img, [2.0, 2.0, 6.0, 6.0], 0.0).unwrap();
        assert_eq!((c.width, c.height), (4, 4));
        assert_eq!(&c.data[..3], &img.data[(2 * 10 + 2) * 3..][..3]);
        assert!(crop(&img, [5.0, 5.0, 5.0, 9.0], 0.2).is_none(), "an empty box");
        let edge = crop(&img, [8.0, 8.0, 12.0, 12.0], 0.5).unwrap();
        assert!(edge.width <= 4 && edge.height <= 4, "clamped to the image");
    }
}
