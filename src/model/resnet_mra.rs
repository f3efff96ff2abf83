//! ResNet-18 with multi-region attention (MRA), the model `fer-rt train` produces.
//!
//! Regions: the whole face and four overlapping corner regions (each 0.6 of the side:
//! brows/eyes left and right, cheek/mouth left and right). Two ways to get their features:
//! - `crops`: each region is cropped from the input and resized back to full size, and the
//!   shared backbone runs on all five (as in the region-attention papers; 5x the compute);
//! - `pooled`: one backbone pass; the regions are pooled from the last feature map (the
//!   whole map, and its four 2x2 quadrants). Cheaper, for real time.
//!
//! Every region feature f_i gets an attention weight a_i = sigmoid(fc(f_i)); the face's
//! feature is g = (1 - w) f_whole + w (sum a_i f_i / sum a_i), w = `region_weight`
//! (~0.6 worked best in the source's sweep). Heads on g: expression logits, the SCN
//! importance weight alpha = sigmoid(fc(g)), the RUL log-variance, and optionally valence
//! and arousal with their log-variances.
use super::Classifier;
use crate::assets::manifest::{Manifest, MraConfig, RegionMode};
use crate::error::{Error, Result};
use crate::messages::{ClassOutput, ClassifierSpec, Crop};
use std::path::Path;
use tch::nn;
use tch::{Device, Kind, Tensor};

/// Region boxes in [0, 1] input coordinates: the whole face, then four corners.
pub const REGIONS: [[f64; 4]; 5] =
    [[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.6, 0.6], [0.4, 0.0, 1.0, 0.6], [0.0, 0.4, 0.6, 1.0], [0.4, 0.4, 1.0, 1.0]];

#[derive(Debug)]
struct BasicBlock {
    c1: nn::Conv2D,
    b1: nn::BatchNorm,
    c2: nn::Conv2D,
    b2: nn::BatchNorm,
    down: Option<(nn::Conv2D, nn::BatchNorm)>,
}

fn conv(p: nn::Path, i: i64, o: i64, k: i64, stride: i64) -> nn::Conv2D {
    nn::conv2d(p, i, o, k, nn::ConvConfig { stride, padding: k / 2, bias: false, ..Default::default() })
}

impl BasicBlock {
    fn new(p: &nn::Path, i: i64, o: i64, stride: i64) -> Self {
        let down = (stride != 1 || i != o)
            .then(|| (conv(p / "down_conv", i, o, 1, stride), nn::batch_norm2d(p / "down_bn", o, Default::default())));
        Self {
            c1: conv(p / "conv1", i, o, 3, stride),
            b1: nn::batch_norm2d(p / "bn1", o, Default::default()),
            c2: conv(p / "conv2", o, o, 3, 1),
            b2: nn::batch_norm2d(p / "bn2", o, Default::default()),
            down,
        }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let y = x.apply(&self.c1).apply_t(&self.b1, train).relu().apply(&self.c2).apply_t(&self.b2, train);
        let skip = match &self.down {
            Some((c, b)) => x.apply(c).apply_t(b, train),
            None => x.shallow_clone(),
        };
        (y + skip).relu()
    }
}

/// Everything the network says about a batch.
pub struct MraOutput {
    pub logits: Tensor,
    /// Fused face feature g [N, C].
    pub feature: Tensor,
    /// SCN importance weight alpha in (0, 1) [N].
    pub importance: Tensor,
    /// RUL log-variance [N].
    pub logvar: Tensor,
    /// Region attention weights [N, 5].
    pub attention: Tensor,
    /// Valence and arousal in [-1, 1] and their log-variances [N, 2] each.
    pub va: Option<(Tensor, Tensor)>,
}

