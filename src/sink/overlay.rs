//! Drawing results onto a frame: per face its box, track id, top label and confidence, a
//! bar chart of the class probabilities and a valence/arousal dot with its uncertainty;
//! a heads-up line at the top. Shared by the window and the annotated video, so both show
//! the same thing. Plain RGB drawing with an 8x8 bitmap font (font8x8), scaled by the
//! frame size so it stays readable from 360p to 4K.
use crate::messages::{Face, FrameMsg, RgbImage};
use crate::metrics::top_class;
use font8x8::UnicodeFonts;

/// Which estimate the overlay shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    Filtered,
    Raw,
}

/// Heads-up line contents.
#[derive(Clone, Debug, Default)]
pub struct Hud {
    pub fps: Option<f64>,
    pub latency_ms: Option<f64>,
    pub dropped: u64,
    pub note: String,
}

const PALETTE: [[u8; 3]; 6] =
    [[0, 200, 255], [255, 170, 0], [120, 255, 80], [255, 80, 160], [180, 120, 255], [255, 255, 80]];
const WHITE: [u8; 3] = [255, 255, 255];
const BLACK: [u8; 3] = [0, 0, 0];

pub struct Canvas<'a> {
    img: &'a mut RgbImage,
}

impl<'a> Canvas<'a> {
    pub fn new(img: &'a mut RgbImage) -> Self {
        Self { img }
    }

    fn put(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as u32) < self.img.width && (y as u32) < self.img.height {
            let i = (y as usize * self.img.width as usize + x as usize) * 3;
            self.img.data[i..i + 3].copy_from_slice(&c);
        }
    }

    fn blend(&mut self, x: i64, y: i64, c: [u8; 3], alpha: f32) {
        if x >= 0 && y >= 0 && (x as u32) < self.img.width && (y as u32) < self.img.height {
            let i = (y as usize * self.img.width as usize + x as usize) * 3;
            for k in 0..3 {
                let v = self.img.data[i + k] as f32 * (1.0 - alpha) + c[k] as f32 * alpha;
                self.img.data[i + k] = v.round() as u8;
            }
        }
    }

    pub fn fill_rect(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: [u8; 3], alpha: f32) {
        for y in y0.max(0)..y1.min(self.img.height as i64) {
            for x in x0.max(0)..x1.min(self.img.width as i64) {
                if alpha >= 1.0 {
                    self.put(x, y, c);
                } else {
                    self.blend(x, y, c, alpha);
                }
            }
        }
    }

    pub fn rect(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: [u8; 3], thick: i64) {
        for t in 0..thick {
            for x in x0..=x1 {
                self.put(x, y0 + t, c);
                self.put(x, y1 - t, c);
            }
            for y in y0..=y1 {
                self.put(x0 + t, y, c);
                self.put(x1 - t, y, c);
            }
        }
    }

    /// Text at (x, y) (top left), each font pixel drawn as scale x scale.
    pub fn text(&mut self, x: i64, y: i64, s: &str, c: [u8; 3], scale: i64) {
        for (n, ch) in s.chars().enumerate() {
            let glyph = font8x8::BASIC_FONTS.get(ch).or_else(|| font8x8::BASIC_FONTS.get('?')).unwrap_or([0; 8]);
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..8 {
                    if bits & (1 << col) != 0 {
                        let (px, py) = (x + (n as i64 * 8 + col) * scale, y + row as i64 * scale);
                        self.fill_rect(px, py, px + scale, py + scale, c, 1.0);
                    }
                }
            }
        }
    }

    /// Text on a dark backing box, for legibility over any image.
    pub fn label(&mut self, x: i64, y: i64, s: &str, c: [u8; 3], scale: i64) {
        let w = s.chars().count() as i64 * 8 * scale;
        self.fill_rect(x - scale, y - scale, x + w + scale, y + 8 * scale + scale, BLACK, 0.6);
        self.text(x, y, s, c, scale);
    }

    pub fn disc(&mut self, cx: i64, cy: i64, r: i64, c: [u8; 3]) {
        for y in -r..=r {
            for x in -r..=r {
                if x * x + y * y <= r * r {
                    self.put(cx + x, cy + y, c);
                }
            }
        }
    }
}

