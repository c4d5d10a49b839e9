//! GRPO hyper-parameters: EasyR1's `algorithm.*` / `worker.actor.*` keys under `[grpo]`, with
//! Spatial-SSRL's values as defaults, and the checks that reject impossible batch shapes.

use serde::{Deserialize, Serialize};

use crate::advantage::AdvantageEstimator;
use crate::error::{Error, Result};
use crate::kl::KlPenalty;
use crate::loss::PolicyLossConfig;
use crate::optim::OptimConfig;
use crate::policy::SamplingConfig;
use crate::rollout::FilterKey;
use crate::validation::ValSampling;

/// GRPO hyper-parameters. Defaults are Spatial-SSRL's run (EasyR1 `examples/config.yaml` with
/// the overrides of `spatial-ssrl_qwen2_5_vl_7b.sh`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpoConfig {
    /// Prompts per rollout step (256).
    pub rollout_batch_size: usize,
    /// Responses sampled per prompt (5).
    pub n: usize,
    /// Prompts per optimiser step (128, so 2 updates per rollout).
    pub global_batch_size: usize,
    /// Responses per forward/backward; gradients accumulate over a mini-batch (memory knob).
    pub micro_batch_size: usize,
    /// Sequences per generation call (each call padded on its own; the KV cache holds one
    /// call); all `rollout_batch_size * n` at once when absent.
    pub rollout_micro_batch_size: Option<usize>,
    /// Passes over each rollout batch (1).
    pub ppo_epochs: usize,
    /// Rollout sampling.
    pub sampling: SamplingConfig,
    /// Validation sampling (EasyR1 `val_override_config`; `max_new_tokens` from `sampling`).
    pub val_sampling: ValSampling,
    /// Advantage estimator (`grpo`).
    pub adv_estimator: AdvantageEstimator,
    /// Discount (1.0).
    pub gamma: f32,
    /// GAE lambda (1.0).
    pub lam: f32,
    /// Policy loss.
    pub loss: PolicyLossConfig,
    /// KL to the reference as a loss term (true).
    pub use_kl_loss: bool,
    /// Keep the frozen KL reference on the CPU (EasyR1's `worker.ref.offload.offload_params`)
    /// (false): its weights leave the training device, at the cost of computing the
    /// reference log-probs on the CPU. Needs the `flex` feature.
    pub ref_on_cpu: bool,
    /// KL estimator (`low_var_kl`).
    pub kl_penalty: KlPenalty,
    /// KL coefficient (0.01).
    pub kl_coef: f32,
    /// EasyR1's online filtering (false): keep only groups whose mean `filter_key` score is
    /// strictly within `(filter_low, filter_high)`, drawing more prompts to refill the batch.
    pub online_filtering: bool,
    /// Reward component the filter averages (`overall`).
    pub filter_key: FilterKey,
    /// Lower bound, exclusive (0.01).
    pub filter_low: f64,
    /// Upper bound, exclusive (0.99).
    pub filter_high: f64,
    /// Prompt draws allowed per step before giving up (20); 0 or negative: no limit.
    pub max_try_make_batch: i64,
    /// Prompts per draw (EasyR1 `data.mini_rollout_batch_size`); `rollout_batch_size` when
    /// absent.
    pub mini_rollout_batch_size: Option<usize>,
    /// Optimiser.
    pub optim: OptimConfig,
    /// Prompts longer than this many tokens are dropped at load time (4096).
    pub max_prompt_length: usize,
    /// Shuffle the prompts every epoch (true).
    pub shuffle: bool,
    /// Seed of the data order and of every rollout (1).
    pub seed: u64,
}

impl Default for GrpoConfig {
    fn default() -> Self {
        GrpoConfig {
            rollout_batch_size: 256,
            n: 5,
            global_batch_size: 128,
            micro_batch_size: 1,
            rollout_micro_batch_size: None,
            ppo_epochs: 1,
            sampling: SamplingConfig::default(),
            val_sampling: ValSampling::default(),
            adv_estimator: AdvantageEstimator::Grpo,
            gamma: 1.0,
            lam: 1.0,
            loss: PolicyLossConfig::default(),
            use_kl_loss: true,
            ref_on_cpu: false,
            kl_penalty: KlPenalty::LowVarKl,
            kl_coef: 1e-2,
            online_filtering: false,
            filter_key: FilterKey::Overall,
            filter_low: 0.01,
            filter_high: 0.99,
            max_try_make_batch: 20,
            mini_rollout_batch_size: None,
            optim: OptimConfig::default(),
            max_prompt_length: 4096,
            shuffle: true,
            seed: 1,
        }
    }
}

impl GrpoConfig {
    /// Rejects sizes that cannot form a batch.
    pub fn validate(&self) -> Result<()> {
        let bad = |key, value: usize, reason| {
            Err(Error::Config {
                key,
                value: value.to_string(),
                reason,
            })
        };
        if self.rollout_batch_size == 0 {
            return bad("rollout_batch_size", 0, "must be positive");
        }
        if self.global_batch_size == 0 || self.global_batch_size > self.rollout_batch_size {
            return bad(
                "global_batch_size",
                self.global_batch_size,
                "must be in 1..=rollout_batch_size",
            );
        }
        if self.micro_batch_size == 0 {
            return bad("micro_batch_size", 0, "must be positive");
        }
        if self.n == 0 || (self.n < 2 && self.adv_estimator.is_group_relative()) {
            return bad("n", self.n, "group-relative estimators need n >= 2");
        }
        if self.ppo_epochs == 0 {
            return bad("ppo_epochs", 0, "must be positive");
        }
        if self.mini_rollout_batch_size == Some(0) {
            return bad("mini_rollout_batch_size", 0, "must be positive");
        }
        if self.rollout_micro_batch_size == Some(0) {
            return bad("rollout_micro_batch_size", 0, "must be positive");
        }
        if self.filter_low >= self.filter_high {
            return Err(Error::Config {
                key: "filter_low",
                value: self.filter_low.to_string(),
                reason: "must be below filter_high",
            });
        }
        Ok(())
    }

    /// Optimiser steps per rollout step (`ppo_epochs * ceil(rollout / global)`).
    pub fn updates_per_step(&self) -> u64 {
        (self.ppo_epochs * self.rollout_batch_size.div_ceil(self.global_batch_size)) as u64
    }
}
