//! One image handed over as bytes (a request body, a WebSocket frame), decoded the way a
//! photo on disk is: the same FFmpeg decoders, orientation and limits, so the service and
//! the Python package answer what `process` would on that file. Why a spool file: FFmpeg
//! reads images through its demuxers, which take a file or a URL; a photo-sized write into
//! the temporary folder costs well under a millisecond, and nothing is decoded twice.
//!
//! What is refused before FFmpeg sees it: bytes that are not a JPEG or PNG, a declared size
//! over the limits (from the header, before any pixel is allocated), and a JPEG or PNG cut
//! short (FFmpeg would conceal the missing part and answer with a half-grey image).
use super::limits::{image_header_size, Limits};
use super::video::{OpenOptions, VideoSource};
use crate::error::{Error, Result};
use crate::messages::RgbImage;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The size a JPEG or PNG header declares; None for anything else.
pub fn header_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if !(bytes.starts_with(&[0xFF, 0xD8]) || bytes.starts_with(b"\x89PNG\r\n\x1a\n")) {
        return None;
    }
    image_header_size(bytes)
}

/// Whether the image ends as its format requires: JPEG's end-of-image marker (encoders may
/// pad after it, so the last few bytes are searched), PNG's IEND chunk.
fn complete(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(64)..];
    if bytes.starts_with(b"\x89PNG") {
        return tail.windows(4).any(|w| w == b"IEND");
    }
    tail.windows(2).any(|w| w == [0xFF, 0xD9])
}

/// Decodes a JPEG or PNG, upright as its orientation asks. `name` stands for it in errors.
pub fn decode(bytes: &[u8], name: &str, limits: &Limits) -> Result<RgbImage> {
    let path = PathBuf::from(name);
    let decode_err = |reason: String| Error::Decode { path: path.clone(), reason };
    let Some((w, h)) = header_size(bytes) else {
        return Err(decode_err("not a JPEG or PNG image".into()));
    };
    limits.check(&path, "declares", w, h)?;
    if !complete(bytes) {
        return Err(decode_err("the image is cut off (no end marker)".into()));
    }
    let ext = if bytes[0] == 0xFF { ".jpg" } else { ".png" };
    let mut spool = tempfile::Builder::new().prefix("fer-rt-image-").suffix(ext).tempfile().map_err(|err| Error::Io {
        path: std::env::temp_dir(),
        err,
    })?;
    spool.write_all(bytes).and_then(|_| spool.flush()).map_err(|err| Error::Io { path: spool.path().into(), err })?;
    let spooled = spool.path().to_path_buf();
    // errors name the image as the caller knows it, not the spool file
    let rename = |e: Error| rename_path(e, &spooled, &path);
    let opts = OpenOptions { limits: limits.clone(), ..Default::default() };
    let mut v = VideoSource::open_with(&spooled, &opts).map_err(rename)?;
    v.set_strict(true);
    let mut first = None;
    v.run(|msg| {
        first = Some(msg.image);
        false
    })
    .map_err(rename)?;
    let image = first.ok_or_else(|| decode_err("no picture in it".into()))?;
    Ok(Arc::try_unwrap(image).unwrap_or_else(|shared| (*shared).clone()))
}

fn rename_path(e: Error, from: &Path, to: &Path) -> Error {
    let text = e.to_string().replace(&from.display().to_string(), &to.display().to_string());
    match e {
        Error::TooLarge { what, .. } => Error::TooLarge { path: to.into(), what },
        _ => Error::Decode {
            path: to.into(),
            reason: text.strip_prefix(&format!("{}: ", to.display())).unwrap_or(&text).to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_jpegs_and_pngs_pass_the_checks() {
        assert_eq!(header_size(b"GIF89a...."), None);
        assert_eq!(header_size(b"YUV4MPEG2 W60000 H48 F25:1 C420\nFRAME\n"), None);
        assert!(complete(&[0xFF, 0xD8, 1, 2, 0xFF, 0xD9]));
        assert!(complete(&[0xFF, 0xD8, 1, 2, 0xFF, 0xD9, 0, 0]));
        assert!(!complete(&[0xFF, 0xD8, 1, 2, 3, 4]));
        let e = decode(b"hello", "body", &Limits::default()).unwrap_err().to_string();
        assert_eq!(e, "body: decoding failed: not a JPEG or PNG image");
    }
}