pub struct MraNet {
    pub cfg: MraConfig,
    stem: nn::Conv2D,
    stem_bn: nn::BatchNorm,
    layers: Vec<BasicBlock>,
    att: nn::Linear,
    pub cls: nn::Linear,
    scn: nn::Linear,
    rul: nn::Linear,
    /// RUL's log-variance is batch-normalised (as in the public code): what matters is a
    /// sample's uncertainty relative to the others in its batch.
    rul_bn: nn::BatchNorm,
    va: Option<nn::Linear>,
}

impl MraNet {
    pub fn new(p: &nn::Path, cfg: &MraConfig) -> Self {
        let w = cfg.width;
        let stem = nn::conv2d(
            p / "stem",
            3,
            w,
            7,
            nn::ConvConfig { stride: 2, padding: 3, bias: false, ..Default::default() },
        );
        let stem_bn = nn::batch_norm2d(p / "stem_bn", w, Default::default());
        let mut layers = Vec::new();
        let mut i = w;
        for (s, mult) in [1i64, 2, 4, 8].into_iter().enumerate() {
            let o = w * mult;
            for b in 0..2 {
                let stride = if s > 0 && b == 0 { 2 } else { 1 };
                layers.push(BasicBlock::new(&(p / format!("layer{}", s + 1) / b), i, o, stride));
                i = o;
            }
        }
        let c = 8 * w;
        // the heads form optimiser group 1, so training can give them their own rate
        let h = p.set_group(1);
        Self {
            cfg: cfg.clone(),
            stem,
            stem_bn,
            layers,
            att: nn::linear(&h / "region_attention", c, 1, Default::default()),
            cls: nn::linear(&h / "expression", c, cfg.classes as i64, Default::default()),
            scn: nn::linear(&h / "scn_importance", c, 1, Default::default()),
            rul: nn::linear(&h / "rul_logvar", c, 1, Default::default()),
            rul_bn: nn::batch_norm1d(&h / "rul_logvar_bn", 1, Default::default()),
            va: cfg.valence_arousal.then(|| nn::linear(&h / "valence_arousal", c, 4, Default::default())),
        }
    }

    /// Last feature map [N, C, h, w].
    fn backbone(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h =
            x.apply(&self.stem).apply_t(&self.stem_bn, train).relu().max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false);
        for b in &self.layers {
            h = b.forward(&h, train);
        }
        h
    }

    /// Region features [N, 5, C].
    fn regions(&self, x: &Tensor, train: bool) -> Tensor {
        let n = x.size()[0];
        match self.cfg.regions {
            RegionMode::Pooled => {
                let fmap = self.backbone(x, train);
                let whole = fmap.mean_dim([2i64, 3].as_slice(), false, fmap.kind()).unsqueeze(1);
                let quads = fmap.adaptive_avg_pool2d([2, 2]).flatten(2, 3).transpose(1, 2); // [N, 4, C]
                Tensor::cat(&[whole, quads], 1)
            }
            RegionMode::Crops => {
                let s = x.size();
                let (h, w) = (s[2], s[3]);
                let crops: Vec<Tensor> = REGIONS
                    .iter()
                    .map(|r| {
                        let (x0, y0) = ((r[0] * w as f64) as i64, (r[1] * h as f64) as i64);
                        let (x1, y1) = ((r[2] * w as f64) as i64, (r[3] * h as f64) as i64);
                        let c = x.narrow(2, y0, y1 - y0).narrow(3, x0, x1 - x0);
                        if (y1 - y0, x1 - x0) == (h, w) {
                            c
                        } else {
                            c.upsample_bilinear2d([h, w], false, None, None)
                        }
                    })
                    .collect();
                let f =
                    self.backbone(&Tensor::cat(&crops, 0), train).mean_dim([2i64, 3].as_slice(), false, Kind::Float);
                f.view([5, n, -1]).transpose(0, 1)
            }
        }
    }

    pub fn forward(&self, x: &Tensor, train: bool) -> MraOutput {
        let f = self.regions(x, train); // [N, 5, C]
        let a = f.apply(&self.att).sigmoid(); // [N, 5, 1]
        let k = f.kind();
        let fused = (&f * &a).sum_dim_intlist([1i64].as_slice(), false, k)
            / a.sum_dim_intlist([1i64].as_slice(), false, k).clamp_min(1e-6);
        let wr = self.cfg.region_weight;
        let g = f.select(1, 0) * (1.0 - wr) + fused * wr;
        let gd = g.dropout(self.cfg.dropout, train);
        let va = self.va.as_ref().map(|l| {
            let o = gd.apply(l);
            (o.narrow(1, 0, 2).tanh(), o.narrow(1, 2, 2))
        });
        MraOutput {
            logits: gd.apply(&self.cls),
            importance: gd.apply(&self.scn).sigmoid().squeeze_dim(1),
            logvar: gd.apply(&self.rul).apply_t(&self.rul_bn, train).squeeze_dim(1),
            attention: a.squeeze_dim(2),
            feature: g,
            va,
        }
    }
}

