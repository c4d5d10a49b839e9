//! `Qwen2_5VlConfig`: the parts of HF `config.json` the model needs, validated.
//!
//! Released Qwen2.5-VL checkpoints keep the text fields at the top level and write
//! `rope_scaling = {"type": "mrope", "mrope_section": [..]}`; transformers >= 4.50 also nests
//! them under `text_config` and writes `"type": "default"` with the same `mrope_section`. Both
//! load to the same config. Values this port does not implement are rejected with
//! [`Error::UnsupportedConfig`] instead of being silently ignored.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

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
/// `Qwen2_5_VLVisionConfig` for absent keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisionConfig {
    /// Number of vision blocks.
    #[serde(default = "default_depth")]
    pub depth: usize,
    /// Vision width.
    #[serde(default = "default_vision_hidden")]
    pub hidden_size: usize,
    /// Activation of the gated MLP (only `silu` is supported).
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Gated MLP inner width.
    #[serde(default = "default_vision_intermediate")]
    pub intermediate_size: usize,
    /// Attention heads.
    #[serde(default = "default_vision_heads")]
    pub num_heads: usize,
    /// Image channels (released configs spell it `in_chans`).
    #[serde(default = "default_in_channels", alias = "in_chans")]
    pub in_channels: usize,
    /// Patch side in pixels.
    #[serde(default = "default_patch")]
    pub patch_size: usize,
    /// Side of the square of patches the merger joins into one LM token.
    #[serde(default = "default_merge")]
    pub spatial_merge_size: usize,
    /// Frames per temporal patch.
    #[serde(default = "default_temporal")]
    pub temporal_patch_size: usize,
    /// Temporal position scale for videos (kept for the rope index).
    #[serde(default = "default_tps")]
    pub tokens_per_second: f64,
    /// Side of an attention window in pixels.
    #[serde(default = "default_window")]
    pub window_size: usize,
    /// Output width of the merger (= LM hidden size).
    #[serde(default = "default_out_hidden")]
    pub out_hidden_size: usize,
    /// Blocks that attend over the whole image instead of windows.
    #[serde(default = "default_fullatt")]
    pub fullatt_block_indexes: Vec<usize>,
}

fn default_depth() -> usize {
    32
}
fn default_vision_hidden() -> usize {
    3584
}
fn default_act() -> String {
    "silu".into()
}
fn default_vision_intermediate() -> usize {
    3420
}
fn default_vision_heads() -> usize {
    16
}
fn default_in_channels() -> usize {
    3
}
fn default_patch() -> usize {
    14
}
fn default_merge() -> usize {
    2
}
fn default_temporal() -> usize {
    2
}
fn default_tps() -> f64 {
    4.0
}
fn default_window() -> usize {
    112
}
fn default_out_hidden() -> usize {
    3584
}
fn default_fullatt() -> Vec<usize> {
    vec![7, 15, 23, 31]
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
}

/// `rope_scaling` as written by either transformers generation.
#[derive(Debug, Deserialize)]
struct RawRopeScaling {
    #[serde(rename = "type")]
    kind: Option<String>,
    rope_type: Option<String>,
    mrope_section: Option<Vec<usize>>,
}

