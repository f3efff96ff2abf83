//! Memory layout of image tensors and conv weights while training: channels-last (NHWC in
//! memory, still indexed as NCHW) wherever it is safe.
//!
//! Why: under fp16 autocast cuDNN's fastest convolution kernels on tensor-core GPUs are the
//! NHWC ones, and on the CPU oneDNN's are too: with NCHW tensors every convolution pays a
//! reorder in and out. Measured on the 2-core build machine (BENCHMARKS.md,
//! `benches/memory_format.sh`), ResNet-18 MRA training ran 1.12x (224 px) to 1.20x
//! (64 px, width 16) faster channels-last; the CUDA figure is for a GPU visit. PyTorch
//! picks the NHWC kernels from the strides alone, so no flag has to reach the ops: tch 0.24
//! has no memory-format argument, but a permute to NHWC, a contiguous copy and the permute
//! back give exactly the strides `.to(memory_format=torch.channels_last)` gives.
//!
//! Why not always: oneDNN's CPU backward-weights kernel for a strided 1x1 convolution with an
//! NHWC input of fewer channels than its channel block (8 on AVX2, 16 on AVX-512) writes past
//! its scratch buffer (uxlfoundation/oneDNN issue 6035, open; torch 2.11's oneDNN has it).
//! The heap corruption shows up as a crash at exit, or not at all. We saw it with width-8
//! networks here, reproduced it in plain PyTorch (10 crashes in 10 runs at 8 channels, none
//! in 10 at 16), so on the CPU channels-last is used only when every 1x1 convolution has
//! at least [`ONEDNN_SAFE_CHANNELS`] inputs. The bug is in oneDNN's CPU kernels; CUDA runs cuDNN.
//!
//! Inference needs none of this: the classifiers' uploaded crops are already NHWC in memory
//! (HWC pixels viewed as CHW), and converting the weights changed nothing measurable.
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Tensor};

/// The fewest input channels of a 1x1 convolution for which oneDNN's channels-last
/// backward is safe: the widest channel block of its x64 kernels (AVX-512, f32).
pub const ONEDNN_SAFE_CHANNELS: i64 = 16;

/// How 4-D tensors are laid out in memory while training.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum MemoryFormat {
    /// Channels-last on CUDA, and on the CPU when the network is wide enough to be safe.
    #[default]
    Auto,
    /// NHWC in memory (refused on the CPU for networks oneDNN would corrupt memory on).
    ChannelsLast,
    /// NCHW in memory, libtorch's default: the baseline to compare against.
    Contiguous,
}

/// The fewest input channels over `vs`'s 1x1 convolution weights ([O, I, 1, 1]), if any.
pub fn narrowest_1x1_input(vs: &nn::VarStore) -> Option<i64> {
    vs.variables().values().filter(|v| v.dim() == 4 && v.size()[2] == 1 && v.size()[3] == 1).map(|v| v.size()[1]).min()
}

