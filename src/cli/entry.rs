//! The program behind both binaries (`fer-rt`, and `fer-rt-torch` with libtorch linked in):
//! their `main.rs` files only call [`main`].
use super::{run, Cli, Command, Interrupted};
use clap::Parser;
use std::io::IsTerminal;
use std::process::ExitCode;

/// Frame-sized buffers (0.7 MB at 360p, 6 MB at 1080p, allocated and freed every frame by
/// several threads) must go back to the OS when freed. glibc serves large blocks with mmap,
/// but after the first such block is freed it raises its mmap threshold above that size and
/// serves the next ones from the heap, where they fragment: resident memory then crept up
/// by megabytes over a long video although nothing leaked (heaptrack: flat heap). Fixing the
/// threshold at glibc's own starting value (128 KiB) turns that adjustment off. Measured over
/// 14,160 frames: +3.0 % RSS with the adjustment, +1.7 % and falling back without it.
/// Still needed with the frame pool, which holds decoded frames only (BENCHMARKS.md, issue 25:
/// +3.6 % with the adjustment, +0.6 % without it, over the same 14,160 frames).
/// Only for the commands that run the pipeline (process, live, bench, batch, harvest, serve):
/// libtorch training allocates and frees megabyte tensors thousands of times a second, and
/// serving each by mmap made `train` several times slower.
fn fix_malloc_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// Parses the command line, runs the command, and maps its outcome to the exit code: 0 ok,
/// 1 a runtime failure, 2 a usage error, 130 an interruption. Without libtorch, a command
/// that needs it is handed over to `fer-rt-torch` here (see [`torch`](super::torch)).
pub fn main() -> ExitCode {
    // before any thread exists
    crate::runtime::onnx::opt_out_of_telemetry();
    let cli = Cli::parse();
    if matches!(
        cli.command,
        Command::Process(_)
            | Command::Live(_)
            | Command::Bench(_)
            | Command::Batch(_)
            | Command::Harvest(_)
            | Command::Serve(_)
    ) {
        fix_malloc_mmap_threshold();
    }
    let default = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default)),
        )
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            #[cfg(not(feature = "torch"))]
            let e = match e.downcast_ref::<super::torch::HandOver>() {
                Some(h) => super::torch::hand_over(&h.what),
                None => e,
            };
            // one error line: a forced exit after a second signal may have printed it
            if !crate::runtime::claim_report() {
                return ExitCode::from(130);
            }
            eprintln!("error: {e:#}");
            if e.downcast_ref::<Interrupted>().is_some() {
                return ExitCode::from(130);
            }
            let usage = e.chain().any(|c| c.downcast_ref::<crate::Error>().is_some_and(|e| e.is_usage()));
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}