/// Text fields, wherever they live.
#[derive(Debug, Default, Deserialize)]
struct RawText {
    vocab_size: Option<usize>,
    hidden_size: Option<usize>,
    intermediate_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    num_key_value_heads: Option<usize>,
    rms_norm_eps: Option<f64>,
    rope_theta: Option<f64>,
    rope_scaling: Option<RawRopeScaling>,
    tie_word_embeddings: Option<bool>,
    hidden_act: Option<String>,
    use_sliding_window: Option<bool>,
    eos_token_id: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct RawConfig {
    model_type: Option<String>,
    #[serde(flatten)]
    top: RawText,
    text_config: Option<RawText>,
    vision_config: Option<VisionConfig>,
    image_token_id: Option<i64>,
    video_token_id: Option<i64>,
    vision_start_token_id: Option<i64>,
    vision_end_token_id: Option<i64>,
}

fn unsupported(field: &'static str, value: impl std::fmt::Debug, reason: &'static str) -> Error {
    Error::UnsupportedConfig {
        field,
        value: format!("{value:?}"),
        reason,
    }
}

fn first_eos(v: &Option<serde_json::Value>) -> Option<i64> {
    match v {
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        Some(serde_json::Value::Array(a)) => a.first().and_then(|x| x.as_i64()),
        _ => None,
    }
}

impl Qwen2_5VlConfig {
    /// Reads and validates `config.json`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let raw: RawConfig = serde_json::from_str(&text).map_err(|source| Error::Json {
            path: path.into(),
            source,
        })?;
        Self::from_raw(raw)
    }

    /// Parses and validates the text of a `config.json`.
    pub fn from_json_str(json: &str) -> Result<Self> {
        let raw: RawConfig = serde_json::from_str(json).map_err(|source| Error::Json {
            path: "<string>".into(),
            source,
        })?;
        Self::from_raw(raw)
    }

    fn from_raw(raw: RawConfig) -> Result<Self> {
        if let Some(mt) = &raw.model_type
            && mt != "qwen2_5_vl"
        {
            return Err(unsupported(
                "model_type",
                mt,
                "only qwen2_5_vl is implemented",
            ));
        }
        let nested = raw.text_config.unwrap_or_default();
        let top = raw.top;
        // The nested `text_config` wins where both exist: newer transformers write it as the
        // source of truth and mirror it at the top level.
        macro_rules! pick {
            ($f:ident) => {
                nested.$f.clone().or(top.$f.clone())
            };
        }
        macro_rules! need {
            ($f:ident) => {
                pick!($f).ok_or_else(|| {
                    unsupported(stringify!($f), "absent", "required text field is missing")
                })?
            };
        }
        let act = pick!(hidden_act).unwrap_or_else(|| "silu".into());
        if act != "silu" {
            return Err(unsupported("hidden_act", act, "only silu is implemented"));
        }
        if pick!(use_sliding_window).unwrap_or(false) {
            return Err(unsupported(
                "use_sliding_window",
                true,
                "sliding-window attention is not implemented",
            ));
        }
        let num_attention_heads: usize = need!(num_attention_heads);
        let hidden_size: usize = need!(hidden_size);
        let num_key_value_heads = pick!(num_key_value_heads).unwrap_or(num_attention_heads);
        if num_attention_heads == 0 || !hidden_size.is_multiple_of(num_attention_heads) {
            return Err(unsupported(
                "num_attention_heads",
                num_attention_heads,
                "must divide hidden_size",
            ));
        }
        if num_key_value_heads == 0 || !num_attention_heads.is_multiple_of(num_key_value_heads) {
            return Err(unsupported(
                "num_key_value_heads",
                num_key_value_heads,
                "must divide num_attention_heads",
            ));
        }
        let head_dim = hidden_size / num_attention_heads;
        let scaling = nested
            .rope_scaling
            .or(top.rope_scaling)
            .ok_or_else(|| unsupported("rope_scaling", "absent", "M-RoPE needs mrope_section"))?;
        let kind = scaling
            .kind
            .clone()
            .or(scaling.rope_type.clone())
            .unwrap_or_else(|| "default".into());
        if kind != "mrope" && kind != "default" {
            return Err(unsupported(
                "rope_scaling.type",
                kind,
                "only mrope (or default with mrope_section) is implemented",
            ));
        }
        let section = scaling
            .mrope_section
            .ok_or_else(|| unsupported("rope_scaling.mrope_section", "absent", "required"))?;
        let mrope_section: [usize; 3] = section.clone().try_into().map_err(|_| {
            unsupported(
                "rope_scaling.mrope_section",
                &section,
                "needs 3 entries (t, h, w)",
            )
        })?;
        if mrope_section.iter().sum::<usize>() * 2 != head_dim {
            return Err(unsupported(
                "rope_scaling.mrope_section",
                section,
                "must sum to head_dim / 2",
            ));
        }
        let text = TextConfig {
            vocab_size: need!(vocab_size),
            hidden_size,
            intermediate_size: need!(intermediate_size),
            num_hidden_layers: need!(num_hidden_layers),
            num_attention_heads,
            num_key_value_heads,
            rms_norm_eps: pick!(rms_norm_eps).unwrap_or(1e-6),
            rope_theta: pick!(rope_theta).unwrap_or(1_000_000.0),
            mrope_section,
            tie_word_embeddings: pick!(tie_word_embeddings).unwrap_or(false),
        };
        let vision = raw
            .vision_config
            .ok_or_else(|| unsupported("vision_config", "absent", "required"))?;
        validate_vision(&vision, text.hidden_size)?;
        Ok(Qwen2_5VlConfig {
            text,
            vision,
            image_token_id: raw.image_token_id.unwrap_or(151655),
            video_token_id: raw.video_token_id.unwrap_or(151656),
            vision_start_token_id: raw.vision_start_token_id.unwrap_or(151652),
            vision_end_token_id: raw.vision_end_token_id.unwrap_or(151653),
            eos_token_id: first_eos(&nested.eos_token_id).or(first_eos(&top.eos_token_id)),
        })
    }

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
        }
    }
}