/// Share of the frame height the text's cap height aims at: legible once the video is shown
/// at any normal size, small enough to leave faces visible.
pub const CAP_HEIGHT_FRACTION: f64 = 0.012;

/// Integer font scale (each 8x8 glyph pixel drawn as scale x scale; caps are 7 pixels tall)
/// so the cap height is about `CAP_HEIGHT_FRACTION` of the frame's shorter side: 1 up to
/// ~900 px, 2 at 1080p, 4 at 2160p. Line widths and the V/A square scale with it.
pub fn scale_for(img: &RgbImage) -> i64 {
    let side = img.height.min(img.width) as f64;
    ((side * CAP_HEIGHT_FRACTION / 7.0).round() as i64).max(1)
}

/// Area of the overlap of two (x1, y1, x2, y2) rectangles.
fn overlap(a: [i64; 4], b: [i64; 4]) -> i64 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0);
    w * h
}

/// `others`: the boxes of the frame's other faces, which the panels avoid where they can.
fn draw_face(cv: &mut Canvas, face: &Face, others: &[[i64; 4]], classes: &[String], view: View, s: i64) {
    let d = &face.detection;
    let color = PALETTE[face.track_id.unwrap_or(0) as usize % PALETTE.len()];
    let [x1, y1, x2, y2] = d.bbox.map(|v| v.round() as i64);
    cv.rect(x1, y1, x2, y2, color, s.max(2));
    for p in d.landmarks {
        cv.disc(p[0].round() as i64, p[1].round() as i64, s + 1, color);
    }
    let probs: Option<&[f32]> = match (view, &face.analysis, &face.output) {
        (View::Filtered, Some(a), _) => Some(&a.filtered.probs),
        (_, _, Some(o)) => Some(&o.probs),
        _ => None,
    };
    let id = face.track_id.map(|i| format!("#{i} ")).unwrap_or_default();
    let title = match probs {
        Some(p) => {
            let (label, prob) = top_class(classes, p);
            format!("{id}{} {:.0}%", label.unwrap_or("?"), prob.unwrap_or(0.0) * 100.0)
        }
        None => format!("{id}face {:.2}", d.score),
    };
    let line = 8 * s + 2 * s;
    cv.label(x1, (y1 - line).max(s), &title, color, s);
    // class bars below the box
    if let Some(p) = probs {
        // below the box, moved up as far as needed to stay inside the frame
        let chart_h = line * classes.len() as i64;
        let (bx, mut by) = (x1, (y2 + 2 * s + 2).min(cv.img.height as i64 - chart_h - s).max(0));
        let bar_w = 60 * s;
        for (name, &v) in classes.iter().zip(p) {
            let short: String = name.chars().take(3).collect();
            cv.label(bx, by, &short, WHITE, s);
            let x0 = bx + 4 * 8 * s;
            cv.fill_rect(x0, by, x0 + bar_w, by + 7 * s, BLACK, 0.5);
            cv.fill_rect(x0, by, x0 + (bar_w as f32 * v.clamp(0.0, 1.0)) as i64, by + 7 * s, color, 1.0);
            by += line;
        }
    }
    // valence/arousal: a small square plot right of the box, the dot's ring is ±1 std
    if let Some(a) = &face.analysis {
        let (v, ar, vs, as_) = match view {
            View::Filtered => (a.filtered.valence, a.filtered.arousal, a.filtered.valence_std, a.filtered.arousal_std),
            View::Raw => (a.affect.valence, a.affect.arousal, a.affect.valence_var.sqrt(), a.affect.arousal_var.sqrt()),
        };
        let half = 24 * s;
        let cy = (y1 + half).min(cv.img.height as i64 - half - 10 * s).max(half);
        // right of the box or left of it: the side inside the frame that covers the fewest
        // pixels of the other faces (right on a tie)
        let width = cv.img.width as i64;
        let cost = |cx: i64| -> i64 {
            let r = [cx - half, cy - half, cx + half, cy + half + 10 * s];
            let outside = if r[0] < 0 || r[2] > width { i64::MAX / 4 } else { 0 };
            outside + others.iter().map(|&o| overlap(r, o)).sum::<i64>()
        };
        let (right, left) = (x2 + half + 4 * s, x1 - half - 4 * s);
        let cx = if cost(left) < cost(right) { left } else { right };
        cv.fill_rect(cx - half, cy - half, cx + half, cy + half, BLACK, 0.5);
        cv.rect(cx - half, cy - half, cx + half, cy + half, WHITE, 1);
        cv.fill_rect(cx - half, cy, cx + half, cy + 1, WHITE, 0.6);
        cv.fill_rect(cx, cy - half, cx + 1, cy + half, WHITE, 0.6);
        let px = cx + (v.clamp(-1.0, 1.0) * half as f32) as i64;
        let py = cy - (ar.clamp(-1.0, 1.0) * half as f32) as i64;
        let (rx, ry) = ((vs * half as f32) as i64, (as_ * half as f32) as i64);
        cv.rect(px - rx, py - ry, px + rx, py + ry, color, 1);
        cv.disc(px, py, 2 * s, color);
        cv.label(cx - half, cy + half + 2 * s, "V/A", WHITE, s);
    }
}

