//! Reading a Qwen2.5-VL `config.json`: the serde mirror of every spelling transformers has
//! written (see [`Qwen2_5VlConfig`]), the defaults it fills and the checks that turn
//! unimplemented or impossible values into [`Error::UnsupportedConfig`].

use std::path::Path;

use serde::Deserialize;

use crate::config_file::{
    expect_model_type, first_eos, parse_json, positive, read_json, unsupported,
};
use crate::error::{Error, Result};
use crate::qwen2_5_vl::config::{Qwen2_5VlConfig, TextConfig, VisionConfig};

/// `rope_scaling` (transformers 4) or `rope_parameters` (transformers 5).
#[derive(Debug, Clone, Deserialize)]
struct RawRope {
    #[serde(rename = "type")]
    kind: Option<String>,
    rope_type: Option<String>,
    mrope_section: Option<Vec<usize>>,
    rope_theta: Option<f64>,
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
    rope_scaling: Option<RawRope>,
    rope_parameters: Option<RawRope>,
    tie_word_embeddings: Option<bool>,
    hidden_act: Option<String>,
    use_sliding_window: Option<bool>,
    eos_token_id: Option<serde_json::Value>,
    torch_dtype: Option<String>,
    dtype: Option<String>,
}

/// `vision_config` as any transformers version writes it.
#[derive(Debug, Deserialize)]
pub(crate) struct RawVision {
    depth: Option<usize>,
    hidden_size: Option<usize>,
    hidden_act: Option<String>,
    intermediate_size: Option<usize>,
    num_heads: Option<usize>,
    in_channels: Option<usize>,
    in_chans: Option<usize>,
    patch_size: Option<usize>,
    spatial_patch_size: Option<usize>,
    spatial_merge_size: Option<usize>,
    temporal_patch_size: Option<usize>,
    tokens_per_second: Option<f64>,
    window_size: Option<usize>,
    out_hidden_size: Option<usize>,
    fullatt_block_indexes: Option<Vec<usize>>,
}

impl RawVision {
    /// Fills HF `Qwen2_5_VLVisionConfig` defaults and checks the values.
    fn into_config(self) -> Result<VisionConfig> {
        let in_channels = match (self.in_channels, self.in_chans) {
            (Some(a), Some(b)) if a != b => {
                return Err(unsupported(
                    "vision_config.in_chans",
                    (a, b),
                    "in_chans and in_channels disagree",
                ));
            }
            (a, b) => a.or(b).unwrap_or(3),
        };
        let patch_size = self.patch_size.or(self.spatial_patch_size).unwrap_or(14);
        if let Some(sp) = self.spatial_patch_size
            && sp != patch_size
        {
            return Err(unsupported(
                "vision_config.spatial_patch_size",
                sp,
                "must equal patch_size",
            ));
        }
        let v = VisionConfig {
            depth: self.depth.unwrap_or(32),
            hidden_size: self.hidden_size.unwrap_or(3584),
            hidden_act: self.hidden_act.unwrap_or_else(|| "silu".into()),
            intermediate_size: self.intermediate_size.unwrap_or(3420),
            num_heads: self.num_heads.unwrap_or(16),
            in_channels,
            patch_size,
            spatial_merge_size: self.spatial_merge_size.unwrap_or(2),
            temporal_patch_size: self.temporal_patch_size.unwrap_or(2),
            tokens_per_second: self.tokens_per_second.unwrap_or(4.0),
            window_size: self.window_size.unwrap_or(112),
            out_hidden_size: self.out_hidden_size.unwrap_or(3584),
            fullatt_block_indexes: self
                .fullatt_block_indexes
                .unwrap_or_else(|| vec![7, 15, 23, 31]),
        };
        validate_vision(&v)?;
        Ok(v)
    }
}

impl TryFrom<RawVision> for VisionConfig {
    type Error = Error;

    fn try_from(raw: RawVision) -> Result<Self> {
        raw.into_config()
    }
}

#[derive(Debug, Deserialize)]
struct RawConfig {
    model_type: Option<String>,
    #[serde(flatten)]
    top: RawText,
    text_config: Option<RawText>,
    vision_config: Option<RawVision>,
    image_token_id: Option<i64>,
    video_token_id: Option<i64>,
    vision_start_token_id: Option<i64>,
    vision_end_token_id: Option<i64>,
}

/// RMSNorm epsilon and RoPE base must be positive, finite numbers.
fn positive_f64(field: &'static str, x: f64) -> Result<f64> {
    if !x.is_finite() || x <= 0.0 {
        return Err(unsupported(field, x, "must be a positive number"));
    }
    Ok(x)
}

const DTYPES: [&str; 3] = ["float32", "bfloat16", "float16"];

