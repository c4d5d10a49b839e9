//! Making a step's rollout batch as EasyR1's `_make_batch_data` does: draw prompts, sample
//! `n` responses each, score them, and with online filtering keep only the groups whose mean
//! score (`filter_key`) lies strictly within `(filter_low, filter_high)`, drawing more
//! prompts until `rollout_batch_size` groups are kept or `max_try_make_batch` draws are spent.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use spatial_ssrl_rewards::{RewardBreakdown, TaskRouter};

use crate::data::{DataCursor, derive_seed};
use crate::distributed::Peer;
use crate::distributed::shard::generate_groups;
use crate::error::{Error, Result};
use crate::grpo::GrpoConfig;
use crate::policy::{Policy, PromptRecord};

/// The reward component online filtering looks at (EasyR1 `algorithm.filter_key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FilterKey {
    /// The combined reward (EasyR1's default).
    #[default]
    Overall,
    /// Answer correctness.
    Accuracy,
    /// Output format.
    Format,
}

impl FilterKey {
    fn of(self, s: &RewardBreakdown) -> f64 {
        match self {
            FilterKey::Overall => s.overall,
            FilterKey::Accuracy => s.accuracy,
            FilterKey::Format => s.format,
        }
    }
}

/// A step's sampled and scored groups (`n` consecutive sequences per group).
pub(crate) struct Sampled<Pr> {
    /// Prompt row of each group.
    pub rows: Vec<usize>,
    /// Prompt of each sequence.
    pub prompts: Vec<Pr>,
    /// Response tokens of each sequence.
    pub responses: Vec<Vec<u32>>,
    /// Group index of each sequence (0-based, in `rows` order).
    pub group: Vec<u64>,
    /// Reward of each sequence.
    pub scores: Vec<RewardBreakdown>,
    /// Prompt draws made (1 without online filtering).
    pub tries: usize,
    /// Groups online filtering dropped.
    pub dropped_groups: usize,
    /// Seconds spent generating.
    pub rollout_secs: f64,
    /// Seconds spent scoring.
    pub reward_secs: f64,
}

impl<Pr> Sampled<Pr> {
    fn empty() -> Self {
        Sampled {
            rows: Vec::new(),
            prompts: Vec::new(),
            responses: Vec::new(),
            group: Vec::new(),
            scores: Vec::new(),
            tries: 0,
            dropped_groups: 0,
            rollout_secs: 0.0,
            reward_secs: 0.0,
        }
    }
}

/// Whether a group's mean `key` score lies strictly inside `(low, high)`.
pub(crate) fn keep_group(scores: &[RewardBreakdown], key: FilterKey, low: f64, high: f64) -> bool {
    let mean = scores.iter().map(|s| key.of(s)).sum::<f64>() / scores.len().max(1) as f64;
    mean > low && mean < high
}

/// Draws, samples and scores prompts until the step's batch is complete (see the module
/// doc). Each response is seeded by (run seed, step, draw, prompt id, sample index) and
/// generated in calls of `rollout_micro_batch_size` sequences (each padded on its own), so a
/// resumed run repeats the step exactly, and data-parallel peers (each sampling the groups
/// it owns) get the batch of one peer.
pub(crate) fn make_batch<P: Policy>(
    infer: &P,
    data: &[(PromptRecord, P::Prompt)],
    cursor: &mut DataCursor,
    cfg: &GrpoConfig,
    step: u64,
    reward: &TaskRouter,
    peer: &Peer,
) -> Result<Sampled<P::Prompt>> {
    let n = cfg.n;
    let draw = cfg
        .mini_rollout_batch_size
        .unwrap_or(cfg.rollout_batch_size);
    let mut out = Sampled::empty();
    loop {
        let rows = cursor.take(cfg.seed, data.len(), cfg.shuffle, draw);
        let attempt = out.tries as u64;
        out.tries += 1;

        let t = Instant::now();
        let prompts: Vec<P::Prompt> = rows
            .iter()
            .flat_map(|&r| std::iter::repeat_n(data[r].1.clone(), n))
            .collect();
        // Sample j of prompt record `id` in draw `attempt` of `step`: its own seed.
        let seeds: Vec<u64> = rows
            .iter()
            .flat_map(|&r| {
                let id = data[r].0.id;
                (0..n as u64)
                    .map(move |j| derive_seed(cfg.seed, &[0x0A11_0075, step, attempt, id, j]))
            })
            .collect();
        let micro = cfg.rollout_micro_batch_size.unwrap_or(prompts.len()).max(1);
        // Data-parallel peers each sample their own groups and exchange the responses.
        let responses = generate_groups(peer, infer, &prompts, &seeds, n, micro, &cfg.sampling)?;
        out.rollout_secs += t.elapsed().as_secs_f64();

        let t = Instant::now();
        let texts: Vec<String> = responses
            .iter()
            .map(|r| infer.decode(r))
            .collect::<Result<_>>()?;
        let items: Vec<(Option<&str>, &str, &str)> = texts
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let record = &data[rows[i / n]].0;
                let task = Some(record.task.as_str()).filter(|t| !t.is_empty());
                (task, text.as_str(), record.answer.as_str())
            })
            .collect();
        let scores = reward.score_batch_tasks(&items);
        out.reward_secs += t.elapsed().as_secs_f64();

        let mut prompts = prompts.into_iter();
        let mut responses = responses.into_iter();
        for (g, &row) in rows.iter().enumerate() {
            if out.rows.len() == cfg.rollout_batch_size {
                // Enough groups: the rest of this draw is cut, as EasyR1 truncates.
                break;
            }
            let group_scores = &scores[g * n..(g + 1) * n];
            let keep = !cfg.online_filtering
                || keep_group(
                    group_scores,
                    cfg.filter_key,
                    cfg.filter_low,
                    cfg.filter_high,
                );
            let group_prompts: Vec<P::Prompt> = prompts.by_ref().take(n).collect();
            let group_responses: Vec<Vec<u32>> = responses.by_ref().take(n).collect();
            if !keep {
                out.dropped_groups += 1;
                continue;
            }
            let id = out.rows.len() as u64;
            out.rows.push(row);
            out.prompts.extend(group_prompts);
            out.responses.extend(group_responses);
            out.group.extend(std::iter::repeat_n(id, n));
            out.scores.extend_from_slice(group_scores);
        }
        if out.rows.len() >= cfg.rollout_batch_size || !cfg.online_filtering {
            return Ok(out);
        }
        if cfg.max_try_make_batch > 0 && out.tries as i64 >= cfg.max_try_make_batch {
            return Err(Error::OnlineFiltering {
                tries: out.tries,
                kept: out.rows.len(),
                wanted: cfg.rollout_batch_size,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(acc: f64) -> RewardBreakdown {
        RewardBreakdown {
            overall: acc,
            format: 1.0,
            accuracy: acc,
        }
    }

    #[test]
    fn groups_are_kept_strictly_inside_the_band() {
        let all_right = [s(1.0), s(1.0)];
        let all_wrong = [s(0.0), s(0.0)];
        let mixed = [s(1.0), s(0.0)];
        for (g, want) in [(&all_right, false), (&all_wrong, false), (&mixed, true)] {
            assert_eq!(keep_group(g, FilterKey::Accuracy, 0.01, 0.99), want);
        }
        // Format is 1 everywhere: never inside (0.01, 0.99).
        assert!(!keep_group(&mixed, FilterKey::Format, 0.01, 0.99));
        assert!(keep_group(&mixed, FilterKey::Overall, 0.4, 0.6));
    }
}
