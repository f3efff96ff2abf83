//! `fer-rt eval`: a checkpoint on a labelled set. Accuracy, macro-F1, per-class recall,
//! the confusion matrix, expected calibration error with its reliability diagram, CCC for
//! valence/arousal when the set has them, and saliency maps (the gradient of the loss with
//! respect to the input pixels) for chosen images.
use super::data::Dataset;
use super::plots::{self, Bin};
use super::predict::{normalise, predict};
use crate::error::Result;
use crate::messages::RgbImage;
use crate::model::resnet_mra::MraNet;
use serde::Serialize;
use std::path::Path;
use tch::{Device, Kind, Tensor};

#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    pub samples: usize,
    pub classes: Vec<String>,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub per_class_recall: Vec<(String, f64)>,
    /// Rows: true class; columns: predicted.
    pub confusion: Vec<Vec<u64>>,
    /// Expected calibration error over `bins.len()` equal-width confidence bins.
    pub ece: f64,
    pub bins: Vec<Bin>,
    pub ccc_valence: Option<f64>,
    pub ccc_arousal: Option<f64>,
    /// Files written.
    pub files: Vec<String>,
}

pub use crate::metrics::calibration;

/// |d CE / d x| summed over colour channels, per pixel, for one image.
pub fn saliency_map(net: &MraNet, image: &Tensor, label: i64, device: Device) -> Vec<f32> {
    let x = normalise(&image.unsqueeze(0), device).set_requires_grad(true);
    let out = net.forward(&x, false);
    let loss = out.logits.cross_entropy_for_logits(&Tensor::from_slice(&[label]).to_device(device));
    loss.backward();
    let g = x.grad().abs().sum_dim_intlist([1i64].as_slice(), false, Kind::Float).squeeze_dim(0);
    Vec::<f32>::try_from(&g.to_device(Device::Cpu).view([-1])).unwrap_or_default()
}

fn image_of(d: &Dataset, i: i64) -> RgbImage {
    let t = d.images.get(i).permute([1, 2, 0]).contiguous();
    let s = t.size();
    let data = Vec::<u8>::try_from(&t.view([-1])).unwrap_or_default();
    RgbImage::new(s[1] as u32, s[0] as u32, data)
}

/// Evaluates `net` on `d`, writing the pictures (and report.json) into `out`.
pub fn evaluate(net: &MraNet, d: &Dataset, out: &Path, saliency: &[usize], device: Device) -> Result<EvalReport> {
    std::fs::create_dir_all(out).map_err(|e| crate::Error::Config(format!("{}: {e}", out.display())))?;
    let k = d.classes.len();
    let p = predict(net, d, 64, device);
    let probs = Vec::<f32>::try_from(&p.probs.view([-1])).unwrap_or_default();
    let pred: Vec<usize> = probs.chunks(k).map(crate::metrics::argmax).collect();
    let conf: Vec<f32> = probs.chunks(k).map(|r| r.iter().cloned().fold(0.0, f32::max)).collect();
    let truth: Vec<usize> = d.labels.iter().map(|&l| l as usize).collect();
    let correct: Vec<bool> = pred.iter().zip(&truth).map(|(a, b)| a == b).collect();
    let mut confusion = vec![vec![0u64; k]; k];
    for (&t, &q) in truth.iter().zip(&pred) {
        if t < k {
            confusion[t][q] += 1;
        }
    }
    let per_class_recall = (0..k)
        .map(|c| {
            let row: u64 = confusion[c].iter().sum();
            (d.classes[c].clone(), if row > 0 { confusion[c][c] as f64 / row as f64 } else { 0.0 })
        })
        .collect();
    let (ece, bins) = calibration(&conf, &correct, 15);
    let (mut ccc_v, mut ccc_a) = (None, None);
    if let (Some(va), Some(target)) = (&p.va, &d.va) {
        let a = Vec::<f32>::try_from(&va.view([-1])).unwrap_or_default();
        let b = Vec::<f32>::try_from(&target.view([-1])).unwrap_or_default();
        let col = |v: &[f32], j: usize| v.iter().skip(j).step_by(2).cloned().collect::<Vec<f32>>();
        ccc_v = Some(crate::metrics::ccc(&col(&a, 0), &col(&b, 0)));
        ccc_a = Some(crate::metrics::ccc(&col(&a, 1), &col(&b, 1)));
    }
    let mut files = Vec::new();
    let png = crate::plot::Format::Png;
    crate::plot::save(&plots::Confusion { matrix: &confusion, classes: &d.classes }, &out.join("confusion.png"), png)?;
    crate::plot::save(&plots::Reliability { bins: &bins, ece }, &out.join("reliability.png"), png)?;
    files.extend(["confusion.png".to_string(), "reliability.png".to_string()]);
    let mut save = |name: &str, img: &RgbImage| -> Result<()> {
        plots::write_png(&out.join(name), img)?;
        files.push(name.to_string());
        Ok(())
    };
    for &i in saliency.iter().filter(|&&i| i < d.len()) {
        let heat = saliency_map(net, &d.images.get(i as i64), d.labels[i], device);
        let title = format!("#{i} true {} predicted {} ({:.2})", d.classes[truth[i]], d.classes[pred[i]], conf[i]);
        save(&format!("saliency_{i}.png"), &plots::saliency(&image_of(d, i as i64), &heat, &title))?;
    }
    let report = EvalReport {
        samples: d.len(),
        classes: d.classes.clone(),
        accuracy: correct.iter().filter(|&&c| c).count() as f64 / d.len().max(1) as f64,
        macro_f1: crate::metrics::macro_f1(&pred, &truth, k),
        per_class_recall,
        confusion,
        ece,
        bins,
        ccc_valence: ccc_v,
        ccc_arousal: ccc_a,
        files,
    };
    crate::runtime::files::write_file(
        &out.join("report.json"),
        serde_json::to_string_pretty(&report).unwrap_or_default(),
    )?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ece_is_zero_when_confidence_matches_accuracy() {
        let conf = [0.75f32; 8];
        let correct = [true, true, true, false, true, true, true, false];
        let (ece, bins) = calibration(&conf, &correct, 10);
        assert!(ece.abs() < 1e-6, "{ece}");
        assert_eq!(bins[7].count, 8);
        let (ece, _) = calibration(&[1.0; 4], &[false; 4], 10);
        assert!((ece - 1.0).abs() < 1e-6);
    }
}
