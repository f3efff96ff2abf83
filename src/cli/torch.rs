//! The hand-over from `fer-rt` to `fer-rt-torch`.
//!
//! Why two binaries: libtorch's shared libraries register thousands of operators when they
//! are loaded, before `main` runs: 0.45 s and 140 MiB for `fer-rt --version` alone, more
//! than the whole run of a short clip on ONNX Runtime. Loading is all or nothing for a
//! linked library, so `fer-rt` is built without libtorch, and a command that needs it
//! (training, evaluation, CUDA, trained checkpoints, the torch engines) is handed, with the
//! very same arguments, to `fer-rt-torch`: the same program with libtorch linked in, built
//! beside it. The decision is made from the settled config before any input or output is
//! opened (`pipeline::torch_needed`, raised as [`HandOver`]), and `exec` keeps the process id, the standard streams,
//! the signals and the exit code, so the hand-over is invisible to a script.
use std::path::PathBuf;

/// Environment variable naming the `fer-rt-torch` binary, overriding the one beside `fer-rt`.
pub const BIN_ENV: &str = "FER_RT_TORCH_BIN";

/// The `fer-rt-torch` to hand over to: $FER_RT_TORCH_BIN, else the file beside this
/// executable; None when neither exists.
pub fn binary() -> Option<PathBuf> {
    let named = std::env::var_os(BIN_ENV).filter(|p| !p.is_empty()).map(PathBuf::from);
    let beside = || std::env::current_exe().ok()?.parent().map(|d| d.join("fer-rt-torch"));
    named.or_else(beside).filter(|p| p.is_file())
}

/// The command needs libtorch, as decided before it opened anything: `entry::main` hands it
/// to `fer-rt-torch`. Only the CLI raises this, at its decision points (`run::settle`,
/// `train`, `eval`, `doctor`); a library `Error::NeedsTorch` found later, after inputs or
/// outputs may have been opened, is reported as an error instead of run a second time.
#[derive(Debug)]
pub struct HandOver {
    pub what: String,
}

impl HandOver {
    pub fn error(what: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(Self { what: what.into() })
    }
}

impl std::fmt::Display for HandOver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} needs libtorch, which `fer-rt` does not load", self.what)
    }
}

impl std::error::Error for HandOver {}

/// Replaces this process by `fer-rt-torch` with this process's arguments, because `what`
/// needs libtorch. Returns only when that cannot be done, with the error to print.
#[cfg(not(feature = "torch"))]
pub fn hand_over(what: &str) -> anyhow::Error {
    use std::os::unix::process::CommandExt;
    let Some(bin) = binary() else {
        let here = std::env::current_exe().ok().and_then(|p| p.parent().map(|d| d.display().to_string()));
        return anyhow::anyhow!(
            "{what} needs libtorch, which `fer-rt` does not load, and fer-rt-torch is neither beside it ({}) nor named by {BIN_ENV}; build it with `cargo build --release --features torch --bin fer-rt-torch` (scripts/setup.sh does)",
            here.unwrap_or_default()
        );
    };
    tracing::info!("{what} needs libtorch: handing over to {}", bin.display());
    let mut args = std::env::args_os();
    // argv[0] stays the user's, so usage lines and messages name `fer-rt`
    let arg0 = args.next().unwrap_or_else(|| "fer-rt".into());
    let err = std::process::Command::new(&bin).arg0(arg0).args(args).exec();
    anyhow::anyhow!("{what} needs libtorch: starting {}: {err}", bin.display())
}

/// The arguments of a command that only `fer-rt-torch` runs (`train`, `eval`), taken as
/// they are: `fer-rt-torch` parses them, `--help` included.
#[derive(Debug, clap::Args)]
#[command(disable_help_flag = true)]
pub struct Forwarded {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0.., hide = true)]
    pub args: Vec<std::ffi::OsString>,
}
