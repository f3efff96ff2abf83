//! The evaluation report's pictures: the confusion matrix and the reliability diagram as
//! figures (`crate::plot`, plotters: PNG at print resolution), and saliency maps, which are
//! pictures of the face rather than charts and are composed pixel by pixel.

use crate::messages::RgbImage;
use crate::plot::{rgb, text, DrawResult, Figure};
use plotters::coord::Shift;
use plotters::prelude::*;

pub use crate::imageops::png::write_png;
pub use crate::metrics::Bin;

fn blank(w: u32, h: u32) -> RgbImage {
    RgbImage::new(w, h, vec![255; (w * h * 3) as usize])
}

/// White (0) to dark blue (1).
fn blues(t: f64) -> [u8; 3] {
    let t = t.clamp(0.0, 1.0);
    [(255.0 * (1.0 - 0.9 * t)) as u8, (255.0 * (1.0 - 0.75 * t)) as u8, (255.0 * (1.0 - 0.35 * t)) as u8]
}

/// Rows: true class; columns: predicted. Each cell shows its share of the row (the recall
/// on the diagonal), shaded by it, and the count beneath.
pub struct Confusion<'a> {
    pub matrix: &'a [Vec<u64>],
    pub classes: &'a [String],
}

impl Figure for Confusion<'_> {
    fn size(&self) -> (u32, u32) {
        let k = self.classes.len().max(1) as u32;
        (160 + 62 * k, 120 + 56 * k)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, s: f64) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        let k = self.classes.len();
        let name = |j: &SegmentValue<usize>, flip: bool| match j {
            SegmentValue::CenterOf(j) if *j < k => self.classes[if flip { k - 1 - j } else { *j }].clone(),
            _ => String::new(),
        };
        let mut chart = ChartBuilder::on(root)
            .caption("confusion matrix: % of each true class (count)", text(15.0, s))
            .margin((10.0 * s) as i32)
            .x_label_area_size((40.0 * s) as i32)
            .y_label_area_size((90.0 * s) as i32)
            .build_cartesian_2d((0..k).into_segmented(), (0..k).into_segmented())?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("predicted")
            .y_desc("true")
            .x_labels(k)
            .y_labels(k)
            .x_label_formatter(&|j| name(j, false))
            .y_label_formatter(&|j| name(j, true))
            .label_style(text(12.0, s))
            .axis_desc_style(text(13.0, s))
            .draw()?;
        for (i, row) in self.matrix.iter().enumerate() {
            let total = row.iter().sum::<u64>().max(1) as f64;
            let y = k - 1 - i;
            for (j, &v) in row.iter().enumerate() {
                let t = v as f64 / total;
                let cell = [
                    (SegmentValue::Exact(j), SegmentValue::Exact(y + 1)),
                    (SegmentValue::Exact(j + 1), SegmentValue::Exact(y)),
                ];
                chart.draw_series([Rectangle::new(cell, rgb(blues(t)).filled())])?;
                let colour = if t > 0.5 { WHITE } else { BLACK };
                let label = format!("{:.0}%\n({v})", 100.0 * t);
                let style = text(12.0, s).color(&colour).pos(plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Center,
                    plotters::style::text_anchor::VPos::Center,
                ));
                for (n, line) in label.lines().enumerate() {
                    let (cx, cy) = chart.backend_coord(&(SegmentValue::CenterOf(j), SegmentValue::CenterOf(y)));
                    let dy = ((n as f64 - 0.5) * 14.0 * s) as i32;
                    root.draw(&Text::new(line.to_string(), (cx, cy + dy), style.clone()))?;
                }
            }
        }
        Ok(())
    }
}

/// Accuracy per confidence bin (bars) against the diagonal of perfect calibration, each
/// bin's mean confidence marked and its sample count above it.
pub struct Reliability<'a> {
    pub bins: &'a [Bin],
    pub ece: f64,
}

impl Figure for Reliability<'_> {
    fn size(&self) -> (u32, u32) {
        (520, 520)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, s: f64) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(root)
            .caption(format!("reliability diagram, ECE {:.3}", self.ece), text(15.0, s))
            .margin((12.0 * s) as i32)
            .x_label_area_size((40.0 * s) as i32)
            .y_label_area_size((50.0 * s) as i32)
            .build_cartesian_2d(0f64..1f64, 0f64..1.05f64)?;
        chart
            .configure_mesh()
            .x_desc("confidence")
            .y_desc("accuracy")
            .label_style(text(12.0, s))
            .axis_desc_style(text(13.0, s))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        let grey = RGBColor(150, 150, 150);
        chart
            .draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], grey.stroke_width((1.5 * s) as u32)))?
            .label("perfect calibration")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], grey));
        let blue = RGBColor(70, 110, 200);
        let red = RGBColor(220, 60, 60);
        let filled = self.bins.iter().filter(|b| b.count > 0);
        chart
            .draw_series(
                filled.clone().map(|b| Rectangle::new([(b.lo, 0.0), (b.hi, b.accuracy)], blue.mix(0.85).filled())),
            )?
            .label("accuracy")
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], blue.filled()));
        chart
            .draw_series(filled.clone().map(|b| {
                PathElement::new([(b.lo, b.confidence), (b.hi, b.confidence)], red.stroke_width((2.5 * s) as u32))
            }))?
            .label("mean confidence")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], red.stroke_width(3)));
        chart.draw_series(filled.map(|b| {
            Text::new(
                b.count.to_string(),
                ((b.lo + b.hi) / 2.0 - 0.02, (b.accuracy.max(b.confidence) + 0.04).min(1.04)),
                text(10.0, s).color(&grey),
            )
        }))?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(text(12.0, s))
            .background_style(WHITE.mix(0.8))
            .border_style(grey)
            .draw()?;
        Ok(())
    }
}

