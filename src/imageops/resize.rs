//! Antialiased bilinear downscaling for the detector's input, in plain Rust: the same
//! triangle filter as PIL and libtorch's `_upsample_bilinear2d_aa` (support widened by the
//! scale factor, weights normalised per output pixel), separable, with the tap tables
//! computed once per size pair and the buffers reused across frames. libtorch's version,
//! single-threaded beside the other stages, took ~19 ms for a 1080p frame; this one takes
//! a few (BENCHMARKS.md).
#[cfg(target_arch = "x86_64")]
use super::avx2;
use crate::messages::RgbImage;

#[cfg(target_arch = "x86_64")]
mod avx2;

/// Taps of one axis: for output index i, input indices start[i].. with weights
/// w[i * width .. i * width + len[i]].
struct Taps {
    start: Vec<usize>,
    len: Vec<usize>,
    w: Vec<f32>,
    width: usize,
}

impl Taps {
    fn new(input: usize, output: usize) -> Self {
        let scale = input as f64 / output as f64;
        let filter_scale = scale.max(1.0);
        let support = filter_scale; // the triangle's support is 1 at scale 1
        let width = (support * 2.0).ceil() as usize + 1;
        let (mut start, mut len, mut w) = (Vec::new(), Vec::new(), vec![0f32; output * width]);
        for i in 0..output {
            let center = (i as f64 + 0.5) * scale;
            let lo = ((center - support + 0.5).floor().max(0.0)) as usize;
            let hi = ((center + support + 0.5).floor() as usize).min(input);
            let n = hi.saturating_sub(lo).min(width);
            let row = &mut w[i * width..i * width + n];
            let mut total = 0.0;
            for (k, x) in row.iter_mut().enumerate() {
                let t = ((k + lo) as f64 - center + 0.5) / filter_scale;
                let v = (1.0 - t.abs()).max(0.0);
                *x = v as f32;
                total += v;
            }
            if total > 0.0 {
                row.iter_mut().for_each(|x| *x = (*x as f64 / total) as f32);
            }
            start.push(lo);
            len.push(n);
        }
        Self { start, len, w, width }
    }
}

/// Resizes RGB frames of one size to another, reusing its tables and buffers.
pub struct Resampler {
    size_in: (u32, u32),
    size_out: (u32, u32),
    x: Taps,
    y: Taps,
    /// Vertically filtered rows: all out_h x in_w x 3 of them in the portable passes; in
    /// the AVX2 ones a block of 16 rows at a time, transposed, and beside it the same rows
    /// before they are transposed.
    tmp: Vec<f32>,
}

impl Resampler {
    pub fn new(size_in: (u32, u32), size_out: (u32, u32)) -> Self {
        let x = Taps::new(size_in.0 as usize, size_out.0 as usize);
        let y = Taps::new(size_in.1 as usize, size_out.1 as usize);
        Self { size_in, size_out, x, y, tmp: Vec::new() }
    }

    pub fn sizes(&self) -> ((u32, u32), (u32, u32)) {
        (self.size_in, self.size_out)
    }

    /// `img` must be `size_in`; the result is written into `out` (resized as needed).
    /// Vertical pass first: it is the long one (every input column) and runs over
    /// contiguous rows, which the compiler vectorises; the horizontal pass then only
    /// touches the few output rows.
    pub fn run(&mut self, img: &RgbImage, out: &mut RgbImage) {
        assert_eq!((img.width, img.height), self.size_in, "resampler input size");
        self.run_at(img, (0, 0), out)
    }

    /// [`Self::run`] on the `size_in` rectangle of `img` whose top-left is `origin`, read in
    /// place (no copy of the rectangle first).
    pub fn run_at(&mut self, img: &RgbImage, origin: (u32, u32), out: &mut RgbImage) {
        let mut tmp = std::mem::take(&mut self.tmp);
        self.run_at_with(img, origin, out, &mut tmp);
        self.tmp = tmp;
    }

    /// [`Self::run_at`] with the vertically filtered rows in `tmp`, a buffer the caller
    /// keeps: a cache of resamplers for sizes that change frame to frame (the detector's
    /// regions) shares one, instead of each new resampler allocating its own half megabyte
    /// (an mmap, page faults and an munmap when it is evicted, at every size change).
    pub fn run_at_with(&self, img: &RgbImage, origin: (u32, u32), out: &mut RgbImage, tmp: &mut Vec<f32>) {
        assert!(
            origin.0 as usize + self.size_in.0 as usize <= img.width as usize
                && origin.1 as usize + self.size_in.1 as usize <= img.height as usize,
            "resampler rectangle inside the image"
        );
        #[cfg(target_arch = "x86_64")]
        if avx2() {
            // SAFETY: the CPU has AVX2 (checked at run time just above)
            return unsafe { self.run_at_avx2(img, origin, out, tmp) };
        }
        self.filter(img, origin, out, tmp)
    }

