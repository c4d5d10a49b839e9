//! SFT cold start: cross-entropy on response tokens only (prompt tokens carry no loss),
//! AdamW with cosine decay after linear warmup, gradient accumulation, global-norm clipping,
//! and LoRA through burn's own adapter (`Module::apply_lora`) on the language model's linear
//! layers, merged into the base weights when SFT ends (as `llamafactory-cli export` does before
//! GRPO). Defaults are Spatial-SSRL's LLaMA-Factory cold start
//! (`training/SFT-coldstart/sft_scripts/Qwen2.5-VL-7B.yaml`).

use std::path::Path;
use std::time::Instant;

use burn::module::{Lora, Module, ModuleVisitor, Param, ParamGroup, ParamId};
use burn::optim::{GradientsAccumulator, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, TrainState};
use crate::distributed::{GradReduce, Peer, all_reduce_grads, broadcast_module};
use crate::error::{Error, Result};
use crate::masked::{scalar, tensor2};
use crate::metrics::{PhaseTimes, StepMetrics};
use crate::mixed_precision::widen_grads;
use crate::optim::{LrSchedule, OptimConfig, clip_global_norm};
use crate::policy::Policy;
use crate::sft_data::SftExample;

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
    /// Layers LoRA adapts (LLaMA-Factory `lora_target`): `"all"` = every linear projection of
    /// the language model (`q/k/v/o_proj`, `gate/up/down_proj`), never the vision tower, the
    /// embeddings or the LM head; or comma-separated parameter or module names.
    pub lora_target: String,
    /// Optimiser (lr 1e-5, cosine, warmup ratio 0.1).
    pub optim: OptimConfig,
    /// Seed of the data order and of the LoRA adapters' initial A factors.
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
            lora_target: "all".into(),
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

/// The linear projections of a Qwen2 decoder layer: what `lora_target = "all"` adapts.
const ALL_LINEAR: [&str; 7] = [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
];

/// Module paths of the rank-2 float parameters `names` selects outside the vision tower, with
/// their ids.
struct LoraTargets {
    names: Vec<String>,
    path: Vec<String>,
    found: Vec<(String, ParamId)>,
    trainable: Vec<ParamId>,
}

impl ModuleVisitor for LoraTargets {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_owned());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if param.val().is_require_grad() {
            self.trainable.push(param.id);
        }
        let named = self.path.iter().any(|p| self.names.contains(p));
        if D == 2 && named && !self.path.iter().any(|p| p == "visual") {
            self.found.push((self.path.join("."), param.id));
        }
    }
}

/// Ids of the float parameters of `module`, in visiting order.
fn param_ids<M: Module>(module: &M) -> Vec<ParamId> {
    struct Ids(Vec<ParamId>);
    impl ModuleVisitor for Ids {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.id);
        }
    }
    let mut ids = Ids(Vec::new());
    module.visit(&mut ids);
    ids.0
}

