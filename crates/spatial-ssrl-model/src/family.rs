//! Model families: which architecture a folder holds ([`Family`], from `config.json`'s
//! `model_type`) and the one trait every family implements ([`ModelFamily`]).
//!
//! A family supplies only what differs between architectures: its full forward pass over a
//! [`VlBatch`] (vision tower, embedding splice, positions, decoder), one cached decoding
//! step, the output head and saving. Everything built on top (prefill, decoding steps,
//! generation with every sampler, teacher-forced log-probs, the cache) is written once in
//! the trait's provided methods and [`crate::generate`].

use std::path::Path;

use burn::tensor::{DType, Device, Tensor};

use crate::batch::VlBatch;
use crate::config_file::{read_json, unsupported};
use crate::error::{Error, Result};
use crate::generate::{self, Generated, GenerationConfig, Prompt};
use crate::layers::cache::KvCache;
use crate::layers::decoder::TextOutput;
use crate::processor::ImageProcessorConfig;

/// The model architectures this crate runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// Qwen2.5-VL (Spatial-SSRL-3B / -7B): `model_type` `qwen2_5_vl`.
    Qwen2_5Vl,
    /// Qwen3-VL (Spatial-SSRL-Qwen3VL-4B): `model_type` `qwen3_vl`.
    Qwen3Vl,
}

impl Family {
    /// The family of a `config.json` `model_type`.
    ///
    /// ```
    /// use spatial_ssrl_model::Family;
    /// assert_eq!(Family::from_model_type("qwen3_vl")?, Family::Qwen3Vl);
    /// assert!(Family::from_model_type("llava").is_err());
    /// # Ok::<(), spatial_ssrl_model::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnsupportedConfig`] naming the value when it is no known family.
    pub fn from_model_type(model_type: &str) -> Result<Self> {
        match model_type {
            "qwen2_5_vl" => Ok(Family::Qwen2_5Vl),
            "qwen3_vl" => Ok(Family::Qwen3Vl),
            other => Err(unsupported(
                "model_type",
                other,
                "known model families: qwen2_5_vl, qwen3_vl",
            )),
        }
    }

    /// The family of the HF model folder `dir` (its `config.json` `model_type`).
    ///
    /// # Errors
    /// I/O and JSON errors of `config.json`; [`Error::UnsupportedConfig`] when `model_type`
    /// is missing or unknown.
    pub fn detect(dir: impl AsRef<Path>) -> Result<Self> {
        let json: serde_json::Value = read_json(&dir.as_ref().join("config.json"))?;
        match json.get("model_type").and_then(serde_json::Value::as_str) {
            Some(t) => Self::from_model_type(t),
            None => Err(Error::UnsupportedConfig {
                field: "model_type",
                value: "<missing>".into(),
                reason: "config.json must name the model family (qwen2_5_vl or qwen3_vl)",
            }),
        }
    }

    /// The `model_type` string of this family.
    pub fn model_type(self) -> &'static str {
        match self {
            Family::Qwen2_5Vl => "qwen2_5_vl",
            Family::Qwen3Vl => "qwen3_vl",
        }
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.model_type())
    }
}

/// The ids a family's configuration fixes for its special tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VisionTokenIds {
    /// `<|image_pad|>`.
    pub image_pad: i64,
    /// `<|video_pad|>`.
    pub video_pad: i64,
    /// `<|vision_start|>`.
    pub vision_start: i64,
    /// `<|vision_end|>`.
    pub vision_end: i64,
}

/// A vision-language causal LM of one family. Implemented by
/// [`Qwen2_5VlForCausalLm`](crate::Qwen2_5VlForCausalLm),
/// [`Qwen3VlForCausalLm`](crate::Qwen3VlForCausalLm) and the [`VlModel`](crate::VlModel) that
/// holds either.
///
/// Required methods are the family's own computation; the provided ones (decoding,
/// generation, log-probs, saving) are shared by every family. The three model types also
/// have all of these as inherent methods, so callers need not import the trait.
pub trait ModelFamily {
    /// Which architecture this is.
    fn family(&self) -> Family;

