//! Display orientation of a video stream (the display matrix phones write instead of
//! rotating the pixels), applied to decoded frames the way FFmpeg's `-autorotate` does, so
//! faces reach the detector upright and boxes are in the orientation a player shows.
use crate::messages::RgbImage;

/// How the stored frame is turned to be shown upright.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Orientation {
    #[default]
    Upright,
    /// Rotate 90 degrees clockwise.
    Cw90,
    Rot180,
    /// Rotate 90 degrees counter-clockwise.
    Ccw90,
    /// Mirror left-right (a front camera's selfie flag).
    FlipH,
    /// Mirror top-bottom.
    FlipV,
    /// Transpose (mirror across the main diagonal): 90 degrees with a flip.
    Transpose,
    /// Mirror across the anti-diagonal.
    AntiTranspose,
}

impl Orientation {
    /// From a 3x3 display matrix (16.16 fixed point, as FFmpeg stores it), with FFmpeg's
    /// rules: the rotation angle rounded to whole degrees, flips read from the signs.
    /// Returns None for angles that are not a multiple of 90 degrees (not applied).
    pub fn from_display_matrix(m: &[i32; 9]) -> Option<Self> {
        let (a, b, c, d) = (m[0] as f64, m[1] as f64, m[3] as f64, m[4] as f64);
        let (sx, sy) = (a.hypot(c), b.hypot(d));
        if sx == 0.0 || sy == 0.0 {
            return Some(Orientation::Upright);
        }
        // av_display_rotation_get (what ffprobe prints as "rotation"), then FFmpeg's
        // autorotate angle: its negative, rounded, in [0, 360)
        let get = -(b / sy).atan2(a / sx).to_degrees();
        let mut theta = -get.round();
        theta -= 360.0 * (theta / 360.0 + 0.9 / 360.0).floor();
        let near = |x: f64| (theta - x).abs() < 1.0;
        Some(if near(90.0) {
            if m[3] > 0 {
                Orientation::AntiTranspose
            } else {
                Orientation::Cw90
            }
        } else if near(180.0) {
            match (m[0] < 0, m[4] < 0) {
                (true, true) => Orientation::Rot180,
                (true, false) => Orientation::FlipH,
                (false, true) => Orientation::FlipV,
                (false, false) => Orientation::Upright,
            }
        } else if near(270.0) {
            if m[3] < 0 {
                Orientation::Transpose
            } else {
                Orientation::Ccw90
            }
        } else if theta.abs() < 1.0 || near(360.0) {
            if m[4] < 0 {
                Orientation::FlipV
            } else {
                Orientation::Upright
            }
        } else {
            return None;
        })
    }

    /// Whether the shown frame has width and height swapped.
    pub fn swaps_sides(self) -> bool {
        matches!(self, Orientation::Cw90 | Orientation::Ccw90 | Orientation::Transpose | Orientation::AntiTranspose)
    }

    /// The frame as shown: a new image (the input when upright).
    pub fn apply(self, img: RgbImage) -> RgbImage {
        if self == Orientation::Upright {
            return img;
        }
        let (w, h) = (img.width as usize, img.height as usize);
        let (ow, oh) = if self.swaps_sides() { (h, w) } else { (w, h) };
        let mut out = crate::imageops::pool::take(w * h * 3);
        out.resize(w * h * 3, 0);
        for y in 0..h {
            for x in 0..w {
                // where stored pixel (x, y) lands in the shown frame
                let (nx, ny) = match self {
                    Orientation::Upright => (x, y),
                    Orientation::Cw90 => (h - 1 - y, x),
                    Orientation::Ccw90 => (y, w - 1 - x),
                    Orientation::Rot180 => (w - 1 - x, h - 1 - y),
                    Orientation::FlipH => (w - 1 - x, y),
                    Orientation::FlipV => (x, h - 1 - y),
                    Orientation::Transpose => (y, x),
                    Orientation::AntiTranspose => (h - 1 - y, w - 1 - x),
                };
                let (s, d) = ((y * w + x) * 3, (ny * ow + nx) * 3);
                out[d..d + 3].copy_from_slice(&img.data[s..s + 3]);
            }
        }
        crate::imageops::pool::give(img.data);
        RgbImage::new(ow as u32, oh as u32, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 16.16 rotation matrix whose av_display_rotation_get (ffprobe's "rotation") is `deg`.
    fn matrix(deg: f64) -> [i32; 9] {
        let (s, c) = deg.to_radians().sin_cos();
        let f = |v: f64| (v * 65536.0).round() as i32;
        [f(c), f(-s), 0, f(s), f(c), 0, 0, 0, 1 << 30]
    }

    #[test]
    fn ffmpeg_rotation_tags_map_to_turns() {
        // `-metadata:s:v rotate=90` makes ffprobe print rotation=90, and FFmpeg then turns the
        // stored frame 90 degrees counter-clockwise to show it (checked with the CLI)
        assert_eq!(Orientation::from_display_matrix(&matrix(90.0)), Some(Orientation::Ccw90));
        assert_eq!(Orientation::from_display_matrix(&matrix(-90.0)), Some(Orientation::Cw90));
        assert_eq!(Orientation::from_display_matrix(&matrix(180.0)), Some(Orientation::Rot180));
        assert_eq!(Orientation::from_display_matrix(&matrix(0.0)), Some(Orientation::Upright));
        assert_eq!(Orientation::from_display_matrix(&matrix(30.0)), None);
    }

    #[test]
    fn turns_move_pixels_where_a_player_shows_them() {
        // 3x2 image, pixel value = index: [0 1 2; 3 4 5]
        let img = RgbImage::new(3, 2, (0..6u8).flat_map(|v| [v, v, v]).collect());
        let px = |i: &RgbImage| i.data.chunks(3).map(|p| p[0]).collect::<Vec<_>>();
        let cw = Orientation::Cw90.apply(img.clone());
        assert_eq!((cw.width, cw.height), (2, 3));
        assert_eq!(px(&cw), [3, 0, 4, 1, 5, 2]);
        let ccw = Orientation::Ccw90.apply(img.clone());
        assert_eq!(px(&ccw), [2, 5, 1, 4, 0, 3]);
        assert_eq!(px(&Orientation::Rot180.apply(img.clone())), [5, 4, 3, 2, 1, 0]);
        assert_eq!(px(&Orientation::FlipH.apply(img.clone())), [2, 1, 0, 5, 4, 3]);
        // four clockwise turns are the identity
        let mut r = img.clone();
        for _ in 0..4 {
            r = Orientation::Cw90.apply(r);
        }
        assert_eq!(r, img);
    }
}
