//! Memory layout of image tensors and conv weights while training: channels-last (NHWC in
//! memory, still indexed as NCHW) by default.
//!
//! Why: under fp16 autocast cuDNN's fastest convolution kernels on tensor-core GPUs are the
//! NHWC ones, and on the CPU oneDNN's are too: with NCHW tensors every convolution pays a
//! reorder in and out. Measured on the 2-core build machine (BENCHMARKS.md,
//! `benches/memory_format.sh`), ResNet-18 MRA training ran 1.12x (224 px) to 1.41x (48 px,
//! narrow) faster channels-last; the CUDA figure is for a GPU visit. PyTorch picks the NHWC
//! kernels from the strides alone, so no flag has to reach the ops: tch 0.24 has no
//! memory-format argument, but a permute to NHWC, a contiguous copy and the permute back
//! give exactly the strides `.to(memory_format=torch.channels_last)` gives.
//!
//! Inference needs none of this: the classifiers' uploaded crops are already NHWC in memory
//! (HWC pixels viewed as CHW), and converting the weights changed nothing measurable.
use serde::{Deserialize, Serialize};
use tch::{nn, Tensor};

/// How 4-D tensors are laid out in memory while training.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum MemoryFormat {
    /// NHWC in memory: faster on both devices measured so far.
    #[default]
    ChannelsLast,
    /// NCHW in memory, libtorch's default: the baseline to compare against.
    Contiguous,
}

/// `t` with channels-last strides (same sizes, same values); other ranks come back as they are.
pub fn channels_last(t: &Tensor) -> Tensor {
    if t.dim() != 4 {
        return t.shallow_clone();
    }
    t.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}

/// Whether `t` is a 4-D tensor laid out channels-last.
pub fn is_channels_last(t: &Tensor) -> bool {
    if t.dim() != 4 {
        return false;
    }
    let (s, z) = (t.stride(), t.size());
    s[1] == 1 && s[3] == z[1] && s[2] == z[3] * z[1] && s[0] == z[2] * z[3] * z[1]
}

/// Turns every 4-D variable of `vs` (the conv weights) channels-last in place: the modules
/// hold the same tensors, so they see the new layout. Call before building the optimiser,
/// whose state then follows the parameters' layout. Returns how many were converted.
pub fn vars_to_channels_last(vs: &nn::VarStore) -> usize {
    let mut n = 0;
    tch::no_grad(|| {
        for (_, mut v) in vs.variables() {
            if v.dim() == 4 && !is_channels_last(&v) {
                let cl = channels_last(&v);
                v.set_data(&cl);
                n += 1;
            }
        }
    });
    n
}

/// Contiguous copies of `vs`'s variables, sorted by name: safetensors stores contiguous
/// tensors only, and a checkpoint must not depend on how it was trained.
pub fn contiguous_vars(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = vs.variables().into_iter().map(|(k, t)| (k, t.contiguous())).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::{Module, ModuleT};
    use tch::{Device, Kind};

    #[test]
    fn channels_last_keeps_values_and_sets_nhwc_strides() {
        let t = Tensor::arange(2 * 3 * 4 * 5, (Kind::Float, Device::Cpu)).view([2, 3, 4, 5]);
        assert!(!is_channels_last(&t));
        let c = channels_last(&t);
        assert!(is_channels_last(&c));
        assert_eq!(c.stride(), vec![60, 1, 15, 3]);
        assert_eq!(c.size(), t.size());
        assert_eq!(f64::try_from((&c - &t).abs().max()).unwrap(), 0.0);
        // other ranks pass through
        let v = Tensor::ones([3, 4], (Kind::Float, Device::Cpu));
        assert_eq!(channels_last(&v).stride(), v.stride());
        assert!(!is_channels_last(&v));
    }

    #[test]
    fn a_conv_net_computes_the_same_channels_last_and_saves_contiguous() {
        tch::manual_seed(3);
        let vs = nn::VarStore::new(Device::Cpu);
        let p = vs.root();
        let net = nn::seq_t()
            .add(nn::conv2d(&p / "c1", 3, 8, 3, nn::ConvConfig { padding: 1, ..Default::default() }))
            .add(nn::batch_norm2d(&p / "bn", 8, Default::default()))
            .add_fn(|x| x.relu())
            .add(nn::conv2d(&p / "c2", 8, 4, 3, nn::ConvConfig { stride: 2, ..Default::default() }));
        let fc = nn::linear(&p / "fc", 4 * 7 * 7, 5, Default::default());
        let x = Tensor::randn([2, 3, 16, 16], (Kind::Float, Device::Cpu));
        let run = |x: &Tensor| fc.forward(&net.forward_t(x, false).flatten(1, -1));
        let grads = |x: &Tensor| -> Vec<Tensor> {
            for mut v in vs.trainable_variables() {
                v.zero_grad();
            }
            fc.forward(&net.forward_t(x, false).flatten(1, -1)).square().sum(Kind::Float).backward();
            let mut g: Vec<(String, Tensor)> = vs
                .variables()
                .into_iter()
                .filter(|(_, v)| v.requires_grad())
                .map(|(k, v)| (k, v.grad().contiguous()))
                .collect();
            g.sort_by(|a, b| a.0.cmp(&b.0));
            g.into_iter().map(|(_, t)| t).collect()
        };
        let before = run(&x);
        let grads_before = grads(&x);
        assert_eq!(vars_to_channels_last(&vs), 2, "the two conv weights");
        assert!(vs.variables().iter().filter(|(_, v)| v.dim() == 4).all(|(_, v)| is_channels_last(v)));
        let after = run(&channels_last(&x));
        let diff = f64::try_from((&after - &before).abs().max()).unwrap();
        assert!(diff < 1e-5, "outputs differ by {diff}");
        for (a, b) in grads_before.iter().zip(grads(&channels_last(&x))) {
            let scale = f64::try_from(a.abs().max()).unwrap().max(1e-6);
            let diff = f64::try_from((a - &b).abs().max()).unwrap() / scale;
            assert!(diff < 1e-4, "gradients differ by {diff} of their scale");
        }
        // converting twice changes nothing; saving gives contiguous tensors of the same values
        assert_eq!(vars_to_channels_last(&vs), 0);
        let saved = contiguous_vars(&vs);
        assert!(saved.iter().all(|(_, t)| t.is_contiguous()));
        let dir = std::env::temp_dir().join(format!("fer-rt-layout-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("w.safetensors");
        Tensor::write_safetensors(&saved, &path).unwrap();
        let mut fresh = nn::VarStore::new(Device::Cpu);
        let q = fresh.root();
        let net2 = nn::seq_t()
            .add(nn::conv2d(&q / "c1", 3, 8, 3, nn::ConvConfig { padding: 1, ..Default::default() }))
            .add(nn::batch_norm2d(&q / "bn", 8, Default::default()))
            .add_fn(|x| x.relu())
            .add(nn::conv2d(&q / "c2", 8, 4, 3, nn::ConvConfig { stride: 2, ..Default::default() }));
        let fc2 = nn::linear(&q / "fc", 4 * 7 * 7, 5, Default::default());
        fresh.load(&path).unwrap();
        let reloaded = fc2.forward(&net2.forward_t(&x, false).flatten(1, -1));
        let diff = f64::try_from((&reloaded - &before).abs().max()).unwrap();
        assert!(diff < 1e-5, "reloaded outputs differ by {diff}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
