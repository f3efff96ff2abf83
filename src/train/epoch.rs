//! One member's epoch: batches assembled on the host (gather, upload, normalisation,
//! augmentation), the loss of the configured method under fp16 autocast on CUDA, the
//! optimiser step through a dynamic loss scaler, and the validation pass.
use super::augment::augment;
use super::data::Dataset;
use super::losses;
use super::predict::{accuracy, normalise, predict};
use super::rng::Rng;
use super::settings::{lr_at, EpochLog, Method, TrainConfig, TrainProgress};
use crate::error::Result;
use crate::model::resnet_mra::MraNet;
use std::time::Instant;
use tch::nn;
use tch::{Device, Kind, Tensor};

/// One network being trained, with its optimiser, its data-order RNG and its best epoch.
pub struct Member {
    pub vs: nn::VarStore,
    pub net: MraNet,
    pub opt: nn::Optimizer,
    pub rng: Rng,
    pub best_val: f64,
    pub best_epoch: usize,
    pub best_state: super::checkpoint::State,
}

/// What every epoch of a run shares: the config, the device, the loss scaler (its scale
/// carries over between epochs and members), the progress hooks and the member's label.
pub struct EpochCtx<'a> {
    pub cfg: &'a TrainConfig,
    pub device: Device,
    pub scaler: &'a mut LossScaler,
    /// Images go to the network channels-last (its conv weights already are).
    pub channels_last: bool,
    pub progress: &'a mut dyn TrainProgress,
    pub label: &'a str,
}

/// One pass over `train` for member `m`, then its validation accuracy. SCN relabelling
/// writes into `train.labels`.
pub fn run_epoch(
    ctx: &mut EpochCtx,
    m: &mut Member,
    train: &mut Dataset,
    val: &Dataset,
    epoch: usize,
) -> Result<EpochLog> {
    let EpochCtx { cfg, device, scaler, channels_last, progress, label } = ctx;
    let (cfg, device) = (*cfg, *device);
    let (opt, rng) = (&mut m.opt, &mut m.rng);
    let lr = lr_at(cfg, epoch);
    // the heads (group 1) learn faster than the backbone (RUL's recipe)
    opt.set_lr_group(0, lr);
    opt.set_lr_group(1, lr * cfg.head_lr_mult);
    let n = train.len();
    let mut order: Vec<i64> = (0..n as i64).collect();
    rng.shuffle(&mut order);
    let batches = n.div_ceil(cfg.batch);
    progress.epoch_start(&format!("{label} epoch {}/{}", epoch + 1, cfg.epochs), batches as u64);
    let t0 = Instant::now();
    let (mut seen, mut relabelled, mut skipped) = (0usize, 0usize, 0usize);
    let mut data_s = 0.0f64;
    // running sums stay on the device; reading them waits for it, so only every log_every
    let loss_sum = Tensor::zeros([], (Kind::Float, device));
    let hits = Tensor::zeros([], (Kind::Int64, device));
    let relabel_now = cfg.method == Method::Scn && epoch >= cfg.scn.relabel_epoch;
    let amp = scaler.enabled;
    for (b, chunk) in order.chunks(cfg.batch).enumerate() {
        if chunk.len() < 2 {
            continue;
        }
        let td = Instant::now();
        let idx = Tensor::from_slice(chunk);
        let idx_img = idx.to_device(train.images.device());
        let x = augment(&normalise(&train.images.index_select(0, &idx_img), device), &cfg.augment, rng);
        let x = if *channels_last { crate::runtime::layout::channels_last(&x) } else { x };
        let labels_v: Vec<i64> = chunk.iter().map(|&i| train.labels[i as usize]).collect();
        let labels = Tensor::from_slice(&labels_v).to_device(device);
        data_s += td.elapsed().as_secs_f64();
        let (out, loss) = tch::autocast(amp, || {
            let out = m.net.forward(&x, true);
            let mut loss = match (&train.soft, cfg.method) {
                (Some(soft), _) => losses::soft_ce(&out.logits, &soft.index_select(0, &idx).to_device(device)),
                (None, Method::Ce) => losses::ce(&out.logits, &labels),
                (None, Method::Scn) => {
                    let (l, low) = losses::scn(&out, &labels, &cfg.scn);
                    if relabel_now {
                        let logits = out.logits.detach();
                        for (k, new) in
                            losses::relabels(&logits, &labels_v, &low, cfg.scn.relabel_margin).into_iter().enumerate()
                        {
                            if let Some(c) = new {
                                train.labels[chunk[k] as usize] = c;
                                relabelled += 1;
                            }
                        }
                    }
                    l
                }
                (None, Method::Rul) => losses::rul(&m.net, &out, &labels, rng),
            };
            if let (Some((v, lv)), Some(target)) = (&out.va, &train.va) {
                loss = loss + losses::va_nll(v, lv, &target.index_select(0, &idx).to_device(device));
            }
            (out, loss.to_kind(Kind::Float))
        });
        if !scaler.step(&loss, opt, &m.vs) {
            skipped += 1;
        }
        tch::no_grad(|| {
            let mut l = loss_sum.shallow_clone();
            let _ = l.g_add_(&(loss.detach() * chunk.len() as f64));
            let mut h = hits.shallow_clone();
            let _ = h.g_add_(&out.logits.argmax(1, false).eq_tensor(&labels).sum(Kind::Int64));
        });
        seen += chunk.len();
        if (b + 1) % cfg.log_every.max(1) == 0 || b + 1 == batches {
            let s = seen.max(1) as f64;
            progress.batch(b as u64 + 1, loss_sum.double_value(&[]) / s, hits.int64_value(&[]) as f64 / s);
        }
    }
    let (loss_total, hit_total) = (loss_sum.double_value(&[]), hits.int64_value(&[]) as usize);
    let secs = t0.elapsed().as_secs_f64();
    let p = predict(&m.net, val, cfg.batch, device);
    let val_acc = accuracy(&p.probs, &val.labels);
    Ok(EpochLog {
        generation: 0,
        member: 0,
        epoch,
        lr,
        loss: loss_total / seen.max(1) as f64,
        train_acc: hit_total as f64 / seen.max(1) as f64,
        val_acc,
        images_per_s: seen as f64 / secs.max(1e-9),
        relabelled,
        data_wait_pct: 100.0 * data_s / secs.max(1e-9),
        skipped_steps: skipped,
    })
}

