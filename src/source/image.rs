//! One image handed over as bytes (a request body, a WebSocket frame), decoded as a photo
//! on disk is: FFmpeg's decoder for its format, the same conversion to RGB (swscale,
//! bilinear, as `VideoSource` converts), the orientation FFmpeg reports, and the same
//! limits. So the service and the Python package answer what `process` would on that
//! file (tests/serve.rs compares them). Why no demuxer: a JPEG or PNG is one packet, and
//! opening it as a file costs a spool write and FFmpeg's probing, which decodes the image
//! a second time (3 ms of a session's frame at 360p, measured in BENCHMARKS.md).
//!
//! What is refused before FFmpeg sees it: bytes that are not a JPEG or PNG, a declared size
//! over the limits (from the header, before any pixel is allocated), and a JPEG or PNG cut
//! short (FFmpeg would conceal the missing part and answer with a half-grey image).
use super::limits::{image_header_size, Limits};
use super::orientation::Orientation;
use crate::error::{Error, Result};
use crate::messages::RgbImage;
use ff::format::Pixel;
use ff::software::scaling;
use ffmpeg_next as ff;
use std::path::{Path, PathBuf};

/// The size a JPEG or PNG header declares; None for anything else.
pub fn header_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if !(is_jpeg(bytes) || is_png(bytes)) {
        return None;
    }
    image_header_size(bytes)
}

fn is_jpeg(b: &[u8]) -> bool {
    b.starts_with(&[0xFF, 0xD8])
}

fn is_png(b: &[u8]) -> bool {
    b.starts_with(b"\x89PNG\r\n\x1a\n")
}

/// Whether the image ends as its format requires: JPEG's end-of-image marker (encoders may
/// pad after it, so the last few bytes are searched), PNG's IEND chunk.
fn complete(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(64)..];
    if is_png(bytes) {
        return tail.windows(4).any(|w| w == b"IEND");
    }
    tail.windows(2).any(|w| w == [0xFF, 0xD9])
}

/// Decodes a JPEG or PNG, upright as its orientation asks. `name` stands for it in errors.
pub fn decode(bytes: &[u8], name: &str, limits: &Limits) -> Result<RgbImage> {
    ImageDecoder::default().decode(bytes, name, limits)
}

/// [`decode`] for many images in a row (a worker of the service): the decoders and the
/// RGB converter are kept between images instead of being set up for each.
#[derive(Default)]
pub struct ImageDecoder {
    jpeg: Option<ff::decoder::Video>,
    png: Option<ff::decoder::Video>,
    /// The converter for one input format and size, and its output frame (which swscale
    /// refuses to fill at another size).
    scaler: Option<(Pixel, u32, u32, scaling::Context, ff::frame::Video)>,
    frame: Option<ff::frame::Video>,
}

// SAFETY: as for `VideoSource`: the decoder owns its FFmpeg contexts exclusively, and is
// moved to the thread that uses it, never shared.
unsafe impl Send for ImageDecoder {}

impl ImageDecoder {
    pub fn decode(&mut self, bytes: &[u8], name: &str, limits: &Limits) -> Result<RgbImage> {
        let path = PathBuf::from(name);
        let fail = |reason: String| Error::Decode { path: path.clone(), reason };
        let Some((w, h)) = header_size(bytes) else {
            return Err(fail("not a JPEG or PNG image".into()));
        };
        limits.check(&path, "declares", w, h)?;
        if !complete(bytes) {
            return Err(fail("the image is cut off (no end marker)".into()));
        }
        let (slot, id) =
            if is_png(bytes) { (&mut self.png, ff::codec::Id::PNG) } else { (&mut self.jpeg, ff::codec::Id::MJPEG) };
        if slot.is_none() {
            let codec = ff::decoder::find(id).ok_or_else(|| fail(format!("this FFmpeg has no {id:?} decoder")))?;
            let d = ff::codec::context::Context::new_with_codec(codec).decoder().video();
            *slot = Some(d.map_err(|e| fail(e.to_string()))?);
        }
        let decoder = slot.as_mut().expect("opened above");
        let frame = self.frame.get_or_insert_with(ff::frame::Video::empty);
        let got = receive_one(decoder, bytes, frame);
        if got.is_err() {
            // a decoder that failed may hold half a picture: the next image gets a new one
            *slot = None;
        }
        got.map_err(|e| fail(format!("no picture in it ({e})")))?;
        // the header may lie about the size; the decoded frame is what is kept
        limits.check(&path, "decodes to", frame.width(), frame.height())?;
        let orientation = frame
            .side_data(ff::frame::side_data::Type::DisplayMatrix)
            .filter(|sd| sd.data().len() >= 36)
            .and_then(|sd| {
                let d = sd.data();
                let m: [i32; 9] =
                    std::array::from_fn(|i| i32::from_ne_bytes([d[4 * i], d[4 * i + 1], d[4 * i + 2], d[4 * i + 3]]));
                Orientation::from_display_matrix(&m)
            })
            .unwrap_or(Orientation::Upright);
        let image = to_rgb(frame, &mut self.scaler, &path)?;
        Ok(orientation.apply(image))
    }
}

