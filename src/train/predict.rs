//! A network's predictions over a dataset, and the normalisation and accuracy around
//! them, for training, its epochs and `eval` alike.
use super::data::Dataset;
use super::settings::{MEAN, STD};
use crate::model::resnet_mra::MraNet;
use tch::{Device, Kind, Tensor};

/// uint8 [N, 3, S, S] -> normalised float on `device`.
pub fn normalise(images: &Tensor, device: Device) -> Tensor {
    let mean = Tensor::from_slice(&MEAN).view([1, 3, 1, 1]).to_device(device);
    let std = Tensor::from_slice(&STD).view([1, 3, 1, 1]).to_device(device);
    (images.to_device(device).to_kind(Kind::Float) - mean) / std
}

/// Predictions of a network over a dataset (no augmentation, batch by batch).
pub struct Predictions {
    pub probs: Tensor,
    pub logvar: Tensor,
    pub importance: Tensor,
    pub va: Option<Tensor>,
}

pub fn predict(net: &MraNet, d: &Dataset, batch: usize, device: Device) -> Predictions {
    let n = d.len() as i64;
    let (mut p, mut lv, mut imp, mut va) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    tch::no_grad(|| {
        let mut i = 0;
        while i < n {
            let b = (batch as i64).min(n - i);
            let x = normalise(&d.images.narrow(0, i, b), device);
            let o = net.forward(&x, false);
            p.push(o.logits.softmax(-1, Kind::Float).to_device(Device::Cpu));
            lv.push(o.logvar.to_device(Device::Cpu));
            imp.push(o.importance.to_device(Device::Cpu));
            if let Some((v, _)) = o.va {
                va.push(v.to_device(Device::Cpu));
            }
            i += b;
        }
    });
    Predictions {
        probs: Tensor::cat(&p, 0),
        logvar: Tensor::cat(&lv, 0),
        importance: Tensor::cat(&imp, 0),
        va: (!va.is_empty()).then(|| Tensor::cat(&va, 0)),
    }
}

pub fn accuracy(probs: &Tensor, labels: &[i64]) -> f64 {
    let pred = Vec::<i64>::try_from(&probs.argmax(1, false)).unwrap_or_default();
    let hit = pred.iter().zip(labels).filter(|(a, b)| a == b).count();
    hit as f64 / labels.len().max(1) as f64
}
