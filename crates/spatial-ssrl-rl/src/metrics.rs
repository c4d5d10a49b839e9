//! Per-step training metrics and their JSONL log (one line per optimiser-visible step).

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
    /// Groups dropped by dynamic sampling in this step.
    pub filtered_groups: usize,
    /// Response tokens generated per second.
    pub tokens_per_sec: f64,
    /// Seconds per phase.
    pub time: PhaseTimes,
}

/// Appends [`StepMetrics`] as JSON lines.
#[derive(Debug)]
pub struct MetricsWriter {
    path: PathBuf,
    file: File,
}

impl MetricsWriter {
    /// Opens `path` for appending; with `truncate_after = Some(step)` first drops lines of
    /// steps after `step` (a resumed run rewrites what the interrupted run logged past its
    /// checkpoint).
    pub fn open(path: &Path, truncate_after: Option<u64>) -> Result<MetricsWriter> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        if let Some(last) = truncate_after
            && path.exists()
        {
            let kept: Vec<StepMetrics> = read_metrics(path)?
                .into_iter()
                .filter(|m| m.step <= last)
                .collect();
            let mut text = String::new();
            for m in &kept {
                text.push_str(&serde_json::to_string(m).expect("metrics serialise"));
                text.push('\n');
            }
            std::fs::write(path, text).map_err(|e| Error::io(path, e))?;
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
    pub fn write(&mut self, m: &StepMetrics) -> Result<()> {
        let line = serde_json::to_string(m).expect("metrics serialise");
        writeln!(self.file, "{line}")
            .and_then(|_| self.file.flush())
            .map_err(|e| Error::io(&self.path, e))
    }
}

/// Reads a metrics JSONL file.
pub fn read_metrics(path: &Path) -> Result<Vec<StepMetrics>> {
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