    /// Rows of the output head.
    fn vocab_size(&self) -> usize;

    /// Decoder layers (one cache slot each).
    fn num_hidden_layers(&self) -> usize;

    /// The special token ids of `config.json`.
    fn vision_token_ids(&self) -> VisionTokenIds;

    /// `eos_token_id` of `config.json`, if it names one (generation also reads
    /// `generation_config.json`).
    fn eos_token_id(&self) -> Option<i64>;

    /// The device of the parameters.
    fn device(&self) -> Device;

    /// The dtype the projection matrices and the embedding are held in.
    fn weight_dtype(&self) -> DType;

    /// M-RoPE positions `[3, batch, seq]` and per-row rope deltas of a batch: the given
    /// `position_ids`, or computed like the family's HF `get_rope_index`.
    fn positions(&self, batch: &VlBatch) -> Result<(Vec<i64>, Vec<i64>)>;

    /// Runs the whole model over `batch` (vision, embedding splice, positions, decoder),
    /// appending to `cache` when given; returns the hidden states (every layer's when
    /// `keep_layers`) and the rope deltas.
    fn forward_batch(
        &self,
        batch: &VlBatch,
        cache: Option<&mut KvCache>,
        keep_layers: bool,
    ) -> Result<(TextOutput, Vec<i64>)>;

    /// Runs text tokens `ids` `[batch, 1]` (one per row) at M-RoPE `positions`
    /// `[3, batch, 1]` through the decoder after what `cache` holds; `key_mask[row]` flags
    /// all cached keys plus the new one. Returns the final hidden states `[batch, 1, hidden]`.
    fn forward_tokens(
        &self,
        ids: &[i64],
        positions: &[i64],
        key_mask: &[Vec<i64>],
        cache: &mut KvCache,
    ) -> Result<Tensor<3>>;

    /// Projects hidden states `[batch, seq, hidden]` to logits `[batch, seq, vocab]`.
    fn logits(&self, hidden: Tensor<3>) -> Tensor<3>;

    /// Writes the weights under HF names (in the dtype they are held in) and `config.json`
    /// into `dir` in shards of at most `max_shard_bytes` (transformers' `max_shard_size`).
    fn save_pretrained_sharded(&self, dir: impl AsRef<Path>, max_shard_bytes: usize) -> Result<()>;

    /// Like [`save_pretrained_sharded`](Self::save_pretrained_sharded) with transformers'
    /// default: one `model.safetensors`, or 2 GiB shards with an index when larger.
    fn save_pretrained(&self, dir: impl AsRef<Path>) -> Result<()> {
        self.save_pretrained_sharded(dir, crate::shard_writer::DEFAULT_SHARD_BYTES)
    }

    /// The image-processor settings the family's checkpoints use where a
    /// `preprocessor_config.json` is silent (patch size, mean/std).
    fn image_processor_defaults(&self) -> ImageProcessorConfig {
        ImageProcessorConfig::family_defaults(self.family())
    }

    /// A fresh cache sized for this model.
    fn new_cache(&self) -> KvCache {
        KvCache::new(self.num_hidden_layers())
    }

    /// Runs the whole model over a batch; `keep_layers` also returns every layer's output.
    fn forward_hidden(&self, batch: &VlBatch, keep_layers: bool) -> Result<TextOutput> {
        self.forward_batch(batch, None, keep_layers).map(|(o, _)| o)
    }

    /// Training forward: logits `[batch, seq, vocab]` of every position (causal, padding
    /// masked). Differentiable on an autodiff device.
    fn forward_logits(&self, batch: &VlBatch) -> Result<Tensor<3>> {
        Ok(self.logits(self.forward_hidden(batch, false)?.last_hidden))
    }

