//! The `train.toml` schema: model, data, SFT and GRPO sections plus run control. Every default
//! is the value of Spatial-SSRL's run (see `docs/training.md`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::grpo::GrpoConfig;
use crate::sft::SftConfig;
use crate::tiny::TinyPolicyConfig;

/// Which policy to train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// `"qwen2_5_vl"` (a model folder at `path`) or `"tiny"` (the test policy).
    pub kind: String,
    /// Model folder (config.json, safetensors, tokenizer.json).
    pub path: Option<PathBuf>,
    /// Keep the vision tower frozen (false in the paper's run).
    pub freeze_vision_tower: bool,
    /// Size of the tiny policy (`kind = "tiny"`).
    pub tiny: TinyPolicyConfig,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            kind: "qwen2_5_vl".into(),
            path: None,
            freeze_vision_tower: false,
            tiny: TinyPolicyConfig::default(),
        }
    }
}

/// Where the data is.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// GRPO prompts: a JSONL export of `spatial-ssrl generate`, or a folder of them.
    pub train_files: Option<PathBuf>,
    /// SFT conversations (JSONL `messages` + `images`); no SFT stage when absent.
    pub sft_files: Option<PathBuf>,
}

/// Run control (EasyR1 `trainer.*`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainerConfig {
    /// GRPO epochs over the prompts (10).
    pub total_epochs: u64,
    /// Stop GRPO after this many steps (all epochs when absent).
    pub max_steps: Option<u64>,
    /// Stop SFT after this many optimiser steps (all epochs when absent).
    pub sft_max_steps: Option<u64>,
    /// Checkpoint every N steps (5); 0 = only at the end.
    pub save_freq: u64,
    /// Output folder: checkpoints, `metrics.jsonl`, `curves.png`.
    pub output_dir: PathBuf,
}

impl Default for TrainerConfig {
    fn default() -> Self {
        TrainerConfig {
            total_epochs: 10,
            max_steps: None,
            sft_max_steps: None,
            save_freq: 5,
            output_dir: PathBuf::from("runs/spatial-ssrl"),
        }
    }
}

/// The whole `train.toml`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Policy.
    pub model: ModelConfig,
    /// Data.
    pub data: DataConfig,
    /// SFT cold start.
    pub sft: SftConfig,
    /// GRPO.
    pub grpo: GrpoConfig,
    /// Run control.
    pub trainer: TrainerConfig,
}

impl TrainConfig {
    /// Parses a TOML string; relative paths stay relative.
    pub fn from_toml(text: &str, origin: &Path) -> Result<TrainConfig> {
        let cfg: TrainConfig = toml::from_str(text).map_err(|source| Error::Toml {
            path: origin.to_path_buf(),
            source,
        })?;
        cfg.grpo.validate()?;
        Ok(cfg)
    }

    /// Reads a TOML file; relative paths in it are resolved against the file's folder.
    pub fn load(path: &Path) -> Result<TrainConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut cfg = TrainConfig::from_toml(&text, path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        for p in [
            cfg.model.path.as_mut(),
            cfg.data.train_files.as_mut(),
            cfg.data.sft_files.as_mut(),
            Some(&mut cfg.trainer.output_dir),
        ]
        .into_iter()
        .flatten()
        {
            fix(p);
        }
        Ok(cfg)
    }

    /// The config as TOML (every key, defaults included).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serialises to TOML")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_papers_run() {
        let c = TrainConfig::default();
        assert_eq!(c.grpo.n, 5);
        assert_eq!(c.grpo.rollout_batch_size, 256);
        assert_eq!(c.grpo.updates_per_step(), 2);
        assert_eq!(c.grpo.optim.lr, 1e-6);
        assert_eq!(c.grpo.kl_coef, 0.01);
        assert_eq!(c.grpo.loss.clip_ratio_high, 0.3);
        assert_eq!(c.sft.optim.lr, 1e-5);
        assert_eq!(c.sft.lora_rank, 128);
    }

    #[test]
    fn toml_round_trip_and_unknown_keys() {
        let c = TrainConfig::default();
        let back = TrainConfig::from_toml(&c.to_toml(), Path::new("x.toml")).unwrap();
        assert_eq!(back, c);
        let partial = "[grpo]\nn = 8\n[grpo.loss]\nloss_type = \"gspo\"\n";
        let p = TrainConfig::from_toml(partial, Path::new("x.toml")).unwrap();
        assert_eq!(p.grpo.n, 8);
        assert_eq!(p.grpo.loss.loss_type, crate::PolicyLossType::Gspo);
        assert_eq!(p.grpo.kl_coef, 0.01);
        assert!(TrainConfig::from_toml("[grpo]\nnn = 1\n", Path::new("x.toml")).is_err());
    }
}