/// Draws every face of `frame` and the heads-up line onto `img` (a copy of the frame).
pub fn draw(img: &mut RgbImage, frame: &FrameMsg, classes: &[String], view: View, hud: &Hud) {
    draw_faces(img, frame, classes, view);
    let s = scale_for(img);
    draw_hud(img, (2 * s, 2 * s), frame, view, hud, s);
}

/// Draws every face of `frame` onto `img` (a copy of the frame).
pub fn draw_faces(img: &mut RgbImage, frame: &FrameMsg, classes: &[String], view: View) {
    let s = scale_for(img);
    let mut cv = Canvas::new(img);
    let boxes: Vec<[i64; 4]> = frame.faces.iter().map(|f| f.detection.bbox.map(|v| v.round() as i64)).collect();
    for (i, face) in frame.faces.iter().enumerate() {
        let others: Vec<[i64; 4]> = boxes.iter().enumerate().filter(|&(j, _)| j != i).map(|(_, b)| *b).collect();
        draw_face(&mut cv, face, &others, classes, view, s);
    }
}

/// The heads-up line of `frame` (frame, faces, fps, latency, drops, view, note) at `at`
/// on `img`, text at scale `s`: on the frame itself, or on a window tile.
pub fn draw_hud(img: &mut RgbImage, at: (i64, i64), frame: &FrameMsg, view: View, hud: &Hud, s: i64) {
    let mut cv = Canvas::new(img);
    let mut line = format!("frame {}  faces {}", frame.meta.index, frame.faces.len());
    if let Some(f) = hud.fps {
        line += &format!("  {f:.1} fps");
    }
    if let Some(l) = hud.latency_ms {
        line += &format!("  latency {l:.0} ms");
    }
    line += &format!("  dropped {}  {}", hud.dropped, if view == View::Filtered { "filtered" } else { "raw" });
    if !hud.note.is_empty() {
        line += &format!("  {}", hud.note);
    }
    cv.label(at.0, at.1, &line, WHITE, s);
}

#[cfg(test)]
mod scale_tests {
    use super::*;

    #[test]
    fn text_scales_with_the_frame() {
        let img = |w, h| RgbImage { width: w, height: h, data: Vec::new() };
        assert_eq!(scale_for(&img(640, 360)), 1);
        assert_eq!(scale_for(&img(1280, 720)), 1);
        assert_eq!(scale_for(&img(1920, 1080)), 2);
        assert_eq!(scale_for(&img(1080, 1920)), 2, "portrait: the shorter side decides");
        assert_eq!(scale_for(&img(3840, 2160)), 4);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_boxes_change_pixels_inside_the_frame_only() {
        let mut img = RgbImage::new(64, 32, vec![0; 64 * 32 * 3]);
        let mut cv = Canvas::new(&mut img);
        cv.text(2, 2, "A", WHITE, 1);
        cv.rect(-10, -10, 100, 100, WHITE, 1); // entirely clipped lines must not panic
        let lit = img.data.chunks(3).filter(|p| p == &[255, 255, 255]).count();
        assert!(lit > 5 && lit < 64, "{lit}");
    }
}