/// Dynamic loss scaling for fp16 training: the loss is multiplied by `scale` before the
/// backward pass so small gradients survive fp16, the gradients are divided back before the
/// step, and a step whose gradients overflowed is skipped with the scale halved; after
/// `GROWTH_INTERVAL` clean steps the scale doubles (PyTorch's GradScaler recipe).
pub struct LossScaler {
    pub enabled: bool,
    scale: f64,
    clean_steps: usize,
}

impl LossScaler {
    const GROWTH_INTERVAL: usize = 2000;

    pub fn new(enabled: bool) -> Self {
        Self { enabled, scale: 65536.0, clean_steps: 0 }
    }

    /// Backward, unscale, step (or skip). Returns false when the step was skipped.
    pub fn step(&mut self, loss: &Tensor, opt: &mut nn::Optimizer, vs: &nn::VarStore) -> bool {
        opt.zero_grad();
        if !self.enabled {
            loss.backward();
            opt.step();
            return true;
        }
        (loss * self.scale).backward();
        let grads: Vec<Tensor> = vs.trainable_variables().iter().map(|v| v.grad()).filter(|g| g.defined()).collect();
        let inv = 1.0 / self.scale;
        let mut sums = Vec::with_capacity(grads.len());
        for g in &grads {
            let mut g = g.shallow_clone();
            let _ = g.g_mul_scalar_(inv);
            sums.push(g.sum(Kind::Float));
        }
        let finite = sums.is_empty() || Tensor::stack(&sums, 0).sum(Kind::Float).isfinite().int64_value(&[]) != 0;
        if finite {
            opt.step();
            self.clean_steps += 1;
            if self.clean_steps >= Self::GROWTH_INTERVAL {
                self.scale *= 2.0;
                self.clean_steps = 0;
            }
        } else {
            self.scale = (self.scale / 2.0).max(1.0);
            self.clean_steps = 0;
        }
        finite
    }
}
