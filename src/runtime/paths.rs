//! Where setup keeps what it fetches, outside the clone: the cache (`$FER_RT_CACHE`, else
//! `~/.cache/fer-rt`) with the venv and the test media (`$FER_RT_MEDIA`, else
//! `<cache>/media`). `scripts/env.sh` sets the same defaults for the shell scripts; the
//! binary and the tests read them here.
use std::path::PathBuf;

/// The setup cache.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("FER_RT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache").join("fer-rt"))
}

/// The registry test media setup fetched.
pub fn media_dir() -> PathBuf {
    std::env::var_os("FER_RT_MEDIA").map(PathBuf::from).unwrap_or_else(|| cache_dir().join("media"))
}
