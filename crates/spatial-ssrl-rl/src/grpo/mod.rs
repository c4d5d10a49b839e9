//! The GRPO trainer: rollouts (n responses per prompt), verifiable rewards, advantages,
//! PPO-style mini-batch updates with gradient accumulation, KL to a frozen reference, global
//! gradient clipping, non-finite-step skipping, checkpoints and metrics. Follows EasyR1's
//! `ray_trainer.py` / `dp_actor.py` step structure.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use burn::optim::{GradientsAccumulator, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use spatial_ssrl_rewards::TaskRouter;

use crate::advantage::{AdvantageInputs, compute_advantage_return};
use crate::checkpoint::{self, TrainState};
use crate::distributed::shard::owned_micro_batches;
use crate::distributed::{GradReduce, Peer, all_reduce_grads, broadcast_module};
use crate::error::{Error, Result};
use crate::loss::{compute_policy_loss, kl_loss};
use crate::masked::{scalar, tensor2, to_host};
use crate::metrics::{MeanStd, PhaseTimes, StepMetrics};
use crate::mixed_precision::widen_grads;
use crate::optim::clip_global_norm;
use crate::policy::{Policy, PromptRecord};
use crate::rollout::make_batch;

mod config;

pub use config::GrpoConfig;

/// Behaviour log-probs, reference log-probs (when the KL loss is on) and entropies, on the
/// host, row-major `[rows, len]`.
type HostLogProbs = (Vec<f32>, Option<Vec<f32>>, Vec<f32>);

/// One rollout batch after scoring: everything the update needs, on the host.
struct RolloutBatch<P> {
    prompts: Vec<P>,
    responses: Vec<Vec<u32>>,
    group: Vec<u64>,
    len: usize,
    mask: Vec<f32>,
    token_rewards: Vec<f32>,
}

/// GRPO over a [`Policy`] `P`.
pub struct GrpoTrainer<P: Policy> {
    cfg: GrpoConfig,
    device: Device,
    policy: P,
    reference: Option<P>,
    optim: ModuleOptimizer,
    prompts: Vec<(PromptRecord, P::Prompt)>,
    filtered_prompts: usize,
    state: TrainState,
    peer: Peer,
    reduce: GradReduce,
}

/// Where the frozen reference lives: on its own (training) device, or moved to the CPU.
fn place_reference<P: Policy>(reference: P, on_cpu: bool) -> Result<P> {
    if !on_cpu {
        return Ok(reference);
    }
    #[cfg(feature = "flex")]
    {
        Ok(reference.to_device(&burn::tensor::Device::flex()))
    }
    #[cfg(not(feature = "flex"))]
    {
        Err(Error::Config {
            key: "ref_on_cpu",
            value: "true".into(),
            reason: "keeping the reference on the CPU needs the `flex` feature",
        })
    }
}

impl<P: Policy> GrpoTrainer<P> {
    /// A trainer for `policy` (on an autodiff device), with `reference` the frozen initial
    /// policy (used when `use_kl_loss`), over `records`. Prompts longer than
    /// `max_prompt_length` are dropped and counted ([`GrpoTrainer::filtered_prompts`]).
    pub fn new(
        policy: P,
        reference: Option<P>,
        records: Vec<PromptRecord>,
        cfg: GrpoConfig,
    ) -> Result<Self> {
        cfg.validate()?;
        if cfg.use_kl_loss && reference.is_none() {
            return Err(Error::Config {
                key: "use_kl_loss",
                value: "true".into(),
                reason: "needs a reference policy",
            });
        }
        let device = policy
            .devices()
            .into_iter()
            .next()
            .ok_or_else(|| Error::Policy("policy has no parameters".into()))?;
        let mut prompts = Vec::with_capacity(records.len());
        let mut filtered = 0;
        for r in records {
            let p = policy.encode_prompt(&r)?;
            if policy.prompt_len(&p) > cfg.max_prompt_length {
                filtered += 1;
            } else {
                prompts.push((r, p));
            }
        }
        if prompts.is_empty() {
            return Err(Error::Config {
                key: "max_prompt_length",
                value: cfg.max_prompt_length.to_string(),
                reason: "every prompt is longer; nothing to train on",
            });
        }
        let optim = cfg.optim.init();
        let state = TrainState::new(cfg.seed);
        let reference = match reference {
            Some(r) => Some(place_reference(r.valid(), cfg.ref_on_cpu)?),
            None => None,
        };
        Ok(GrpoTrainer {
            reference,
            cfg,
            peer: Peer::solo(device.clone()),
            reduce: GradReduce::DeviceSum,
            device,
            policy,
            optim,
            prompts,
            filtered_prompts: filtered,
            state,
        })
    }

