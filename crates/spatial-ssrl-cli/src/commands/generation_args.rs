//! Decoding flags shared by `infer` and live `eval`: they override the model folder's
//! `generation_config.json`, which is honoured as transformers' `model.generate` honours it
//! (`do_sample`, `temperature`, `top_k`, `top_p`, `repetition_penalty`, eos and pad ids).

/// Decoding flags; each one left out keeps the value of `generation_config.json`.
#[derive(clap::Args, Debug, Clone, Default)]
#[cfg_attr(not(feature = "ml"), allow(dead_code))]
pub struct GenerationArgs {
    /// Sampling temperature (turns sampling on; 0 means greedy).
    #[arg(long)]
    temperature: Option<f32>,
    /// Keep only the k most likely tokens when sampling (turns sampling on).
    #[arg(long)]
    top_k: Option<usize>,
    /// Nucleus sampling threshold (turns sampling on).
    #[arg(long)]
    top_p: Option<f32>,
    /// Penalty on tokens already in the prompt or the answer (transformers'
    /// `repetition_penalty`; 1 disables it; released Qwen2.5-VL checkpoints ship 1.05).
    #[arg(long)]
    repetition_penalty: Option<f32>,
    /// Take the most likely token at every step, whatever `generation_config.json` says.
    #[arg(long, conflicts_with_all = ["temperature", "top_k", "top_p"])]
    greedy: bool,
    /// Seed of the sampler.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[cfg(feature = "ml")]
impl GenerationArgs {
    /// The decoding settings for the model folder `dir`: its `generation_config.json` (if
    /// any) under these flags; `max_new_tokens` (a flag) wins over the file's, which wins
    /// over `default_max_new_tokens`. Without a pad id in the file, `pad_id` (the tokenizer's).
    pub fn resolve(
        &self,
        dir: &std::path::Path,
        max_new_tokens: Option<usize>,
        default_max_new_tokens: usize,
        pad_id: i64,
    ) -> anyhow::Result<spatial_ssrl_model::GenerationConfig> {
        use anyhow::Context;
        use spatial_ssrl_model::HfGenerationConfig;

        let file = HfGenerationConfig::from_model_dir(dir).with_context(|| {
            format!(
                "cannot read the generation_config.json of {}",
                dir.display()
            )
        })?;
        let sampling_flag =
            self.temperature.is_some() || self.top_k.is_some() || self.top_p.is_some();
        let flags = HfGenerationConfig {
            do_sample: if self.greedy {
                Some(false)
            } else {
                sampling_flag.then_some(true)
            },
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            repetition_penalty: self.repetition_penalty,
            max_new_tokens,
            ..HfGenerationConfig::default()
        };
        let merged = file.overridden_by(&flags);
        let mut cfg = merged
            .resolve(default_max_new_tokens, self.seed)
            .context("invalid decoding settings")?;
        if merged.pad_token_id.is_none() {
            cfg.pad_token_id = pad_id;
        }
        Ok(cfg)
    }
}

#[cfg(all(test, feature = "ml"))]
mod tests {
    use super::*;

    fn folder(json: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("generation_config.json"), json).unwrap();
        dir
    }

    #[test]
    fn flags_override_the_file() {
        let dir = folder(
            r#"{"do_sample": true, "top_k": 1, "top_p": 0.001, "temperature": 0.1,
                "repetition_penalty": 1.05, "eos_token_id": [151645, 151643]}"#,
        );
        let none = GenerationArgs::default();
        let cfg = none.resolve(dir.path(), None, 512, 7).unwrap();
        assert_eq!((cfg.top_k, cfg.temperature), (Some(1), 0.1));
        assert_eq!((cfg.repetition_penalty, cfg.max_new_tokens), (1.05, 512));
        assert_eq!(
            (cfg.stop_tokens, cfg.pad_token_id),
            (vec![151645, 151643], 7)
        );
        let greedy = GenerationArgs {
            greedy: true,
            repetition_penalty: Some(1.0),
            ..Default::default()
        };
        let cfg = greedy.resolve(dir.path(), Some(3), 512, 7).unwrap();
        assert_eq!((cfg.temperature, cfg.top_k, cfg.top_p), (0.0, None, None));
        assert_eq!((cfg.repetition_penalty, cfg.max_new_tokens), (1.0, 3));
        let hot = GenerationArgs {
            temperature: Some(0.7),
            top_k: Some(0),
            ..Default::default()
        };
        let cfg = hot.resolve(dir.path(), None, 512, 7).unwrap();
        assert_eq!((cfg.temperature, cfg.top_k), (0.7, None));
    }

    #[test]
    fn a_folder_without_the_file_decodes_greedily_and_bad_values_fail() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = GenerationArgs::default()
            .resolve(dir.path(), None, 9, 151643)
            .unwrap();
        assert_eq!(cfg, spatial_ssrl_model::GenerationConfig::greedy(9));
        let bad = GenerationArgs {
            repetition_penalty: Some(0.0),
            ..Default::default()
        };
        let err = bad.resolve(dir.path(), None, 9, 0).unwrap_err();
        assert!(format!("{err:#}").contains("repetition_penalty"), "{err:#}");
        let broken = folder("{not json");
        assert!(
            GenerationArgs::default()
                .resolve(broken.path(), None, 9, 0)
                .is_err()
        );
    }
}
