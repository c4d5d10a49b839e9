//! Per-step training metrics and their JSONL log (one line per optimiser-visible step), under
//! the names EasyR1 logs (`critic/score/mean`, `actor/pg_loss`, `timing_s/gen`, ...), so
//! dashboards and scripts written for EasyR1 runs read ours unchanged.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Mean and population standard deviation of a reward component.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct MeanStd {
    /// Mean.
    pub mean: f64,
    /// Standard deviation.
    pub std: f64,
}

impl MeanStd {
    /// Statistics of `values` (zeros when empty).
    pub fn of(values: &[f64]) -> MeanStd {
        if values.is_empty() {
            return MeanStd::default();
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        MeanStd {
            mean,
            std: var.sqrt(),
        }
    }
}

/// Wall-clock seconds per phase of a step.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct PhaseTimes {
    /// Sampling responses.
    pub rollout: f64,
    /// Scoring responses.
    pub reward: f64,
    /// Behaviour and reference log-probs.
    pub log_probs: f64,
    /// Loss, backward and optimiser steps.
    pub update: f64,
    /// Whole step.
    pub step: f64,
}

/// Everything logged for one training step (GRPO: one rollout batch; SFT: one optimiser step).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StepMetrics {
    /// 1-based step.
    pub step: u64,
    /// `"grpo"` or `"sft"`.
    pub phase: String,
    /// Epoch the step's data came from.
    pub epoch: u64,
    /// Learning rate used.
    pub lr: f64,
    /// Overall reward.
    pub reward: MeanStd,
    /// Highest overall reward of the step.
    pub reward_max: f64,
    /// Lowest overall reward of the step.
    pub reward_min: f64,
    /// Accuracy component of the reward.
    pub accuracy: f64,
    /// Format component of the reward.
    pub format: f64,
    /// Mean overall reward per pretext task.
    pub reward_per_task: BTreeMap<String, f64>,
    /// Policy-gradient loss (GRPO) or cross-entropy (SFT), averaged over mini-batches.
    pub pg_loss: f64,
    /// KL-to-reference loss (before the coefficient).
    pub kl: f64,
    /// Fraction of tokens clipped by the upper/lower PPO clip.
    pub clipfrac_high: f64,
    /// Fraction of tokens where the dual clip is active.
    pub clipfrac_low: f64,
    /// Approximate KL between behaviour and current policy.
    pub ppo_kl: f64,
    /// Mean next-token entropy over response tokens.
    pub entropy: f64,
    /// Global gradient norm before clipping, averaged over optimiser steps.
    pub grad_norm: f64,
    /// Optimiser steps skipped so far because a gradient was not finite.
    pub skipped_steps: u64,
    /// Mean response length in tokens.
    pub response_length_mean: f64,
    /// Longest response in tokens.
    pub response_length_max: usize,
    /// Shortest response in tokens.
    pub response_length_min: usize,
    /// Share of responses cut at `max_new_tokens`.
    pub response_length_clip_ratio: f64,
    /// Prompt plus response tokens of the step (EasyR1's `perf/total_num_tokens`).
    pub total_tokens: usize,
    /// Groups dropped by online filtering in this step.
    pub filtered_groups: usize,
    /// Prompt draws the step needed (1 without online filtering).
    pub make_batch_tries: usize,
    /// Response tokens generated per second.
    pub tokens_per_sec: f64,
    /// Seconds per phase.
    pub time: PhaseTimes,
}

impl StepMetrics {
    /// The step as EasyR1 names its metrics. GRPO: `critic/score/{mean,max,min}` (the
    /// sequence score), `reward/{overall,accuracy,format}`, `reward/task/<task>`,
    /// `response_length/{mean,max,min,clip_ratio}`, `actor/{pg_loss,kl_loss,entropy,
    /// grad_norm,lr,pg_clipfrac_higher,pg_clipfrac_lower,ppo_kl,skipped_steps}`,
    /// `perf/{throughput,total_num_tokens,time_per_step}` and `timing_s/{gen,reward,old,
    /// update_actor,step}` (`old` covers the behaviour and reference log-probs). SFT (as
    /// LLaMA-Factory logs it): `sft/{loss,grad_norm,lr,tokens_per_sec}`, `timing_s/step`.
    pub fn to_line(&self) -> MetricsLine {
        let mut v = BTreeMap::new();
        let mut put = |k: &str, x: f64| {
            v.insert(k.to_string(), x);
        };
        put("epoch", self.epoch as f64);
        if self.phase == "sft" {
            put("sft/loss", self.pg_loss);
            put("sft/grad_norm", self.grad_norm);
            put("sft/lr", self.lr);
            put("sft/tokens_per_sec", self.tokens_per_sec);
            put("sft/skipped_steps", self.skipped_steps as f64);
            put("timing_s/step", self.time.step);
        } else {
            put("critic/score/mean", self.reward.mean);
            put("critic/score/std", self.reward.std);
            put("critic/score/max", self.reward_max);
            put("critic/score/min", self.reward_min);
            put("reward/overall", self.reward.mean);
            put("reward/accuracy", self.accuracy);
            put("reward/format", self.format);
            for (task, r) in &self.reward_per_task {
                put(&format!("reward/task/{task}"), *r);
            }
            put("response_length/mean", self.response_length_mean);
            put("response_length/max", self.response_length_max as f64);
            put("response_length/min", self.response_length_min as f64);
            put(
                "response_length/clip_ratio",
                self.response_length_clip_ratio,
            );
            put("actor/pg_loss", self.pg_loss);
            put("actor/kl_loss", self.kl);
            put("actor/entropy", self.entropy);
            put("actor/grad_norm", self.grad_norm);
            put("actor/lr", self.lr);
            put("actor/pg_clipfrac_higher", self.clipfrac_high);
            put("actor/pg_clipfrac_lower", self.clipfrac_low);
            put("actor/ppo_kl", self.ppo_kl);
            put("actor/skipped_steps", self.skipped_steps as f64);
            put(
                "online_filtering/dropped_groups",
                self.filtered_groups as f64,
            );
            put("online_filtering/tries", self.make_batch_tries as f64);
            put("perf/total_num_tokens", self.total_tokens as f64);
            put("perf/time_per_step", self.time.step);
            put(
                "perf/throughput",
                self.total_tokens as f64 / self.time.step.max(1e-9),
            );
            put("perf/rollout_tokens_per_s", self.tokens_per_sec);
            put("timing_s/gen", self.time.rollout);
            put("timing_s/reward", self.time.reward);
            put("timing_s/old", self.time.log_probs);
            put("timing_s/update_actor", self.time.update);
            put("timing_s/step", self.time.step);
        }
        MetricsLine {
            step: self.step,
            phase: self.phase.clone(),
            values: v,
        }
    }
}

