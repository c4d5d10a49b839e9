//! Qwen3-VL (the family of Qwen3-VL-4B-Instruct and Spatial-SSRL-Qwen3VL-4B): its
//! configuration and vision tower with DeepStack, loaded through the crate's safetensors
//! reader.
//!
//! - `config`: `config.json` (`text_config` + `vision_config`), validated;
//! - `position`: the position-table resampling and vision rotary angles;
//! - `vision`: patch embedding, LayerNorm/tanh-GELU blocks, main and DeepStack mergers;
//! - `text`: the Qwen3 decoder (q/k norms, interleaved M-RoPE, DeepStack additions);
//! - `model`: the causal LM behind [`crate::ModelFamily`] (splice, DeepStack, positions).

mod config;
mod model;
mod position;
mod text;
mod vision;

pub use config::{Qwen3VlConfig, Qwen3VlTextConfig, Qwen3VlVisionConfig};
pub use model::Qwen3VlForCausalLm;
pub use position::{PositionResampling, vision_rotary_angles};
pub use text::{DeepstackInput, Qwen3TextModel, Qwen3TextOutput};
pub use vision::{Qwen3VisionTower, Qwen3VisionTrace};
