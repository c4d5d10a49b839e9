//! `Qwen2_5VlConfig`: the parts of HF `config.json` the model needs, validated.
//!
//! Every spelling transformers has written for Qwen2.5-VL loads to the same config:
//! - the released hub files keep the text fields at the top level, write
//!   `rope_scaling = {"type": "mrope", "mrope_section": [..]}`, `torch_dtype`, and
//!   `vision_config.in_chans`;
//! - transformers 4.49-4.57 re-saves also nest the text fields under `text_config`, write
//!   `"type": "default"` with the same `mrope_section`, `dtype`, and both `in_chans` and
//!   `in_channels`;
//! - transformers 5 keeps the text fields only under `text_config` and writes
//!   `rope_parameters` (with `rope_theta` inside) instead of `rope_scaling`.
//!
//! Values this port does not implement, and impossible ones (zero sizes, widths that heads
//! do not divide, an M-RoPE split that does not cover the head), are rejected with
//! [`Error::UnsupportedConfig`] instead of being silently ignored.

use serde::{Deserialize, Serialize};

/// Language-model hyper-parameters (Qwen2 decoder with M-RoPE).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextConfig {
    /// Vocabulary size (rows of `embed_tokens`).
    pub vocab_size: usize,
    /// Model width.
    pub hidden_size: usize,
    /// SwiGLU inner width.
    pub intermediate_size: usize,
    /// Number of decoder layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention).
    pub num_key_value_heads: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// RoPE base.
    pub rope_theta: f64,
    /// M-RoPE split of the `head_dim / 2` frequencies into (temporal, height, width).
    pub mrope_section: [usize; 3],
    /// Whether the LM head reuses `embed_tokens` (no `lm_head.weight` in the checkpoint).
    pub tie_word_embeddings: bool,
}

impl TextConfig {
    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
}

/// Vision-tower hyper-parameters (`vision_config`), with the defaults of HF
/// `Qwen2_5_VLVisionConfig` for absent keys. Deserialising validates it (both channel
/// spellings are accepted, see [`Qwen2_5VlConfig::from_json_str`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "crate::qwen2_5_vl::raw_config::RawVision")]
pub struct VisionConfig {
    /// Number of vision blocks.
    pub depth: usize,
    /// Vision width.
    pub hidden_size: usize,
    /// Activation of the gated MLP (only `silu` is supported).
    pub hidden_act: String,
    /// Gated MLP inner width.
    pub intermediate_size: usize,
    /// Attention heads.
    pub num_heads: usize,
    /// Image channels (`in_channels`; released configs spell it `in_chans`).
    pub in_channels: usize,
    /// Patch side in pixels.
    pub patch_size: usize,
    /// Side of the square of patches the merger joins into one LM token.
    pub spatial_merge_size: usize,
    /// Frames per temporal patch.
    pub temporal_patch_size: usize,
    /// Temporal position scale for videos (kept for the rope index).
    pub tokens_per_second: f64,
    /// Side of an attention window in pixels.
    pub window_size: usize,
    /// Output width of the merger (= LM hidden size).
    pub out_hidden_size: usize,
    /// Blocks that attend over the whole image instead of windows.
    pub fullatt_block_indexes: Vec<usize>,
}

impl VisionConfig {
    /// Values per flattened patch row: `in_channels * temporal_patch_size * patch_size^2`.
    pub fn patch_dim(&self) -> usize {
        self.in_channels * self.temporal_patch_size * self.patch_size * self.patch_size
    }
    /// Width of one vision attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_heads
    }
    /// Patches joined into one merged token (`spatial_merge_size^2`).
    pub fn merge_unit(&self) -> usize {
        self.spatial_merge_size * self.spatial_merge_size
    }
}

/// The whole Qwen2.5-VL configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Qwen2_5VlConfig {
    /// Language model.
    pub text: TextConfig,
    /// Vision tower.
    pub vision: VisionConfig,
    /// `<|image_pad|>` id.
    pub image_token_id: i64,
    /// `<|video_pad|>` id.
    pub video_token_id: i64,
    /// `<|vision_start|>` id.
    pub vision_start_token_id: i64,
    /// `<|vision_end|>` id.
    pub vision_end_token_id: i64,
    /// End-of-sequence id from the config (generation also reads `generation_config.json`).
    pub eos_token_id: Option<i64>,
    /// The dtype the checkpoint declares (`torch_dtype` or `dtype`: `float32`, `bfloat16` or
    /// `float16`), if any.
    pub torch_dtype: Option<String>,
}

