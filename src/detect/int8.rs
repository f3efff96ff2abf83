//! RetinaFace in INT8 for the keyframes' whole-frame searches (`detect.search_int8`).
//!
//! Why: on a keyframe the whole frame is searched only to find faces; every box and
//! landmark that is output comes from an f32 search (at the placing scale for a new face,
//! in its region for one followed). So that search may run through a quantised graph,
//! ~1.4x as fast on a CPU with VNNI, as long as it finds the same faces: setup quantises
//! the graph and checks that on the bundled media, `tests/keyframes.rs` that the output is
//! unchanged.
use super::onnx_net;
use super::DetectConfig;
use crate::assets::manifest::Manifest;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Whether keyframes' whole-frame searches go through the INT8 graph (`search_int8`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Int8Search {
    /// Where the CPU has 8-bit dot products (VNNI), on which the INT8 graph was measured:
    /// 1.4x the f32 graph's speed. Without them ONNX Runtime's 8-bit kernels can saturate
    /// (setup's check then writes no INT8 graph), and their speed is not measured.
    #[default]
    Auto,
    On,
    Off,
}

impl Int8Search {
    /// Whether to use the INT8 graph on this machine.
    pub fn wanted(self) -> bool {
        match self {
            Int8Search::On => true,
            Int8Search::Off => false,
            Int8Search::Auto => cpu_has_vnni(),
        }
    }
}

/// Whether this CPU has 8-bit integer dot products (AVX-512 VNNI or AVX-VNNI).
pub fn cpu_has_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512vnni") || std::is_x86_feature_detected!("avxvnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The INT8 graph's session (built on first use) where `search_int8` wants it and the
/// model has one. "on" without the file is an error; "auto" then searches in f32, as
/// before setup wrote it.
pub(super) fn graph(
    manifest: &Manifest,
    dir: &Path,
    cfg: &DetectConfig,
    mean_bgr: [f32; 3],
    threads: usize,
) -> Result<Option<onnx_net::OnFirstUse>> {
    if !cfg.search_int8.wanted() {
        return Ok(None);
    }
    let file = manifest.onnx.as_ref().and_then(|o| o.int8.as_ref()).map(|i| dir.join(&i.file));
    match file {
        Some(path) if path.is_file() => Ok(Some(onnx_net::OnFirstUse::new(&manifest.name, &path, mean_bgr, threads))),
        _ if cfg.search_int8 == Int8Search::On => Err(Error::Model {
            name: manifest.name.clone(),
            reason: "detect.search_int8 = \"on\" but the model has no INT8 graph (run scripts/setup.sh)".into(),
        }),
        _ => {
            tracing::debug!("{}: no INT8 graph, keyframes searched in f32", manifest.name);
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_and_off_ask_nothing_of_the_cpu() {
        assert!(Int8Search::On.wanted());
        assert!(!Int8Search::Off.wanted());
        assert_eq!(Int8Search::Auto.wanted(), cpu_has_vnni());
    }

    #[test]
    fn the_setting_is_one_of_three_words() {
        let read = |v: &str| toml::from_str::<DetectConfig>(&format!("search_int8 = \"{v}\"")).map(|c| c.search_int8);
        assert_eq!(read("auto").unwrap(), Int8Search::Auto);
        assert_eq!(read("on").unwrap(), Int8Search::On);
        assert_eq!(read("off").unwrap(), Int8Search::Off);
        assert!(read("yes").is_err());
        assert_eq!(DetectConfig::default().search_int8, Int8Search::Auto);
    }
}
