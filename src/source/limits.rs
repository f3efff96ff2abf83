//! How large an input may be. A 45 KB MP4 whose SPS declares 16000×15986 decoded to 72
//! such frames and took 6 GB; a PNG header can declare 20000×13000 in a few bytes. Every
//! source checks the size a stream declares before anything is decoded, tells FFmpeg's
//! decoders the same limit (`max_pixels`, so probing a stream never allocates past it
//! either), and checks every decoded frame again (a stream may change size). The pipeline
//! checks the memory its frames in flight would take against `max_memory_mb`. One struct,
//! in the config (`[limits]`), so every entry point has the same limits.
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest frame in pixels, declared or decoded (40 MP: room for 8K UHD, 33 MP).
    pub max_frame_pixels: u64,
    /// Largest side of a frame in pixels.
    pub max_frame_side: u32,
    /// Memory a run's frames in flight may take, in MiB (0 = no budget): frame bytes times
    /// the frames the pipeline's queues and stages can hold.
    pub max_memory_mb: u64,
    /// Bytes FFmpeg may read to find an input's format and streams.
    pub probe_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_frame_pixels: 40_000_000, max_frame_side: 16384, max_memory_mb: 0, probe_bytes: 5_000_000 }
    }
}

impl Limits {
    /// Refuses a `width`×`height` frame of `path` over a limit, naming the size and the
    /// limit; `how` says where the size came from ("declares", "decoded").
    pub fn check(&self, path: &Path, how: &str, width: u32, height: u32) -> Result<()> {
        let pixels = width as u64 * height as u64;
        let why = if pixels > self.max_frame_pixels {
            format!(
                "limits.max_frame_pixels ({:.1} MP; --max-frame-pixels raises it)",
                self.max_frame_pixels as f64 / 1e6
            )
        } else if width.max(height) > self.max_frame_side {
            format!("limits.max_frame_side ({} px; --max-frame-side raises it)", self.max_frame_side)
        } else {
            return Ok(());
        };
        Err(Error::TooLarge {
            path: path.to_path_buf(),
            what: format!("{how} frames of {width}×{height} ({:.1} MP), over {why}", pixels as f64 / 1e6),
        })
    }

    /// Refuses a run whose `frames_in_flight` frames of `width`×`height` RGB would take
    /// more than `max_memory_mb`.
    pub fn check_memory(&self, path: &Path, width: u32, height: u32, frames_in_flight: usize) -> Result<()> {
        if self.max_memory_mb == 0 {
            return Ok(());
        }
        let mb = width as f64 * height as f64 * 3.0 * frames_in_flight as f64 / (1024.0 * 1024.0);
        if mb <= self.max_memory_mb as f64 {
            return Ok(());
        }
        Err(Error::TooLarge {
            path: path.to_path_buf(),
            what: format!(
                "{frames_in_flight} frames of {width}×{height} in flight take {mb:.0} MiB, over limits.max_memory_mb ({} MiB; fewer pipeline.channel_capacity frames, or --max-memory-mb)",
                self.max_memory_mb
            ),
        })
    }

    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.max_frame_pixels == 0 || self.max_frame_side == 0 || self.probe_bytes < 32 {
            return Err("limits: max_frame_pixels and max_frame_side must be > 0, probe_bytes >= 32".into());
        }
        Ok(())
    }
}

/// The size a PNG (IHDR), JPEG (SOF) or Y4M header declares, from the file's first bytes.
/// FFmpeg's image decoders only learn it while they decode, where `max_pixels` makes them
/// fail without saying why, and its Y4M demuxer refuses an oversized header with a wrong
/// error code ("Device or resource busy" for 60000²); reading it here lets the refusal
/// name the size.
pub fn image_header_size(b: &[u8]) -> Option<(u32, u32)> {
    let be16 = |i: usize| b.get(i..i + 2).map(|x| u16::from_be_bytes([x[0], x[1]]) as u32);
    let be32 = |i: usize| b.get(i..i + 4).map(|x| u32::from_be_bytes([x[0], x[1], x[2], x[3]]));
    if let Some(rest) = b.strip_prefix(b"YUV4MPEG2 ") {
        let line = &rest[..rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len())];
        let field = |tag: u8| {
            let t = line.split(|&c| c == b' ').find(|t| t.first() == Some(&tag))?;
            // a number too large for u32 is as far over any limit as u32::MAX
            std::str::from_utf8(&t[1..]).ok()?.parse::<u64>().ok().map(|v| v.min(u32::MAX as u64) as u32)
        };
        return Some((field(b'W')?, field(b'H')?));
    }
    if b.starts_with(b"\x89PNG\r\n\x1a\n") && b.get(12..16) == Some(b"IHDR") {
        return Some((be32(16)?, be32(20)?));
    }
    if !b.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut i = 2;
    while i + 4 <= b.len() {
        if b[i] != 0xFF {
            return None;
        }
        let marker = b[i + 1];
        if marker == 0xFF {
            i += 1; // fill byte
            continue;
        }
        let len = be16(i + 2)? as usize;
        // SOF0..SOF15, less DHT (C4), JPG (C8) and DAC (CC): [len][precision][h][w]
        if (0xC0..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker) {
            return Some((be16(i + 7)?, be16(i + 5)?));
        }
        if marker == 0xDA {
            return None; // scan data: no frame header before it
        }
        i += 2 + len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_over_either_limit_are_refused_with_both_numbers() {
        let l = Limits::default();
        l.check(Path::new("a"), "declares", 7680, 4320).unwrap();
        let e = l.check(Path::new("a.mp4"), "declares", 16000, 15986).unwrap_err().to_string();
        assert!(e.contains("16000×15986") && e.contains("max_frame_pixels (40.0 MP"), "{e}");
        assert!(!e.contains("config"), "a runtime failure, not a usage error: {e}");
        let e = l.check(Path::new("a.jpg"), "declares", 20000, 100).unwrap_err().to_string();
        assert!(e.contains("max_frame_side (16384 px"), "{e}");
        let m = Limits { max_memory_mb: 100, ..l };
        m.check_memory(Path::new("a"), 1920, 1080, 10).unwrap();
        assert!(m.check_memory(Path::new("a"), 3840, 2160, 10).is_err());
    }

    #[test]
    fn png_and_jpeg_headers_give_their_size() {
        let mut png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
        png.extend(16000u32.to_be_bytes());
        png.extend(900u32.to_be_bytes());
        assert_eq!(image_header_size(&png), Some((16000, 900)));
        // SOI, an APP0 of 4 bytes, SOF0 with height 65535 and width 2560
        let jpg = [0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0, 0xFF, 0xC0, 0, 17, 8, 0xFF, 0xFF, 0x0A, 0x00, 3];
        assert_eq!(image_header_size(&jpg), Some((2560, 65535)));
        assert_eq!(image_header_size(b"not an image"), None);
        assert_eq!(image_header_size(b"YUV4MPEG2 W60000 H48 F25:1 C420\nFRAME\n"), Some((60000, 48)));
        assert_eq!(image_header_size(b"YUV4MPEG2 W99999999999 H2 F25:1\n"), Some((u32::MAX, 2)));
    }
}
