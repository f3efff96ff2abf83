//! The TrueType font figures are drawn with: found on the system (Debian's
//! `fonts-dejavu-core`, which `scripts/setup.sh` installs) or named by `FER_RT_FONT`, read
//! once and registered with plotters for the process. Not bundled: fonts are fetched by
//! the system's package manager like the other system libraries.
use crate::error::{Error, Result};
use plotters::style::{register_font, FontStyle};
use std::path::PathBuf;
use std::sync::OnceLock;

/// The family name figures ask for.
pub const FAMILY: &str = "sans-serif";

/// Where a sans-serif TrueType font usually is (Debian/Ubuntu, Fedora, Arch, macOS).
const CANDIDATES: [&str; 6] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/Library/Fonts/Arial Unicode.ttf",
];

fn find() -> std::result::Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("FER_RT_FONT") {
        let p = PathBuf::from(p);
        return if p.is_file() { Ok(p) } else { Err(format!("FER_RT_FONT={} is not a file", p.display())) };
    }
    CANDIDATES.iter().map(PathBuf::from).find(|p| p.is_file()).ok_or_else(|| {
        "no TrueType font for figures: install fonts-dejavu-core (scripts/setup.sh does) or set FER_RT_FONT to a .ttf"
            .to_string()
    })
}

/// Registers the font once; every later call returns the first outcome.
pub fn ensure() -> Result<()> {
    static DONE: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let path = find()?;
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        // plotters keeps the font for the process: read once, leaked once
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        register_font(FAMILY, FontStyle::Normal, bytes)
            .map_err(|_| format!("{}: not a TrueType/OpenType font", path.display()))?;
        let _ = register_font(FAMILY, FontStyle::Bold, bytes);
        Ok(())
    })
    .clone()
    .map_err(Error::Config)
}