/// A trained MRA checkpoint as a pipeline classifier: the safetensors file plus its
/// sidecar manifest (architecture, classes, preprocessing, training run).
pub struct MraClassifier {
    spec: ClassifierSpec,
    _vs: nn::VarStore,
    net: MraNet,
    runner: super::TorchRunner,
}

/// The network of a checkpoint, from its manifest (sidecar) and weights.
pub fn load_net(m: &Manifest, weights: &Path, device: Device) -> Result<(nn::VarStore, MraNet)> {
    let cfg = m.mra.clone().ok_or_else(|| Error::Model {
        name: m.name.clone(),
        reason: "manifest lacks the 'mra' architecture block".into(),
    })?;
    if cfg.classes != m.classes.len() {
        return Err(Error::Model {
            name: m.name.clone(),
            reason: format!("{} classes named, the network has {}", m.classes.len(), cfg.classes),
        });
    }
    let mut vs = nn::VarStore::new(device);
    let net = MraNet::new(&vs.root(), &cfg);
    vs.load(weights)
        .map_err(|e| Error::Model { name: m.name.clone(), reason: format!("{}: {e}", weights.display()) })?;
    Ok((vs, net))
}

impl MraClassifier {
    /// Loads the checkpoint to compute in `kind` (see `model::compute_kind`).
    pub fn load(m: &Manifest, weights: &Path, device: Device, kind: Kind) -> Result<Self> {
        let (mut vs, net) = load_net(m, weights, device)?;
        vs.set_kind(kind);
        let spec = ClassifierSpec::from_manifest(m, net.cfg.valence_arousal, true)?;
        Ok(Self { spec, _vs: vs, net, runner: super::TorchRunner::new(device, kind) })
    }
}

impl Classifier for MraClassifier {
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

    fn warm_up(&mut self, buckets: Option<crate::runtime::buckets::Buckets>, max_batch: usize) -> Result<Vec<usize>> {
        self.runner.set_buckets(buckets);
        let net = &self.net;
        Ok(self.runner.warm_up(&self.spec.input, max_batch, |x| mra_outputs(net, x)))
    }

    fn classify_device(&mut self, x: &Tensor) -> Result<Vec<ClassOutput>> {
        if x.size()[0] == 0 {
            return Ok(Vec::new());
        }
        let net = &self.net;
        let mut outs = self.runner.run(x, &self.spec.input, |x| mra_outputs(net, x)).into_iter();
        let mut next = || {
            outs.next()
                .map(|t| t.view([-1]))
                .ok_or_else(|| Error::Model { name: self.spec.name.clone(), reason: "missing network output".into() })
        };
        let probs = Vec::<f32>::try_from(&next()?)?;
        let logvar = Vec::<f32>::try_from(&next()?)?;
        let va = if net.cfg.valence_arousal {
            Some((Vec::<f32>::try_from(&next()?)?, Vec::<f32>::try_from(&next()?)?))
        } else {
            None
        };
        let k = self.spec.classes.len();
        Ok(probs
            .chunks(k)
            .enumerate()
            .map(|(i, p)| ClassOutput {
                probs: p.to_vec(),
                valence_arousal: va.as_ref().map(|(v, _)| [v[2 * i], v[2 * i + 1]]),
                valence_arousal_var: va.as_ref().map(|(_, s)| [s[2 * i], s[2 * i + 1]]),
                uncertainty: Some(logvar[i]),
                disagreement: None,
            })
            .collect())
    }
}

