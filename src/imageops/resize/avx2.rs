//! The resampler's two passes written for AVX2, giving the portable passes' bytes exactly.
//!
//! Why: between keyframes the detector resamples a square around every face, every frame
//! (a 400 px square of a 1080p frame down to ~133 px), and the portable loops spent two
//! thirds of that in the horizontal pass: per output pixel, seven taps on three interleaved
//! channels, too narrow for vector registers. A column's weights are the same on every
//! row, though, so here the vertically filtered rows are stored transposed (two vectors of
//! eight output rows per input column and channel) and the horizontal pass runs sixteen
//! rows at a time with the weight broadcast. The vertical pass sums one output row at a
//! time, 32 columns in registers across the taps, reading its input rows front to back into
//! a row buffer, and then transposes the block's rows into the slab 8 × 8 at a time.
//!
//! Every output value is the same sequence of IEEE operations as in the portable loops (a
//! sum from 0 in tap order, multiply then add, never fused), so the bytes are identical: a
//! test holds it.
use super::{Resampler, Taps};
use crate::messages::RgbImage;
use std::arch::x86_64::*;

/// f32 lanes of an AVX2 vector.
const LANES: usize = 8;
/// Output rows filtered together: two vectors, so that the horizontal pass keeps six
/// independent sums (two row halves × three channels) in flight instead of waiting on one.
const BLOCK: usize = 2 * LANES;
/// Columns the vertical pass sums at once per row: four vectors, four independent sums.
const WIDE: usize = 4;

impl Resampler {
    /// Both passes, a block of 16 output rows at a time: its vertically filtered rows are
    /// stored transposed in `tmp` (input column-channel `e`, output row `r` at
    /// `e * 16 + r`: a slab that stays in cache), then filtered horizontally into `out`.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn filter_avx2(
        &self,
        img: &RgbImage,
        origin: (u32, u32),
        out: &mut RgbImage,
        tmp: &mut Vec<f32>,
    ) {
        let (left, top) = (origin.0 as usize, origin.1 as usize);
        let (iw, ow, oh) = (self.size_in.0 as usize, self.size_out.0 as usize, self.size_out.1 as usize);
        let src = Src {
            data: &img.data,
            first: top * img.width as usize * 3 + left * 3,
            stride: img.width as usize * 3,
            in_row: iw * 3,
        };
        // the slab, then the block's rows before they are transposed into it
        tmp.resize(2 * src.in_row * BLOCK, 0.0);
        let (slab, rows) = tmp.split_at_mut(src.in_row * BLOCK);
        out.width = ow as u32;
        out.height = oh as u32;
        out.data.resize(ow * oh * 3, 0);
        for block in (0..oh).step_by(BLOCK) {
            let live = (oh - block).min(BLOCK);
            // SAFETY: AVX2 is enabled on this function; every access is a checked slice
            unsafe {
                vertical_block(&self.y, &src, block, live, slab, rows);
                horizontal_block(&self.x, slab, block, live, ow, &mut out.data);
            }
        }
    }
}

/// The rectangle the resampler reads: its first byte, the image's row stride, and the
/// rectangle's row length in bytes (three per pixel).
struct Src<'a> {
    data: &'a [u8],
    first: usize,
    stride: usize,
    in_row: usize,
}

/// Output rows `block..block + live` of the vertical pass, transposed into `slab`
/// (`e * 16 + r`); rows past `live` are zeros. Each output row is summed on its own into
/// `rows` (row-major), reading its input rows front to back, and the block is then
/// transposed from there: summing a few columns of all sixteen rows at a time read ~50
/// input rows a cache line at a time, a pattern the prefetchers do not follow, and at
/// 1080p (frames fresh from the decoder, not in cache) the loads waited on memory.
#[target_feature(enable = "avx2")]
unsafe fn vertical_block(y: &Taps, src: &Src, block: usize, live: usize, slab: &mut [f32], rows: &mut [f32]) {
    let wide = src.in_row / (WIDE * LANES) * (WIDE * LANES);
    let narrow = src.in_row / LANES * LANES;
    for r in 0..live {
        let row = &mut rows[r * src.in_row..(r + 1) * src.in_row];
        let j = block + r;
        for e in (0..wide).step_by(WIDE * LANES) {
            // SAFETY: AVX2 is enabled here too
            unsafe { columns::<WIDE>(y, src, j, e, row) };
        }
        for e in (wide..narrow).step_by(LANES) {
            // SAFETY: as above
            unsafe { columns::<1>(y, src, j, e, row) };
        }
        // the last columns, fewer than a vector: as the portable pass does them
        let (s, n) = (y.start[j], y.len[j]);
        for (e, out) in row.iter_mut().enumerate().skip(narrow) {
            let mut acc = 0f32;
            for (k, &wk) in y.w[j * y.width..j * y.width + n].iter().enumerate() {
                acc += wk * src.data[src.first + (s + k) * src.stride + e] as f32;
            }
            *out = acc;
        }
    }
    for half in 0..BLOCK / LANES {
        let lo = half * LANES;
        // rows past `live` read as zeros
        let at = |r: usize, e: usize| if lo + r < live { rows[(lo + r) * src.in_row + e] } else { 0.0 };
        for e in (0..narrow).step_by(LANES) {
            let eight: [__m256; LANES] = std::array::from_fn(|r| {
                if lo + r < live {
                    let v = &rows[(lo + r) * src.in_row + e..(lo + r) * src.in_row + e + LANES];
                    // SAFETY: `v` is 8 readable floats
                    unsafe { _mm256_loadu_ps(v.as_ptr()) }
                } else {
                    _mm256_setzero_ps()
                }
            });
            for (col, v) in transpose(eight).iter().enumerate() {
                let dst = &mut slab[(e + col) * BLOCK + lo..(e + col) * BLOCK + lo + LANES];
                // SAFETY: `dst` is 8 writable floats
                unsafe { _mm256_storeu_ps(dst.as_mut_ptr(), *v) };
            }
        }
        for e in narrow..src.in_row {
            for r in 0..LANES {
                slab[e * BLOCK + lo + r] = at(r, e);
            }
        }
    }
}