    /// Makes this trainer one data-parallel `peer` (its policy on the peer's device): it
    /// samples and trains on its share of each batch and sums gradients with the other peers
    /// (see [`crate::distributed`]).
    ///
    /// # Errors
    /// As [`broadcast_module`] (rank 0's weights are copied to every peer first).
    pub fn with_peer(mut self, peer: Peer) -> Result<Self> {
        self.policy = broadcast_module(&peer, self.policy)?;
        self.reference = self
            .reference
            .map(|r| broadcast_module(&peer, r))
            .transpose()?;
        self.reduce = GradReduce::for_devices(std::slice::from_ref(peer.device()));
        self.peer = peer;
        Ok(self)
    }

    /// The policy being trained.
    pub fn policy(&self) -> &P {
        &self.policy
    }

    /// Consumes the trainer, returning the trained policy.
    pub fn into_policy(self) -> P {
        self.policy
    }

    /// Prompts dropped at load time for exceeding `max_prompt_length`.
    pub fn filtered_prompts(&self) -> usize {
        self.filtered_prompts
    }

    /// Steps done so far.
    pub fn step_count(&self) -> u64 {
        self.state.step
    }

    /// Resumable state (step, data cursor, seed, counters).
    pub fn state(&self) -> &TrainState {
        &self.state
    }

    /// Writes a checkpoint (policy, optimiser, state) atomically into `dir/global_step_<N>`
    /// (rank 0 only, when data-parallel; every peer returns once it is written).
    pub fn save_checkpoint(&self, dir: &Path) -> Result<std::path::PathBuf> {
        crate::distributed::write_once(&self.peer, dir, || {
            checkpoint::save(dir, &self.policy, &self.optim, &self.state)
        })
    }

    /// Restores policy weights, optimiser state and the data cursor from a checkpoint
    /// directory (`dir/global_step_<N>`, or the latest one under `dir`).
    pub fn load_checkpoint(&mut self, dir: &Path) -> Result<()> {
        let (policy, optim, state) =
            checkpoint::load(dir, self.policy.clone(), self.cfg.optim.init())?;
        if state.seed != self.cfg.seed {
            return Err(Error::Checkpoint {
                path: dir.to_path_buf(),
                reason: format!(
                    "seed {} differs from the config's {}",
                    state.seed, self.cfg.seed
                ),
            });
        }
        self.policy = policy;
        self.optim = optim;
        self.state = state;
        Ok(())
    }

