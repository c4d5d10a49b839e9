//! The reward interface: [`RewardFn`], its result [`RewardBreakdown`], and the combinators
//! [`WeightedSum`] (as TRL's `reward_weights`) and [`TaskRouter`] (one scorer per pretext task).

use std::collections::HashMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The named components of one scored response.
///
/// `format` and `accuracy` are the two verifiable signals; `overall` is the scalar the
/// trainer optimises. For [`ImgScore`](crate::ImgScore) each is in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct RewardBreakdown {
    /// The combined reward used for training.
    pub overall: f64,
    /// Whether the response follows the required output format (1.0 or 0.0 for `ImgScore`).
    pub format: f64,
    /// Whether the extracted answer is correct (1.0 or 0.0 for `ImgScore`).
    pub accuracy: f64,
}

impl RewardBreakdown {
    /// The components as `(name, value)` pairs, in a fixed order.
    ///
    /// ```
    /// use spatial_ssrl_rewards::RewardBreakdown;
    /// let b = RewardBreakdown { overall: 0.1, format: 1.0, accuracy: 0.0 };
    /// assert_eq!(b.components()[0], ("overall", 0.1));
    /// ```
    pub fn components(&self) -> [(&'static str, f64); 3] {
        [
            ("overall", self.overall),
            ("format", self.format),
            ("accuracy", self.accuracy),
        ]
    }
}

/// A verifiable reward: scores a model response against a ground-truth answer.
///
/// Object safe (`Box<dyn RewardFn>`), `Send + Sync` so batches score in parallel.
///
/// ```
/// use spatial_ssrl_rewards::{ImgScore, RewardFn};
/// let reward: Box<dyn RewardFn> = Box::new(ImgScore::default());
/// let scores = reward.score_batch(&[
///     ("<think>…</think> \\boxed{B}", "B"),
///     ("\\boxed{C}", "B"),
/// ]);
/// assert_eq!(scores[0].overall, 1.0);
/// assert_eq!(scores[1].overall, 0.0);
/// ```
pub trait RewardFn: Send + Sync {
    /// Scores one response. Never fails: an unparseable answer scores zero accuracy.
    fn score(&self, response: &str, ground_truth: &str) -> RewardBreakdown;

    /// Scores `(response, ground_truth)` pairs in parallel (rayon); output order equals input order.
    fn score_batch(&self, pairs: &[(&str, &str)]) -> Vec<RewardBreakdown> {
        pairs
            .par_iter()
            .map(|&(response, ground_truth)| self.score(response, ground_truth))
            .collect()
    }
}

impl<R: RewardFn + ?Sized> RewardFn for Box<R> {
    fn score(&self, response: &str, ground_truth: &str) -> RewardBreakdown {
        (**self).score(response, ground_truth)
    }
}

impl<R: RewardFn + ?Sized> RewardFn for std::sync::Arc<R> {
    fn score(&self, response: &str, ground_truth: &str) -> RewardBreakdown {
        (**self).score(response, ground_truth)
    }
}

/// A weighted sum of several rewards, component by component.
///
/// Each component of the result is `Σ weight_i * component_i`, the way TRL combines
/// `reward_funcs` with `reward_weights`. With non-negative weights summing to 1 and parts in
/// `[0, 1]`, every component stays in `[0, 1]`.
///
/// ```
/// use spatial_ssrl_rewards::{ImgScore, RewardFn, WeightedSum};
/// let strict = ImgScore::default();
/// let format_only = ImgScore::new(1.0)?; // overall = format
/// let sum = WeightedSum::new(vec![(Box::new(strict), 0.5), (Box::new(format_only), 0.5)])?;
/// let r = sum.score("<think>x</think>\\boxed{C}", "B");
/// assert_eq!(r.overall, 0.5 * 0.1 + 0.5 * 1.0);
/// # Ok::<(), spatial_ssrl_rewards::Error>(())
/// ```
pub struct WeightedSum {
    parts: Vec<(Box<dyn RewardFn>, f64)>,
}

impl WeightedSum {
    /// Combines `(reward, weight)` pairs; weights must be finite and non-negative, and the
    /// list must not be empty.
    pub fn new(parts: Vec<(Box<dyn RewardFn>, f64)>) -> Result<Self> {
        if parts.is_empty() {
            return Err(Error::EmptyWeightedSum);
        }
        for (_, w) in &parts {
            if !w.is_finite() || *w < 0.0 {
                return Err(Error::BadWeight {
                    what: "weighted sum",
                    weight: *w,
                });
            }
        }
        Ok(Self { parts })
    }

    /// The number of combined rewards.
    pub fn len(&self) -> usize {
        self.parts.len()
    }

