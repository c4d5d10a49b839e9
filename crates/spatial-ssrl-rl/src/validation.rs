//! Validation as EasyR1's `_validate`: sample the validation prompts with the validation
//! sampling settings (`worker.rollout.val_override_config`: temperature 0.6, top-p 0.95,
//! n 1 in Spatial-SSRL's run), score them with the training reward and report
//! `val/reward_score`, `val/{overall,accuracy,format}_reward`, per-task accuracy and
//! `val_response_length/mean`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use spatial_ssrl_rewards::TaskRouter;

use crate::data::derive_seed;
use crate::error::{Error, Result};
use crate::policy::{Policy, PromptRecord, SamplingConfig};

/// Sampling of validation rollouts (EasyR1 `worker.rollout.val_override_config`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValSampling {
    /// Softmax temperature (0.6).
    pub temperature: f32,
    /// Nucleus mass (0.95).
    pub top_p: f32,
    /// Responses per prompt (1).
    pub n: usize,
    /// Prompts per generation call (256).
    pub batch_size: usize,
}

impl Default for ValSampling {
    fn default() -> Self {
        ValSampling {
            temperature: 0.6,
            top_p: 0.95,
            n: 1,
            batch_size: 256,
        }
    }
}

/// Validation prompts, encoded once for a policy.
pub struct Validator<P: Policy> {
    prompts: Vec<(PromptRecord, P::Prompt)>,
    sampling: ValSampling,
    max_new_tokens: usize,
    seed: u64,
}

impl<P: Policy> Validator<P> {
    /// Encodes `records` for `policy`; prompts longer than `max_prompt_length` are dropped
    /// (as EasyR1's `filter_overlong_prompts` does for the validation set too).
    ///
    /// # Errors
    /// [`Error::Config`] when `n` or `batch_size` is 0 or no prompt is short enough; the
    /// policy's error when a record cannot be encoded.
    pub fn new(
        policy: &P,
        records: Vec<PromptRecord>,
        sampling: ValSampling,
        max_new_tokens: usize,
        max_prompt_length: usize,
        seed: u64,
    ) -> Result<Self> {
        for (key, v) in [
            ("val_sampling.n", sampling.n),
            ("val_sampling.batch_size", sampling.batch_size),
        ] {
            if v == 0 {
                return Err(Error::Config {
                    key,
                    value: "0".into(),
                    reason: "must be positive",
                });
            }
        }
        let mut prompts = Vec::with_capacity(records.len());
        for r in records {
            let p = policy.encode_prompt(&r)?;
            if policy.prompt_len(&p) <= max_prompt_length {
                prompts.push((r, p));
            }
        }
        if prompts.is_empty() {
            return Err(Error::Config {
                key: "max_prompt_length",
                value: max_prompt_length.to_string(),
                reason: "every validation prompt is longer",
            });
        }
        Ok(Validator {
            prompts,
            sampling,
            max_new_tokens,
            seed,
        })
    }

    /// Number of validation prompts kept.
    pub fn len(&self) -> usize {
        self.prompts.len()
    }

    /// Whether no prompt was kept (never true for a built validator).
    pub fn is_empty(&self) -> bool {
        self.prompts.is_empty()
    }

    /// Runs validation after training step `step` (0 before training). Each response is
    /// seeded by (seed, step, prompt id, sample index), so a resumed run validates identically.
    pub fn run(&self, policy: &P, step: u64, reward: &TaskRouter) -> Result<BTreeMap<String, f64>> {
        let infer = policy.valid();
        let sampling = SamplingConfig {
            temperature: self.sampling.temperature,
            top_p: self.sampling.top_p,
            max_new_tokens: self.max_new_tokens,
        };
        let mut sums: BTreeMap<String, (f64, usize)> = BTreeMap::new();
        let mut add = |k: String, v: f64| {
            let e = sums.entry(k).or_insert((0.0, 0));
            e.0 += v;
            e.1 += 1;
        };
        let n = self.sampling.n;
        for chunk in self.prompts.chunks(self.sampling.batch_size) {
            let prompts: Vec<P::Prompt> = chunk
                .iter()
                .flat_map(|(_, p)| std::iter::repeat_n(p.clone(), n))
                .collect();
            let seeds: Vec<u64> = chunk
                .iter()
                .flat_map(|(r, _)| {
                    (0..n as u64)
                        .map(move |j| derive_seed(self.seed, &[0x7A11_DA7E, step, r.id, j]))
                })
                .collect();
            let responses = infer.generate(&prompts, &sampling, &seeds)?;
            let texts: Vec<String> = responses
                .iter()
                .map(|r| infer.decode(r))
                .collect::<Result<_>>()?;
            let records: Vec<&PromptRecord> = chunk
                .iter()
                .flat_map(|(r, _)| std::iter::repeat_n(r, n))
                .collect();
            let items: Vec<(Option<&str>, &str, &str)> = texts
                .iter()
                .zip(&records)
                .map(|(t, r)| {
                    let task = Some(r.task.as_str()).filter(|t| !t.is_empty());
                    (task, t.as_str(), r.answer.as_str())
                })
                .collect();
            for ((s, r), resp) in reward
                .score_batch_tasks(&items)
                .iter()
                .zip(&records)
                .zip(&responses)
            {
                add("val/reward_score".into(), s.overall);
                add("val/overall_reward".into(), s.overall);
                add("val/accuracy_reward".into(), s.accuracy);
                add("val/format_reward".into(), s.format);
                if !r.task.is_empty() {
                    add(format!("val/task/{}/accuracy_reward", r.task), s.accuracy);
                }
                add("val_response_length/mean".into(), resp.len() as f64);
            }
        }
        Ok(sums
            .into_iter()
            .map(|(k, (s, n))| (k, s / n.max(1) as f64))
            .collect())
    }
}
