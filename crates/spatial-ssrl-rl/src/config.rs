//! The `train.toml` schema: model, data, SFT and GRPO sections plus run control. Every default
//! is the value of Spatial-SSRL's run (see `docs/training.md`).

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use spatial_ssrl_model::WeightDtype;
use spatial_ssrl_tasks::PromptColumns;

use crate::error::{Error, Result};
use crate::grpo::GrpoConfig;
use crate::reward::RewardConfig;
use crate::sft::SftConfig;
use crate::tiny::TinyPolicyConfig;

/// Which policy to train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// `"qwen2_5_vl"` or `"qwen3_vl"` (a model folder of that family at `path`) or `"tiny"`
    /// (the test policy).
    pub kind: String,
    /// Model folder (config.json, safetensors, tokenizer.json).
    pub path: Option<PathBuf>,
    /// Dtype the Qwen weights are held in: `"auto"` (as the checkpoint stores them),
    /// `"bf16"`, `"f16"` or `"f32"` (the default: CPU training keeps f32 weights, as the
    /// optimiser updates them in place).
    pub dtype: String,
    /// Keep the vision tower frozen (false in the paper's run).
    pub freeze_vision_tower: bool,
    /// Recompute memory-bound activations in the backward pass instead of keeping them
    /// (EasyR1's `worker.actor.model.enable_gradient_checkpointing`; burn's balanced
    /// strategy, selected on the training device). Same gradients, less activation memory.
    pub enable_gradient_checkpointing: bool,
    /// Size of the tiny policy (`kind = "tiny"`).
    pub tiny: TinyPolicyConfig,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            kind: "qwen2_5_vl".into(),
            path: None,
            dtype: WeightDtype::F32.to_string(),
            freeze_vision_tower: false,
            enable_gradient_checkpointing: false,
            tiny: TinyPolicyConfig::default(),
        }
    }
}

impl ModelConfig {
    /// The autodiff device to train on over `base`, with burn's gradient checkpointing when
    /// `enable_gradient_checkpointing` (parameters created on it carry the strategy).
    pub fn training_device(&self, base: Device) -> Device {
        let device = base.autodiff();
        if self.enable_gradient_checkpointing {
            device.gradient_checkpointing()
        } else {
            device
        }
    }

    /// `dtype` parsed.
    ///
    /// # Errors
    /// [`Error::Config`] for a name other than `auto`, `bf16`, `f16` or `f32`.
    pub fn weight_dtype(&self) -> Result<WeightDtype> {
        self.dtype.parse().map_err(|_| Error::Config {
            key: "model.dtype",
            value: self.dtype.clone(),
            reason: "expected auto, bf16, f16 or f32",
        })
    }
}

/// Where the data is and how rows are read (EasyR1 `data.*` names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// GRPO prompts: a `spatial-ssrl generate` folder (its `train-*` shards, parquet or
    /// JSONL), one `.parquet`/`.jsonl` file, or `folder@split`.
    pub train_files: Option<PathBuf>,
    /// Validation prompts, same forms (a folder alone means its `val-*` shards); no
    /// validation when absent.
    pub val_files: Option<PathBuf>,
    /// SFT cold-start data (LLaMA-Factory alpaca or sharegpt `.json`, or `messages` JSONL);
    /// no SFT stage when absent.
    pub sft_files: Option<PathBuf>,
    /// Question column (`problem`).
    pub prompt_key: String,
    /// Ground-truth column (`answer`).
    pub answer_key: String,
    /// Image list column (`images`).
    pub image_key: String,
    /// Folder relative image paths resolve against (else the shard's folder).
    pub image_dir: Option<PathBuf>,
    /// Images with fewer pixels are upscaled to about this many before the processor
    /// (262144 = 512 x 512).
    pub min_pixels: Option<u64>,
    /// Images with more pixels are downscaled to about this many (4194304 = 2048 x 2048).
    pub max_pixels: Option<u64>,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            train_files: None,
            val_files: None,
            sft_files: None,
            prompt_key: "problem".into(),
            answer_key: "answer".into(),
            image_key: "images".into(),
            image_dir: None,
            min_pixels: Some(262_144),
            max_pixels: Some(4_194_304),
        }
    }
}

impl DataConfig {
    /// The column names as the tasks crate's reader takes them.
    pub fn columns(&self) -> PromptColumns {
        PromptColumns {
            prompt: self.prompt_key.clone(),
            answer: self.answer_key.clone(),
            images: self.image_key.clone(),
        }
    }

    fn validate(&self) -> Result<()> {
        if let (Some(lo), Some(hi)) = (self.min_pixels, self.max_pixels)
            && lo > hi
        {
            return Err(Error::Config {
                key: "data.min_pixels",
                value: lo.to_string(),
                reason: "exceeds data.max_pixels",
            });
        }
        if self.max_pixels == Some(0) {
            return Err(Error::Config {
                key: "data.max_pixels",
                value: "0".into(),
                reason: "must be positive",
            });
        }
        Ok(())
    }
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
    /// Validate every N GRPO steps and after the last (5); 0 = only after the last.
    pub val_freq: u64,
    /// Validate before the first GRPO step, logged as step 0 (true).
    pub val_before_train: bool,
    /// Validation generations appended to `<output_dir>/val_generations.jsonl` at every
    /// validation (EasyR1's `val_generations_to_log`; 0 = none): the same samples each time.
    pub val_generations_to_log: usize,
    /// Checkpoint every N steps (5); 0 = only at the end.
    pub save_freq: u64,
    /// Checkpoints kept per phase, the newest (3, EasyR1's `remove_obsolete_ckpt`); 0 or
    /// negative keeps all.
    pub save_limit: i64,
    /// Also write each GRPO checkpoint as an HF model folder, `global_step_<N>/huggingface`
    /// (false; the final model always goes to `<output_dir>/final`).
    pub save_hf: bool,
    /// Output folder: checkpoints, `metrics.jsonl`, `curves.png`.
    pub output_dir: PathBuf,
    /// Data-parallel peers on this machine, one per device (EasyR1's key; 1). See
    /// `docs/training.md`, "Many devices".
    pub n_gpus_per_node: usize,
    /// Machines (1). burn 0.22 has no cross-machine collective, so only 1 is accepted.
    pub nnodes: usize,
    /// This machine's index, `0..nnodes` (0).
    pub node_rank: usize,
    /// `host:port` of the rank-0 machine for a multi-machine run (unused while `nnodes = 1`).
    pub coordinator: Option<String>,
    /// Seconds a collective call waits for the other peers before the run stops with an
    /// error (1800, NCCL's default).
    pub collective_timeout_s: u64,
}