fn validate_vision(v: &VisionConfig, text_hidden: usize) -> Result<()> {
    if v.hidden_act != "silu" {
        return Err(unsupported(
            "vision_config.hidden_act",
            &v.hidden_act,
            "only silu is implemented",
        ));
    }
    if v.num_heads == 0
        || !v.hidden_size.is_multiple_of(v.num_heads)
        || !v.head_dim().is_multiple_of(4)
    {
        return Err(unsupported(
            "vision_config.num_heads",
            v.num_heads,
            "head_dim must be a multiple of 4 for the 2-D rotary embedding",
        ));
    }
    let unit = v.spatial_merge_size * v.patch_size;
    if v.spatial_merge_size == 0 || !v.window_size.is_multiple_of(unit) || v.window_size == 0 {
        return Err(unsupported(
            "vision_config.window_size",
            v.window_size,
            "must be a positive multiple of spatial_merge_size * patch_size",
        ));
    }
    if let Some(&i) = v.fullatt_block_indexes.iter().find(|&&i| i >= v.depth) {
        return Err(unsupported(
            "vision_config.fullatt_block_indexes",
            i,
            "index beyond depth",
        ));
    }
    if v.out_hidden_size != text_hidden {
        return Err(unsupported(
            "vision_config.out_hidden_size",
            v.out_hidden_size,
            "must equal the text hidden_size",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RELEASED: &str = r#"{
      "model_type": "qwen2_5_vl", "hidden_size": 64, "intermediate_size": 128,
      "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
      "vocab_size": 151936, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
      "tie_word_embeddings": true, "hidden_act": "silu",
      "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]},
      "vision_config": {"depth": 4, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2,
        "in_chans": 3, "out_hidden_size": 64, "fullatt_block_indexes": [1, 3]}
    }"#;

    #[test]
    fn released_spelling_equals_fixture_spelling() {
        let a = Qwen2_5VlConfig::from_json_str(RELEASED).unwrap();
        let dir = crate::testutil::fixture_dir();
        let b = Qwen2_5VlConfig::from_file(dir.join("config.json")).unwrap();
        assert_eq!(a.text, b.text);
        assert_eq!(
            a.vision.fullatt_block_indexes,
            b.vision.fullatt_block_indexes
        );
        assert_eq!(b, Qwen2_5VlConfig::tiny());
    }

    #[test]
    fn rejects_unsupported_values() {
        let bad_rope = RELEASED.replace("\"mrope\"", "\"yarn\"");
        assert!(matches!(
            Qwen2_5VlConfig::from_json_str(&bad_rope),
            Err(Error::UnsupportedConfig {
                field: "rope_scaling.type",
                ..
            })
        ));
        let bad_section = RELEASED.replace("[2, 3, 3]", "[2, 3, 4]");
        assert!(matches!(
            Qwen2_5VlConfig::from_json_str(&bad_section),
            Err(Error::UnsupportedConfig {
                field: "rope_scaling.mrope_section",
                ..
            })
        ));
        let bad_act = RELEASED.replace("\"silu\"", "\"gelu\"");
        assert!(Qwen2_5VlConfig::from_json_str(&bad_act).is_err());
        let bad_kv = RELEASED.replace("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3");
        assert!(Qwen2_5VlConfig::from_json_str(&bad_kv).is_err());
        let bad_full = RELEASED.replace("[1, 3]", "[1, 4]");
        assert!(Qwen2_5VlConfig::from_json_str(&bad_full).is_err());
    }
}