    /// One GRPO step: sample, score (each response with its task's reward), compute
    /// advantages, update. `total_steps` sets the learning-rate schedule's horizon. A single
    /// reward for every task is `TaskRouter::new(Box::new(reward))`.
    pub fn step(&mut self, reward: &TaskRouter, total_steps: u64) -> Result<StepMetrics> {
        let t_step = Instant::now();
        let cfg = self.cfg.clone();
        let step = self.state.step + 1;
        let epoch = self.state.cursor.epoch;
        // Rollout on the inference copy (with online filtering, several prompt draws).
        let infer = self.policy.valid();
        let sampled = make_batch(
            &infer,
            &self.prompts,
            &mut self.state.cursor,
            &cfg,
            step,
            reward,
            &self.peer,
        )?;
        let (rollout_secs, reward_secs) = (sampled.rollout_secs, sampled.reward_secs);
        let (rows, prompts, responses, group, scores) = (
            sampled.rows,
            sampled.prompts,
            sampled.responses,
            sampled.group,
            sampled.scores,
        );
        let overall: Vec<f64> = scores.iter().map(|s| s.overall).collect();
        let mut metrics = StepMetrics {
            step,
            phase: "grpo".into(),
            epoch,
            reward: MeanStd::of(&overall),
            reward_max: overall.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            reward_min: overall.iter().copied().fold(f64::INFINITY, f64::min),
            accuracy: mean(scores.iter().map(|s| s.accuracy)),
            format: mean(scores.iter().map(|s| s.format)),
            response_length_mean: mean(responses.iter().map(|r| r.len() as f64)),
            response_length_max: responses.iter().map(Vec::len).max().unwrap_or(0),
            response_length_min: responses.iter().map(Vec::len).min().unwrap_or(0),
            response_length_clip_ratio: mean(
                responses
                    .iter()
                    .map(|r| f64::from(u8::from(r.len() >= cfg.sampling.max_new_tokens))),
            ),
            total_tokens: prompts
                .iter()
                .zip(&responses)
                .map(|(p, r)| infer.prompt_len(p) + r.len())
                .sum(),
            tokens_per_sec: responses.iter().map(Vec::len).sum::<usize>() as f64
                / rollout_secs.max(1e-9),
            ..StepMetrics::default()
        };
        let mut per_task: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for (i, &r) in rows.iter().enumerate() {
            let e = per_task.entry(self.prompts[r].0.task.clone()).or_default();
            e.extend_from_slice(&overall[i * cfg.n..(i + 1) * cfg.n]);
        }
        metrics.reward_per_task = per_task
            .into_iter()
            .map(|(k, v)| (k, mean(v.into_iter())))
            .collect();

        metrics.filtered_groups = sampled.dropped_groups;
        metrics.make_batch_tries = sampled.tries;
        let keep: Vec<usize> = (0..responses.len()).collect();

        let t = Instant::now();
        let batch = build_batch(&keep, prompts, responses, group, &overall);
        let mut update_secs = 0.0;
        if let Some(batch) = batch {
            let lr_step = self.state.optimizer_steps;
            let (old_lp, ref_lp, entropy) = self.behaviour_log_probs(&infer, &batch)?;
            metrics.entropy = self.masked_batch_mean(&entropy, &batch.mask)?;
            let log_prob_secs = t.elapsed().as_secs_f64();
            metrics.time.log_probs = log_prob_secs;

            let t = Instant::now();
            let adv = self.advantages(&batch)?;
            self.update(
                &batch,
                &old_lp,
                ref_lp.as_deref(),
                &adv,
                total_steps,
                &mut metrics,
            )?;
            update_secs = t.elapsed().as_secs_f64();
            metrics.lr = self
                .cfg
                .optim
                .lr_at(lr_step, total_steps * self.cfg.updates_per_step());
        }
        metrics.skipped_steps = self.state.skipped_steps;
        metrics.time = PhaseTimes {
            rollout: rollout_secs,
            reward: reward_secs,
            log_probs: metrics.time.log_probs,
            update: update_secs,
            step: t_step.elapsed().as_secs_f64(),
        };
        self.state.step = step;
        Ok(metrics)
    }

