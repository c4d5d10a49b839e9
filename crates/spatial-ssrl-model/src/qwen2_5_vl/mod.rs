//! Qwen2.5-VL (the family of Spatial-SSRL-3B / -7B): what is its own, beside the shared
//! [`crate::layers`].
//!
//! - `config`: `config.json`, validated (`raw_config`: the serde mirror and its checks);
//! - `vision`: 14 px patches, window/full attention blocks, the 2x2 merger;
//! - `text`: the Qwen2 decoder with chunked M-RoPE;
//! - `model`: the causal LM behind [`crate::ModelFamily`].

pub(crate) mod config;
pub(crate) mod model;
mod raw_config;
pub(crate) mod text;
pub(crate) mod vision;
