//! SFT cold start: cross-entropy on response tokens only (prompt tokens carry no loss),
//! AdamW with cosine decay after linear warmup, gradient accumulation, global-norm clipping,
//! and LoRA through burn's own adapter (`Module::apply_lora`). Defaults are Spatial-SSRL's
//! LLaMA-Factory cold start (`training/SFT-coldstart/sft_scripts/Qwen2.5-VL-7B.yaml`).

use std::path::Path;
use std::time::Instant;

use burn::module::{Lora, Module};
use burn::optim::{GradientsAccumulator, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, TrainState};
use crate::data::SftExample;
use crate::error::{Error, Result};
use crate::masked::{scalar, tensor2};
use crate::metrics::{PhaseTimes, StepMetrics};
use crate::optim::{LrSchedule, OptimConfig, clip_global_norm};
use crate::policy::Policy;

/// SFT hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SftConfig {
    /// Examples per micro-batch (`per_device_train_batch_size`, 4).
    pub batch_size: usize,
    /// Micro-batches per optimiser step (`gradient_accumulation_steps`, 8).
    pub grad_accum: usize,
    /// Passes over the data (`num_train_epochs`, 5).
    pub epochs: usize,
    /// Longest prompt + response in tokens; longer examples are dropped and counted (4096).
    pub cutoff_len: usize,
    /// LoRA rank; 0 = full fine-tuning (128).
    pub lora_rank: usize,
    /// LoRA scaling numerator, the update is scaled by `alpha / rank` (256, LLaMA-Factory's
    /// default of twice the rank).
    pub lora_alpha: f64,
    /// Optimiser (lr 1e-5, cosine, warmup ratio 0.1).
    pub optim: OptimConfig,
    /// Data-order seed.
    pub seed: u64,
}

impl Default for SftConfig {
    fn default() -> Self {
        SftConfig {
            batch_size: 4,
            grad_accum: 8,
            epochs: 5,
            cutoff_len: 4096,
            lora_rank: 128,
            lora_alpha: 256.0,
            optim: OptimConfig {
                lr: 1e-5,
                weight_decay: 0.0,
                lr_warmup_ratio: 0.1,
                lr_scheduler: LrSchedule::Cosine,
                ..OptimConfig::default()
            },
            seed: 1,
        }
    }
}

impl SftConfig {
    /// Optimiser steps for `n` examples.
    pub fn total_steps(&self, n: usize) -> u64 {
        let per_step = (self.batch_size * self.grad_accum).max(1);
        (self.epochs * n).div_ceil(per_step) as u64
    }
}

/// Puts LoRA adapters on every rank-2 parameter of `module` and freezes the rest (burn 0.22's
/// `apply_lora`), or returns it unchanged when `rank == 0`.
pub fn apply_lora<M: Module>(module: M, rank: usize, alpha: f64) -> M {
    if rank == 0 {
        module
    } else {
        module.apply_lora(Lora::new(rank, alpha))
    }
}

/// Supervised fine-tuning of a [`Policy`] on prompt/response pairs.
pub struct SftTrainer<P: Policy> {
    cfg: SftConfig,
    device: Device,
    policy: P,
    optim: ModuleOptimizer,
    examples: Vec<(P::Prompt, Vec<u32>)>,
    dropped: usize,
    state: TrainState,
}

impl<P: Policy> SftTrainer<P> {
    /// A trainer for `policy` (autodiff device). Applies LoRA when `cfg.lora_rank > 0`.
    pub fn new(policy: P, examples: &[SftExample], cfg: SftConfig) -> Result<Self> {
        if cfg.batch_size == 0 || cfg.grad_accum == 0 {
            return Err(Error::Config {
                key: "batch_size",
                value: format!("{} x {}", cfg.batch_size, cfg.grad_accum),
                reason: "batch size and accumulation must be positive",
            });
        }
        let policy = apply_lora(policy, cfg.lora_rank, cfg.lora_alpha);
        let device = policy
            .devices()
            .into_iter()
            .next()
            .ok_or_else(|| Error::Policy("policy has no parameters".into()))?;
        let mut encoded = Vec::with_capacity(examples.len());
        let mut dropped = 0;
        for ex in examples {
            let p = policy.encode_prompt(&ex.prompt)?;
            let r = policy.encode_response(&ex.response)?;
            if policy.prompt_len(&p) + r.len() > cfg.cutoff_len || r.is_empty() {
                dropped += 1;
            } else {
                encoded.push((p, r));
            }
        }
        if encoded.is_empty() {
            return Err(Error::Config {
                key: "cutoff_len",
                value: cfg.cutoff_len.to_string(),
                reason: "no example fits; nothing to train on",
            });
        }
        Ok(SftTrainer {
            optim: cfg.optim.init(),
            state: TrainState::new(cfg.seed),
            cfg,
            device,
            policy,
            examples: encoded,
            dropped,
        })
    }