impl Default for TrainerConfig {
    fn default() -> Self {
        TrainerConfig {
            total_epochs: 10,
            max_steps: None,
            sft_max_steps: None,
            val_freq: 5,
            val_before_train: true,
            val_generations_to_log: 0,
            save_freq: 5,
            save_limit: 3,
            save_hf: false,
            output_dir: PathBuf::from("runs/spatial-ssrl"),
            n_gpus_per_node: 1,
            nnodes: 1,
            node_rank: 0,
            coordinator: None,
            collective_timeout_s: 1800,
        }
    }
}

impl TrainerConfig {
    /// Checks the data-parallel keys.
    ///
    /// # Errors
    /// [`Error::Config`] for zero peers or timeout, a `node_rank` outside `0..nnodes`, or
    /// `nnodes > 1`: burn 0.22 has no cross-machine collective level (its distributed
    /// server is per process; see `docs/training.md`, "Many machines").
    pub fn validate(&self) -> Result<()> {
        let bad = |key, value: String, reason| Err(Error::Config { key, value, reason });
        if self.n_gpus_per_node == 0 {
            return bad("trainer.n_gpus_per_node", "0".into(), "must be positive");
        }
        if self.collective_timeout_s == 0 {
            return bad(
                "trainer.collective_timeout_s",
                "0".into(),
                "must be positive",
            );
        }
        if self.node_rank >= self.nnodes.max(1) {
            return bad(
                "trainer.node_rank",
                self.node_rank.to_string(),
                "must be below trainer.nnodes",
            );
        }
        if self.nnodes != 1 {
            return bad(
                "trainer.nnodes",
                self.nnodes.to_string(),
                "burn 0.22 has no cross-machine collective (its sync server is per process); \
                 run one machine with trainer.n_gpus_per_node peers (docs/training.md)",
            );
        }
        Ok(())
    }

    /// The collective deadline.
    pub fn collective_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.collective_timeout_s)
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
    /// The reward of training and validation.
    pub reward: RewardConfig,
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
        cfg.model.weight_dtype()?;
        cfg.grpo.validate()?;
        cfg.data.validate()?;
        cfg.reward.build()?;
        cfg.trainer.validate()?;
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
            cfg.data.val_files.as_mut(),
            cfg.data.sft_files.as_mut(),
            cfg.data.image_dir.as_mut(),
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
        assert_eq!(c.data.prompt_key, "problem");
        assert_eq!(
            (c.data.min_pixels, c.data.max_pixels),
            (Some(262_144), Some(4_194_304))
        );
    }

    #[test]
    fn the_shipped_example_config_parses() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/train.toml");
        if example.exists() {
            let c = TrainConfig::load(&example).unwrap();
            assert_eq!(c.model.kind, "tiny");
            assert!(c.data.train_files.unwrap().ends_with("data"));
        }
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
        let bad = "[data]\nmin_pixels = 10\nmax_pixels = 5\n";
        let err = TrainConfig::from_toml(bad, Path::new("x.toml")).unwrap_err();
        assert!(err.to_string().contains("min_pixels"), "{err}");
    }

    #[test]
    fn data_parallel_keys_are_checked() {
        let c = TrainConfig::from_toml("[trainer]\nn_gpus_per_node = 8\n", Path::new("x.toml"));
        assert_eq!(c.unwrap().trainer.n_gpus_per_node, 8);
        for (text, key) in [
            ("n_gpus_per_node = 0", "trainer.n_gpus_per_node"),
            ("nnodes = 2\nnode_rank = 1", "trainer.nnodes"),
            ("node_rank = 1", "trainer.node_rank"),
            ("collective_timeout_s = 0", "trainer.collective_timeout_s"),
        ] {
            let err = TrainConfig::from_toml(&format!("[trainer]\n{text}\n"), Path::new("x.toml"))
                .unwrap_err();
            assert!(
                matches!(&err, Error::Config { key: k, .. } if *k == key),
                "{err}"
            );
        }
    }

    #[test]
    fn model_dtype_defaults_to_f32_and_rejects_unknown_names() {
        assert_eq!(
            TrainConfig::default().model.weight_dtype().unwrap(),
            WeightDtype::F32
        );
        let bf16 = TrainConfig::from_toml("[model]\ndtype = \"bf16\"\n", Path::new("x.toml"));
        assert_eq!(
            bf16.unwrap().model.weight_dtype().unwrap(),
            WeightDtype::Bf16
        );
        let err =
            TrainConfig::from_toml("[model]\ndtype = \"int8\"\n", Path::new("x.toml")).unwrap_err();
        assert!(
            matches!(&err, Error::Config { key: "model.dtype", value, .. } if value == "int8"),
            "{err}"
        );
    }
}
