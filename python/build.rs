//! The extension module finds the libtorch it was linked against without LD_LIBRARY_PATH,
//! as the binary does (see build/libtorch.rs); `import torch` of the same venv then loads
//! the very same libraries, in either import order.
#[path = "../build/libtorch.rs"]
mod libtorch;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-changed=../build/libtorch.rs");
    if let Ok(torch) = std::env::var("LIBTORCH") {
        libtorch::emit_rpath(&libtorch::lib_dirs(std::path::Path::new(&torch)));
    }
}
