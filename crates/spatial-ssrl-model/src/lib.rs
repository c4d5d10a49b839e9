//! Qwen2.5-VL on burn (warm-up placeholder, replaced by the model work).
pub use burn;
