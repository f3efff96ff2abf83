//! RetinaFace with a MobileNet-0.25 backbone (Deng et al. 2020; layout of
//! biubug6/Pytorch_Retinaface), BatchNorm folded into the convolutions by the converter.
//! Output per anchor: 2 class logits (softmaxed), 4 box offsets, 10 landmark offsets.
use crate::assets::weights::{Conv, Weights};
use crate::error::Result;
use tch::{Kind, Tensor};

const LEAKY_SLOPE: f64 = 0.1;

/// max(x, 0.1x) equals LeakyReLU(0.1) exactly; tch's leaky_relu has no slope argument.
fn leaky(x: &Tensor) -> Tensor {
    x.maximum(&(x * LEAKY_SLOPE))
}

struct Block {
    conv: Conv,
    stride: i64,
}

struct Ssh {
    c3: Conv,
    c5_1: Conv,
    c5_2: Conv,
    c7_2: Conv,
    c7_3: Conv,
}

impl Ssh {
    fn load(w: &Weights, p: &str) -> Result<Self> {
        Ok(Self {
            c3: w.conv(&format!("{p}.conv3X3.0"))?,
            c5_1: w.conv(&format!("{p}.conv5X5_1.0"))?,
            c5_2: w.conv(&format!("{p}.conv5X5_2.0"))?,
            c7_2: w.conv(&format!("{p}.conv7X7_2.0"))?,
            c7_3: w.conv(&format!("{p}.conv7x7_3.0"))?,
        })
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let c3 = self.c3.same(x, 1);
        let c5_1 = leaky(&self.c5_1.same(x, 1));
        let c5 = self.c5_2.same(&c5_1, 1);
        let c7_2 = leaky(&self.c7_2.same(&c5_1, 1));
        let c7 = self.c7_3.same(&c7_2, 1);
        Tensor::cat(&[c3, c5, c7], 1).relu()
    }
}

pub struct RetinaFace {
    stages: [Vec<Block>; 3],
    fpn_out: [Conv; 3],
    merge1: Conv,
    merge2: Conv,
    ssh: [Ssh; 3],
    class_head: [Conv; 3],
    bbox_head: [Conv; 3],
    landmark_head: [Conv; 3],
}

/// Raw network outputs for a batch: scores [N, A] (face probability), loc [N, A, 4],
/// landmarks [N, A, 10], anchors in the order of [`super::anchors::priors`].
pub struct RawOutputs {
    pub scores: Tensor,
    pub loc: Tensor,
    pub landmarks: Tensor,
}

impl RetinaFace {
    pub fn load(w: &Weights) -> Result<Self> {
        // MobileNet-0.25 body: (stage, number of blocks, strides of each block).
        let strides: [&[i64]; 3] = [&[2, 1, 2, 1, 2, 1], &[2, 1, 1, 1, 1, 1], &[2, 1]];
        let mut stages: [Vec<Block>; 3] = Default::default();
        for (s, st) in strides.iter().enumerate() {
            for (i, &stride) in st.iter().enumerate() {
                let p = format!("fx.stage{}.{i}", s + 1);
                if s == 0 && i == 0 {
                    stages[s].push(Block { conv: w.conv(&format!("{p}.0"))?, stride });
                } else {
                    // depthwise 3x3 (carries the stride), then pointwise 1x1
                    stages[s].push(Block { conv: w.conv(&format!("{p}.0.0"))?, stride });
                    stages[s].push(Block { conv: w.conv(&format!("{p}.1.0"))?, stride: 1 });
                }
            }
        }
        let heads = |name: &str| -> Result<[Conv; 3]> {
            Ok([w.conv(&format!("{name}.0"))?, w.conv(&format!("{name}.1"))?, w.conv(&format!("{name}.2"))?])
        };
        Ok(Self {
            stages,
            fpn_out: [w.conv("fpn.output1.0")?, w.conv("fpn.output2.0")?, w.conv("fpn.output3.0")?],
            merge1: w.conv("fpn.merge1.0")?,
            merge2: w.conv("fpn.merge2.0")?,
            ssh: [Ssh::load(w, "ssh1")?, Ssh::load(w, "ssh2")?, Ssh::load(w, "ssh3")?],
            class_head: heads("class_head")?,
            bbox_head: heads("bbox_head")?,
            landmark_head: heads("landmark_head")?,
        })
    }

    /// `x`: [N, 3, H, W] BGR with the mean subtracted.
    pub fn forward(&self, x: &Tensor) -> RawOutputs {
        let mut feats = Vec::with_capacity(3);
        let mut h = x.shallow_clone();
        for stage in &self.stages {
            for b in stage {
                h = leaky(&b.conv.same(&h, b.stride));
            }
            feats.push(h.shallow_clone());
        }
        let o1 = leaky(&self.fpn_out[0].same(&feats[0], 1));
        let o2 = leaky(&self.fpn_out[1].same(&feats[1], 1));
        let o3 = leaky(&self.fpn_out[2].same(&feats[2], 1));
        let up3 = o3.upsample_nearest2d(&o2.size()[2..], None, None);
        let o2 = leaky(&self.merge2.same(&(o2 + up3), 1));
        let up2 = o2.upsample_nearest2d(&o1.size()[2..], None, None);
        let o1 = leaky(&self.merge1.same(&(o1 + up2), 1));
        let levels = [self.ssh[0].forward(&o1), self.ssh[1].forward(&o2), self.ssh[2].forward(&o3)];
        let n = x.size()[0];
        let head = |convs: &[Conv; 3], k: i64| {
            let parts: Vec<Tensor> =
                levels.iter().zip(convs).map(|(f, c)| c.same(f, 1).permute([0, 2, 3, 1]).reshape([n, -1, k])).collect();
            Tensor::cat(&parts, 1)
        };
        let logits = head(&self.class_head, 2);
        let scores = logits.softmax(-1, Kind::Float).select(2, 1);
        RawOutputs { scores, loc: head(&self.bbox_head, 4), landmarks: head(&self.landmark_head, 10) }
    }
}
