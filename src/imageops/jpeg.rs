//! Baseline JPEG of an RGB image: the service's annotated video frames and the report's
//! thumbnails.

/// An RGB image as a baseline JPEG.
pub fn encode_jpeg(img: &crate::messages::RgbImage, quality: u8) -> Result<Vec<u8>, String> {
    let (w, h) = (u16::try_from(img.width), u16::try_from(img.height));
    let (Ok(w), Ok(h)) = (w, h) else {
        return Err(format!("{}×{} is too large for a JPEG", img.width, img.height));
    };
    let mut out = Vec::with_capacity(img.data.len() / 8);
    jpeg_encoder::Encoder::new(&mut out, quality)
        .encode(&img.data, w, h, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| e.to_string())?;
    Ok(out)
}
