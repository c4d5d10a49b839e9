//! `Qwen3VlConfig`: the parts of a Qwen3-VL `config.json` the model needs, validated.
//!
//! Mirrors transformers' `Qwen3VLConfig` (v4.57): text fields under `text_config` (a Qwen3
//! decoder with an explicit `head_dim` and interleaved M-RoPE in `rope_scaling`, or
//! `rope_parameters` as transformers 5 writes it), vision fields under `vision_config`
//! (patch 16, learned position table, DeepStack block indexes). Impossible or unimplemented
//! values give [`crate::Error::UnsupportedConfig`] instead of a panic later.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config_file::{
    expect_model_type, first_eos, parse_json, positive, read_json, unsupported,
};
use crate::error::Result;

/// Qwen3 decoder hyper-parameters (`text_config`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Qwen3VlTextConfig {
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
    /// Width of one head; `head_dim * heads` need not equal `hidden_size`.
    pub head_dim: usize,
    /// RMSNorm epsilon (also used by the per-head q/k norms).
    pub rms_norm_eps: f64,
    /// RoPE base.
    pub rope_theta: f64,
    /// How many of the `head_dim / 2` frequencies follow the (temporal, height, width) rows.
    pub mrope_section: [usize; 3],
    /// Whether the frequencies cycle `THWTHW...TTTT` (Qwen3-VL) instead of three chunks.
    pub mrope_interleaved: bool,
}

/// Vision-tower hyper-parameters (`vision_config`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Qwen3VlVisionConfig {
    /// Number of vision blocks.
    pub depth: usize,
    /// Vision width.
    pub hidden_size: usize,
    /// MLP inner width.
    pub intermediate_size: usize,
    /// Attention heads.
    pub num_heads: usize,
    /// Image channels.
    pub in_channels: usize,
    /// Patch side in pixels.
    pub patch_size: usize,
    /// Side of the square of patches a merger joins into one LM token.
    pub spatial_merge_size: usize,
    /// Frames per temporal patch.
    pub temporal_patch_size: usize,
    /// Output width of the mergers (= LM hidden size).
    pub out_hidden_size: usize,
    /// Rows of the learned position table, a square number (`side * side`).
    pub num_position_embeddings: usize,
    /// Blocks whose outputs feed the DeepStack mergers, in order.
    pub deepstack_visual_indexes: Vec<usize>,
}

impl Qwen3VlVisionConfig {
    /// Values per flattened patch row: `in_channels * temporal_patch_size * patch_size^2`.
    pub fn patch_dim(&self) -> usize {
        self.in_channels * self.temporal_patch_size * self.patch_size * self.patch_size
    }
    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_heads
    }
    /// Patches joined into one merged token (`spatial_merge_size^2`).
    pub fn merge_unit(&self) -> usize {
        self.spatial_merge_size * self.spatial_merge_size
    }
    /// Side of the square learned position table.
    pub fn position_side(&self) -> usize {
        self.num_position_embeddings.isqrt()
    }
}

/// The whole Qwen3-VL configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Qwen3VlConfig {
    /// Language model.
    pub text: Qwen3VlTextConfig,
    /// Vision tower.
    pub vision: Qwen3VlVisionConfig,
    /// Whether the output projection reuses `embed_tokens` (no `lm_head.weight`).
    pub tie_word_embeddings: bool,
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

