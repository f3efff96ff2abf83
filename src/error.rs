//! Library errors. Each stage returns these; the CLI adds context once and prints one line.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The OS error is part of the message, not a separate cause: printing the chain would
    /// repeat it ("x.mp4: No such file or directory (os error 2): No such file ...").
    #[error("{path}: {err}")]
    Io { path: PathBuf, err: std::io::Error },
    #[error("cannot open {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("{path}: no video or image stream")]
    NoVideoStream { path: PathBuf },
    #[error("{path}: decoding failed: {reason}")]
    Decode { path: PathBuf, reason: String },
    #[error("{path}: encoding failed: {reason}")]
    Encode { path: PathBuf, reason: String },
    #[error("{device}: {reason}")]
    Camera { device: String, reason: String },
    #[error("{path}: damaged input ({errors} packet(s) unreadable or missing, file cut off?); {decoded}{} frames decoded and emitted", expected.map(|e| format!(" of {e}")).unwrap_or_default())]
    Damaged { path: PathBuf, errors: u64, decoded: u64, expected: Option<u64> },
    #[error("{path}: no frame could be decoded: {why}")]
    NoFrames { path: PathBuf, why: String },
    #[error("{url}: stream lost and not back after {attempts} reconnect attempt(s); {frames} frames had been received from it")]
    StreamLost { url: String, attempts: u32, frames: u64 },
    #[error("model {name}: {reason}")]
    Model { name: String, reason: String },
    #[error("config: {0}")]
    Config(String),
    // no #[from]: that would make the device error the source too, and the one error line
    // would say it twice
    #[error("config: {0}")]
    BadDevice(BadDevice),
    #[error("config: {0}")]
    NoSuchDevice(NoSuchDevice),
    #[cfg(feature = "torch")]
    #[error("torch: {0}")]
    Torch(#[from] tch::TchError),
    /// What was asked for runs on libtorch, which this build does not link. The `fer-rt`
    /// binary decides before loading (`cli::torch`), so this is the library's answer when
    /// a caller did not.
    #[error("{what} needs libtorch, which this build of fer-rt does not include")]
    NeedsTorch { what: String },
    #[error("output: {0}")]
    Output(std::io::Error),
    /// An output that would overwrite (or write into) what the command reads.
    #[error("{flag} {}: {why} {}; choose another output", output.display(), input.display())]
    OutputIsInput { flag: String, output: PathBuf, input: PathBuf, why: String },
    /// The input stopped well short of what its container declares (a damaged index).
    #[error("{path}: ended early: {what}, then the stream ended (a damaged index?); every decoded frame was emitted")]
    EndedEarly { path: PathBuf, what: String },
    /// An input larger than `[limits]` allow (exit 1: the file, not the command, is wrong).
    #[error("{path}: {what}")]
    TooLarge { path: PathBuf, what: String },
    /// An input not finished within its time limit (`batch --input-timeout`).
    #[error("{path}: not finished within {limit_s} s (--input-timeout); {frames} frames had been decoded")]
    TimedOut { path: PathBuf, limit_s: f64, frames: u64 },
    #[error("pipeline stage '{0}' panicked")]
    StagePanic(&'static str),
    /// A file or folder given as fer-rt results that holds none (empty, another program's
    /// table, a folder without a batch ledger): exit 1, the data and not the command is wrong.
    #[error("{path}: {why}")]
    NotResults { path: PathBuf, why: String },
    /// Every stream of a run of several failed (each alone is only a warning).
    #[error("every stream failed: {0}")]
    AllStreamsFailed(String),
}

impl Error {
    /// True for errors caused by what the user asked for (bad flags, config, paths),
    /// which the CLI reports with exit code 2 rather than 1.
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::Config(_) | Error::BadDevice(_) | Error::NoSuchDevice(_) | Error::OutputIsInput { .. })
            || matches!(self, Error::Io { err, .. } if err.kind() == std::io::ErrorKind::NotFound)
    }
}

impl From<BadDevice> for Error {
    fn from(e: BadDevice) -> Self {
        Error::BadDevice(e)
    }
}

impl From<NoSuchDevice> for Error {
    fn from(e: NoSuchDevice) -> Self {
        Error::NoSuchDevice(e)
    }
}

/// A device string that is not auto, cpu, cuda or cuda:N (see `runtime::DeviceChoice`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("device '{0}' is not auto, cpu, cuda or cuda:N")]
pub struct BadDevice(pub String);

/// CUDA was asked for but the device is not there.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("device '{asked}': {available} CUDA device(s) available")]
pub struct NoSuchDevice {
    pub asked: String,
    pub available: i64,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
