//! Named tensors from a safetensors file, moved to the run's device once at load.
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::path::Path;
use tch::{Device, Kind, Tensor};

pub struct Weights {
    model: String,
    tensors: HashMap<String, Tensor>,
}

impl Weights {
    pub fn load(model: &str, path: &Path, device: Device, kind: Kind) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::Model {
                name: model.into(),
                reason: format!("weights {} not found (run scripts/setup.sh)", path.display()),
            });
        }
        let list = Tensor::read_safetensors(path)
            .map_err(|e| Error::Model { name: model.into(), reason: format!("{}: {e}", path.display()) })?;
        let tensors = list.into_iter().map(|(k, t)| (k, t.to_device(device).to_kind(kind))).collect();
        Ok(Self { model: model.into(), tensors })
    }

    pub fn get(&self, name: &str) -> Result<Tensor> {
        self.tensors
            .get(name)
            .map(|t| t.shallow_clone())
            .ok_or_else(|| Error::Model { name: self.model.clone(), reason: format!("weights lack tensor '{name}'") })
    }

    /// Conv weight and bias stored as `<prefix>.weight` / `<prefix>.bias`.
    pub fn conv(&self, prefix: &str) -> Result<Conv> {
        let weight = self.get(&format!("{prefix}.weight"))?;
        let bias = self.tensors.get(&format!("{prefix}.bias")).map(|t| t.shallow_clone());
        Ok(Conv { weight, bias })
    }
}

/// A 2-D convolution with square kernels and symmetric padding of kernel/2 ("same" for odd
/// kernels at stride 1), or explicit padding. Depthwise when the weight has one input
/// channel per group and more than one output.
pub struct Conv {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

impl Conv {
    pub fn forward(&self, x: &Tensor, stride: i64, padding: i64) -> Tensor {
        let out = self.weight.size()[0];
        let in_per_group = self.weight.size()[1];
        let groups = if in_per_group == 1 && out > 1 { x.size()[1] } else { 1 };
        x.conv2d(&self.weight, self.bias.as_ref(), [stride, stride], [padding, padding], [1, 1], groups)
    }

    /// Padding kernel/2.
    pub fn same(&self, x: &Tensor, stride: i64) -> Tensor {
        let k = self.weight.size()[2];
        self.forward(x, stride, k / 2)
    }
}