#[derive(Debug, Deserialize)]
struct RawRope {
    mrope_section: Option<Vec<usize>>,
    mrope_interleaved: Option<bool>,
    rope_type: Option<String>,
    rope_theta: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct RawText {
    vocab_size: Option<usize>,
    hidden_size: Option<usize>,
    intermediate_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    rms_norm_eps: Option<f64>,
    rope_theta: Option<f64>,
    rope_scaling: Option<RawRope>,
    rope_parameters: Option<RawRope>,
    hidden_act: Option<String>,
    attention_bias: Option<bool>,
    tie_word_embeddings: Option<bool>,
    eos_token_id: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct RawVision {
    depth: Option<usize>,
    hidden_size: Option<usize>,
    hidden_act: Option<String>,
    intermediate_size: Option<usize>,
    num_heads: Option<usize>,
    in_channels: Option<usize>,
    patch_size: Option<usize>,
    spatial_merge_size: Option<usize>,
    temporal_patch_size: Option<usize>,
    out_hidden_size: Option<usize>,
    num_position_embeddings: Option<usize>,
    deepstack_visual_indexes: Option<Vec<usize>>,
}

#[derive(Debug, Deserialize)]
struct RawConfig {
    model_type: Option<String>,
    text_config: RawText,
    vision_config: RawVision,
    tie_word_embeddings: Option<bool>,
    image_token_id: Option<i64>,
    video_token_id: Option<i64>,
    vision_start_token_id: Option<i64>,
    vision_end_token_id: Option<i64>,
    eos_token_id: Option<serde_json::Value>,
}

fn required<T>(value: Option<T>, field: &'static str) -> Result<T> {
    value.ok_or_else(|| unsupported(field, "absent", "required key is missing"))
}

impl RawText {
    /// Fills the defaults of HF `Qwen3VLTextConfig` and checks the values.
    fn into_config(self) -> Result<(Qwen3VlTextConfig, Option<bool>)> {
        let hidden = positive(
            "text_config.hidden_size",
            required(self.hidden_size, "text_config.hidden_size")?,
        )?;
        let heads = positive(
            "text_config.num_attention_heads",
            required(self.num_attention_heads, "text_config.num_attention_heads")?,
        )?;
        let kv_heads = positive(
            "text_config.num_key_value_heads",
            self.num_key_value_heads.unwrap_or(heads),
        )?;
        if !heads.is_multiple_of(kv_heads) {
            return Err(unsupported(
                "text_config.num_key_value_heads",
                kv_heads,
                "must divide num_attention_heads",
            ));
        }
        let head_dim = positive(
            "text_config.head_dim",
            self.head_dim.unwrap_or(hidden / heads),
        )?;
        if !head_dim.is_multiple_of(2) {
            return Err(unsupported(
                "text_config.head_dim",
                head_dim,
                "rotary embedding needs an even head width",
            ));
        }
        if let Some(act) = &self.hidden_act
            && act != "silu"
        {
            return Err(unsupported(
                "text_config.hidden_act",
                act,
                "only silu is implemented",
            ));
        }
        if self.attention_bias == Some(true) {
            return Err(unsupported(
                "text_config.attention_bias",
                true,
                "Qwen3-VL projections have no bias",
            ));
        }
        let rope = self.rope_parameters.or(self.rope_scaling);
        let rope_type = rope.as_ref().and_then(|r| r.rope_type.clone());
        if let Some(t) = &rope_type
            && t != "default"
        {
            return Err(unsupported(
                "text_config.rope_scaling.rope_type",
                t,
                "only default (unscaled) rope is implemented",
            ));
        }
        let section = rope
            .as_ref()
            .and_then(|r| r.mrope_section.clone())
            .unwrap_or_else(|| vec![24, 20, 20]);
        let section: [usize; 3] = section.try_into().map_err(|s: Vec<usize>| {
            unsupported(
                "text_config.rope_scaling.mrope_section",
                s,
                "needs exactly three entries (temporal, height, width)",
            )
        })?;
        if section.iter().sum::<usize>() != head_dim / 2 {
            return Err(unsupported(
                "text_config.rope_scaling.mrope_section",
                section,
                "must sum to head_dim / 2",
            ));
        }
        // 4.57 interleaves whatever the flag says; an explicit `false` is a file this port
        // would silently disagree with transformers on, so it is refused.
        let interleaved = rope.as_ref().and_then(|r| r.mrope_interleaved);
        if interleaved == Some(false) {
            return Err(unsupported(
                "text_config.rope_scaling.mrope_interleaved",
                false,
                "Qwen3-VL always interleaves the M-RoPE sections",
            ));
        }
        // H takes frequencies 1, 4, .. and W 2, 5, ..; the last of each must exist.
        let half = head_dim / 2;
        if 3 * section[1] > half + 1 || 3 * section[2] > half {
            return Err(unsupported(
                "text_config.rope_scaling.mrope_section",
                section,
                "height/width sections do not fit the interleaved THW pattern",
            ));
        }
        let rope_theta = rope
            .as_ref()
            .and_then(|r| r.rope_theta)
            .or(self.rope_theta)
            .unwrap_or(5_000_000.0);
        let eps = self.rms_norm_eps.unwrap_or(1e-6);
        // Written so that NaN is refused too.
        if !(eps.is_finite() && eps > 0.0 && rope_theta.is_finite() && rope_theta > 0.0) {
            return Err(unsupported(
                "text_config.rms_norm_eps / rope_theta",
                (eps, rope_theta),
                "must be positive",
            ));
        }
        Ok((
            Qwen3VlTextConfig {
                vocab_size: positive(
                    "text_config.vocab_size",
                    required(self.vocab_size, "text_config.vocab_size")?,
                )?,
                hidden_size: hidden,
                intermediate_size: positive(
                    "text_config.intermediate_size",
                    required(self.intermediate_size, "text_config.intermediate_size")?,
                )?,
                num_hidden_layers: positive(
                    "text_config.num_hidden_layers",
                    required(self.num_hidden_layers, "text_config.num_hidden_layers")?,
                )?,
                num_attention_heads: heads,
                num_key_value_heads: kv_heads,
                head_dim,
                rms_norm_eps: eps,
                rope_theta,
                mrope_section: section,
                mrope_interleaved: true,
            },
            self.tie_word_embeddings,
        ))
    }
}

impl RawVision {
    /// Fills the defaults of HF `Qwen3VLVisionConfig` and checks the values.
    fn into_config(self) -> Result<Qwen3VlVisionConfig> {
        if let Some(act) = &self.hidden_act
            && act != "gelu_pytorch_tanh"
        {
            return Err(unsupported(
                "vision_config.hidden_act",
                act,
                "only gelu_pytorch_tanh is implemented",
            ));
        }
        let v = Qwen3VlVisionConfig {
            depth: positive("vision_config.depth", self.depth.unwrap_or(27))?,
            hidden_size: positive(
                "vision_config.hidden_size",
                self.hidden_size.unwrap_or(1152),
            )?,
            intermediate_size: positive(
                "vision_config.intermediate_size",
                self.intermediate_size.unwrap_or(4304),
            )?,
            num_heads: positive("vision_config.num_heads", self.num_heads.unwrap_or(16))?,
            in_channels: positive("vision_config.in_channels", self.in_channels.unwrap_or(3))?,
            patch_size: positive("vision_config.patch_size", self.patch_size.unwrap_or(16))?,
            spatial_merge_size: positive(
                "vision_config.spatial_merge_size",
                self.spatial_merge_size.unwrap_or(2),
            )?,
            temporal_patch_size: positive(
                "vision_config.temporal_patch_size",
                self.temporal_patch_size.unwrap_or(2),
            )?,
            out_hidden_size: positive(
                "vision_config.out_hidden_size",
                self.out_hidden_size.unwrap_or(3584),
            )?,
            num_position_embeddings: positive(
                "vision_config.num_position_embeddings",
                self.num_position_embeddings.unwrap_or(2304),
            )?,
            deepstack_visual_indexes: self
                .deepstack_visual_indexes
                .unwrap_or_else(|| vec![8, 16, 24]),
        };
        if !v.hidden_size.is_multiple_of(v.num_heads) || !v.head_dim().is_multiple_of(4) {
            return Err(unsupported(
                "vision_config.num_heads",
                v.num_heads,
                "heads must divide hidden_size into widths divisible by 4 (2-D rotary)",
            ));
        }
        let side = v.position_side();
        if side * side != v.num_position_embeddings {
            return Err(unsupported(
                "vision_config.num_position_embeddings",
                v.num_position_embeddings,
                "must be a square number (a side x side table)",
            ));
        }
        if let Some(&bad) = v.deepstack_visual_indexes.iter().find(|&&i| i >= v.depth) {
            return Err(unsupported(
                "vision_config.deepstack_visual_indexes",
                bad,
                "every index must name a vision block (< depth)",
            ));
        }
        Ok(v)
    }
}

impl Qwen3VlConfig {
    /// Parses the text of a Qwen3-VL `config.json`.
    pub fn from_json_str(json: &str) -> Result<Self> {
        Self::from_raw(parse_json(json)?)
    }

    /// Reads and validates `config.json` in the folder `path` (or the file `path` itself).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = if path.is_dir() {
            path.join("config.json")
        } else {
            path.to_path_buf()
        };
        Self::from_raw(read_json(&file)?)
    }