/// Puts LoRA adapters of `rank` / `alpha` on the parameters `target` selects (see
/// [`SftConfig::lora_target`]) and freezes every other weight, as LLaMA-Factory's LoRA
/// fine-tuning does. Returns the module and the ids that were trainable before, so
/// [`merge_lora`] can restore them. `rank == 0` returns the module unchanged.
///
/// # Errors
/// [`Error::Config`] when `target` selects no rank-2 parameter.
pub fn apply_lora<M: Module>(
    module: M,
    rank: usize,
    alpha: f64,
    target: &str,
) -> Result<(M, Vec<ParamId>)> {
    let names: Vec<String> = if target.trim() == "all" {
        ALL_LINEAR.iter().map(|s| (*s).to_owned()).collect()
    } else {
        target
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let mut found = LoraTargets {
        names,
        path: Vec::new(),
        found: Vec::new(),
        trainable: Vec::new(),
    };
    module.visit(&mut found);
    if rank == 0 {
        return Ok((module, found.trainable));
    }
    if found.found.is_empty() {
        return Err(Error::Config {
            key: "sft.lora_target",
            value: target.to_owned(),
            reason: "selects no rank-2 parameter outside the vision tower",
        });
    }
    let group = ParamGroup::from_ids(found.found.iter().map(|(_, id)| *id).collect());
    let module = module.apply_lora(Lora::new(rank, alpha).set_param_group(group));
    Ok((module, found.trainable))
}

/// Folds LoRA adapters into the base weights (`W + alpha / rank * A B`) and makes exactly the
/// parameters in `trainable` trainable again: after the cold start, GRPO trains all weights
/// of the merged model.
pub fn merge_lora<M: Module>(module: M, trainable: Vec<ParamId>) -> M {
    // Materialising keeps each base weight's trainability (frozen by LoRA); thawing the
    // recorded ids restores what the caller had configured (a frozen vision tower stays so).
    module
        .materialize()
        .unfreeze_group(ParamGroup::from_ids(trainable))
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
    /// Parameters trainable before LoRA froze them (restored by the merge).
    trainable: Vec<ParamId>,
    peer: Peer,
    reduce: GradReduce,
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
        let device = policy
            .devices()
            .into_iter()
            .next()
            .ok_or_else(|| Error::Policy("policy has no parameters".into()))?;
        // burn draws the LoRA A factors from the device's generator: seed it from the run's
        // seed so one seed gives the same adapters (and every data-parallel peer the same).
        if cfg.lora_rank > 0 {
            device.seed(cfg.seed);
        }
        let (policy, trainable) =
            apply_lora(policy, cfg.lora_rank, cfg.lora_alpha, &cfg.lora_target)?;
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
            peer: Peer::solo(device.clone()),
            reduce: GradReduce::DeviceSum,
            device,
            policy,
            examples: encoded,
            dropped,
            trainable,
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

    /// Consumes the trainer, returning the policy with any LoRA adapters merged into its
    /// weights and its original trainability restored (the model GRPO starts from).
    pub fn into_policy(self) -> P {
        if self.cfg.lora_rank == 0 {
            self.policy
        } else {
            merge_lora(self.policy, self.trainable)
        }
    }

    /// Resumable state.
    pub fn state(&self) -> &TrainState {
        &self.state
    }

    /// Writes a checkpoint atomically into `dir/global_step_<N>`.
    pub fn save_checkpoint(&self, dir: &Path) -> Result<std::path::PathBuf> {
        crate::distributed::write_once(&self.peer, dir, || {
            checkpoint::save(dir, &self.policy, &self.optim, &self.state)
        })
    }

    /// Makes this trainer one data-parallel `peer` (its policy on the peer's device): it
    /// computes every `world`-th micro-batch of a step and sums gradients with the other
    /// peers (see [`crate::distributed`]); checkpoints are written by rank 0.
    ///
    /// # Errors
    /// As [`broadcast_module`] (rank 0's weights are copied to every peer first).
    pub fn with_peer(mut self, peer: Peer) -> Result<Self> {
        self.policy = broadcast_module(&peer, self.policy)?;
        self.reduce = GradReduce::for_devices(std::slice::from_ref(peer.device()));
        self.peer = peer;
        Ok(self)
    }

    /// Restores weights, optimiser and data cursor.
    pub fn load_checkpoint(&mut self, dir: &Path) -> Result<()> {
        let before = param_ids(&self.policy);
        let (p, o, s) = checkpoint::load(dir, self.policy.clone(), self.cfg.optim.init())?;
        // Loading brings the saved parameter ids; the ids to thaw at the merge follow them.
        let after = param_ids(&p);
        self.trainable = self
            .trainable
            .iter()
            .filter_map(|id| before.iter().position(|b| b == id).map(|i| after[i]))
            .collect();
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
        for (k, chunk) in rows.chunks(cfg.batch_size).enumerate() {
            if !self.peer.owns(k) {
                continue;
            }
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
            let mut grads = GradientsParams::from_grads(loss.backward(), &self.policy);
            widen_grads(&self.policy, &mut grads);
            accum.accumulate(&self.policy, grads);
        }
        let mut grads = all_reduce_grads(&self.peer, self.reduce, &self.policy, accum.grads())?;
        let loss_sum = self.peer.sum_f64(&[loss_sum], "sft loss")?[0];
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
