//! PNG files of RGB images (the evaluation pictures, harvested face crops).
use crate::error::{Error, Result};
use crate::messages::RgbImage;
use std::path::Path;

pub fn write_png(path: &Path, img: &RgbImage) -> Result<()> {
    let err =
        |e: &dyn std::fmt::Display| Error::Io { path: path.to_path_buf(), err: std::io::Error::other(e.to_string()) };
    let file = std::fs::File::create(path).map_err(|err| Error::Io { path: path.to_path_buf(), err })?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), img.width, img.height);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().map_err(|e| err(&e))?;
    w.write_image_data(&img.data).map_err(|e| err(&e))?;
    w.finish().map_err(|e| err(&e))
}
