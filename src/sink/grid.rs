//! The tiles of the live window in a run of several streams: one tile a stream, laid out
//! in a near-square grid, each frame scaled to fit its tile with its aspect kept (black
//! bars), so cameras of different sizes share one window without stretching. Kept apart
//! from the window so the layout and the scaling are testable without a display.
use crate::imageops::resize::Resampler;
use crate::messages::RgbImage;

pub struct Grid {
    cols: u32,
    tile: (u32, u32),
    canvas: RgbImage,
    /// Per stream: the resampler for its frame size into its tile.
    resamplers: Vec<Option<Resampler>>,
    scaled: RgbImage,
}

impl Grid {
    /// A grid for `streams` tiles within `max` pixels (each tile at most 640x360).
    pub fn new(streams: usize, max: (u32, u32)) -> Self {
        let n = streams.max(1) as u32;
        let cols = (n as f64).sqrt().ceil() as u32;
        let rows = n.div_ceil(cols);
        // 16:9 tiles, as large as fit, even-sized
        let w = (max.0 / cols).min(max.1 / rows * 16 / 9).min(640) & !1;
        let tile = (w.max(2), (w * 9 / 16).max(2) & !1);
        let canvas = RgbImage::new(tile.0 * cols, tile.1 * rows, vec![0; (tile.0 * cols * tile.1 * rows * 3) as usize]);
        Self { cols, tile, canvas, resamplers: (0..n).map(|_| None).collect(), scaled: RgbImage::default() }
    }

    pub fn canvas(&self) -> &RgbImage {
        &self.canvas
    }

    /// The canvas to draw on (a tile's heads-up line, at the window's own scale).
    pub fn canvas_mut(&mut self) -> &mut RgbImage {
        &mut self.canvas
    }

    /// Where stream `i`'s tile starts, and its size.
    pub fn tile(&self, i: usize) -> ((u32, u32), (u32, u32)) {
        let (c, r) = (i as u32 % self.cols, i as u32 / self.cols);
        ((c * self.tile.0, r * self.tile.1), self.tile)
    }

    /// Draws `img` into stream `i`'s tile: scaled to fit, centred, the rest black.
    pub fn put(&mut self, i: usize, img: &RgbImage) {
        if i >= self.resamplers.len() || img.width == 0 || img.height == 0 {
            return;
        }
        let ((x0, y0), (tw, th)) = self.tile(i);
        let s = (tw as f64 / img.width as f64).min(th as f64 / img.height as f64);
        let fit = (((img.width as f64 * s) as u32).clamp(1, tw), ((img.height as f64 * s) as u32).clamp(1, th));
        let sizes = ((img.width, img.height), fit);
        let r = &mut self.resamplers[i];
        if r.as_ref().map(|r| r.sizes()) != Some(sizes) {
            *r = Some(Resampler::new(sizes.0, sizes.1));
        }
        if let Some(r) = r.as_mut() {
            r.run(img, &mut self.scaled);
        }
        let (ox, oy) = (x0 + (tw - fit.0) / 2, y0 + (th - fit.1) / 2);
        let cw = self.canvas.width as usize;
        for y in y0..y0 + th {
            let row =
                &mut self.canvas.data[(y as usize * cw + x0 as usize) * 3..(y as usize * cw + (x0 + tw) as usize) * 3];
            if y < oy || y >= oy + fit.1 {
                row.fill(0);
                continue;
            }
            let src = &self.scaled.data[((y - oy) * fit.0 * 3) as usize..((y - oy + 1) * fit.0 * 3) as usize];
            let (left, rest) = row.split_at_mut(((ox - x0) * 3) as usize);
            left.fill(0);
            let (mid, right) = rest.split_at_mut((fit.0 * 3) as usize);
            mid.copy_from_slice(src);
            right.fill(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(w: u32, h: u32, c: [u8; 3]) -> RgbImage {
        RgbImage::new(w, h, c.repeat((w * h) as usize))
    }

    #[test]
    fn tiles_are_a_near_square_grid_of_16_9_tiles() {
        let g = Grid::new(4, (1280, 720));
        assert_eq!((g.canvas().width, g.canvas().height), (1280, 720));
        assert_eq!(g.tile(3), ((640, 360), (640, 360)));
        let g = Grid::new(3, (1280, 720));
        assert_eq!(g.tile(2), ((0, 360), (640, 360)), "3 streams: 2 columns, 2 rows");
        let g = Grid::new(16, (1920, 1080));
        assert_eq!(g.tile(15), ((1440, 810), (480, 270)));
    }

    #[test]
    fn a_frame_fills_its_tile_with_its_aspect_kept() {
        let mut g = Grid::new(2, (1280, 720));
        // a square frame in a 640x360 tile: 360x360 in the middle, black bars either side
        g.put(1, &solid(100, 100, [200, 10, 10]));
        let px = |g: &Grid, x: u32, y: u32| {
            let i = ((y * g.canvas().width + x) * 3) as usize;
            [g.canvas().data[i], g.canvas().data[i + 1], g.canvas().data[i + 2]]
        };
        let ((x0, y0), _) = g.tile(1);
        assert_eq!(px(&g, x0 + 320, y0 + 180), [200, 10, 10]);
        assert_eq!(px(&g, x0 + 140, y0 + 180), [200, 10, 10]);
        assert_eq!(px(&g, x0 + 139, y0 + 180), [0, 0, 0]);
        assert_eq!(px(&g, x0 + 500, y0 + 10), [0, 0, 0]);
        // the other tile is untouched
        assert_eq!(px(&g, 320, 180), [0, 0, 0]);
        // a 16:9 frame fills the whole tile; a stream out of range is ignored
        g.put(0, &solid(1920, 1080, [1, 2, 3]));
        assert_eq!(px(&g, 0, 0), [1, 2, 3]);
        assert_eq!(px(&g, 639, 359), [1, 2, 3]);
        g.put(5, &solid(10, 10, [9, 9, 9]));
    }
}