    /// Always `false`: a `WeightedSum` holds at least one reward.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }
}

impl RewardFn for WeightedSum {
    fn score(&self, response: &str, ground_truth: &str) -> RewardBreakdown {
        let mut out = RewardBreakdown::default();
        for (reward, w) in &self.parts {
            let b = reward.score(response, ground_truth);
            out.overall += w * b.overall;
            out.format += w * b.format;
            out.accuracy += w * b.accuracy;
        }
        out
    }
}

/// Routes each response to the reward of its pretext task, with a fallback.
///
/// Task names are the registry ids of `spatial-ssrl-tasks` (`"shuffle"`, `"depth"`, ...).
/// As a plain [`RewardFn`] (no task known) it uses the fallback.
///
/// ```
/// use spatial_ssrl_rewards::{AnswerKind, ImgScore, Strictness, TaskRouter};
/// let router = TaskRouter::new(Box::new(ImgScore::default()))
///     .route("shuffle", Box::new(ImgScore::default().with_strictness(Strictness::Lenient(AnswerKind::Sequence))));
/// let resp = "<think>…</think>\\boxed{0, 2, 3, 1}";
/// assert_eq!(router.score_task(Some("shuffle"), resp, "0-2-3-1").accuracy, 1.0);
/// assert_eq!(router.score_task(Some("crop"), resp, "0-2-3-1").accuracy, 0.0);
/// ```
pub struct TaskRouter {
    routes: HashMap<String, Box<dyn RewardFn>>,
    fallback: Box<dyn RewardFn>,
}

impl TaskRouter {
    /// A router that scores every task with `fallback` until routes are added.
    pub fn new(fallback: Box<dyn RewardFn>) -> Self {
        Self {
            routes: HashMap::new(),
            fallback,
        }
    }

    /// Scores task `task` with `reward` (replacing an earlier route for the same task).
    pub fn route(mut self, task: impl Into<String>, reward: Box<dyn RewardFn>) -> Self {
        self.routes.insert(task.into(), reward);
        self
    }

    /// The reward used for `task` (`None` or an unrouted task: the fallback).
    pub fn reward_for(&self, task: Option<&str>) -> &dyn RewardFn {
        task.and_then(|t| self.routes.get(t))
            .map_or(&*self.fallback, |r| &**r)
    }

    /// Scores one response of task `task`.
    pub fn score_task(
        &self,
        task: Option<&str>,
        response: &str,
        ground_truth: &str,
    ) -> RewardBreakdown {
        self.reward_for(task).score(response, ground_truth)
    }

    /// Scores `(task, response, ground_truth)` triples in parallel; order preserved.
    pub fn score_batch_tasks(&self, items: &[(Option<&str>, &str, &str)]) -> Vec<RewardBreakdown> {
        items
            .par_iter()
            .map(|&(task, response, ground_truth)| self.score_task(task, response, ground_truth))
            .collect()
    }
}

impl RewardFn for TaskRouter {
    fn score(&self, response: &str, ground_truth: &str) -> RewardBreakdown {
        self.fallback.score(response, ground_truth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ImgScore;

    #[test]
    fn weighted_sum_rejects_bad_weights() {
        assert_eq!(
            WeightedSum::new(vec![]).err(),
            Some(Error::EmptyWeightedSum)
        );
        for w in [-0.5, f64::NAN, f64::INFINITY] {
            let r = WeightedSum::new(vec![(Box::new(ImgScore::default()), w)]);
            assert!(matches!(r, Err(Error::BadWeight { .. })), "{w}");
        }
    }

    #[test]
    fn weighted_sum_combines_every_component() {
        let sum = WeightedSum::new(vec![
            (Box::new(ImgScore::default()), 0.25),
            (Box::new(ImgScore::new(0.5).unwrap()), 0.75),
        ])
        .unwrap();
        assert_eq!(sum.len(), 2);
        let r = sum.score("<think>x</think>\\boxed{B}", "A");
        assert_eq!(r.format, 1.0);
        assert_eq!(r.accuracy, 0.0);
        assert_eq!(r.overall, 0.25 * 0.1 + 0.75 * 0.5);
    }

    #[test]
    fn router_batches_keep_order_and_routes() {
        let router = TaskRouter::new(Box::new(ImgScore::default()))
            .route("fmt", Box::new(ImgScore::new(1.0).unwrap()));
        let items = [
            (Some("fmt"), "<think>x</think>\\boxed{A}", "B"),
            (None, "<think>x</think>\\boxed{A}", "B"),
            (Some("other"), "\\boxed{B}", "B"),
        ];
        let got: Vec<f64> = router
            .score_batch_tasks(&items)
            .iter()
            .map(|b| b.overall)
            .collect();
        assert_eq!(got, [1.0, 0.1, 0.9]);
        assert_eq!(router.score("\\boxed{B}", "B").overall, 0.9);
    }
}