impl Qwen2_5VlConfig {
    /// The config as HF `config.json` (released layout: text fields at the top level,
    /// `rope_scaling.type = "mrope"`), so transformers can load a saved model.
    pub fn to_hf_json(&self) -> serde_json::Value {
        let t = &self.text;
        let v = &self.vision;
        serde_json::json!({
            "architectures": ["Qwen2_5_VLForConditionalGeneration"],
            "model_type": "qwen2_5_vl",
            "hidden_act": "silu",
            "vocab_size": t.vocab_size,
            "hidden_size": t.hidden_size,
            "intermediate_size": t.intermediate_size,
            "num_hidden_layers": t.num_hidden_layers,
            "num_attention_heads": t.num_attention_heads,
            "num_key_value_heads": t.num_key_value_heads,
            "rms_norm_eps": t.rms_norm_eps,
            "rope_theta": t.rope_theta,
            "rope_scaling": {"type": "mrope", "mrope_section": t.mrope_section},
            "tie_word_embeddings": t.tie_word_embeddings,
            "use_sliding_window": false,
            "eos_token_id": self.eos_token_id,
            "image_token_id": self.image_token_id,
            "video_token_id": self.video_token_id,
            "vision_start_token_id": self.vision_start_token_id,
            "vision_end_token_id": self.vision_end_token_id,
            "torch_dtype": "float32",
            "vision_config": v,
        })
    }

    /// A tiny random-weight configuration (2 text layers, width 64; vision depth 4, width 32)
    /// equal to the `tiny-qwen2_5-vl` fixture's: milliseconds per forward on CPU.
    pub fn tiny() -> Self {
        Qwen2_5VlConfig {
            text: TextConfig {
                vocab_size: 151936,
                hidden_size: 64,
                intermediate_size: 128,
                num_hidden_layers: 2,
                num_attention_heads: 4,
                num_key_value_heads: 2,
                rms_norm_eps: 1e-6,
                rope_theta: 1_000_000.0,
                mrope_section: [2, 3, 3],
                tie_word_embeddings: true,
            },
            vision: VisionConfig {
                depth: 4,
                hidden_size: 32,
                hidden_act: "silu".into(),
                intermediate_size: 64,
                num_heads: 2,
                in_channels: 3,
                patch_size: 14,
                spatial_merge_size: 2,
                temporal_patch_size: 2,
                tokens_per_second: 2.0,
                window_size: 112,
                out_hidden_size: 64,
                fullatt_block_indexes: vec![1, 3],
            },
            image_token_id: 151655,
            video_token_id: 151656,
            vision_start_token_id: 151652,
            vision_end_token_id: 151653,
            eos_token_id: Some(151645),
            torch_dtype: None,
        }
    }
}
#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// The fixture's `config.json` (a transformers 4.57 save) rewritten the way the released
    /// hub files spell it: text fields only at the top level, `rope_scaling.type = "mrope"`,
    /// `torch_dtype`, `vision_config.in_chans` only. Sizes stay the fixture's.
    fn released_spelling(saved: &Value) -> Value {
        let mut top = saved.as_object().unwrap().clone();
        if let Some(Value::Object(text)) = top.remove("text_config") {
            for (k, v) in text {
                if k != "model_type" && k != "architectures" {
                    top.insert(k, v);
                }
            }
        }
        let section = top["rope_scaling"]["mrope_section"].clone();
        top.insert(
            "rope_scaling".into(),
            json!({"type": "mrope", "mrope_section": section}),
        );
        if let Some(d) = top.remove("dtype") {
            top.insert("torch_dtype".into(), d);
        }
        let vision = top["vision_config"].as_object_mut().unwrap();
        let chans = vision.remove("in_channels").unwrap();
        vision.insert("in_chans".into(), chans);
        Value::Object(top)
    }

    #[test]
    fn released_spelling_equals_fixture_spelling() {
        let path = crate::testutil::fixture_dir().join("config.json");
        let text = std::fs::read_to_string(&path).unwrap();
        let saved: Value = serde_json::from_str(&text).unwrap();
        assert!(saved.get("text_config").is_some(), "fixture is a re-save");
        let released = released_spelling(&saved);
        assert!(released.get("text_config").is_none());
        let a = Qwen2_5VlConfig::from_json_str(&released.to_string()).unwrap();
        let b = Qwen2_5VlConfig::from_file(&path).unwrap();
        assert_eq!(a, b);
        assert_eq!(b.text.num_hidden_layers, saved["num_hidden_layers"]);
        assert_eq!(b.vision.depth, saved["vision_config"]["depth"]);
    }
}
