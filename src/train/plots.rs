//! The evaluation report's pictures, drawn with the overlay canvas and written as PNG:
//! the confusion matrix, the reliability diagram, and saliency maps.

use crate::messages::RgbImage;
use crate::sink::overlay::Canvas;

const WHITE: [u8; 3] = [255, 255, 255];
const BLACK: [u8; 3] = [0, 0, 0];
const GREY: [u8; 3] = [150, 150, 150];

pub use crate::imageops::png::write_png;

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
pub fn confusion(matrix: &[Vec<u64>], classes: &[String]) -> RgbImage {
    let k = classes.len() as i64;
    let cell = 56i64;
    let left = 8 + 8 * classes.iter().map(|c| c.len()).max().unwrap_or(4) as i64 + 8;
    let top = 40i64;
    let (w, h) = ((left + k * cell + 16) as u32, (top + k * cell + 8 + 8 * 10 + 24) as u32);
    let mut img = blank(w, h);
    let mut cv = Canvas::new(&mut img);
    cv.text(8, 8, "confusion matrix, % of each true class (count)", BLACK, 1);
    cv.text(8, 20, "rows: true, columns: predicted", GREY, 1);
    for (i, row) in matrix.iter().enumerate() {
        let total = row.iter().sum::<u64>().max(1) as f64;
        cv.text(8, top + i as i64 * cell + cell / 2 - 4, &classes[i], BLACK, 1);
        for (j, &v) in row.iter().enumerate() {
            let t = v as f64 / total;
            let (x, y) = (left + j as i64 * cell, top + i as i64 * cell);
            cv.fill_rect(x, y, x + cell - 2, y + cell - 2, blues(t), 1.0);
            let tc = if t > 0.5 { WHITE } else { BLACK };
            let pct = format!("{:.0}%", 100.0 * t);
            let n = format!("({v})");
            cv.text(x + (cell - 8 * pct.len() as i64) / 2, y + cell / 2 - 10, &pct, tc, 1);
            cv.text(x + (cell - 8 * n.len() as i64) / 2, y + cell / 2 + 4, &n, tc, 1);
        }
    }
    for (j, c) in classes.iter().enumerate() {
        // column labels under the grid, vertical would need rotation: use initials + legend
        let short: String = c.chars().take(3).collect();
        let x = left + j as i64 * cell + cell / 2 - 4 * short.len() as i64;
        cv.text(x, top + k * cell + 4, &short, BLACK, 1);
    }
    let legend: Vec<String> =
        classes.iter().map(|c| format!("{}={c}", c.chars().take(3).collect::<String>())).collect();
    for (n, chunk) in legend.chunks(4).enumerate() {
        cv.text(8, top + k * cell + 20 + n as i64 * 12, &chunk.join("  "), GREY, 1);
    }
    img
}

pub use crate::metrics::Bin;

/// Accuracy per confidence bin (bars) against the diagonal of perfect calibration.
pub fn reliability(bins: &[Bin], ece: f64) -> RgbImage {
    let (size, pad) = (400i64, 48i64);
    let mut img = blank((size + 2 * pad) as u32, (size + 2 * pad) as u32);
    let mut cv = Canvas::new(&mut img);
    cv.text(8, 8, &format!("reliability diagram, ECE {ece:.3}"), BLACK, 1);
    cv.rect(pad, pad, pad + size, pad + size, BLACK, 1);
    let n = bins.len().max(1) as i64;
    for (i, b) in bins.iter().enumerate() {
        let x0 = pad + i as i64 * size / n;
        let x1 = pad + (i as i64 + 1) * size / n;
        if b.count > 0 {
            let top = pad + size - (b.accuracy * size as f64) as i64;
            cv.fill_rect(x0 + 1, top, x1 - 1, pad + size, [70, 110, 200], 1.0);
            let ctop = pad + size - (b.confidence * size as f64) as i64;
            cv.fill_rect(x0 + 1, ctop - 1, x1 - 1, ctop + 1, [220, 60, 60], 1.0);
        }
    }
    for t in 0..size {
        let (x, y) = (pad + t, pad + size - t);
        cv.fill_rect(x, y, x + 1, y + 1, GREY, 1.0);
    }
    // ticks at every 0.2 on both axes, and each bin's sample count above its bar
    for k in 0..=5 {
        let v = k as f64 / 5.0;
        let at = (v * size as f64) as i64;
        let label = format!("{v:.1}");
        cv.fill_rect(pad + at, pad + size, pad + at + 1, pad + size + 4, BLACK, 1.0);
        cv.text(pad + at - 12, pad + size + 6, &label, BLACK, 1);
        cv.fill_rect(pad - 4, pad + size - at, pad, pad + size - at + 1, BLACK, 1.0);
        cv.text(pad - 30, pad + size - at - 4, &label, BLACK, 1);
    }
    for (i, b) in bins.iter().enumerate().filter(|(_, b)| b.count > 0) {
        let x0 = pad + i as i64 * size / n;
        let top = pad + size - (b.accuracy.max(b.confidence) * size as f64) as i64;
        let c = b.count.to_string();
        cv.text(x0 + (size / n - 8 * c.len() as i64) / 2, (top - 12).max(pad + 2), &c, GREY, 1);
    }
    cv.text(pad, pad + size + 20, "x: confidence  blue: accuracy  red: mean conf.  grey: n", BLACK, 1);
    cv.text(8, 24, "accuracy", BLACK, 1);
    img
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
    Canvas::new(&mut img).text(8, 6, title, BLACK, 1);
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_have_their_marks_and_write() {
        let classes: Vec<String> = ["angry", "happy"].iter().map(|s| s.to_string()).collect();
        let img = confusion(&[vec![8, 2], vec![1, 9]], &classes);
        assert!(img.data.chunks(3).any(|p| p == blues(0.9)), "the 9/10 cell is shaded");
        let bins = vec![
            Bin { lo: 0.0, hi: 0.5, count: 3, confidence: 0.4, accuracy: 0.2 },
            Bin { lo: 0.5, hi: 1.0, count: 5, confidence: 0.8, accuracy: 0.9 },
        ];
        let r = reliability(&bins, 0.1);
        assert!(r.data.chunks(3).any(|p| p == [70, 110, 200]));
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
