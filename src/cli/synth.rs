//! `fer-rt synth`: writes the synthetic expression dataset to disk in the image-folder
//! layout `train --dataset folder` reads (OUT/<label>/<n>.png, the label possibly flipped
//! by the injected noise), plus OUT/labels.csv recording every file's given and true label.
use super::Cli;
use crate::train::plots::write_png;
use crate::train::synth::{self, SynthConfig};
use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct SynthArgs {
    /// Output folder.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Number of faces (balanced over the 7 classes).
    #[arg(long, default_value_t = 1400)]
    pub samples: usize,
    /// Fraction of labels flipped to another class.
    #[arg(long, default_value_t = 0.0)]
    pub noise: f64,
    /// Image side in pixels.
    #[arg(long, default_value_t = 64)]
    pub size: u32,
    /// Probability that a face carries an occluder.
    #[arg(long, default_value_t = 0.25)]
    pub occlusion: f64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

pub fn run(_cli: &Cli, a: &SynthArgs) -> anyhow::Result<()> {
    if !(0.0..1.0).contains(&a.noise) || a.size < 16 || a.samples == 0 {
        anyhow::bail!(crate::Error::Config("--noise must be in [0, 1), --size >= 16, --samples >= 1".into()));
    }
    let cfg = SynthConfig { n: a.samples, size: a.size, noise_rate: a.noise, occlusion: a.occlusion, seed: a.seed };
    let samples = synth::generate(&cfg);
    for c in synth::CLASSES {
        std::fs::create_dir_all(a.out.join(c)).with_context(|| format!("--out {}", a.out.display()))?;
    }
    let csv_path = a.out.join("labels.csv");
    let mut csv =
        std::io::BufWriter::new(std::fs::File::create(&csv_path).with_context(|| csv_path.display().to_string())?);
    writeln!(csv, "file,label,true_label,flipped")?;
    for (i, s) in samples.iter().enumerate() {
        let rel = format!("{}/{i:06}.png", synth::CLASSES[s.label]);
        write_png(&a.out.join(&rel), &s.image)?;
        writeln!(
            csv,
            "{rel},{},{},{}",
            synth::CLASSES[s.label],
            synth::CLASSES[s.true_label],
            s.label != s.true_label
        )?;
    }
    csv.flush()?;
    let flipped = samples.iter().filter(|s| s.label != s.true_label).count();
    eprintln!("wrote {} faces ({flipped} labels flipped) into {}", samples.len(), a.out.display());
    Ok(())
}