    /// Examples dropped for exceeding `cutoff_len`.
    pub fn dropped_examples(&self) -> usize {
        self.dropped
    }

    /// Optimiser steps for the configured epochs.
    pub fn total_steps(&self) -> u64 {
        self.cfg.total_steps(self.examples.len())
    }

    /// The policy being trained.
    pub fn policy(&self) -> &P {
        &self.policy
    }

    /// Consumes the trainer, returning the policy.
    pub fn into_policy(self) -> P {
        self.policy
    }

    /// Resumable state.
    pub fn state(&self) -> &TrainState {
        &self.state
    }

    /// Writes a checkpoint atomically into `dir/global_step_<N>`.
    pub fn save_checkpoint(&self, dir: &Path) -> Result<std::path::PathBuf> {
        checkpoint::save(dir, &self.policy, &self.optim, &self.state)
    }

    /// Restores weights, optimiser and data cursor.
    pub fn load_checkpoint(&mut self, dir: &Path) -> Result<()> {
        let (p, o, s) = checkpoint::load(dir, self.policy.clone(), self.cfg.optim.init())?;
        self.policy = p;
        self.optim = o;
        self.state = s;
        Ok(())
    }

    /// One optimiser step over `batch_size * grad_accum` examples; the loss is the mean
    /// negative log-likelihood over every response token of those examples.
    pub fn step(&mut self) -> Result<StepMetrics> {
        let t0 = Instant::now();
        let cfg = self.cfg.clone();
        let epoch = self.state.cursor.epoch;
        let rows = self.state.cursor.take(
            cfg.seed,
            self.examples.len(),
            true,
            cfg.batch_size * cfg.grad_accum,
        );
        let total_tokens: usize = rows.iter().map(|&r| self.examples[r].1.len()).sum();
        let mut accum = GradientsAccumulator::<P>::new();
        let mut loss_sum = 0.0f64;
        for chunk in rows.chunks(cfg.batch_size) {
            let prompts: Vec<P::Prompt> =
                chunk.iter().map(|&r| self.examples[r].0.clone()).collect();
            let responses: Vec<Vec<u32>> =
                chunk.iter().map(|&r| self.examples[r].1.clone()).collect();
            let len = responses.iter().map(Vec::len).max().unwrap_or(1);
            let mask: Vec<f32> = responses
                .iter()
                .flat_map(|r| (0..len).map(move |t| if t < r.len() { 1.0 } else { 0.0 }))
                .collect();
            let mask = tensor2(mask, chunk.len(), len, &self.device);
            let lp = self
                .policy
                .response_log_probs(&prompts, &responses, len, 1.0)?
                .log_probs;
            let loss: Tensor<1> = (lp * mask).sum().neg() / total_tokens as f32;
            loss_sum += scalar(loss.clone()) as f64;
            accum.accumulate(
                &self.policy,
                GradientsParams::from_grads(loss.backward(), &self.policy),
            );
        }
        let mut grads = accum.grads();
        let norm = clip_global_norm(&self.policy, &mut grads, cfg.optim.max_grad_norm);
        let lr = cfg
            .optim
            .lr_at(self.state.optimizer_steps, self.total_steps());
        self.state.optimizer_steps += 1;
        if norm.is_finite() {
            self.policy = self.optim.step(lr, self.policy.clone(), grads);
        } else {
            self.state.skipped_steps += 1;
        }
        self.state.step += 1;
        let secs = t0.elapsed().as_secs_f64();
        Ok(StepMetrics {
            step: self.state.step,
            phase: "sft".into(),
            epoch,
            lr,
            pg_loss: loss_sum,
            grad_norm: norm as f64,
            skipped_steps: self.state.skipped_steps,
            tokens_per_sec: total_tokens as f64 / secs.max(1e-9),
            time: PhaseTimes {
                update: secs,
                step: secs,
                ..PhaseTimes::default()
            },
            ..StepMetrics::default()
        })
    }
}
