//! Validation as EasyR1's `_validate`: sample the validation prompts with the validation
//! sampling settings (`worker.rollout.val_override_config`: temperature 0.6, top-p 0.95,
//! n 1 in Spatial-SSRL's run), score them with the training reward and report
//! `val/reward_score`, `val/{overall,accuracy,format}_reward`, per-task accuracy and
//! `val_response_length/mean`. With `trainer.val_generations_to_log = N` it also appends N
//! of the validation generations to a JSONL file, as EasyR1's `_maybe_log_val_generations`
//! does: the same N samples every validation (a fixed shuffle of the generations sorted by
//! prompt), so a reader can follow how the answers to those prompts change.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
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

/// One logged validation generation (a line of the generations file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValGeneration {
    /// Validation after this training step (0 before training).
    pub step: u64,
    /// Prompt record id.
    pub id: u64,
    /// Pretext task.
    pub task: String,
    /// The prompt's question (`problem`).
    pub input: String,
    /// The generated response.
    pub output: String,
    /// The ground-truth answer.
    pub ground_truth: String,
    /// The reward's overall score.
    pub score: f64,
}

/// Validation prompts, encoded once for a policy.
pub struct Validator<P: Policy> {
    prompts: Vec<(PromptRecord, P::Prompt)>,
    sampling: ValSampling,
    max_new_tokens: usize,
    seed: u64,
    /// Where to append logged generations, and how many per validation.
    generation_log: Option<(PathBuf, usize)>,
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
            generation_log: None,
        })
    }

    /// Appends `count` generations of every validation to the JSONL file `path` (EasyR1's
    /// `trainer.val_generations_to_log`); `count == 0` logs nothing.
    pub fn with_generation_log(mut self, path: impl Into<PathBuf>, count: usize) -> Self {
        self.generation_log = (count > 0).then(|| (path.into(), count));
        self
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
        let mut generations = Vec::new();
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
            for (((s, r), resp), text) in reward
                .score_batch_tasks(&items)
                .iter()
                .zip(&records)
                .zip(&responses)
                .zip(&texts)
            {
                if self.generation_log.is_some() {
                    generations.push(ValGeneration {
                        step,
                        id: r.id,
                        task: r.task.clone(),
                        input: r.problem.clone(),
                        output: text.clone(),
                        ground_truth: r.answer.clone(),
                        score: s.overall,
                    });
                }
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
        if let Some((path, count)) = &self.generation_log {
            self.log_generations(path, *count, generations)?;
        }
        Ok(sums
            .into_iter()
            .map(|(k, (s, n))| (k, s / n.max(1) as f64))
            .collect())
    }

    /// Picks `count` generations as EasyR1 does (sorted by prompt, then a shuffle with a
    /// fixed seed, first `count`) and appends them to `path`.
    fn log_generations(
        &self,
        path: &std::path::Path,
        count: usize,
        mut generations: Vec<ValGeneration>,
    ) -> Result<()> {
        // The sort makes the pick independent of batching; the stable sort keeps sample order.
        generations.sort_by(|a, b| a.input.cmp(&b.input).then(a.id.cmp(&b.id)));
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(self.seed, &[0x6E_4C06]));
        generations.shuffle(&mut rng);
        generations.truncate(count);
        let mut text = String::new();
        for g in &generations {
            text.push_str(&serde_json::to_string(g).expect("generation serialises"));
            text.push('\n');
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|e| Error::io(path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiny::TinyPolicyConfig;
    use burn::tensor::Device;
    use spatial_ssrl_rewards::{RewardBreakdown, RewardFn};

    struct Exact;

    impl RewardFn for Exact {
        fn score(&self, response: &str, ground_truth: &str) -> RewardBreakdown {
            let s = f64::from(u8::from(response.trim() == ground_truth));
            RewardBreakdown {
                overall: s,
                format: 1.0,
                accuracy: s,
            }
        }
    }

    #[test]
    fn logs_the_same_chosen_generations_every_validation() {
        let tiny = TinyPolicyConfig {
            n_prompts: 6,
            ..TinyPolicyConfig::default()
        };
        let policy = tiny.init(&Device::flex());
        let records = six_records();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("val_generations.jsonl");
        let sampling = ValSampling {
            n: 2,
            batch_size: 4,
            ..ValSampling::default()
        };
        let v = Validator::new(&policy, records, sampling, 3, 16, 9)
            .unwrap()
            .with_generation_log(&path, 5);
        let reward = TaskRouter::new(Box::new(Exact));
        v.run(&policy, 0, &reward).unwrap();
        v.run(&policy, 4, &reward).unwrap();
        let lines: Vec<ValGeneration> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 10);
        let picks = |step: u64| -> Vec<(u64, String)> {
            let mut p: Vec<_> = lines
                .iter()
                .filter(|g| g.step == step)
                .map(|g| (g.id, g.input.clone()))
                .collect();
            p.sort();
            p
        };
        assert_eq!(picks(0).len(), 5);
        assert_eq!(picks(0), picks(4));
        assert!(
            lines
                .iter()
                .all(|g| g.ground_truth == "1 2" && g.score <= 1.0)
        );
        // Asking for more than there are logs all 12 generations.
        let all = Validator::new(&policy, six_records(), sampling, 3, 16, 9)
            .unwrap()
            .with_generation_log(dir.path().join("all.jsonl"), 100);
        all.run(&policy, 1, &reward).unwrap();
        let n = std::fs::read_to_string(dir.path().join("all.jsonl"))
            .unwrap()
            .lines()
            .count();
        assert_eq!(n, 12);
    }

    fn six_records() -> Vec<PromptRecord> {
        (0..6u64)
            .map(|i| PromptRecord {
                id: i,
                problem: i.to_string(),
                answer: "1 2".into(),
                images: Vec::new(),
                task: "toy".into(),
            })
            .collect()
    }
}