    fn behaviour_log_probs(&self, infer: &P, b: &RolloutBatch<P::Prompt>) -> Result<HostLogProbs> {
        let temp = self.cfg.sampling.temperature.max(1e-6);
        let mut old = Vec::with_capacity(b.mask.len());
        let mut ent = Vec::with_capacity(b.mask.len());
        let mut refs = self
            .cfg
            .use_kl_loss
            .then(|| Vec::with_capacity(b.mask.len()));
        let rows = b.responses.len();
        let chunk = self.cfg.micro_batch_size.max(1) * 4;
        // A peer scores only the rows of its micro-batches; the others stay zero.
        let spans: Vec<(usize, usize)> = if self.peer.world() == 1 {
            (0..rows)
                .step_by(chunk)
                .map(|s| (s, (s + chunk).min(rows)))
                .collect()
        } else {
            let mini = (self.cfg.global_batch_size * self.cfg.n).max(1);
            owned_micro_batches(&self.peer, rows, mini, self.cfg.micro_batch_size).concat()
        };
        let mut at = 0;
        for (start, end) in spans {
            let gap = (start - at) * b.len;
            old.extend(std::iter::repeat_n(0.0, gap));
            ent.extend(std::iter::repeat_n(0.0, gap));
            if let Some(refs) = refs.as_mut() {
                refs.extend(std::iter::repeat_n(0.0, gap));
            }
            at = end;
            let out = infer.response_log_probs(
                &b.prompts[start..end],
                &b.responses[start..end],
                b.len,
                temp,
            )?;
            old.extend(to_host(out.log_probs));
            ent.extend(to_host(out.entropy));
            if let (Some(refs), Some(reference)) = (refs.as_mut(), self.reference.as_ref()) {
                let r = reference.response_log_probs(
                    &b.prompts[start..end],
                    &b.responses[start..end],
                    b.len,
                    temp,
                )?;
                refs.extend(to_host(r.log_probs));
            }
        }
        let gap = (rows - at) * b.len;
        old.extend(std::iter::repeat_n(0.0, gap));
        ent.extend(std::iter::repeat_n(0.0, gap));
        if let Some(refs) = refs.as_mut() {
            refs.extend(std::iter::repeat_n(0.0, gap));
        }
        Ok((old, refs, ent))
    }

    /// Masked mean over the whole batch of a per-token value each peer holds for its rows.
    fn masked_batch_mean(&self, v: &[f32], mask: &[f32]) -> Result<f64> {
        let num: f64 = v.iter().zip(mask).map(|(&x, &m)| x as f64 * m as f64).sum();
        let num = self.peer.sum_f64(&[num], "entropy")?[0];
        let den: f64 = mask.iter().map(|&m| m as f64).sum();
        Ok(num / (den + 1e-8))
    }

    fn advantages(&self, b: &RolloutBatch<P::Prompt>) -> Result<Vec<f32>> {
        let d = self.device.clone().inner();
        let rows = b.responses.len();
        let mut inputs = AdvantageInputs::new(
            tensor2(b.token_rewards.clone(), rows, b.len, &d),
            tensor2(b.mask.clone(), rows, b.len, &d),
            &b.group,
        );
        inputs.gamma = self.cfg.gamma;
        inputs.lam = self.cfg.lam;
        let (adv, _) = compute_advantage_return(self.cfg.adv_estimator, &inputs)?;
        Ok(to_host(adv))
    }