/// One line of `metrics.jsonl`: the step, its phase and every metric by EasyR1 name, flat:
/// `{"step": 3, "phase": "grpo", "actor/pg_loss": 0.01, "critic/score/mean": 0.4, ...}`.
/// Validation (`val/...`) joins the line of the step it ran after (step 0 before training).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MetricsLine {
    /// 1-based step of its phase (0: validation before training).
    pub step: u64,
    /// `"grpo"` or `"sft"`.
    pub phase: String,
    /// Metric name to value.
    #[serde(flatten)]
    pub values: BTreeMap<String, f64>,
}

impl MetricsLine {
    /// A metric's value, if logged on this line.
    pub fn get(&self, key: &str) -> Option<f64> {
        self.values.get(key).copied()
    }
}

/// Appends [`MetricsLine`]s as JSON lines.
#[derive(Debug)]
pub struct MetricsWriter {
    path: PathBuf,
    file: File,
}

impl MetricsWriter {
    /// Opens `path` for appending, first keeping only the lines `keep` accepts (a resumed
    /// run drops what the interrupted run logged past its checkpoint).
    pub fn open(path: &Path, keep: impl Fn(&MetricsLine) -> bool) -> Result<MetricsWriter> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        if path.exists() {
            let lines = read_metrics(path)?;
            if !lines.iter().all(&keep) {
                let mut text = String::new();
                for m in lines.iter().filter(|m| keep(m)) {
                    text.push_str(&serde_json::to_string(m).expect("metrics serialise"));
                    text.push('\n');
                }
                std::fs::write(path, text).map_err(|e| Error::io(path, e))?;
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        Ok(MetricsWriter {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Writes one line and flushes it.
    pub fn write(&mut self, m: &MetricsLine) -> Result<()> {
        let line = serde_json::to_string(m).expect("metrics serialise");
        writeln!(self.file, "{line}")
            .and_then(|_| self.file.flush())
            .map_err(|e| Error::io(&self.path, e))
    }
}

/// Reads a metrics JSONL file.
pub fn read_metrics(path: &Path) -> Result<Vec<MetricsLine>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(serde_json::from_str(&line).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            line: i + 1,
            source,
        })?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_use_easyr1_names_and_round_trip() {
        let m = StepMetrics {
            step: 2,
            phase: "grpo".into(),
            reward: MeanStd::of(&[1.0, 0.0]),
            reward_max: 1.0,
            pg_loss: -0.25,
            response_length_clip_ratio: 0.5,
            total_tokens: 100,
            time: PhaseTimes {
                step: 4.0,
                ..PhaseTimes::default()
            },
            ..StepMetrics::default()
        };
        let line = m.to_line();
        assert_eq!(line.get("critic/score/mean"), Some(0.5));
        assert_eq!(line.get("actor/pg_loss"), Some(-0.25));
        assert_eq!(line.get("response_length/clip_ratio"), Some(0.5));
        assert_eq!(line.get("perf/throughput"), Some(25.0));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.jsonl");
        let mut w = MetricsWriter::open(&path, |_| true).unwrap();
        w.write(&line).unwrap();
        let mut sft = line.clone();
        sft.phase = "sft".into();
        w.write(&sft).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("{\"step\":2,\"phase\":\"grpo\",\"actor/"),
            "{text}"
        );
        assert_eq!(read_metrics(&path).unwrap(), vec![line.clone(), sft]);
        drop(w);
        MetricsWriter::open(&path, |m| m.phase == "grpo").unwrap();
        assert_eq!(read_metrics(&path).unwrap(), vec![line]);
    }
}