    /// Decoding prefill: runs the prompt batch into an emptied `cache` and returns the
    /// logits of the last position `[batch, vocab]` and the per-row rope deltas.
    fn prefill(&self, batch: &VlBatch, cache: &mut KvCache) -> Result<(Tensor<2>, Vec<i64>)> {
        generate::prefill(self, batch, cache)
    }

    /// One decoding step: `ids` holds one new token per row; `key_mask` is the per-row
    /// mask over all cached positions plus the new one (left padding stays 0); the new
    /// token's position on all three M-RoPE rows is `cache.len() + rope_deltas[row]`.
    /// Returns logits `[batch, vocab]` and appends to `cache`.
    fn forward_step(
        &self,
        ids: &[i64],
        key_mask: &[Vec<i64>],
        rope_deltas: &[i64],
        cache: &mut KvCache,
    ) -> Result<Tensor<2>> {
        generate::forward_step(self, ids, key_mask, rope_deltas, cache)
    }

    /// Generates continuations of `prompts` (batched, left-padded, KV-cached).
    /// `on_token(row, token)` is called for every new token as soon as it is chosen.
    fn generate(
        &self,
        prompts: &[Prompt],
        cfg: &GenerationConfig,
        on_token: impl FnMut(usize, i64),
    ) -> Result<Vec<Generated>> {
        generate::generate(self, prompts, cfg, on_token)
    }

    /// Like [`generate`](Self::generate) for an already assembled, left-padded batch (for
    /// example from `Processor::prepare_batch` through [`VlBatch::from_processed`]).
    fn generate_batch(
        &self,
        batch: &VlBatch,
        cfg: &GenerationConfig,
        on_token: impl FnMut(usize, i64),
    ) -> Result<Vec<Generated>> {
        generate::generate_batch(self, batch, cfg, on_token)
    }

    /// Teacher-forced log-probabilities `[batch, response_len]` of the last `response_len`
    /// tokens of every row of `batch` (prompt left-padded, response right-aligned), i.e.
    /// `log_softmax(logits[t - 1])[ids[t]]`. Differentiable on an autodiff device.
    fn token_log_probs(&self, batch: &VlBatch, response_len: usize) -> Result<Tensor<2>> {
        generate::token_log_probs(self, batch, response_len)
    }
}