    fn update(
        &mut self,
        b: &RolloutBatch<P::Prompt>,
        old_lp: &[f32],
        ref_lp: Option<&[f32]>,
        adv: &[f32],
        total_steps: u64,
        metrics: &mut StepMetrics,
    ) -> Result<()> {
        let cfg = &self.cfg;
        let rows = b.responses.len();
        let len = b.len;
        let mini = (cfg.global_batch_size * cfg.n).max(1);
        let temp = cfg.sampling.temperature.max(1e-6);
        let total_opt = total_steps.max(1) * cfg.updates_per_step();
        let slice = |v: &[f32], s: usize, e: usize| v[s * len..e * len].to_vec();
        let (mut n_micro, mut n_opt) = (0usize, 0usize);
        let (mut pg, mut kl, mut cf_hi, mut cf_lo, mut ppo_kl, mut gn) =
            (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        let owned = owned_micro_batches(&self.peer, rows, mini, cfg.micro_batch_size);
        for _ in 0..cfg.ppo_epochs {
            for (mi, m_start) in (0..rows).step_by(mini).enumerate() {
                let m_end = (m_start + mini).min(rows);
                let mini_tokens: f32 = b.mask[m_start * len..m_end * len].iter().sum();
                let mut accum = GradientsAccumulator::<P>::new();
                for &(s, e) in &owned[mi] {
                    let r = e - s;
                    let d = &self.device;
                    let mask = tensor2(slice(&b.mask, s, e), r, len, d);
                    let micro_tokens: f32 = b.mask[s * len..e * len].iter().sum();
                    let lp = self
                        .policy
                        .response_log_probs(&b.prompts[s..e], &b.responses[s..e], len, temp)?
                        .log_probs;
                    let out = compute_policy_loss(
                        tensor2(slice(old_lp, s, e), r, len, d),
                        lp.clone(),
                        tensor2(slice(adv, s, e), r, len, d),
                        mask.clone(),
                        &cfg.loss,
                    );
                    let mut loss: Tensor<1> = out.pg_loss.clone();
                    if let Some(ref_lp) = ref_lp {
                        let k = kl_loss(
                            lp,
                            tensor2(slice(ref_lp, s, e), r, len, d),
                            mask,
                            cfg.kl_penalty,
                            cfg.loss.loss_avg_mode,
                        );
                        kl += scalar(k.clone()) as f64;
                        loss = loss + k * cfg.kl_coef;
                    }
                    // dp_actor.py: weight each micro-batch by its share of the mini-batch tokens.
                    let loss = loss * (micro_tokens / mini_tokens.max(1.0));
                    pg += scalar(out.pg_loss) as f64;
                    cf_hi += out.metrics.pg_clipfrac_higher.unwrap_or(0.0) as f64;
                    cf_lo += out.metrics.pg_clipfrac_lower.unwrap_or(0.0) as f64;
                    ppo_kl += out.metrics.ppo_kl as f64;
                    n_micro += 1;
                    let mut grads = GradientsParams::from_grads(loss.backward(), &self.policy);
                    widen_grads(&self.policy, &mut grads);
                    accum.accumulate(&self.policy, grads);
                }
                let mut grads =
                    all_reduce_grads(&self.peer, self.reduce, &self.policy, accum.grads())?;
                let norm = clip_global_norm(&self.policy, &mut grads, cfg.optim.max_grad_norm);
                let lr = cfg.optim.lr_at(self.state.optimizer_steps, total_opt);
                self.state.optimizer_steps += 1;
                if norm.is_finite() {
                    self.policy = self.optim.step(lr, self.policy.clone(), grads);
                } else {
                    self.state.skipped_steps += 1;
                }
                gn += norm as f64;
                n_opt += 1;
            }
        }
        let sums = self.peer.sum_f64(
            &[pg, kl, cf_hi, cf_lo, ppo_kl, n_micro as f64],
            "update metrics",
        )?;
        let (pg, kl, cf_hi, cf_lo, ppo_kl) = (sums[0], sums[1], sums[2], sums[3], sums[4]);
        let nm = sums[5].max(1.0);
        metrics.pg_loss = pg / nm;
        metrics.kl = kl / nm;
        metrics.clipfrac_high = cf_hi / nm;
        metrics.clipfrac_low = cf_lo / nm;
        metrics.ppo_kl = ppo_kl / nm;
        metrics.grad_norm = gn / n_opt.max(1) as f64;
        Ok(())
    }
}

fn mean(it: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = it.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 { 0.0 } else { s / n as f64 }
}

/// Keeps rows `keep`, pads responses to the longest, and places each outcome reward on the
/// last response token (`verl/workers/reward/function.py`).
fn build_batch<P: Clone>(
    keep: &[usize],
    prompts: Vec<P>,
    responses: Vec<Vec<u32>>,
    group: Vec<u64>,
    overall: &[f64],
) -> Option<RolloutBatch<P>> {
    if keep.is_empty() {
        return None;
    }
    let len = keep
        .iter()
        .map(|&i| responses[i].len())
        .max()
        .unwrap_or(0)
        .max(1);
    let mut b = RolloutBatch {
        prompts: Vec::with_capacity(keep.len()),
        responses: Vec::with_capacity(keep.len()),
        group: Vec::with_capacity(keep.len()),
        len,
        mask: vec![0.0; keep.len() * len],
        token_rewards: vec![0.0; keep.len() * len],
    };
    for (row, &i) in keep.iter().enumerate() {
        let n = responses[i].len();
        for t in 0..n {
            b.mask[row * len + t] = 1.0;
        }
        // An empty response still carries its reward on position 0 (masked out of the loss).
        b.token_rewards[row * len + n.saturating_sub(1)] = overall[i] as f32;
        b.prompts.push(prompts[i].clone());
        b.responses.push(responses[i].clone());
        b.group.push(group[i]);
    }
    Some(b)
}