    /// The passes written for AVX2 ([`avx2`]): the default x86-64 target has SSE2 only,
    /// and the portable horizontal pass cannot use vector registers at all. No FMA, the
    /// same sums in the same order: the results are bit for bit the portable ones (a test
    /// holds this).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn run_at_avx2(&self, img: &RgbImage, origin: (u32, u32), out: &mut RgbImage, tmp: &mut Vec<f32>) {
        // SAFETY: this function is only called where the CPU has AVX2
        unsafe { self.filter_avx2(img, origin, out, tmp) }
    }

    fn filter(&self, img: &RgbImage, origin: (u32, u32), out: &mut RgbImage, tmp: &mut Vec<f32>) {
        let (left, top) = (origin.0 as usize, origin.1 as usize);
        let (iw, ow, oh) = (self.size_in.0 as usize, self.size_out.0 as usize, self.size_out.1 as usize);
        let in_row = iw * 3;
        let stride = img.width as usize * 3;
        tmp.resize(oh * in_row, 0.0);
        for j in 0..oh {
            let (s, n) = (self.y.start[j], self.y.len[j]);
            let w = &self.y.w[j * self.y.width..j * self.y.width + n];
            let acc = &mut tmp[j * in_row..(j + 1) * in_row];
            acc.iter_mut().for_each(|a| *a = 0.0);
            for (k, &wk) in w.iter().enumerate() {
                let at = (top + s + k) * stride + left * 3;
                let row = &img.data[at..at + in_row];
                for (a, &v) in acc.iter_mut().zip(row) {
                    *a += wk * v as f32;
                }
            }
        }
        out.width = ow as u32;
        out.height = oh as u32;
        out.data.resize(ow * oh * 3, 0);
        for j in 0..oh {
            let src = &tmp[j * in_row..(j + 1) * in_row];
            let dst = &mut out.data[j * ow * 3..(j + 1) * ow * 3];
            for i in 0..ow {
                let (s, n) = (self.x.start[i], self.x.len[i]);
                let w = &self.x.w[i * self.x.width..i * self.x.width + n];
                let mut acc = [0f32; 3];
                for (k, &wk) in w.iter().enumerate() {
                    let p = &src[(s + k) * 3..(s + k) * 3 + 3];
                    acc[0] += wk * p[0];
                    acc[1] += wk * p[1];
                    acc[2] += wk * p[2];
                }
                for c in 0..3 {
                    // the weights are >= 0, so acc is too, and + 0.5 then truncation rounds as
                    // round() does, without its libm call (a fifth of the resampler's time)
                    dst[i * 3 + c] = (acc[c] + 0.5).min(255.0) as u8;
                }
            }
        }
    }
}