    fn from_raw(raw: RawConfig) -> Result<Self> {
        expect_model_type(
            raw.model_type.as_deref(),
            "qwen3_vl",
            "this is the Qwen3-VL (qwen3_vl) configuration",
        )?;
        let eos_token_id =
            first_eos(&raw.text_config.eos_token_id).or(first_eos(&raw.eos_token_id));
        let (text, text_tie) = raw.text_config.into_config()?;
        let vision = raw.vision_config.into_config()?;
        if vision.out_hidden_size != text.hidden_size {
            return Err(unsupported(
                "vision_config.out_hidden_size",
                vision.out_hidden_size,
                "must equal text_config.hidden_size",
            ));
        }
        Ok(Qwen3VlConfig {
            text,
            vision,
            tie_word_embeddings: raw.tie_word_embeddings.or(text_tie).unwrap_or(false),
            image_token_id: raw.image_token_id.unwrap_or(151655),
            video_token_id: raw.video_token_id.unwrap_or(151656),
            vision_start_token_id: raw.vision_start_token_id.unwrap_or(151652),
            vision_end_token_id: raw.vision_end_token_id.unwrap_or(151653),
            eos_token_id,
        })
    }

    /// The configuration as transformers 4.57 writes a Qwen3-VL `config.json` (what
    /// `save_pretrained` stores next to the weights; `torch_dtype` is added there).
    pub fn to_hf_json(&self) -> serde_json::Value {
        let t = &self.text;
        let v = &self.vision;
        serde_json::json!({
            "architectures": ["Qwen3VLForConditionalGeneration"],
            "model_type": "qwen3_vl",
            "image_token_id": self.image_token_id,
            "video_token_id": self.video_token_id,
            "vision_start_token_id": self.vision_start_token_id,
            "vision_end_token_id": self.vision_end_token_id,
            "tie_word_embeddings": self.tie_word_embeddings,
            "text_config": {
                "model_type": "qwen3_vl_text",
                "vocab_size": t.vocab_size,
                "hidden_size": t.hidden_size,
                "intermediate_size": t.intermediate_size,
                "num_hidden_layers": t.num_hidden_layers,
                "num_attention_heads": t.num_attention_heads,
                "num_key_value_heads": t.num_key_value_heads,
                "head_dim": t.head_dim,
                "hidden_act": "silu",
                "attention_bias": false,
                "rms_norm_eps": t.rms_norm_eps,
                "rope_theta": t.rope_theta,
                "rope_scaling": {
                    "rope_type": "default",
                    "mrope_section": t.mrope_section,
                    "mrope_interleaved": t.mrope_interleaved,
                },
                "tie_word_embeddings": self.tie_word_embeddings,
                "eos_token_id": self.eos_token_id,
            },
            "vision_config": {
                "model_type": "qwen3_vl",
                "depth": v.depth,
                "hidden_size": v.hidden_size,
                "hidden_act": "gelu_pytorch_tanh",
                "intermediate_size": v.intermediate_size,
                "num_heads": v.num_heads,
                "in_channels": v.in_channels,
                "patch_size": v.patch_size,
                "spatial_merge_size": v.spatial_merge_size,
                "temporal_patch_size": v.temporal_patch_size,
                "out_hidden_size": v.out_hidden_size,
                "num_position_embeddings": v.num_position_embeddings,
                "deepstack_visual_indexes": v.deepstack_visual_indexes,
            },
        })
    }
}
