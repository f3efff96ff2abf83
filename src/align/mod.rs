//! Five-point face alignment. A similarity transform (scale, rotation, translation) maps
//! the detected landmarks onto the classifier's template in the least-squares sense
//! (Umeyama 1991, closed form in 2-D without reflection); the crop is then sampled
//! bilinearly from the full-resolution frame, edges replicated. Coordinates are
//! continuous: pixel (i, j) covers [j, j+1) x [i, i+1).
#[cfg(feature = "torch")]
pub mod device;

use crate::messages::{ColorMode, InputSpec};
use crate::messages::{Crop, RgbImage};

/// The five-point alignment target of trained checkpoints and harvested faces, in [0, 1]
/// crop coordinates (the same framing as the bundled classifier and the synthetic faces): eyes at 40 % height, mouth corners at 75 %.
pub const TEMPLATE: [[f32; 2]; 5] =
    [[0.3419, 0.4016], [0.6565, 0.3999], [0.5002, 0.5727], [0.371, 0.7568], [0.6315, 0.7554]];

/// x' = a*x - b*y + tx ; y' = b*x + a*y + ty   (a = s*cos θ, b = s*sin θ)
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Similarity {
    pub a: f32,
    pub b: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Similarity {
    pub fn apply(&self, p: [f32; 2]) -> [f32; 2] {
        [self.a * p[0] - self.b * p[1] + self.tx, self.b * p[0] + self.a * p[1] + self.ty]
    }

    pub fn inverse(&self) -> Similarity {
        let d = self.a * self.a + self.b * self.b;
        let (a, b) = (self.a / d, -self.b / d);
        Similarity { a, b, tx: -(a * self.tx - b * self.ty), ty: -(b * self.tx + a * self.ty) }
    }

    pub fn scale(&self) -> f32 {
        (self.a * self.a + self.b * self.b).sqrt()
    }

    /// Least-squares similarity taking `src` onto `dst`. Returns None for degenerate input
    /// (all source points coincide).
    pub fn estimate(src: &[[f32; 2]], dst: &[[f32; 2]]) -> Option<Similarity> {
        let n = src.len().min(dst.len()) as f64;
        if n < 2.0 {
            return None;
        }
        let mean = |pts: &[[f32; 2]]| {
            let (sx, sy) = pts.iter().fold((0.0, 0.0), |(x, y), p| (x + p[0] as f64, y + p[1] as f64));
            (sx / n, sy / n)
        };
        let (psx, psy) = mean(src);
        let (pdx, pdy) = mean(dst);
        let (mut num_a, mut num_b, mut norm) = (0.0, 0.0, 0.0);
        for (p, q) in src.iter().zip(dst) {
            let (px, py) = (p[0] as f64 - psx, p[1] as f64 - psy);
            let (qx, qy) = (q[0] as f64 - pdx, q[1] as f64 - pdy);
            num_a += px * qx + py * qy;
            num_b += px * qy - py * qx;
            norm += px * px + py * py;
        }
        if norm < 1e-12 {
            return None;
        }
        let (a, b) = (num_a / norm, num_b / norm);
        let tx = pdx - (a * psx - b * psy);
        let ty = pdy - (b * psx + a * psy);
        Some(Similarity { a: a as f32, b: b as f32, tx: tx as f32, ty: ty as f32 })
    }
}

/// The transform from frame coordinates to crop coordinates for these landmarks.
pub fn alignment(landmarks: &[[f32; 2]; 5], spec: &InputSpec) -> Option<Similarity> {
    let dst: Vec<[f32; 2]> =
        spec.template.iter().map(|p| [p[0] * spec.width as f32, p[1] * spec.height as f32]).collect();
    Similarity::estimate(landmarks, &dst)
}

/// Warps the face into the classifier's input geometry and colour.
pub fn align_face(img: &RgbImage, landmarks: &[[f32; 2]; 5], spec: &InputSpec) -> Option<Crop> {
    let m = alignment(landmarks, spec)?;
    Some(warp(img, &m, spec.width, spec.height, spec.color, spec.gray_weights))
}

/// How many crop rows ahead of the one being computed [`Warp::prefetch_row`] asks for.
#[cfg(target_arch = "x86_64")]
const PREFETCH_ROWS: u32 = 4;

/// Samples `img` at the inverse of `to_crop` for every crop pixel centre.
pub fn warp(img: &RgbImage, to_crop: &Similarity, width: u32, height: u32, color: ColorMode, gray: [f32; 3]) -> Crop {
    let job = Warp { img, inv: to_crop.inverse(), width, height, color, gray };
    #[cfg(target_arch = "x86_64")]
    if crate::imageops::avx2() {
        // SAFETY: the CPU has AVX2 (asked at run time just above)
        return unsafe { job.run_avx2() };
    }
    job.run()
}

/// One crop to sample: the frame, the crop-to-frame transform, the crop's size and colour.
struct Warp<'a> {
    img: &'a RgbImage,
    inv: Similarity,
    width: u32,
    height: u32,
    color: ColorMode,
    gray: [f32; 3],
}

