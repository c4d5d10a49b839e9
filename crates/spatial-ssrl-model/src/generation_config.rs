//! `generation_config.json`: the decoding defaults a checkpoint ships, resolved the way
//! transformers' `model.generate` resolves them.
//!
//! Released Qwen2.5-VL checkpoints ship `do_sample: true` with `top_k: 1`, `top_p: 0.001`,
//! `temperature: 0.1` and `repetition_penalty: 1.05`, plus a list of EOS ids. transformers
//! applies the repetition penalty to the raw logits first, then (only when sampling)
//! temperature, top-k (default 50) and top-p; with `do_sample: false` it takes the argmax of
//! the penalised logits. [`HfGenerationConfig::resolve`] turns the file, with command-line
//! overrides laid over it by [`HfGenerationConfig::overridden_by`], into a
//! [`GenerationConfig`].

use std::path::Path;

use serde::Deserialize;

use crate::config_file::{parse_json, read_json, unsupported};
use crate::error::Result;
use crate::generate::GenerationConfig;

/// File name of the decoding defaults in a model folder.
pub const GENERATION_CONFIG_FILE: &str = "generation_config.json";

/// transformers' `GenerationConfig.top_k` default, applied when sampling without a `top_k`.
const HF_DEFAULT_TOP_K: usize = 50;

/// `eos_token_id` as transformers writes it: one id or a list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum EosTokenIds {
    /// A single id.
    One(i64),
    /// Several ids, any of which ends a sequence.
    Many(Vec<i64>),
}

impl EosTokenIds {
    /// The ids as a list.
    pub fn to_vec(&self) -> Vec<i64> {
        match self {
            EosTokenIds::One(id) => vec![*id],
            EosTokenIds::Many(ids) => ids.clone(),
        }
    }
}

/// The keys of `generation_config.json` this crate honours; absent keys stay `None` and fall
/// back to transformers' defaults in [`resolve`](Self::resolve). Unknown keys are ignored, as
/// transformers keeps them as plain attributes.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct HfGenerationConfig {
    /// Sample (`true`) or take the argmax (`false`, transformers' default).
    pub do_sample: Option<bool>,
    /// Softmax temperature when sampling (default 1.0); must be positive.
    pub temperature: Option<f32>,
    /// Keep the `k` most likely tokens when sampling (default 50; `0` disables the filter).
    pub top_k: Option<usize>,
    /// Nucleus threshold when sampling (default 1.0, no filter).
    pub top_p: Option<f32>,
    /// Penalty on every id already in the sequence (default 1.0, none).
    pub repetition_penalty: Option<f32>,
    /// Ids that end a sequence.
    pub eos_token_id: Option<EosTokenIds>,
    /// Id written into padding slots.
    pub pad_token_id: Option<i64>,
    /// Upper bound on new tokens.
    pub max_new_tokens: Option<usize>,
}

impl HfGenerationConfig {
    /// Parses the text of a `generation_config.json`.
    pub fn from_json_str(json: &str) -> Result<Self> {
        parse_json(json)
    }