/// The outputs the pipeline reads, in order: probabilities, RUL log-variance, then (with a
/// V/A head) valence/arousal and their variances.
fn mra_outputs(net: &MraNet, x: &Tensor) -> Vec<Tensor> {
    let out = net.forward(x, false);
    let mut v = vec![out.logits.to_kind(Kind::Float).softmax(-1, Kind::Float), out.logvar];
    if let Some((va, lv)) = out.va {
        v.push(va);
        v.push(lv.to_kind(Kind::Float).exp());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(regions: RegionMode, va: bool) -> (nn::VarStore, MraNet) {
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg =
            MraConfig { input_size: 48, width: 8, regions, valence_arousal: va, classes: 7, ..Default::default() };
        let net = MraNet::new(&vs.root(), &cfg);
        (vs, net)
    }

    #[test]
    fn both_region_modes_give_every_head() {
        for mode in [RegionMode::Pooled, RegionMode::Crops] {
            let (_vs, n) = net(mode, true);
            let x = Tensor::randn([3, 3, 48, 48], (Kind::Float, Device::Cpu));
            let o = n.forward(&x, false);
            assert_eq!(o.logits.size(), [3, 7]);
            assert_eq!(o.feature.size(), [3, 64]);
            assert_eq!(o.importance.size(), [3]);
            assert_eq!(o.logvar.size(), [3]);
            assert_eq!(o.attention.size(), [3, 5]);
            let (v, lv) = o.va.unwrap();
            assert_eq!((v.size(), lv.size()), (vec![3, 2], vec![3, 2]));
            assert!(v.abs().max().double_value(&[]) <= 1.0);
            let imp = o.importance;
            assert!(imp.min().double_value(&[]) > 0.0 && imp.max().double_value(&[]) < 1.0);
        }
    }

    #[test]
    fn reduced_precision_follows_float() {
        // the CUDA path computes in half; bfloat16 exercises the same kind plumbing on the CPU
        let (mut vs, n) = net(RegionMode::Pooled, true);
        let x = Tensor::randn([2, 3, 48, 48], (Kind::Float, Device::Cpu));
        let a = tch::no_grad(|| n.forward(&x, false)).logits.softmax(-1, Kind::Float);
        vs.set_kind(Kind::BFloat16);
        let o = tch::no_grad(|| n.forward(&x.to_kind(Kind::BFloat16), false));
        assert_eq!(o.logits.kind(), Kind::BFloat16);
        let b = o.logits.to_kind(Kind::Float).softmax(-1, Kind::Float);
        let d = (a - b).abs().max().double_value(&[]);
        assert!(d < 0.05, "bfloat16 probabilities differ from f32 by {d}");
    }

    #[test]
    fn region_weight_zero_ignores_the_regions() {
        let (vs, mut n) = net(RegionMode::Pooled, false);
        n.cfg.region_weight = 0.0;
        let x = Tensor::randn([2, 3, 48, 48], (Kind::Float, Device::Cpu));
        let a = n.forward(&x, false).feature;
        // changing the attention layer changes nothing when the regions have no weight
        tch::no_grad(|| {
            for (name, mut t) in vs.variables() {
                if name.starts_with("region_attention") {
                    let _ = t.fill_(3.0);
                }
            }
        });
        let b = n.forward(&x, false).feature;
        assert!(a.allclose(&b, 1e-6, 1e-6, false));
    }
}
