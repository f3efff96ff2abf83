//! Model manifests (models/<name>.json): provenance, licence, preprocessing and class order
//! for each converted weights file. Written by hand, checked by scripts/assets.py at setup.
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Debug, Deserialize)]
pub struct Manifest {
    pub name: String,
    pub kind: ModelKind,
    pub architecture: Architecture,
    pub weights: String,
    pub sha256: String,
    /// The same network as an ONNX file, for ONNX Runtime (the detector) or the reference
    /// pipeline (classifiers).
    #[serde(default)]
    pub onnx: Option<OnnxFile>,
    pub source: serde_json::Value,
    pub license: String,
    #[serde(default)]
    pub training_data: String,
    #[serde(default)]
    pub classes: Vec<String>,
    pub preprocessing: Preprocessing,
    #[serde(default)]
    pub anchors: Option<AnchorConfig>,
    /// Architecture of a ResNet-18 MRA checkpoint (`fer-rt train` writes it).
    #[serde(default)]
    pub mra: Option<MraConfig>,
    /// How a trained checkpoint was made: dataset, method, epochs, metrics.
    #[serde(default)]
    pub training: Option<serde_json::Value>,
}

/// What a manifest's network does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    Detector,
    Classifier,
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ModelKind::Detector => "detector",
            ModelKind::Classifier => "classifier",
        })
    }
}

/// The networks fer-rt can build from a manifest's weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Architecture {
    #[serde(rename = "retinaface-mobilenet0.25")]
    RetinafaceMobilenet025,
    #[serde(rename = "mini-xception")]
    MiniXception,
    /// ResNet-18 with multi-region attention, as `fer-rt train` writes it.
    #[serde(rename = "resnet18-mra")]
    Resnet18Mra,
}

impl Architecture {
    /// The name manifests use.
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::RetinafaceMobilenet025 => "retinaface-mobilenet0.25",
            Architecture::MiniXception => "mini-xception",
            Architecture::Resnet18Mra => "resnet18-mra",
        }
    }
}

impl std::fmt::Display for Architecture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Channel order the network was trained on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PixelOrder {
    Gray,
    Rgb,
    Bgr,
}

#[derive(Clone, Debug, Deserialize)]
pub struct OnnxFile {
    pub file: String,
    pub sha256: String,
    /// A detector's graph without its finest levels, for regions around large faces.
    #[serde(default)]
    pub coarse: Option<CoarseOnnx>,
    /// A detector's graph quantised to INT8, for searches that only find faces.
    #[serde(default)]
    pub int8: Option<Int8Onnx>,
}

/// A detector's graph quantised to INT8 at setup (scripts/convert.py), calibrated on the
/// bundled media. No sha256: ONNX Runtime's calibration runs the f32 graph on this CPU,
/// whose kernels round differently from another's; convert.py checks instead that it
/// finds the faces the f32 graph finds on the bundled media.
#[derive(Clone, Debug, Deserialize)]
pub struct Int8Onnx {
    pub file: String,
}

/// A detector's ONNX graph with its outputs cut to the levels from `first_level` on
/// (scripts/convert.py writes it from the same source): the same anchors as those levels
/// of the whole graph, in the same order, and the same values.
#[derive(Clone, Debug, Deserialize)]
pub struct CoarseOnnx {
    pub file: String,
    pub sha256: String,
    pub first_level: usize,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Preprocessing {
    pub color: PixelOrder,
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    #[serde(default)]
    pub width: Option<u32>,
    #[serde(default)]
    pub height: Option<u32>,
    #[serde(default)]
    pub gray_weights: Option<[f32; 3]>,
    #[serde(default)]
    pub template: Option<Template>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Template {
    /// Where the five landmarks should land, in [0, 1] crop coordinates.
    pub points: [[f32; 2]; 5],
}

/// Anchor geometry of the published RetinaFace-MobileNet0.25 configuration.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct AnchorConfig {
    pub min_sizes: Vec<Vec<f32>>,
    pub steps: Vec<u32>,
    pub variances: [f32; 2],
}

impl AnchorConfig {
    /// The levels from `first` on: the anchors of a graph whose finer levels were cut.
    pub fn from_level(&self, first: usize) -> Self {
        Self {
            min_sizes: self.min_sizes.iter().skip(first).cloned().collect(),
            steps: self.steps.iter().skip(first).copied().collect(),
            variances: self.variances,
        }
    }
}

impl Default for AnchorConfig {
    fn default() -> Self {
        Self {
            min_sizes: vec![vec![16., 32.], vec![64., 128.], vec![256., 512.]],
            steps: vec![8, 16, 32],
            variances: [0.1, 0.2],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum RegionMode {
    Crops,
    Pooled,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MraConfig {
    /// Input side in pixels (aligned RGB face).
    pub input_size: u32,
    /// Channels of the first stage; 64 is ResNet-18 (smaller widths train faster).
    pub width: i64,
    pub regions: RegionMode,
    /// Weight of the attention-fused regions against the whole face, in [0, 1].
    pub region_weight: f64,
    /// Dropout on the fused feature before the heads.
    pub dropout: f64,
    /// Valence/arousal head (needs V/A labels to train).
    pub valence_arousal: bool,
    pub classes: usize,
}

impl Default for MraConfig {
    fn default() -> Self {
        Self {
            input_size: 224,
            width: 64,
            regions: RegionMode::Pooled,
            region_weight: 0.6,
            dropout: 0.4,
            valence_arousal: false,
            classes: 7,
        }
    }
}

impl Manifest {
    pub fn load(dir: &Path, name: &str) -> Result<Self> {
        Self::load_file(&dir.join(format!("{name}.json")), name)
    }

    pub fn load_file(path: &Path, name: &str) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Model { name: name.into(), reason: format!("manifest {}: {e}", path.display()) })?;
        serde_json::from_str(&text)
            .map_err(|e| Error::Model { name: name.into(), reason: format!("manifest {}: {e}", path.display()) })
    }

    /// Refuses a weights or ONNX file whose sha256 differs from `want` (the manifest's):
    /// a damaged download, a file swapped for another model's, a truncated copy. Loading one
    /// anyway would give wrong outputs or a crash deep inside a runtime.
    pub fn verify(&self, path: &Path, want: &str) -> Result<()> {
        use sha2::Digest;
        let bad = |reason: String| Error::Model { name: self.name.clone(), reason };
        let bytes = std::fs::read(path).map_err(|e| {
            bad(format!("{}: {e} (run scripts/setup.sh to fetch and convert the weights)", path.display()))
        })?;
        let got: String = sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        if !got.eq_ignore_ascii_case(want) {
            return Err(bad(format!(
                "{} is damaged or not this model's file (sha256 {}…, the manifest says {}…); run scripts/setup.sh to restore it",
                path.display(),
                &got[..12],
                &want[..want.len().min(12)]
            )));
        }
        Ok(())
    }

    /// "package==version" of the registry package the weights came from.
    pub fn source_label(&self) -> String {
        let s = &self.source;
        format!("{}=={}", s["package"].as_str().unwrap_or("?"), s["version"].as_str().unwrap_or("?"))
    }

    /// All manifests in a folder, sorted by name.
    pub fn list(dir: &Path) -> Vec<(String, Result<Manifest>)> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".json")).map(String::from))
            .collect();
        names.sort();
        names.into_iter().map(|n| (n.clone(), Manifest::load(dir, &n))).collect()
    }
}
