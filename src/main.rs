//! `fer-rt`: the command-line door of the library, without libtorch (`cli::torch` says why).
fn main() -> std::process::ExitCode {
    fer_rt::cli::entry::main()
}