impl Warp<'_> {
    /// Eight crop pixels of a row at a time where all eight read inside the frame (gathered
    /// with AVX2), the others one at a time as in [`Self::run`]; the scalar code compiled
    /// for AVX2 too, so its `floor` is an instruction instead of a libm call. The same IEEE
    /// operations in the same order (no FMA, `round` half away from zero), so the same
    /// bytes as [`Self::run`]; a test holds it.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn run_avx2(&self) -> Crop {
        let (width, height) = (self.width, self.height);
        let mut data = Vec::with_capacity((width * height * self.color.channels()) as usize);
        let gather = self.img.width >= 2 && self.img.height >= 2 && self.img.data.len() < i32::MAX as usize;
        let step = self.prefetch_step();
        (0..PREFETCH_ROWS.min(height)).for_each(|v| self.prefetch_row(v, step));
        for v in 0..height {
            if v + PREFETCH_ROWS < height {
                self.prefetch_row(v + PREFETCH_ROWS, step);
            }
            let mut u = 0;
            while u + 8 <= width {
                // SAFETY: the CPU has AVX2 (this function's contract); the octet checks
                // every read it gathers against the frame's bounds
                if !(gather && unsafe { self.octet_avx2(u, v, &mut data) }) {
                    (u..u + 8).for_each(|u| self.pixel(u, v, &mut data));
                }
                u += 8;
            }
            (u..width).for_each(|u| self.pixel(u, v, &mut data));
        }
        Crop { width, height, channels: self.color.channels(), data }
    }

    /// Asks the CPU to fetch the frame's cache lines that crop row `v` will read: its two
    /// source rows at points along the row, a little less than a cache line apart. Why: a
    /// face of a 1080p frame is read by alignment several frames after it was decoded, out
    /// of memory, and the gathers wait on every line in turn (`cargo bench --bench imageops
    /// -- align`: 18 us on a frame in cache, 86 us on one that is not); fetched a few rows
    /// ahead, the lines arrive while the rows before them are computed: 30 us out of
    /// memory, for 26 us in cache (BENCHMARKS.md, issue 25). Reads nothing, so the crop's
    /// bytes do not change.
    #[cfg(target_arch = "x86_64")]
    fn prefetch_row(&self, v: u32, step: u32) {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let (img, inv) = (self.img, &self.inv);
        if img.width == 0 || img.height == 0 || self.width == 0 {
            return;
        }
        let (max_x, max_y) = ((img.width - 1) as f32, (img.height - 1) as f32);
        let stride = img.width as usize * 3;
        let cy = v as f32 + 0.5;
        let mut u = 0;
        loop {
            let cx = u.min(self.width - 1) as f32 + 0.5;
            let [sx, sy] = inv.apply([cx, cy]);
            let (x, y) = (sx - 0.5, sy - 0.5);
            if x.is_finite() && y.is_finite() {
                // clamped at 0 first, truncation is the floor
                let (x, y) = (x.clamp(0.0, max_x) as usize, y.clamp(0.0, max_y) as usize);
                for row in [y, (y + 1).min(max_y as usize)] {
                    let at = row * stride + x * 3;
                    if at < img.data.len() {
                        // SAFETY: a prefetch is a hint that reads nothing architecturally;
                        // the address is inside the frame's buffer
                        unsafe { _mm_prefetch::<_MM_HINT_T0>(img.data.as_ptr().add(at) as *const i8) };
                    }
                }
            }
            if u + 1 >= self.width {
                break;
            }
            u = (u + step).min(self.width - 1);
        }
    }

    /// Crop pixels between [`Self::prefetch_row`]'s points (at least 1): 16 source pixels'
    /// worth, 48 of a line's 64 bytes (on a tilted face's slanted rows, 21 pixels apart
    /// left lines out and ran slower). The same for every row of a crop.
    #[cfg(target_arch = "x86_64")]
    fn prefetch_step(&self) -> u32 {
        // source pixels a crop pixel spans
        let scale = (self.inv.a * self.inv.a + self.inv.b * self.inv.b).sqrt();
        if scale > 0.0 {
            ((16.0 / scale) as u32).clamp(1, self.width.max(1))
        } else {
            self.width.max(1)
        }
    }

    /// Crop pixels (u..u + 8, v), if every one of them and its four neighbours lie inside
    /// the frame (no edge to replicate); false, with nothing written, otherwise.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn octet_avx2(&self, u: u32, v: u32, data: &mut Vec<u8>) -> bool {
        use std::arch::x86_64::*;
        let Self { img, inv, color, gray, .. } = *self;
        let (w, h) = (img.width as i32, img.height as i32);
        let stride = w * 3;
        let ps = _mm256_set1_ps;
        let half = ps(0.5);
        let us = _mm256_add_epi32(_mm256_set1_epi32(u as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        let cx = _mm256_add_ps(_mm256_cvtepi32_ps(us), half);
        let cy = ps(v as f32 + 0.5);
        // inv.apply: [a*x - b*y + tx, b*x + a*y + ty], then - 0.5, as in `pixel`
        let (a, b) = (ps(inv.a), ps(inv.b));
        let sx = _mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(a, cx), _mm256_mul_ps(b, cy)), ps(inv.tx));
        let sy = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(b, cx), _mm256_mul_ps(a, cy)), ps(inv.ty));
        let (x, y) = (_mm256_sub_ps(sx, half), _mm256_sub_ps(sy, half));
        let (x0, y0) = (_mm256_floor_ps(x), _mm256_floor_ps(y));
        let (fx, fy) = (_mm256_sub_ps(x, x0), _mm256_sub_ps(y, y0));
        // out of i32's range or NaN converts to i32::MIN, which the checks below refuse
        let (xi, yi) = (_mm256_cvttps_epi32(x0), _mm256_cvttps_epi32(y0));
        let off00 = _mm256_add_epi32(
            _mm256_mullo_epi32(yi, _mm256_set1_epi32(stride)),
            _mm256_mullo_epi32(xi, _mm256_set1_epi32(3)),
        );
        let off01 = _mm256_add_epi32(off00, _mm256_set1_epi32(stride));
        let off11 = _mm256_add_epi32(off01, _mm256_set1_epi32(3));
        let zero = _mm256_setzero_si256();
        let outside = _mm256_or_si256(
            _mm256_or_si256(_mm256_cmpgt_epi32(zero, xi), _mm256_cmpgt_epi32(xi, _mm256_set1_epi32(w - 2))),
            _mm256_or_si256(
                _mm256_or_si256(_mm256_cmpgt_epi32(zero, yi), _mm256_cmpgt_epi32(yi, _mm256_set1_epi32(h - 2))),
                // a gather reads 4 bytes for a pixel's 3: not past the frame's last byte
                _mm256_cmpgt_epi32(off11, _mm256_set1_epi32(img.data.len() as i32 - 4)),
            ),
        );
        if _mm256_movemask_epi8(outside) != 0 {
            return false;
        }
        let base = img.data.as_ptr() as *const i32;
        // SAFETY: every offset is a pixel inside the frame whose 4 bytes end within it (above)
        let (g00, g10, g01, g11) = unsafe {
            (
                _mm256_i32gather_epi32::<1>(base, off00),
                _mm256_i32gather_epi32::<1>(base, _mm256_add_epi32(off00, _mm256_set1_epi32(3))),
                _mm256_i32gather_epi32::<1>(base, off01),
                _mm256_i32gather_epi32::<1>(base, off11),
            )
        };
        let byte = _mm256_set1_epi32(0xFF);
        let channel = |g: __m256i, k: i32| {
            let shifted = match k {
                0 => g,
                1 => _mm256_srli_epi32::<8>(g),
                _ => _mm256_srli_epi32::<16>(g),
            };
            _mm256_cvtepi32_ps(_mm256_and_si256(shifted, byte))
        };
        let lerp = |k: i32| {
            let (p00, p10, p01, p11) = (channel(g00, k), channel(g10, k), channel(g01, k), channel(g11, k));
            let top = _mm256_add_ps(p00, _mm256_mul_ps(_mm256_sub_ps(p10, p00), fx));
            let bot = _mm256_add_ps(p01, _mm256_mul_ps(_mm256_sub_ps(p11, p01), fx));
            _mm256_add_ps(top, _mm256_mul_ps(_mm256_sub_ps(bot, top), fy))
        };
        // f32::round (half away from zero), then clamp(0, 255): below zero gives 0 either way
        let to_u8 = |l: __m256| {
            let t = _mm256_round_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(l);
            let up = _mm256_and_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(_mm256_sub_ps(l, t), half), ps(1.0));
            let r = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(t, up), _mm256_setzero_ps()), ps(255.0));
            let mut out = [0i32; 8];
            // SAFETY: `out` holds 8 i32
            unsafe { _mm256_storeu_si256(out.as_mut_ptr() as *mut __m256i, _mm256_cvttps_epi32(r)) };
            out
        };
        let (r, g, b) = (lerp(0), lerp(1), lerp(2));
        match color {
            ColorMode::Gray => {
                let l = _mm256_add_ps(
                    _mm256_add_ps(_mm256_mul_ps(ps(gray[0]), r), _mm256_mul_ps(ps(gray[1]), g)),
                    _mm256_mul_ps(ps(gray[2]), b),
                );
                data.extend(to_u8(l).map(|l| l as u8));
            }
            ColorMode::Rgb => {
                let (r, g, b) = (to_u8(r), to_u8(g), to_u8(b));
                data.extend((0..8).flat_map(|i| [r[i] as u8, g[i] as u8, b[i] as u8]));
            }
        }
        true
    }

    fn run(&self) -> Crop {
        let (width, height) = (self.width, self.height);
        let mut data = Vec::with_capacity((width * height * self.color.channels()) as usize);
        for v in 0..height {
            (0..width).for_each(|u| self.pixel(u, v, &mut data));
        }
        Crop { width, height, channels: self.color.channels(), data }
    }

    /// Crop pixel (u, v): the frame at the inverse transform of its centre, bilinearly,
    /// edges replicated.
    #[inline(always)]
    fn pixel(&self, u: u32, v: u32, data: &mut Vec<u8>) {
        let Self { img, inv, color, gray, .. } = *self;
        let (w, h) = (img.width as i64, img.height as i64);
        let stride = img.width as usize * 3;
        let px = |x: i64, y: i64| {
            let i = y.clamp(0, h - 1) as usize * stride + x.clamp(0, w - 1) as usize * 3;
            [img.data[i] as f32, img.data[i + 1] as f32, img.data[i + 2] as f32]
        };
        let s = inv.apply([u as f32 + 0.5, v as f32 + 0.5]);
        let (x, y) = (s[0] - 0.5, s[1] - 0.5);
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let (xi, yi) = (x0 as i64, y0 as i64);
        let (p00, p10, p01, p11) = (px(xi, yi), px(xi + 1, yi), px(xi, yi + 1), px(xi + 1, yi + 1));
        let mut rgb = [0f32; 3];
        for k in 0..3 {
            let top = p00[k] + (p10[k] - p00[k]) * fx;
            let bot = p01[k] + (p11[k] - p01[k]) * fx;
            rgb[k] = top + (bot - top) * fy;
        }
        match color {
            ColorMode::Gray => {
                let l = gray[0] * rgb[0] + gray[1] * rgb[1] + gray[2] * rgb[2];
                data.push(l.round().clamp(0.0, 255.0) as u8);
            }
            ColorMode::Rgb => data.extend(rgb.iter().map(|v| v.round().clamp(0.0, 255.0) as u8)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: [f32; 2], b: [f32; 2]) -> bool {
        (a[0] - b[0]).abs() < 1e-3 && (a[1] - b[1]).abs() < 1e-3
    }

    #[test]
    fn recovers_a_known_similarity_exactly() {
        let t = Similarity { a: 0.8 * 0.3f32.cos(), b: 0.8 * 0.3f32.sin(), tx: 12.0, ty: -7.0 };
        let src = [[10.0, 20.0], [50.0, 22.0], [30.0, 40.0], [15.0, 60.0], [45.0, 61.0]];
        let dst: Vec<[f32; 2]> = src.iter().map(|&p| t.apply(p)).collect();
        let est = Similarity::estimate(&src, &dst).unwrap();
        assert!((est.a - t.a).abs() < 1e-5 && (est.b - t.b).abs() < 1e-5);
        assert!((est.tx - t.tx).abs() < 1e-3 && (est.ty - t.ty).abs() < 1e-3);
        for p in src {
            assert!(close(est.inverse().apply(est.apply(p)), p));
        }
    }

    #[test]
    fn degenerate_landmarks_give_none() {
        assert!(Similarity::estimate(&[[1.0, 1.0]; 5], &[[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 2.0]])
            .is_none());
    }

    #[test]
    fn identity_warp_copies_pixels_and_gray_uses_luma() {
        let data: Vec<u8> = (0..4 * 3 * 3).map(|i| (i * 7 % 256) as u8).collect();
        let img = RgbImage::new(4, 3, data.clone());
        let id = Similarity { a: 1.0, b: 0.0, tx: 0.0, ty: 0.0 };
        let rgb = warp(&img, &id, 4, 3, ColorMode::Rgb, [0.299, 0.587, 0.114]);
        assert_eq!(rgb.data, data);
        let g = warp(&img, &id, 4, 3, ColorMode::Gray, [0.299, 0.587, 0.114]);
        let want = (0.299 * data[0] as f32 + 0.587 * data[1] as f32 + 0.114 * data[2] as f32).round() as u8;
        assert_eq!(g.data[0], want);
    }

    #[test]
    fn the_avx2_build_gives_the_same_bytes() {
        #[cfg(target_arch = "x86_64")]
        if crate::imageops::avx2() {
            let mut s = 0x9E3779B97F4A7C15u64;
            let mut next = move || {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                s
            };
            let img = RgbImage::new(97, 61, (0..97 * 61 * 3).map(|_| next() as u8).collect());
            let mut unit = || (next() % 10_000) as f32 / 10_000.0;
            // scales down and up, any angle, crops that reach past every edge (replicated),
            // sample points on and between pixel centres and halves for round()
            for i in 0..200 {
                let (scale, angle) = (0.25 + 3.0 * unit(), 6.3 * unit());
                let (tx, ty) = if i % 4 == 0 {
                    (0.5 * i as f32, -0.25 * i as f32)
                } else {
                    (80.0 * unit() - 40.0, 60.0 * unit() - 30.0)
                };
                let m = Similarity { a: scale * angle.cos(), b: scale * angle.sin(), tx, ty };
                for color in [ColorMode::Gray, ColorMode::Rgb] {
                    let job = Warp { img: &img, inv: m, width: 33, height: 29, color, gray: [0.299, 0.587, 0.114] };
                    // SAFETY: avx2() said the CPU has it
                    let (plain, fast) = (job.run(), unsafe { job.run_avx2() });
                    assert_eq!(plain.data, fast.data, "{m:?} {color:?}");
                }
            }
            // shifts by quarter pixels at scale 1, so that whole octets are gathered, values
            // fall on halves for round(), and crops end on the frame's last pixel (whose
            // 4-byte read would pass the buffer's end) or just inside it
            for (dx, dy) in [(0.0, 0.0), (0.5, 0.25), (0.25, 0.5), (0.75, 0.75)] {
                for (tx, ty) in [(0.0, 0.0), (97.0 - 33.0, 61.0 - 29.0), (96.0 - 33.0, 60.0 - 29.0), (7.0, 11.0)] {
                    let inv = Similarity { a: 1.0, b: 0.0, tx: tx + dx, ty: ty + dy };
                    for color in [ColorMode::Gray, ColorMode::Rgb] {
                        let job = Warp { img: &img, inv, width: 33, height: 29, color, gray: [0.299, 0.587, 0.114] };
                        // SAFETY: avx2() said the CPU has it
                        let (plain, fast) = (job.run(), unsafe { job.run_avx2() });
                        assert_eq!(plain.data, fast.data, "{inv:?} {color:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn degenerate_transforms_warp_the_same_on_both_paths_without_panicking() {
        // the AVX2 path also fetches lines ahead along each crop row: from NaN, infinite,
        // zero and huge transforms, and crops of no width or height, it must neither panic nor
        // change a byte
        #[cfg(target_arch = "x86_64")]
        if crate::imageops::avx2() {
            let img = RgbImage::new(40, 30, (0..40 * 30 * 3).map(|i| (i * 7 % 251) as u8).collect());
            let tiny = RgbImage::new(1, 1, vec![9, 99, 199]);
            let (nan, inf) = (f32::NAN, f32::INFINITY);
            let cases = [
                Similarity { a: nan, b: 0.0, tx: 0.0, ty: 0.0 },
                Similarity { a: 1.0, b: 0.0, tx: inf, ty: -inf },
                Similarity { a: 0.0, b: 0.0, tx: 5.0, ty: 5.0 },
                Similarity { a: 1e30, b: -1e30, tx: 0.0, ty: 0.0 },
                Similarity { a: 1e-30, b: 0.0, tx: 3.0, ty: 2.0 },
            ];
            for frame in [&img, &tiny] {
                for (inv, (width, height)) in cases.into_iter().flat_map(|m| [(m, (17, 9)), (m, (0, 9)), (m, (17, 0))])
                {
                    let job =
                        Warp { img: frame, inv, width, height, color: ColorMode::Rgb, gray: [0.299, 0.587, 0.114] };
                    // SAFETY: avx2() said the CPU has it
                    let (plain, fast) = (job.run(), unsafe { job.run_avx2() });
                    assert_eq!(plain.data, fast.data, "{inv:?}");
                }
            }
        }
    }

    #[test]
    fn template_landmarks_land_on_the_template() {
        let spec = InputSpec::test_gray(64, 64, [[0.34, 0.40], [0.66, 0.40], [0.5, 0.57], [0.37, 0.76], [0.63, 0.76]]);
        // a face twice as large, shifted: landmarks = 2 * template_px + (100, 50)
        let lm = spec.template.map(|p| [p[0] * 128.0 + 100.0, p[1] * 128.0 + 50.0]);
        let m = alignment(&lm, &spec).unwrap();
        assert!((m.scale() - 0.5).abs() < 1e-5);
        assert!(close(m.apply(lm[0]), [0.34 * 64.0, 0.40 * 64.0]));
    }
}
