//! Figures, drawn with `plotters`, for people (the report's PNGs and SVGs) and for papers
//! (print resolution, real fonts): one plotting path for `report` and `eval`. A figure is
//! laid out once in logical pixels and drawn at a scale, so the PNG for print is the
//! screen figure with every line and letter scaled, not a blurred enlargement; SVG is drawn
//! at scale 1 and stays vector.
//!
//! plotters lays text out with `ab_glyph` from a TrueType font found on the system
//! ([`font`]), so building needs no fontconfig or freetype.
pub mod font;

use crate::error::{Error, Result};
use crate::messages::RgbImage;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// Logical pixels per inch a figure is laid out at; PNGs are written at [`PRINT_DPI`].
pub const LAYOUT_DPI: f64 = 100.0;
/// Resolution of the PNGs for print.
pub const PRINT_DPI: f64 = 300.0;

/// Something to draw: its logical size and how to draw it at a scale.
pub trait Figure {
    /// Width and height in logical pixels ([`LAYOUT_DPI`] per inch).
    fn size(&self) -> (u32, u32);
    /// Draws on `root`, every length multiplied by `s`.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, s: f64) -> DrawResult<DB>;
}

pub type DrawResult<DB> = std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// The file formats a figure is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// At [`PRINT_DPI`].
    Png,
    Svg,
}

impl Format {
    pub fn ext(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Svg => "svg",
        }
    }
}

fn drawing_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io { path: path.to_path_buf(), err: std::io::Error::other(format!("drawing failed: {e}")) }
}

/// `fig` as pixels at `scale` × its logical size.
pub fn render(fig: &impl Figure, scale: f64) -> Result<RgbImage> {
    font::ensure()?;
    let (w, h) = fig.size();
    let (w, h) = ((w as f64 * scale).round() as u32, (h as f64 * scale).round() as u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        fig.draw(&root, scale).and_then(|_| root.present()).map_err(|e| drawing_error(Path::new("<figure>"), e))?;
    }
    Ok(RgbImage::new(w, h, buf))
}

/// `fig` as an SVG document.
pub fn svg(fig: &impl Figure) -> Result<String> {
    font::ensure()?;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, fig.size()).into_drawing_area();
        root.fill(&WHITE).map_err(|e| drawing_error(Path::new("<figure>"), e))?;
        fig.draw(&root, 1.0).and_then(|_| root.present()).map_err(|e| drawing_error(Path::new("<figure>"), e))?;
    }
    Ok(out)
}

/// Writes `fig` to `path` (as `path.part`, renamed when complete): PNG at print
/// resolution, or SVG.
pub fn save(fig: &impl Figure, path: &Path, format: Format) -> Result<()> {
    match format {
        Format::Png => crate::imageops::png::write_png(path, &render(fig, PRINT_DPI / LAYOUT_DPI)?),
        Format::Svg => crate::runtime::files::write_file(path, svg(fig)?),
    }
}

/// The font every figure uses, at `px` logical pixels drawn at scale `s`.
pub fn text(px: f64, s: f64) -> TextStyle<'static> {
    (font::FAMILY, px * s).into_font().into()
}

/// A legend drawn at `at` (pixels of `area`): a swatch and a name per item, one per row.
/// Drawn by hand rather than with plotters' series labels so that it can sit beside the
/// plot, in the margin, at any scale.
pub fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    at: (i32, i32),
    items: &[(String, RGBColor)],
    s: f64,
) -> DrawResult<DB> {
    let (side, row) = ((10.0 * s) as i32, (16.0 * s) as i32);
    for (k, (name, colour)) in items.iter().enumerate() {
        let y = at.1 + k as i32 * row;
        area.draw(&Rectangle::new([(at.0, y), (at.0 + side, y + side)], colour.filled()))?;
        area.draw(&Text::new(name.clone(), (at.0 + side + (5.0 * s) as i32, y - (1.0 * s) as i32), text(11.0, s)))?;
    }
    Ok(())
}

/// An axis tick as people write it: no "-0.0", no needless decimals.
pub fn tick(v: f64) -> String {
    let v = if v.abs() < 1e-9 { 0.0 } else { v };
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').to_string()
    }
}

/// A colour from its RGB bytes.
pub fn rgb(c: [u8; 3]) -> RGBColor {
    RGBColor(c[0], c[1], c[2])
}

/// Colours of the expression classes, by name where it is one of the usual ones (so a
/// class keeps its colour across models and figures), else by its place.
pub fn class_colour(name: &str, index: usize) -> [u8; 3] {
    const OTHERS: [[u8; 3]; 6] =
        [[31, 119, 180], [214, 39, 40], [44, 160, 44], [148, 103, 189], [140, 86, 75], [23, 190, 207]];
    match name {
        "happy" | "happiness" => [242, 183, 5],
        "sad" | "sadness" => [52, 101, 164],
        "angry" | "anger" => [204, 0, 0],
        "fear" | "fearful" => [117, 80, 123],
        "surprise" | "surprised" => [245, 121, 0],
        "disgust" | "disgusted" => [78, 154, 6],
        "contempt" => [143, 89, 2],
        "neutral" => [160, 160, 160],
        _ => OTHERS[index % OTHERS.len()],
    }
}

/// Colours told apart for tracks (the overlay's palette order, darker for white paper).
pub fn track_colour(k: usize) -> [u8; 3] {
    const P: [[u8; 3]; 8] = [
        [0, 130, 200],
        [230, 120, 0],
        [60, 170, 60],
        [200, 50, 130],
        [120, 80, 200],
        [170, 150, 0],
        [0, 160, 160],
        [120, 120, 120],
    ];
    P[k % P.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Square;
    impl Figure for Square {
        fn size(&self) -> (u32, u32) {
            (120, 80)
        }
        fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, s: f64) -> DrawResult<DB> {
            root.fill(&WHITE)?;
            let r = (10.0 * s) as i32;
            root.draw(&Rectangle::new([(r, r), (3 * r, 3 * r)], rgb([200, 0, 0]).filled()))?;
            root.draw(&Text::new("sad 42%", (4 * r, r), text(12.0, s)))
        }
    }

    #[test]
    fn ticks_read_like_numbers() {
        assert_eq!([tick(-0.0), tick(0.5), tick(2.0), tick(-0.25), tick(1e-12)], ["0", "0.5", "2", "-0.25", "0"]);
    }

    #[test]
    fn a_figure_scales_for_print_and_writes_both_formats() {
        let img = render(&Square, 3.0).unwrap();
        assert_eq!((img.width, img.height), (360, 240));
        let red = img.data.chunks(3).filter(|p| *p == [200, 0, 0]).count();
        assert_eq!(red, 60 * 60, "the square scaled with the figure");
        let dark = img.data.chunks(3).filter(|p| p.iter().all(|&c| c < 100)).count();
        assert!(dark > 100, "the text is drawn with a real font ({dark} dark pixels)");
        let dir = tempfile::tempdir().unwrap();
        save(&Square, &dir.path().join("a.svg"), Format::Svg).unwrap();
        let s = std::fs::read_to_string(dir.path().join("a.svg")).unwrap();
        assert!(s.contains("<svg") && s.contains("sad 42%"), "{s}");
        save(&Square, &dir.path().join("a.png"), Format::Png).unwrap();
        assert!(std::fs::read(dir.path().join("a.png")).unwrap().starts_with(b"\x89PNG"));
    }
}