/// The layout to train in (never `Auto`) on `device`, for a network whose narrowest 1x1
/// convolution has `narrowest_1x1` inputs; an explicit channels-last the CPU cannot run
/// safely is a config error.
pub fn resolve(format: MemoryFormat, device: Device, narrowest_1x1: Option<i64>) -> Result<MemoryFormat> {
    let safe = device.is_cuda() || narrowest_1x1.is_none_or(|c| c >= ONEDNN_SAFE_CHANNELS);
    match format {
        MemoryFormat::Contiguous => Ok(MemoryFormat::Contiguous),
        MemoryFormat::Auto if safe => Ok(MemoryFormat::ChannelsLast),
        MemoryFormat::Auto => Ok(MemoryFormat::Contiguous),
        MemoryFormat::ChannelsLast if safe => Ok(MemoryFormat::ChannelsLast),
        MemoryFormat::ChannelsLast => Err(Error::Config(format!(
            "memory_format = \"channels-last\" on the CPU needs every 1x1 convolution to have at least \
             {ONEDNN_SAFE_CHANNELS} input channels (this network has {}; a wider --width fixes it): oneDNN's \
             backward pass writes out of bounds below that (oneDNN issue 6035)",
            narrowest_1x1.unwrap_or(0)
        ))),
    }
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
    use tch::Kind;

    #[test]
    fn channels_last_only_where_onednn_is_safe() {
        use MemoryFormat::*;
        let cpu = Device::Cpu;
        assert_eq!(resolve(Auto, Device::Cuda(0), Some(8)).unwrap(), ChannelsLast);
        assert_eq!(resolve(Auto, cpu, Some(16)).unwrap(), ChannelsLast);
        assert_eq!(resolve(Auto, cpu, None).unwrap(), ChannelsLast);
        assert_eq!(resolve(Auto, cpu, Some(8)).unwrap(), Contiguous);
        assert_eq!(resolve(ChannelsLast, cpu, Some(64)).unwrap(), ChannelsLast);
        assert_eq!(resolve(ChannelsLast, Device::Cuda(0), Some(8)).unwrap(), ChannelsLast);
        assert_eq!(resolve(Contiguous, Device::Cuda(0), Some(64)).unwrap(), Contiguous);
        let e = resolve(ChannelsLast, cpu, Some(8)).unwrap_err().to_string();
        assert!(e.contains("16") && e.contains("has 8"), "{e}");
        // the narrowest 1x1 convolution of a network
        let vs = nn::VarStore::new(cpu);
        let _a = nn::conv2d(vs.root() / "a", 3, 24, 3, Default::default());
        let _b = nn::conv2d(vs.root() / "b", 24, 32, 1, Default::default());
        let _c = nn::conv2d(vs.root() / "c", 12, 32, 1, Default::default());
        assert_eq!(narrowest_1x1_input(&vs), Some(12));
        assert_eq!(narrowest_1x1_input(&nn::VarStore::new(cpu)), None);
    }

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

    /// Two convolutions with a BatchNorm between them and a linear head, on 16x16 inputs.
    fn small_net(p: &nn::Path) -> (nn::SequentialT, nn::Linear) {
        let net = nn::seq_t()
            .add(nn::conv2d(p / "c1", 3, 8, 3, nn::ConvConfig { padding: 1, ..Default::default() }))
            .add(nn::batch_norm2d(p / "bn", 8, Default::default()))
            .add_fn(|x| x.relu())
            .add(nn::conv2d(p / "c2", 8, 4, 3, nn::ConvConfig { stride: 2, ..Default::default() }));
        (net, nn::linear(p / "fc", 4 * 7 * 7, 5, Default::default()))
    }

    #[test]
    fn a_conv_net_computes_the_same_channels_last_and_saves_contiguous() {
        tch::manual_seed(3);
        let vs = nn::VarStore::new(Device::Cpu);
        let (net, fc) = small_net(&vs.root());
        let x = Tensor::randn([2, 3, 16, 16], (Kind::Float, Device::Cpu));
        let run = |x: &Tensor| fc.forward(&net.forward_t(x, false).flatten(1, -1));
        // gradients of a copy of the same weights left contiguous (a parameter converted
        // after its first backward would keep a gradient of the old layout)
        let mut reference = nn::VarStore::new(Device::Cpu);
        let (ref_net, ref_fc) = small_net(&reference.root());
        reference.copy(&vs).unwrap();
        let grads = |vs: &nn::VarStore, net: &nn::SequentialT, fc: &nn::Linear, x: &Tensor| -> Vec<Tensor> {
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
        let grads_before = grads(&reference, &ref_net, &ref_fc, &x);
        assert_eq!(vars_to_channels_last(&vs), 2, "the two conv weights");
        assert!(vs.variables().iter().filter(|(_, v)| v.dim() == 4).all(|(_, v)| is_channels_last(v)));
        let after = run(&channels_last(&x));
        let diff = f64::try_from((&after - &before).abs().max()).unwrap();
        assert!(diff < 1e-5, "outputs differ by {diff}");
        let grads_after = grads(&vs, &net, &fc, &channels_last(&x));
        assert_eq!(grads_after.len(), 8, "weight and bias of 2 convolutions, the BatchNorm and the head");
        for (a, b) in grads_before.iter().zip(grads_after) {
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
        let (net2, fc2) = small_net(&fresh.root());
        fresh.load(&path).unwrap();
        let reloaded = fc2.forward(&net2.forward_t(&x, false).flatten(1, -1));
        let diff = f64::try_from((&reloaded - &before).abs().max()).unwrap();
        assert!(diff < 1e-5, "reloaded outputs differ by {diff}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
