//! `fer-rt synth`: writes the synthetic expression dataset to disk in the image-folder
//! layout `train --dataset folder` reads (OUT/<label>/<n>.png, the label possibly flipped
//! by the injected noise), plus OUT/labels.csv recording every file's given and true label.
//! With `--test-fraction F`, OUT/train/ and OUT/test/ are two such folders: the test faces
//! are filed under their true label (a clean test set), so `eval --dataset folder --data
//! OUT/test` scores a model on faces it never saw.
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
    /// Seed of the faces, their occluders and the label noise.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Share of the faces written to OUT/test/ (clean labels) instead of OUT/train/; 0
    /// writes one folder.
    #[arg(long, default_value_t = 0.0, value_name = "0-1")]
    pub test_fraction: f64,
}

/// The folder sample `i` of `n` goes to, and whether it is a test face: every test face
/// at an even spacing through the (class-balanced) sequence.
fn part(i: usize, fraction: f64) -> Option<bool> {
    if fraction <= 0.0 {
        return None;
    }
    let at = |k: usize| (k as f64 * fraction).floor();
    Some(at(i + 1) > at(i))
}

pub fn run(_cli: &Cli, a: &SynthArgs) -> anyhow::Result<()> {
    if !(0.0..1.0).contains(&a.noise) || a.size < 16 || a.samples == 0 || !(0.0..1.0).contains(&a.test_fraction) {
        anyhow::bail!(crate::Error::Config(
            "--noise and --test-fraction must be in [0, 1), --size >= 16, --samples >= 1".into()
        ));
    }
    let cfg = SynthConfig { n: a.samples, size: a.size, noise_rate: a.noise, occlusion: a.occlusion, seed: a.seed };
    let samples = synth::generate(&cfg);
    let folders: Vec<PathBuf> =
        if a.test_fraction > 0.0 { vec![a.out.join("train"), a.out.join("test")] } else { vec![a.out.clone()] };
    let mut csvs = Vec::new();
    for dir in &folders {
        for c in synth::CLASSES {
            std::fs::create_dir_all(dir.join(c)).with_context(|| format!("--out {}", dir.display()))?;
        }
        let csv_path = dir.join("labels.csv");
        let mut csv =
            std::io::BufWriter::new(std::fs::File::create(&csv_path).with_context(|| csv_path.display().to_string())?);
        writeln!(csv, "file,label,true_label,flipped")?;
        csvs.push(csv);
    }
    let (mut flipped, mut tests) = (0, 0);
    for (i, s) in samples.iter().enumerate() {
        let test = part(i, a.test_fraction) == Some(true);
        // a test face is filed under its true label: the test set is clean
        let label = if test { s.true_label } else { s.label };
        let rel = format!("{}/{i:06}.png", synth::CLASSES[label]);
        let k = usize::from(test);
        write_png(&folders[k].join(&rel), &s.image)?;
        writeln!(
            csvs[k],
            "{rel},{},{},{}",
            synth::CLASSES[label],
            synth::CLASSES[s.true_label],
            label != s.true_label
        )?;
        flipped += usize::from(label != s.true_label);
        tests += k;
    }
    for mut c in csvs {
        c.flush()?;
    }
    if a.test_fraction > 0.0 {
        eprintln!(
            "wrote {} faces ({flipped} labels flipped) into {} and {tests} clean test faces into {}",
            samples.len() - tests,
            folders[0].display(),
            folders[1].display()
        );
    } else {
        eprintln!("wrote {} faces ({flipped} labels flipped) into {}", samples.len(), a.out.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_test_share_is_spread_evenly() {
        let tests: Vec<usize> = (0..20).filter(|&i| super::part(i, 0.25) == Some(true)).collect();
        assert_eq!(tests, [3, 7, 11, 15, 19]);
        assert_eq!(super::part(3, 0.0), None);
    }
}
