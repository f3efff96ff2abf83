//! Image operations on the plain image types of `messages`, used by several stages (the
//! detector's input, the synthetic source, the training data): one operation per file.
pub mod jpeg;
pub mod png;
pub mod pool;
pub mod resize;

pub use resize::resize_rgb;
