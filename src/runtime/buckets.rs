//! Fixed batch shapes for the tch networks.
//!
//! Why: on CUDA every new input shape costs a cuDNN algorithm search (benchmark mode) or, in
//! eager mode, at least new kernel selections; a model stage that sees every batch size
//! from 1 to 40 keeps meeting new shapes. Padding a batch up to the next of a few sizes
//! (powers of two, capped at the configured maximum) bounds the shapes to a handful that
//! are all warmed up before the first frame. Padded rows are zeros and are cut off the
//! outputs before anything reads them. On the CPU padding only adds work, so it is off
//! there unless asked for.
use serde::{Deserialize, Serialize};
#[cfg(feature = "torch")]
use tch::Tensor;

/// When batches are padded to bucket sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ShapePolicy {
    /// Fixed shapes on CUDA, exact shapes on the CPU.
    #[default]
    Auto,
    /// Always pad to the bucket sizes.
    Fixed,
    /// Never pad.
    Exact,
}

impl ShapePolicy {
    pub fn fixed_on(self, device: super::Device) -> bool {
        match self {
            ShapePolicy::Auto => device.is_cuda(),
            ShapePolicy::Fixed => true,
            ShapePolicy::Exact => false,
        }
    }
}

/// The batch sizes a network is run at, ascending; the largest is the batch limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Buckets {
    sizes: Vec<usize>,
}

impl Buckets {
    /// 1, 2, 4, ... below `max`, then `max` itself (so no batch exceeds the limit).
    pub fn powers_of_two(max: usize) -> Self {
        let max = max.max(1);
        let mut sizes: Vec<usize> =
            std::iter::successors(Some(1usize), |s| Some(s * 2)).take_while(|&s| s < max).collect();
        sizes.push(max);
        Self { sizes }
    }

    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    pub fn max(&self) -> usize {
        *self.sizes.last().unwrap_or(&1)
    }

    /// The smallest bucket holding `n` rows (n <= max), or `n` itself past the largest.
    pub fn fit(&self, n: usize) -> usize {
        self.sizes.iter().copied().find(|&s| s >= n).unwrap_or(n)
    }
}

/// `x` ([n, ...]) with zero rows appended up to `rows`; `x` itself when it has enough.
#[cfg(feature = "torch")]
pub fn pad_rows(x: &Tensor, rows: usize) -> Tensor {
    let n = x.size()[0];
    if rows as i64 <= n {
        return x.shallow_clone();
    }
    let mut shape = x.size();
    shape[0] = rows as i64 - n;
    let zeros = Tensor::zeros(shape.as_slice(), (x.kind(), x.device()));
    Tensor::cat(&[x.shallow_clone(), zeros], 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_sizes_stop_at_the_limit() {
        assert_eq!(Buckets::powers_of_two(32).sizes(), [1, 2, 4, 8, 16, 32]);
        assert_eq!(Buckets::powers_of_two(5).sizes(), [1, 2, 4, 5]);
        assert_eq!(Buckets::powers_of_two(1).sizes(), [1]);
        let b = Buckets::powers_of_two(40);
        assert_eq!((b.fit(1), b.fit(3), b.fit(17), b.fit(33), b.fit(40)), (1, 4, 32, 40, 40));
    }

    #[cfg(feature = "torch")]
    #[test]
    fn padding_appends_zero_rows_only() {
        let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).view([3, 2]);
        let p = pad_rows(&x, 4);
        assert_eq!(p.size(), [4, 2]);
        assert_eq!(Vec::<f32>::try_from(&p.view([-1])).unwrap(), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0, 0.0]);
        assert_eq!(pad_rows(&x, 2).size(), [3, 2]);
    }
}
