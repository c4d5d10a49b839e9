//! `[reward]`: the verifiable reward a run trains and validates with, built from the config as
//! a [`TaskRouter`] over `ImgScore`s: the format weight (0.1, the reference `img_score`), the
//! answer comparison (strict, the reference's exact match, or lenient: other spellings of the
//! same answer for the task's answer kind), and per-task overrides of both.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use spatial_ssrl_rewards::{AnswerKind, ImgScore, Strictness, TaskRouter};

use crate::error::{Error, Result};

/// Pretext tasks routed when lenient mode is on globally (their answer kind is known).
const KNOWN_TASKS: [&str; 5] = ["shuffle", "flip", "crop", "depth", "position"];

/// Overrides for one task.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaskRewardConfig {
    /// Format weight of this task (else the global one).
    pub format_weight: Option<f64>,
    /// Lenient answer comparison for this task (else the global setting).
    pub lenient: Option<bool>,
}

/// The reward of training and validation.
///
/// ```
/// use spatial_ssrl_rl::RewardConfig;
/// let cfg: RewardConfig = toml::from_str("lenient = true\n[tasks.crop]\nformat_weight = 0.5\n")?;
/// let reward = cfg.build()?;
/// let resp = "<think>compare</think>\\boxed{0 2 3 1}";
/// assert_eq!(reward.score_task(Some("shuffle"), resp, "0-2-3-1").accuracy, 1.0);
/// // crop has its own format weight: a wrong answer in the right format scores 0.5.
/// let wrong = reward.score_task(Some("crop"), "<think>look</think>\\boxed{C}", "B");
/// assert_eq!((wrong.accuracy, wrong.format, wrong.overall), (0.0, 1.0, 0.5));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RewardConfig {
    /// Weight of the format term in the overall reward (0.1, `img_score`'s).
    pub format_weight: f64,
    /// Accept other spellings of the same answer (false: the reference's exact match).
    pub lenient: bool,
    /// Per-task overrides, by task id (`[reward.tasks.shuffle]`).
    pub tasks: BTreeMap<String, TaskRewardConfig>,
}

impl Default for RewardConfig {
    fn default() -> Self {
        RewardConfig {
            format_weight: ImgScore::DEFAULT_FORMAT_WEIGHT,
            lenient: false,
            tasks: BTreeMap::new(),
        }
    }
}

impl RewardConfig {
    fn img_score(&self, task: Option<&str>, weight: f64, lenient: bool) -> Result<ImgScore> {
        let score = ImgScore::new(weight).map_err(|_| Error::Config {
            key: "reward.format_weight",
            value: weight.to_string(),
            reason: "must be within [0, 1]",
        })?;
        if !lenient {
            return Ok(score);
        }
        let kind = task.and_then(AnswerKind::for_task).ok_or(Error::Config {
            key: "reward.lenient",
            value: "true".into(),
            reason: "lenient comparison needs a task whose answer kind is known",
        })?;
        Ok(score.with_strictness(Strictness::Lenient(kind)))
    }

    /// The router: tasks with settings other than the strict global ones get their own
    /// `ImgScore`; everything else (unknown tasks included) is scored strictly.
    ///
    /// # Errors
    /// [`Error::Config`] for a format weight outside `[0, 1]` or a lenient override on a task
    /// whose answer kind is unknown.
    pub fn build(&self) -> Result<TaskRouter> {
        let fallback = self.img_score(None, self.format_weight, false)?;
        let mut router = TaskRouter::new(Box::new(fallback));
        let mut tasks: Vec<&str> = self.tasks.keys().map(String::as_str).collect();
        if self.lenient {
            tasks.extend(KNOWN_TASKS);
        }
        tasks.sort_unstable();
        tasks.dedup();
        for task in tasks {
            let o = self.tasks.get(task).copied().unwrap_or_default();
            let weight = o.format_weight.unwrap_or(self.format_weight);
            let lenient = o.lenient.unwrap_or(self.lenient);
            router = router.route(task, Box::new(self.img_score(Some(task), weight, lenient)?));
        }
        Ok(router)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_the_reference_img_score() {
        let r = RewardConfig::default().build().unwrap();
        let resp = "<think>x</think>\\boxed{0 2 3 1}";
        // Strict: a different spelling is wrong, the format still counts.
        let s = r.score_task(Some("shuffle"), resp, "0-2-3-1");
        assert_eq!((s.accuracy, s.format), (0.0, 1.0));
        assert!((s.overall - 0.1).abs() < 1e-12);
    }

    #[test]
    fn bad_weights_and_unknown_lenient_tasks_are_errors() {
        let mut c = RewardConfig {
            format_weight: 1.5,
            ..RewardConfig::default()
        };
        assert!(c.build().is_err());
        c.format_weight = 0.1;
        c.tasks.insert(
            "my_task".into(),
            TaskRewardConfig {
                lenient: Some(true),
                ..TaskRewardConfig::default()
            },
        );
        let Err(err) = c.build() else {
            panic!("lenient on an unknown task was accepted")
        };
        let err = err.to_string();
        assert!(err.contains("reward.lenient"), "{err}");
    }
}
