//! PNG files of RGB images (the evaluation pictures, harvested face crops).
use crate::error::{Error, Result};
use crate::messages::RgbImage;
use std::path::Path;

/// Written as `NAME.part` and renamed when complete (as every output is, see
/// `runtime::files`, which this layer cannot reach), so no half-written PNG is left.
pub fn write_png(path: &Path, img: &RgbImage) -> Result<()> {
    let err =
        |e: &dyn std::fmt::Display| Error::Io { path: path.to_path_buf(), err: std::io::Error::other(e.to_string()) };
    let mut part = path.as_os_str().to_owned();
    part.push(".part");
    let part = std::path::PathBuf::from(part);
    let file = std::fs::File::create(&part).map_err(|err| Error::Io { path: path.to_path_buf(), err })?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), img.width, img.height);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let written = enc.write_header().map_err(|e| err(&e)).and_then(|mut w| {
        w.write_image_data(&img.data).map_err(|e| err(&e)).and_then(|_| w.finish().map_err(|e| err(&e)))
    });
    match written {
        Ok(()) => std::fs::rename(&part, path).map_err(|err| Error::Io { path: path.to_path_buf(), err }),
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            Err(e)
        }
    }
}