    /// Reads a `generation_config.json`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        read_json(path.as_ref())
    }

    /// The model folder's `generation_config.json`, or all defaults when the folder has none
    /// (as transformers, which then falls back to the model config).
    pub fn from_model_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let path = dir.as_ref().join(GENERATION_CONFIG_FILE);
        if path.is_file() {
            Self::from_file(path)
        } else {
            Ok(Self::default())
        }
    }

    /// `self` with every key that `overrides` sets replaced (command-line flags over the file).
    pub fn overridden_by(&self, overrides: &HfGenerationConfig) -> HfGenerationConfig {
        HfGenerationConfig {
            do_sample: overrides.do_sample.or(self.do_sample),
            temperature: overrides.temperature.or(self.temperature),
            top_k: overrides.top_k.or(self.top_k),
            top_p: overrides.top_p.or(self.top_p),
            repetition_penalty: overrides.repetition_penalty.or(self.repetition_penalty),
            eos_token_id: overrides
                .eos_token_id
                .clone()
                .or_else(|| self.eos_token_id.clone()),
            pad_token_id: overrides.pad_token_id.or(self.pad_token_id),
            max_new_tokens: overrides.max_new_tokens.or(self.max_new_tokens),
        }
    }

    /// The decoding settings `model.generate` would use: greedy unless `do_sample`; when
    /// sampling, temperature (1.0), top-k (50, `0` = off) and top-p (1.0 = off) as
    /// transformers defaults them; the repetition penalty in both modes. EOS and pad ids
    /// default to Qwen's (`<|im_end|>`, `<|endoftext|>`); `max_new_tokens` to
    /// `default_max_new_tokens`. Impossible values are [`crate::Error::UnsupportedConfig`].
    pub fn resolve(&self, default_max_new_tokens: usize, seed: u64) -> Result<GenerationConfig> {
        let base = GenerationConfig::greedy(self.max_new_tokens.unwrap_or(default_max_new_tokens));
        let repetition_penalty = self.repetition_penalty.unwrap_or(1.0);
        if !repetition_penalty.is_finite() || repetition_penalty <= 0.0 {
            return Err(unsupported(
                "repetition_penalty",
                repetition_penalty,
                "must be a positive number",
            ));
        }
        if let Some(t) = self.temperature
            && (!t.is_finite() || t < 0.0)
        {
            return Err(unsupported(
                "temperature",
                t,
                "must be a non-negative number",
            ));
        }
        if let Some(p) = self.top_p
            && (!p.is_finite() || p <= 0.0 || p > 1.0)
        {
            return Err(unsupported("top_p", p, "must be in (0, 1]"));
        }
        let stop_tokens = match &self.eos_token_id {
            Some(ids) if ids.to_vec().is_empty() => {
                return Err(unsupported("eos_token_id", "[]", "lists no token"));
            }
            Some(ids) => ids.to_vec(),
            None => base.stop_tokens.clone(),
        };
        let temperature = self.temperature.unwrap_or(1.0);
        // transformers rejects temperature 0 with sampling; this crate's convention is that
        // 0 means greedy, which is what a user asking for it wants.
        let sampling = self.do_sample.unwrap_or(false) && temperature > 0.0;
        let (top_k, top_p) = if sampling {
            let k = self.top_k.unwrap_or(HF_DEFAULT_TOP_K);
            let p = self.top_p.unwrap_or(1.0);
            ((k > 0).then_some(k), (p < 1.0).then_some(p))
        } else {
            (None, None)
        };
        Ok(GenerationConfig {
            temperature: if sampling { temperature } else { 0.0 },
            top_k,
            top_p,
            seed,
            stop_tokens,
            pad_token_id: self.pad_token_id.unwrap_or(base.pad_token_id),
            repetition_penalty,
            ..base
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    #[test]
    fn released_file_resolves_like_generate() {
        // `generation_config.json` of Qwen/Qwen2.5-VL-3B-Instruct and -7B-Instruct.
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/hub-configs/qwen2_5_vl_instruct.generation_config.json");
        let file = HfGenerationConfig::from_file(path).unwrap();
        let cfg = file.resolve(512, 3).unwrap();
        assert_eq!(cfg.repetition_penalty, file.repetition_penalty.unwrap());
        assert_eq!(cfg.stop_tokens, file.eos_token_id.unwrap().to_vec());
        assert_eq!(cfg.pad_token_id, file.pad_token_id.unwrap());
        assert_eq!(cfg.temperature, file.temperature.unwrap());
        assert_eq!(cfg.top_k, file.top_k);
        assert_eq!(cfg.top_p, file.top_p);
        assert_eq!((cfg.max_new_tokens, cfg.seed), (512, 3));
    }

    #[test]
    fn greedy_ignores_sampling_keys_and_flags_override() {
        let file = HfGenerationConfig::from_json_str(
            r#"{"do_sample": false, "temperature": 0.7, "top_k": 5, "eos_token_id": 7,
                "repetition_penalty": 1.2, "max_new_tokens": 9, "future_key": [1]}"#,
        )
        .unwrap();
        let cfg = file.resolve(512, 0).unwrap();
        assert_eq!((cfg.temperature, cfg.top_k, cfg.top_p), (0.0, None, None));
        assert_eq!((cfg.stop_tokens, cfg.max_new_tokens), (vec![7], 9));
        assert_eq!(cfg.repetition_penalty, 1.2);
        let flags = HfGenerationConfig {
            do_sample: Some(true),
            repetition_penalty: Some(1.0),
            ..Default::default()
        };
        let cfg = file.overridden_by(&flags).resolve(512, 0).unwrap();
        assert_eq!((cfg.temperature, cfg.top_k), (0.7, Some(5)));
        assert_eq!(cfg.repetition_penalty, 1.0);
    }

    #[test]
    fn sampling_defaults_follow_transformers() {
        let file = HfGenerationConfig::from_json_str(r#"{"do_sample": true}"#).unwrap();
        let cfg = file.resolve(4, 0).unwrap();
        assert_eq!(
            (cfg.temperature, cfg.top_k, cfg.top_p),
            (1.0, Some(50), None)
        );
        let off = HfGenerationConfig::from_json_str(r#"{"do_sample": true, "top_k": 0}"#)
            .unwrap()
            .resolve(4, 0)
            .unwrap();
        assert_eq!(off.top_k, None);
        let none = HfGenerationConfig::default().resolve(4, 0).unwrap();
        assert_eq!(none, GenerationConfig::greedy(4));
    }

    #[test]
    fn impossible_values_are_typed_errors() {
        for (json, field) in [
            (r#"{"repetition_penalty": 0.0}"#, "repetition_penalty"),
            (r#"{"repetition_penalty": -1.05}"#, "repetition_penalty"),
            (r#"{"temperature": -0.5}"#, "temperature"),
            (r#"{"top_p": 1.5}"#, "top_p"),
            (r#"{"eos_token_id": []}"#, "eos_token_id"),
        ] {
            let err = HfGenerationConfig::from_json_str(json)
                .unwrap()
                .resolve(4, 0)
                .unwrap_err();
            assert!(
                matches!(err, Error::UnsupportedConfig { field: f, .. } if f == field),
                "{json}: {err}"
            );
        }
        assert!(matches!(
            HfGenerationConfig::from_json_str(r#"{"eos_token_id": "x"}"#),
            Err(Error::Json { .. })
        ));
    }
}