/// Columns `e..e + 8 C` of output row `j`, summed over its taps with the `C` sums in
/// registers, into `row`.
#[target_feature(enable = "avx2")]
unsafe fn columns<const C: usize>(y: &Taps, src: &Src, j: usize, e: usize, row: &mut [f32]) {
    let (s, n) = (y.start[j], y.len[j]);
    let mut acc = [_mm256_setzero_ps(); C];
    for (k, &wk) in y.w[j * y.width..j * y.width + n].iter().enumerate() {
        let at = src.first + (s + k) * src.stride + e;
        let bytes = &src.data[at..at + C * LANES];
        let w = _mm256_set1_ps(wk);
        for (q, a) in acc.iter_mut().enumerate() {
            // SAFETY: `bytes` holds 8 readable bytes at q * 8
            let px = unsafe { _mm_loadl_epi64(bytes.as_ptr().add(q * LANES) as *const __m128i) };
            let px = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(px));
            *a = _mm256_add_ps(*a, _mm256_mul_ps(w, px));
        }
    }
    let dst = &mut row[e..e + C * LANES];
    for (q, a) in acc.iter().enumerate() {
        // SAFETY: `dst` holds 8 writable floats at q * 8
        unsafe { _mm256_storeu_ps(dst.as_mut_ptr().add(q * LANES), *a) };
    }
}

/// Output rows `block..block + live` of the horizontal pass, from the slab.
#[target_feature(enable = "avx2")]
unsafe fn horizontal_block(x: &Taps, slab: &[f32], block: usize, live: usize, ow: usize, out: &mut [u8]) {
    let (half, top) = (_mm256_set1_ps(0.5), _mm256_set1_ps(255.0));
    let mut lanes = [[0i32; LANES]; 6];
    for i in 0..ow {
        let (s, n) = (x.start[i], x.len[i]);
        let mut acc = [_mm256_setzero_ps(); 6];
        for (k, &wk) in x.w[i * x.width..i * x.width + n].iter().enumerate() {
            let at = (s + k) * 3 * BLOCK;
            let v = &slab[at..at + 3 * BLOCK];
            let w = _mm256_set1_ps(wk);
            for (m, a) in acc.iter_mut().enumerate() {
                // SAFETY: `v` holds 48 readable floats; m * 8 + 8 <= 48
                let px = unsafe { _mm256_loadu_ps(v.as_ptr().add(m * LANES)) };
                *a = _mm256_add_ps(*a, _mm256_mul_ps(w, px));
            }
        }
        for (m, a) in acc.iter().enumerate() {
            // as the portable pass: + 0.5, at most 255, truncated (the sums are >= 0)
            let q = _mm256_cvttps_epi32(_mm256_min_ps(_mm256_add_ps(*a, half), top));
            // SAFETY: `lanes[m]` is 8 writable i32
            unsafe { _mm256_storeu_si256(lanes[m].as_mut_ptr() as *mut __m256i, q) };
        }
        for r in 0..live {
            let at = ((block + r) * ow + i) * 3;
            let (h, l) = (r / LANES, r % LANES);
            for c in 0..3 {
                out[at + c] = lanes[c * 2 + h][l] as u8;
            }
        }
    }
}

/// Rows of an 8 × 8 block of floats to its columns.
#[target_feature(enable = "avx2")]
fn transpose(r: [__m256; LANES]) -> [__m256; LANES] {
    let t0 = _mm256_unpacklo_ps(r[0], r[1]);
    let t1 = _mm256_unpackhi_ps(r[0], r[1]);
    let t2 = _mm256_unpacklo_ps(r[2], r[3]);
    let t3 = _mm256_unpackhi_ps(r[2], r[3]);
    let t4 = _mm256_unpacklo_ps(r[4], r[5]);
    let t5 = _mm256_unpackhi_ps(r[4], r[5]);
    let t6 = _mm256_unpacklo_ps(r[6], r[7]);
    let t7 = _mm256_unpackhi_ps(r[6], r[7]);
    let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
    let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
    let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
    let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
    let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
    let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
    let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
    let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
    [
        _mm256_permute2f128_ps::<0x20>(u0, u4),
        _mm256_permute2f128_ps::<0x20>(u1, u5),
        _mm256_permute2f128_ps::<0x20>(u2, u6),
        _mm256_permute2f128_ps::<0x20>(u3, u7),
        _mm256_permute2f128_ps::<0x31>(u0, u4),
        _mm256_permute2f128_ps::<0x31>(u1, u5),
        _mm256_permute2f128_ps::<0x31>(u2, u6),
        _mm256_permute2f128_ps::<0x31>(u3, u7),
    ]
}