impl Qwen2_5VlConfig {
    /// Reads and validates `config.json`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_raw(read_json(path.as_ref())?)
    }

    /// Parses and validates the text of a `config.json`, in any of the spellings listed in
    /// the module documentation.
    pub fn from_json_str(json: &str) -> Result<Self> {
        Self::from_raw(parse_json(json)?)
    }

    fn from_raw(raw: RawConfig) -> Result<Self> {
        expect_model_type(
            raw.model_type.as_deref(),
            "qwen2_5_vl",
            "only qwen2_5_vl is implemented",
        )?;
        let nested = raw.text_config.unwrap_or_default();
        let top = raw.top;
        // The nested `text_config` wins where both exist: newer transformers write it as the
        // source of truth and mirror it at the top level (transformers 5 only nests).
        macro_rules! pick {
            ($f:ident) => {
                nested.$f.clone().or(top.$f.clone())
            };
        }
        macro_rules! need {
            ($f:ident) => {
                positive(
                    stringify!($f),
                    pick!($f).ok_or_else(|| {
                        unsupported(stringify!($f), "absent", "required text field is missing")
                    })?,
                )?
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
        if !hidden_size.is_multiple_of(num_attention_heads) {
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
        let rope = [
            &nested.rope_parameters,
            &nested.rope_scaling,
            &top.rope_parameters,
            &top.rope_scaling,
        ]
        .into_iter()
        .find_map(|r| r.clone())
        .ok_or_else(|| unsupported("rope_scaling", "absent", "M-RoPE needs mrope_section"))?;
        let kind = rope
            .kind
            .clone()
            .or(rope.rope_type.clone())
            .unwrap_or_else(|| "default".into());
        if kind != "mrope" && kind != "default" {
            return Err(unsupported(
                "rope_scaling.type",
                kind,
                "only mrope (or default with mrope_section) is implemented",
            ));
        }
        let section = rope
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
        let rope_theta = pick!(rope_theta).or(rope.rope_theta).unwrap_or(1_000_000.0);
        let torch_dtype = [
            &nested.dtype,
            &nested.torch_dtype,
            &top.dtype,
            &top.torch_dtype,
        ]
        .into_iter()
        .find_map(|d| d.clone());
        if let Some(d) = &torch_dtype
            && !DTYPES.contains(&d.as_str())
        {
            return Err(unsupported(
                "torch_dtype",
                d,
                "must be float32, bfloat16 or float16",
            ));
        }
        let text = TextConfig {
            vocab_size: need!(vocab_size),
            hidden_size,
            intermediate_size: need!(intermediate_size),
            num_hidden_layers: need!(num_hidden_layers),
            num_attention_heads,
            num_key_value_heads,
            rms_norm_eps: positive_f64("rms_norm_eps", pick!(rms_norm_eps).unwrap_or(1e-6))?,
            rope_theta: positive_f64("rope_theta", rope_theta)?,
            mrope_section,
            tie_word_embeddings: pick!(tie_word_embeddings).unwrap_or(false),
        };
        let vision = raw
            .vision_config
            .ok_or_else(|| unsupported("vision_config", "absent", "required"))?
            .into_config()?;
        if vision.out_hidden_size != text.hidden_size {
            return Err(unsupported(
                "vision_config.out_hidden_size",
                vision.out_hidden_size,
                "must equal the text hidden_size",
            ));
        }
        Ok(Qwen2_5VlConfig {
            text,
            vision,
            image_token_id: raw.image_token_id.unwrap_or(151655),
            video_token_id: raw.video_token_id.unwrap_or(151656),
            vision_start_token_id: raw.vision_start_token_id.unwrap_or(151652),
            vision_end_token_id: raw.vision_end_token_id.unwrap_or(151653),
            eos_token_id: first_eos(&nested.eos_token_id).or(first_eos(&top.eos_token_id)),
            torch_dtype,
        })
    }
}

fn validate_vision(v: &VisionConfig) -> Result<()> {
    if v.hidden_act != "silu" {
        return Err(unsupported(
            "vision_config.hidden_act",
            &v.hidden_act,
            "only silu is implemented",
        ));
    }
    for (field, n) in [
        ("vision_config.depth", v.depth),
        ("vision_config.hidden_size", v.hidden_size),
        ("vision_config.intermediate_size", v.intermediate_size),
        ("vision_config.in_channels", v.in_channels),
        ("vision_config.patch_size", v.patch_size),
        ("vision_config.spatial_merge_size", v.spatial_merge_size),
        ("vision_config.temporal_patch_size", v.temporal_patch_size),
        ("vision_config.out_hidden_size", v.out_hidden_size),
    ] {
        positive(field, n)?;
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
    if v.window_size == 0 || !v.window_size.is_multiple_of(unit) {
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
    if !v.tokens_per_second.is_finite() || v.tokens_per_second <= 0.0 {
        return Err(unsupported(
            "vision_config.tokens_per_second",
            v.tokens_per_second,
            "must be a positive number",
        ));
    }
    Ok(())
}
