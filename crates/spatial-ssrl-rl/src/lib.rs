//! SFT cold start and GRPO (EasyR1 parity) for vision-language policies on burn.
//!
//! The Spatial-SSRL recipe: a short supervised cold start on chain-of-thought samples, then
//! GRPO on self-supervised pretext tasks with a verifiable reward. The algorithms follow
//! EasyR1 (`hiyouga/EasyR1` @ b44b311) and are checked against its own functions
//! (`tests/golden.rs`); the loops are generic over a [`Policy`], implemented here by a
//! [`TinyPolicy`] for tests and by [`QwenPolicy`] (Qwen2.5-VL) for real runs.
//!
//! ```
//! use burn::tensor::Device;
//! use spatial_ssrl_rl::{AdvantageEstimator, AdvantageInputs, compute_advantage_return, masked};
//!
//! let d = Device::flex();
//! // Two prompts x two responses, one token each: rewards 1, 0 | 0.5, 0.5.
//! let rewards = masked::tensor2(vec![1.0, 0.0, 0.5, 0.5], 4, 1, &d);
//! let mask = masked::tensor2(vec![1.0; 4], 4, 1, &d);
//! let inputs = AdvantageInputs::new(rewards, mask, &[0, 0, 1, 1]);
//! let (adv, _) = compute_advantage_return(AdvantageEstimator::Grpo, &inputs)?;
//! let adv = masked::to_host(adv);
//! assert!((adv[0] - 0.7071).abs() < 1e-3 && adv[2] == 0.0);
//! # Ok::<(), spatial_ssrl_rl::Error>(())
//! ```
//!
//! Features: `flex` (default, CPU), `ndarray`, `wgpu`, `cuda` pick burn backends.
#![deny(missing_docs)]

mod advantage;
mod checkpoint;
mod config;
mod data;
pub mod distributed;
mod error;
mod grpo;
mod kl;
mod loss;
pub mod masked;
mod memory;
mod metrics;
mod mixed_precision;
mod optim;
mod pixels;
mod plot;
mod policy;
mod qwen;
mod reward;
mod rollout;
mod sampling;
mod sft;
mod sft_data;
mod tiny;
mod validation;

pub use crate::{
    advantage::{
        AdvantageEstimator, AdvantageInputs, AdvantageReturn, GRPO_EPS, compute_advantage_return,
    },
    checkpoint::{TrainState, prune as prune_checkpoints, resolve as resolve_checkpoint},
    config::{DataConfig, ModelConfig, TrainConfig, TrainerConfig},
    data::{DataCursor, derive_seed, epoch_order, load_prompts, splitmix64},
    error::{Error, Result},
    grpo::{GrpoConfig, GrpoTrainer},
    kl::{KlPenalty, compute_kl, kl_penalised_rewards},
    loss::{
        PolicyLoss, PolicyLossConfig, PolicyLossMetrics, PolicyLossType, compute_policy_loss,
        kl_loss,
    },
    masked::LossAggregation,
    memory::{LayerShape, MemoryEstimate, MemoryInputs, ParamCounts, gib},
    metrics::{MeanStd, MetricsLine, MetricsWriter, PhaseTimes, StepMetrics, read_metrics},
    mixed_precision::{MasterAdamW, MasterAdamWState, widen_grads},
    optim::{LrSchedule, OptimConfig, clip_global_norm, grad_norm},
    pixels::PixelLimits,
    plot::plot_metrics,
    policy::{ImageSource, Policy, PromptRecord, SamplingConfig, TokenLogProbs},
    qwen::QwenPolicy,
    reward::{RewardConfig, TaskRewardConfig},
    rollout::FilterKey,
    sampling::{argmax, sample_token},
    sft::{SftConfig, SftTrainer, apply_lora, merge_lora},
    sft_data::{SftExample, read_sft_examples},
    tiny::{TINY_EOS, TinyPolicy, TinyPolicyConfig},
    validation::{ValGeneration, ValSampling, Validator},
};