/// One packet in, its picture out. An image decoder gives its picture at once; one that
/// holds it back (frame threading) is drained with end-of-stream and flushed for the next.
fn receive_one(
    d: &mut ff::decoder::Video,
    bytes: &[u8],
    frame: &mut ff::frame::Video,
) -> std::result::Result<(), ff::Error> {
    d.send_packet(&ff::Packet::copy(bytes))?;
    match d.receive_frame(frame) {
        Err(ff::Error::Other { errno }) if errno == libc::EAGAIN => {
            d.send_eof()?;
            let r = d.receive_frame(frame);
            d.flush();
            r
        }
        r => r,
    }
}

/// The frame as packed RGB, converted as `VideoSource` converts decoded frames.
fn to_rgb(
    frame: &ff::frame::Video,
    scaler: &mut Option<(Pixel, u32, u32, scaling::Context, ff::frame::Video)>,
    path: &Path,
) -> Result<RgbImage> {
    let (fmt, w, h) = (frame.format(), frame.width(), frame.height());
    let fail = |e: ff::Error| Error::Decode { path: path.into(), reason: format!("pixel format {fmt:?}: {e}") };
    if !matches!(scaler, Some((f, sw, sh, _, _)) if *f == fmt && *sw == w && *sh == h) {
        let ctx = scaling::Context::get(fmt, w, h, Pixel::RGB24, w, h, scaling::Flags::BILINEAR).map_err(fail)?;
        *scaler = Some((fmt, w, h, ctx, ff::frame::Video::empty()));
    }
    let (_, _, _, ctx, rgb) = scaler.as_mut().expect("set above");
    ctx.run(frame, rgb).map_err(fail)?;
    let (stride, row) = (rgb.stride(0), w as usize * 3);
    let src = rgb.data(0);
    let mut data = crate::imageops::pool::take(row * h as usize);
    for y in 0..h as usize {
        data.extend_from_slice(&src[y * stride..y * stride + row]);
    }
    Ok(RgbImage::new(w, h, data))
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

    #[test]
    fn one_decoder_decodes_image_after_image_and_recovers_from_a_bad_one() {
        let path = crate::runtime::paths::media_dir().join("single_face.jpg");
        let jpeg =
            std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (scripts/setup.sh fetches it)", path.display()));
        let mut d = ImageDecoder::default();
        let first = d.decode(&jpeg, "a", &Limits::default()).unwrap();
        let mut broken = jpeg.clone();
        let mid = broken.len() / 2;
        broken[200..mid].fill(0xFF);
        let _ = d.decode(&broken, "b", &Limits::default());
        // another size between two of the same
        let other = crate::runtime::paths::media_dir().join("multi_face.jpg");
        let other = d.decode(&std::fs::read(other).unwrap(), "o", &Limits::default()).unwrap();
        assert_ne!((other.width, other.height), (first.width, first.height));
        let again = d.decode(&jpeg, "c", &Limits::default()).unwrap();
        assert_eq!((first.width, first.height), (again.width, again.height));
        assert!(first.data == again.data, "the same bytes decode to the same pixels");
        assert_eq!(first.data, decode(&jpeg, "d", &Limits::default()).unwrap().data);
    }

    #[test]
    fn a_header_that_declares_too_much_is_refused_before_decoding() {
        let mut png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
        png.extend(50_000u32.to_be_bytes());
        png.extend(50_000u32.to_be_bytes());
        png.extend(b"IEND");
        let e = decode(&png, "body", &Limits::default()).unwrap_err();
        assert!(matches!(e, Error::TooLarge { .. }), "{e}");
    }
}