/// Gives a model type every [`ModelFamily`] method as an inherent method too, so code that
/// holds a concrete model calls them without importing the trait.
macro_rules! inherent_family_api {
    ($ty:ty) => {
        impl $ty {
            /// Which architecture this is.
            pub fn family(&self) -> $crate::Family {
                $crate::ModelFamily::family(self)
            }
            /// The dtype the projection matrices and the embedding are held in.
            pub fn weight_dtype(&self) -> burn::tensor::DType {
                $crate::ModelFamily::weight_dtype(self)
            }
            /// The device of the parameters.
            pub fn device(&self) -> burn::tensor::Device {
                $crate::ModelFamily::device(self)
            }
            /// A fresh cache sized for this model.
            pub fn new_cache(&self) -> $crate::KvCache {
                $crate::ModelFamily::new_cache(self)
            }
            /// M-RoPE positions `[3, batch, seq]` and per-row rope deltas of a batch.
            pub fn positions(
                &self,
                batch: &$crate::VlBatch,
            ) -> $crate::Result<(Vec<i64>, Vec<i64>)> {
                $crate::ModelFamily::positions(self, batch)
            }
            /// Projects hidden states `[batch, seq, hidden]` to logits `[batch, seq, vocab]`.
            pub fn logits(&self, hidden: burn::tensor::Tensor<3>) -> burn::tensor::Tensor<3> {
                $crate::ModelFamily::logits(self, hidden)
            }
            /// Runs the whole model over a batch; `keep_layers` also returns every layer's
            /// output.
            pub fn forward_hidden(
                &self,
                batch: &$crate::VlBatch,
                keep_layers: bool,
            ) -> $crate::Result<$crate::TextOutput> {
                $crate::ModelFamily::forward_hidden(self, batch, keep_layers)
            }
            /// Training forward: logits `[batch, seq, vocab]` (see
            /// [`ModelFamily::forward_logits`](crate::ModelFamily::forward_logits)).
            pub fn forward_logits(
                &self,
                batch: &$crate::VlBatch,
            ) -> $crate::Result<burn::tensor::Tensor<3>> {
                $crate::ModelFamily::forward_logits(self, batch)
            }
            /// Decoding prefill (see [`ModelFamily::prefill`](crate::ModelFamily::prefill)).
            pub fn prefill(
                &self,
                batch: &$crate::VlBatch,
                cache: &mut $crate::KvCache,
            ) -> $crate::Result<(burn::tensor::Tensor<2>, Vec<i64>)> {
                $crate::ModelFamily::prefill(self, batch, cache)
            }
            /// One decoding step (see
            /// [`ModelFamily::forward_step`](crate::ModelFamily::forward_step)).
            pub fn forward_step(
                &self,
                ids: &[i64],
                key_mask: &[Vec<i64>],
                rope_deltas: &[i64],
                cache: &mut $crate::KvCache,
            ) -> $crate::Result<burn::tensor::Tensor<2>> {
                $crate::ModelFamily::forward_step(self, ids, key_mask, rope_deltas, cache)
            }
            /// Generates continuations of `prompts` (see
            /// [`ModelFamily::generate`](crate::ModelFamily::generate)).
            pub fn generate(
                &self,
                prompts: &[$crate::Prompt],
                cfg: &$crate::GenerationConfig,
                on_token: impl FnMut(usize, i64),
            ) -> $crate::Result<Vec<$crate::Generated>> {
                $crate::ModelFamily::generate(self, prompts, cfg, on_token)
            }
            /// Generates for an assembled, left-padded batch (see
            /// [`ModelFamily::generate_batch`](crate::ModelFamily::generate_batch)).
            pub fn generate_batch(
                &self,
                batch: &$crate::VlBatch,
                cfg: &$crate::GenerationConfig,
                on_token: impl FnMut(usize, i64),
            ) -> $crate::Result<Vec<$crate::Generated>> {
                $crate::ModelFamily::generate_batch(self, batch, cfg, on_token)
            }
            /// Teacher-forced log-probabilities `[batch, response_len]` (see
            /// [`ModelFamily::token_log_probs`](crate::ModelFamily::token_log_probs)).
            pub fn token_log_probs(
                &self,
                batch: &$crate::VlBatch,
                response_len: usize,
            ) -> $crate::Result<burn::tensor::Tensor<2>> {
                $crate::ModelFamily::token_log_probs(self, batch, response_len)
            }
            /// Writes weights and `config.json` in HF layout (see
            /// [`ModelFamily::save_pretrained`](crate::ModelFamily::save_pretrained)).
            pub fn save_pretrained(&self, dir: impl AsRef<std::path::Path>) -> $crate::Result<()> {
                $crate::ModelFamily::save_pretrained(self, dir)
            }
            /// Like `save_pretrained` with shards of at most `max_shard_bytes`.
            pub fn save_pretrained_sharded(
                &self,
                dir: impl AsRef<std::path::Path>,
                max_shard_bytes: usize,
            ) -> $crate::Result<()> {
                $crate::ModelFamily::save_pretrained_sharded(self, dir, max_shard_bytes)
            }
        }
    };
}
pub(crate) use inherent_family_api;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_types_round_trip_and_unknown_ones_are_named() {
        for f in [Family::Qwen2_5Vl, Family::Qwen3Vl] {
            assert_eq!(Family::from_model_type(f.model_type()).unwrap(), f);
        }
        let err = Family::from_model_type("qwen2_vl").unwrap_err();
        assert!(err.to_string().contains("qwen2_vl"), "{err}");
    }
}