/// Antialiased bilinear resize (as PIL and libtorch do it), rounded back to 8 bits.
pub fn resize_rgb(img: &RgbImage, width: u32, height: u32) -> RgbImage {
    if (width, height) == (img.width, img.height) {
        return img.clone();
    }
    let mut out = RgbImage::default();
    Resampler::new((img.width, img.height), (width, height)).run(img, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_avx2_build_gives_the_same_bytes() {
        #[cfg(target_arch = "x86_64")]
        if avx2() {
            let img = noise(333, 201);
            // whole images and rectangles in place; down and up; heights and widths that
            // are and are not multiples of the 8 rows and columns the vectors take
            let cases = [
                ((0, 0), (333, 201), (111, 67)),
                ((0, 0), (333, 201), (64, 64)),
                ((0, 0), (333, 201), (200, 150)),
                ((0, 0), (333, 201), (333, 201)),
                ((0, 0), (333, 201), (500, 300)),
                ((17, 9), (150, 150), (50, 50)),
                ((101, 40), (120, 133), (41, 44)),
                ((3, 1), (7, 5), (3, 2)),
                ((0, 0), (1, 1), (1, 1)),
                ((200, 150), (133, 51), (133, 17)),
            ];
            let mut shared = Vec::new();
            for (origin, size_in, size_out) in cases {
                let r = Resampler::new(size_in, size_out);
                let (mut a, mut b) = (RgbImage::default(), RgbImage::default());
                r.filter(&img, origin, &mut a, &mut Vec::new());
                // SAFETY: avx2() said the CPU has it
                unsafe { r.run_at_avx2(&img, origin, &mut b, &mut shared) };
                assert_eq!(a, b, "{origin:?} {size_in:?} -> {size_out:?}");
            }
        }
    }

    #[test]
    fn resamplers_sharing_one_row_buffer_give_what_each_gives_alone() {
        // the buffer left by a larger resize, then a smaller one, then the larger again:
        // each row is cleared before it is summed, so nothing carries over
        let img = noise(300, 240);
        let (mut rows, mut shared) = (Vec::new(), RgbImage::default());
        for (origin, size_in, size_out) in
            [((0, 0), (300, 240), (150, 120)), ((31, 17), (97, 61), (40, 33)), ((0, 0), (300, 240), (150, 120))]
        {
            let mut alone = RgbImage::default();
            Resampler::new(size_in, size_out).run_at(&img, origin, &mut alone);
            Resampler::new(size_in, size_out).run_at_with(&img, origin, &mut shared, &mut rows);
            assert_eq!(shared, alone, "{size_in:?} -> {size_out:?}");
        }
    }

    #[test]
    fn a_rectangle_read_in_place_equals_the_rectangle_copied_out() {
        let img = noise(64, 48);
        let (left, top, w, h) = (10u32, 7u32, 40u32, 30u32);
        let mut crop = RgbImage::new(w, h, vec![0; (w * h * 3) as usize]);
        for y in 0..h as usize {
            let src = ((top as usize + y) * 64 + left as usize) * 3;
            crop.data[y * w as usize * 3..(y + 1) * w as usize * 3]
                .copy_from_slice(&img.data[src..src + w as usize * 3]);
        }
        let mut r = Resampler::new((w, h), (17, 13));
        let (mut a, mut b) = (RgbImage::default(), RgbImage::default());
        r.run(&crop, &mut a);
        r.run_at(&img, (left, top), &mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn resize_keeps_flat_colour() {
        let img = RgbImage::new(40, 20, [10u8, 200, 30].repeat(800));
        let r = resize_rgb(&img, 13, 7);
        assert_eq!((r.width, r.height), (13, 7));
        assert!(r.data.chunks(3).all(|p| p == [10, 200, 30]));
    }
    #[cfg(feature = "torch")]
    use tch::{Kind, Tensor};

    /// libtorch's antialiased bilinear resize, the reference.
    #[cfg(feature = "torch")]
    fn torch_aa(img: &RgbImage, width: u32, height: u32) -> RgbImage {
        let t = Tensor::from_slice(&img.data)
            .view([img.height as i64, img.width as i64, 3])
            .permute([2, 0, 1])
            .unsqueeze(0)
            .to_kind(Kind::Float);
        let r = t
            .internal_upsample_bilinear2d_aa([height as i64, width as i64], false, None, None)
            .round()
            .clamp(0.0, 255.0)
            .to_kind(Kind::Uint8)
            .squeeze_dim(0)
            .permute([1, 2, 0])
            .contiguous();
        let mut data = vec![0u8; (width * height * 3) as usize];
        let n = data.len();
        r.copy_data_u8(&mut data, n);
        RgbImage::new(width, height, data)
    }

    fn noise(w: u32, h: u32) -> RgbImage {
        let mut s = 0x2545F4914F6CDD1Du64;
        let data = (0..w * h * 3)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                // smooth structure plus noise, like a photo
                ((i / 3 % w) as u64 * 255 / w as u64 / 2 + s % 128) as u8
            })
            .collect();
        RgbImage::new(w, h, data)
    }

    #[cfg(feature = "torch")]
    #[test]
    fn matches_libtorch_antialiased_bilinear() {
        for ((iw, ih), (ow, oh)) in [((1920, 1080), (640, 360)), ((1000, 667), (640, 427)), ((641, 359), (320, 179))] {
            let img = noise(iw, ih);
            let want = torch_aa(&img, ow, oh);
            let mut got = RgbImage::default();
            Resampler::new((iw, ih), (ow, oh)).run(&img, &mut got);
            assert_eq!((got.width, got.height), (ow, oh));
            let diffs: Vec<i32> = got.data.iter().zip(&want.data).map(|(a, b)| (*a as i32 - *b as i32).abs()).collect();
            let max = *diffs.iter().max().unwrap();
            let off = diffs.iter().filter(|&&d| d > 0).count() as f64 / diffs.len() as f64;
            assert!(max <= 1, "{iw}x{ih}->{ow}x{oh}: max difference {max}");
            assert!(off < 0.01, "{iw}x{ih}->{ow}x{oh}: {:.3} % of values differ", off * 100.0);
        }
    }

    #[test]
    fn flat_colour_stays_flat() {
        let img = RgbImage::new(37, 23, [9u8, 99, 199].repeat(37 * 23));
        let mut out = RgbImage::default();
        Resampler::new((37, 23), (10, 7)).run(&img, &mut out);
        assert!(out.data.chunks(3).all(|p| p == [9, 99, 199]));
    }
}