/// The face (scaled up), its saliency map (|d loss / d pixel| as a heat map) and the map
/// drawn over the face, so what the model looked at is seen where it is.
pub fn saliency(face: &RgbImage, heat: &[f32], title: &str) -> RgbImage {
    let (w, h) = (face.width as usize, face.height as usize);
    let z = (256 / w.max(1)).max(1);
    let (ow, oh) = (w * z, h * z);
    let mut img = blank((3 * ow + 32) as u32, (oh + 28) as u32);
    let max = heat.iter().cloned().fold(1e-12f32, f32::max);
    for y in 0..oh {
        for x in 0..ow {
            let (sx, sy) = (x / z, y / z);
            let s = (sy * w + sx) * 3;
            let d = ((y + 20) * img.width as usize + 8 + x) * 3;
            img.data[d..d + 3].copy_from_slice(&face.data[s..s + 3]);
            let t = (heat[sy * w + sx] / max).clamp(0.0, 1.0);
            // black -> red -> yellow -> white
            let c = [(3.0 * t).min(1.0), (3.0 * t - 1.0).clamp(0.0, 1.0), (3.0 * t - 2.0).clamp(0.0, 1.0)];
            let d = ((y + 20) * img.width as usize + 16 + ow + x) * 3;
            for k in 0..3 {
                img.data[d + k] = (c[k] * 255.0) as u8;
            }
            // over the face: the heat's colour, as opaque as the heat is strong
            let d = ((y + 20) * img.width as usize + 24 + 2 * ow + x) * 3;
            let a = 0.75 * t;
            for k in 0..3 {
                img.data[d + k] = ((1.0 - a) * face.data[s + k] as f32 + a * c[k] * 255.0) as u8;
            }
        }
    }
    {
        let (w, h) = (img.width, img.height);
        let root = BitMapBackend::with_buffer(&mut img.data, (w, h)).into_drawing_area();
        if crate::plot::font::ensure().is_ok() {
            let _ = root.draw(&Text::new(title.to_string(), (8, 3), text(13.0, 1.0)));
        }
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_have_their_marks_and_write() {
        let classes: Vec<String> = ["angry", "happy"].iter().map(|s| s.to_string()).collect();
        let img =
            crate::plot::render(&Confusion { matrix: &[vec![8, 2], vec![1, 9]], classes: &classes }, 1.0).unwrap();
        assert!(img.data.chunks(3).any(|p| p == blues(0.9)), "the 9/10 cell is shaded");
        let bins = vec![
            Bin { lo: 0.0, hi: 0.5, count: 3, confidence: 0.4, accuracy: 0.2 },
            Bin { lo: 0.5, hi: 1.0, count: 5, confidence: 0.8, accuracy: 0.9 },
        ];
        let r = crate::plot::render(&Reliability { bins: &bins, ece: 0.1 }, 1.0).unwrap();
        assert!(r.data.chunks(3).filter(|p| *p == [220, 60, 60]).count() > 50, "the confidence marks");
        let face = RgbImage::new(4, 4, vec![100; 48]);
        let s = saliency(&face, &[0.0, 1.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.2], "x");
        assert!(s.data.chunks(3).any(|p| p == [255, 255, 255]));
        assert_eq!(s.width, 3 * 256 + 32, "face, heat map, and the map over the face");
        // the overlay panel: the hottest pixel is tinted, a cold one is the face itself
        let (z, w) = (64usize, s.width as usize);
        let px = |x: usize, y: usize| &s.data[((20 + y) * w + 24 + 2 * 256 + x) * 3..][..3];
        assert_ne!(px(z + 1, 1), [100, 100, 100], "tinted where the heat is");
        assert_eq!(px(3 * z + 1, z + 1), [100, 100, 100], "the face where there is none");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.png");
        write_png(&p, &img).unwrap();
        assert!(std::fs::read(&p).unwrap().starts_with(b"\x89PNG"));
    }
}
