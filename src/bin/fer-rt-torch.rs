//! `fer-rt-torch`: the same program as `fer-rt` with libtorch linked in. `fer-rt` hands it
//! the commands that need libtorch (training, evaluation, CUDA, trained checkpoints, the
//! torch engines); it runs every command itself.
fn main() -> std::process::ExitCode {
    fer_rt::cli::entry::main()
}
