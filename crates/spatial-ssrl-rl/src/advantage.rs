//! Advantage estimators: GRPO (and its pass@k and Dr. GRPO variants), RLOO, REINFORCE++, ReMax
//! and GAE, with EasyR1's numerics (`verl/trainer/core_algos.py` @ b44b311).
//!
//! Every estimator maps outcome rewards placed on the last valid token
//! (`token_level_rewards`, `[batch, len]`) to `(advantages, returns)`, both `[batch, len]`.
//! Group-relative estimators read each response's prompt group from `index` (one id per row).
//!
//! Two estimators are broken in EasyR1 at that commit and are implemented here as intended:
//! - ReMax multiplies a `[batch]` score by the `[batch, len]` mask without unsqueezing (fails for
//!   `batch != len`, broadcasts along the wrong axis for `batch == len`); here the per-response
//!   advantage `score - baseline` is broadcast along its own row.
//! - GAE tests `if response_mask[:, t]` on a whole column (valid only for batch size 1); here the
//!   "carry the bootstrap value and the running GAE only across valid tokens" rule is applied
//!   per row.
//!
//! Both are checked in this module's tests against the batch-size-1 semantics EasyR1 does
//! implement (a batch equals its rows computed one at a time) and against hand-derived values.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::masked::{masked_whiten, tensor2, to_host};

/// EasyR1's epsilon in the GRPO denominator `std + eps`.
pub const GRPO_EPS: f32 = 1e-6;

/// Which advantage estimator turns rewards into advantages (EasyR1's `algorithm.adv_estimator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AdvantageEstimator {
    /// `grpo`: `(r - mean_group) / (std_group + 1e-6)`, unbiased std (Spatial-SSRL's choice).
    #[default]
    Grpo,
    /// `grpo_passk`: only the group's best response gets `(r_max - r_second) / (std + 1e-6)`.
    GrpoPassk,
    /// `dr_grpo`: `r - mean_group`, no std normalisation (Dr. GRPO; pair with `seq_sum_norm`).
    DrGrpo,
    /// `rloo`: `r` minus the mean of the other responses of its group.
    Rloo,
    /// `reinforce_plus_plus`: reward-to-go, whitened over the whole batch.
    ReinforcePlusPlus,
    /// `remax`: `r - r_greedy` (needs `reward_baselines`).
    Remax,
    /// `gae`: generalised advantage estimation (needs `values`), whitened over the batch.
    Gae,
}

impl AdvantageEstimator {
    /// Every estimator, in declaration order.
    pub const ALL: [AdvantageEstimator; 7] = [
        AdvantageEstimator::Grpo,
        AdvantageEstimator::GrpoPassk,
        AdvantageEstimator::DrGrpo,
        AdvantageEstimator::Rloo,
        AdvantageEstimator::ReinforcePlusPlus,
        AdvantageEstimator::Remax,
        AdvantageEstimator::Gae,
    ];

    /// Config name (`grpo`, `rloo`, ...), as EasyR1 spells it.
    pub fn name(self) -> &'static str {
        match self {
            AdvantageEstimator::Grpo => "grpo",
            AdvantageEstimator::GrpoPassk => "grpo_passk",
            AdvantageEstimator::DrGrpo => "dr_grpo",
            AdvantageEstimator::Rloo => "rloo",
            AdvantageEstimator::ReinforcePlusPlus => "reinforce_plus_plus",
            AdvantageEstimator::Remax => "remax",
            AdvantageEstimator::Gae => "gae",
        }
    }

    /// Whether the estimator compares responses within a prompt group (needs `n >= 2`).
    pub fn is_group_relative(self) -> bool {
        matches!(
            self,
            AdvantageEstimator::Grpo
                | AdvantageEstimator::GrpoPassk
                | AdvantageEstimator::DrGrpo
                | AdvantageEstimator::Rloo
        )
    }
}

impl fmt::Display for AdvantageEstimator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AdvantageEstimator {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        AdvantageEstimator::ALL
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or_else(|| Error::UnknownName {
                kind: "advantage estimator",
                name: s.into(),
                expected: "grpo, grpo_passk, dr_grpo, rloo, reinforce_plus_plus, remax, gae",
            })
    }
}

/// What an estimator reads. Shapes: `[batch, len]` unless noted.
#[derive(Debug, Clone)]
pub struct AdvantageInputs<'a> {
    /// Rewards per token (outcome reward on the last valid token).
    pub token_level_rewards: Tensor<2>,
    /// 1 for response tokens, 0 for padding.
    pub response_mask: Tensor<2>,
    /// Prompt group of each row, `[batch]` (group-relative estimators only).
    pub index: &'a [u64],
    /// Discount (EasyR1 `algorithm.gamma`, 1.0).
    pub gamma: f32,
    /// GAE lambda (EasyR1 `algorithm.lam`, 1.0).
    pub lam: f32,
    /// Critic values (GAE only).
    pub values: Option<Tensor<2>>,
    /// Reward of the greedy response per row, `[batch]` (ReMax only).
    pub reward_baselines: Option<Tensor<1>>,
}

impl<'a> AdvantageInputs<'a> {
    /// Inputs for the outcome-reward estimators, with `gamma = lam = 1`.
    pub fn new(token_level_rewards: Tensor<2>, response_mask: Tensor<2>, index: &'a [u64]) -> Self {
        AdvantageInputs {
            token_level_rewards,
            response_mask,
            index,
            gamma: 1.0,
            lam: 1.0,
            values: None,
            reward_baselines: None,
        }
    }
}

/// `(advantages, returns)`, both `[batch, len]`.
pub type AdvantageReturn = (Tensor<2>, Tensor<2>);

/// Computes advantages and returns with `estimator` (EasyR1's `compute_advantage_return`).
///
/// Errors on shape mismatches, groups of one response for the group-relative estimators, and
/// missing `values` (GAE) or `reward_baselines` (ReMax).
pub fn compute_advantage_return(
    estimator: AdvantageEstimator,
    inputs: &AdvantageInputs<'_>,
) -> Result<AdvantageReturn> {
    let [bs, len] = inputs.token_level_rewards.dims();
    check_shape("response_mask", &[bs, len], &inputs.response_mask.dims())?;
    let device = inputs.token_level_rewards.device();
    let mask = inputs.response_mask.clone();
    match estimator {
        AdvantageEstimator::Grpo
        | AdvantageEstimator::GrpoPassk
        | AdvantageEstimator::DrGrpo
        | AdvantageEstimator::Rloo => {
            check_shape("index", &[bs], &[inputs.index.len()])?;
            let scores = to_host(inputs.token_level_rewards.clone().sum_dim(1));
            let adv = group_outcome_advantage(estimator, &scores, inputs.index)?;
            let adv = tensor2(adv, bs, 1, &device);
            let out = adv * mask;
            Ok((out.clone(), out))
        }
        AdvantageEstimator::ReinforcePlusPlus => {
            let returns = reward_to_go(
                &to_host(inputs.token_level_rewards.clone()),
                &to_host(mask.clone()),
                bs,
                len,
                inputs.gamma,
            );
            let returns = tensor2(returns, bs, len, &device);
            Ok((masked_whiten(returns.clone(), mask), returns))
        }
        AdvantageEstimator::Remax => {
            let baselines = inputs.reward_baselines.clone().ok_or(Error::MissingInput {
                estimator: "remax",
                input: "reward_baselines",
            })?;
            check_shape("reward_baselines", &[bs], &baselines.dims())?;
            let scores = inputs.token_level_rewards.clone().sum_dim(1);
            // The fix: [batch, 1] broadcast along each row, not [batch] along the columns.
            let adv = (scores - baselines.unsqueeze_dim::<2>(1)) * mask.clone();
            let rtg = reward_to_go(
                &to_host(inputs.token_level_rewards.clone() * mask.clone()),
                &vec![1.0; bs * len],
                bs,
                len,
                1.0,
            );
            Ok((adv, tensor2(rtg, bs, len, &device)))
        }
        AdvantageEstimator::Gae => {
            let values = inputs.values.clone().ok_or(Error::MissingInput {
                estimator: "gae",
                input: "values",
            })?;
            check_shape("values", &[bs, len], &values.dims())?;
            let (adv, ret) = gae(
                &to_host(inputs.token_level_rewards.clone()),
                &to_host(values),
                &to_host(mask.clone()),
                bs,
                len,
                inputs.gamma,
                inputs.lam,
            );
            let adv = tensor2(adv, bs, len, &device);
            Ok((masked_whiten(adv, mask), tensor2(ret, bs, len, &device)))
        }
    }
}

fn check_shape(what: &'static str, expected: &[usize], got: &[usize]) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(Error::Shape {
            what,
            expected: expected.to_vec(),
            got: got.to_vec(),
        })
    }
}

/// Per-response advantage of the group-relative estimators, computed in f32 as torch does.
fn group_outcome_advantage(
    estimator: AdvantageEstimator,
    scores: &[f32],
    index: &[u64],
) -> Result<Vec<f32>> {
    let mut groups: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (row, &g) in index.iter().enumerate() {
        groups.entry(g).or_default().push(row);
    }
    let mut adv = vec![0.0f32; scores.len()];
    for (&group, rows) in &groups {
        if rows.len() < 2 {
            return Err(Error::GroupTooSmall {
                estimator: estimator.name(),
                group,
                size: rows.len(),
            });
        }
        let vals: Vec<f32> = rows.iter().map(|&r| scores[r]).collect();
        let (mean, std) = mean_std_unbiased(&vals);
        match estimator {
            AdvantageEstimator::Grpo => {
                for &r in rows {
                    adv[r] = (scores[r] - mean) / (std + GRPO_EPS);
                }
            }
            AdvantageEstimator::DrGrpo => {
                for &r in rows {
                    adv[r] = scores[r] - mean;
                }
            }
            AdvantageEstimator::Rloo => {
                let sum: f32 = sum_f32(&vals);
                let others = (rows.len() - 1) as f32;
                for &r in rows {
                    adv[r] = scores[r] - (sum - scores[r]) / others;
                }
            }
            AdvantageEstimator::GrpoPassk => {
                // Best response first; ties keep the earlier row (either choice gives 0).
                let mut order: Vec<usize> = (0..rows.len()).collect();
                order.sort_by(|&a, &b| vals[b].total_cmp(&vals[a]).then(a.cmp(&b)));
                let (best, second) = (vals[order[0]], vals[order[1]]);
                adv[rows[order[0]]] = (best - second) / (std + GRPO_EPS);
            }
            _ => unreachable!("only group-relative estimators reach here"),
        }
    }
    Ok(adv)
}

fn sum_f32(vals: &[f32]) -> f32 {
    // Accumulate in f64, round once: closest to torch's exact-ish pairwise f32 sums.
    vals.iter().map(|&v| v as f64).sum::<f64>() as f32
}

/// Mean and unbiased standard deviation (`torch.std`), in f32.
fn mean_std_unbiased(vals: &[f32]) -> (f32, f32) {
    let n = vals.len() as f64;
    let mean = vals.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = vals.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean as f32, var.sqrt() as f32)
}

/// Discounted reward-to-go per row; the running return is reset after the mask ends.
fn reward_to_go(rewards: &[f32], mask: &[f32], bs: usize, len: usize, gamma: f32) -> Vec<f32> {
    let mut out = vec![0.0f32; bs * len];
    for b in 0..bs {
        let mut running = 0.0f32;
        for t in (0..len).rev() {
            let i = b * len + t;
            running = rewards[i] + gamma * running;
            out[i] = running;
            running *= mask[i];
        }
    }
    out
}

/// GAE per row: the bootstrap value and the running estimate advance only on valid tokens.
/// Returns `(advantages before whitening, returns = advantages + values)`.
fn gae(
    rewards: &[f32],
    values: &[f32],
    mask: &[f32],
    bs: usize,
    len: usize,
    gamma: f32,
    lam: f32,
) -> (Vec<f32>, Vec<f32>) {
    let mut adv = vec![0.0f32; bs * len];
    let mut ret = vec![0.0f32; bs * len];
    for b in 0..bs {
        let (mut next_value, mut last_gae) = (0.0f32, 0.0f32);
        for t in (0..len).rev() {
            let i = b * len + t;
            let delta = rewards[i] + gamma * next_value - values[i];
            let gae_t = delta + gamma * lam * last_gae;
            if mask[i] != 0.0 {
                next_value = values[i];
                last_gae = gae_t;
            }
            adv[i] = last_gae;
            ret[i] = last_gae + values[i];
        }
    }
    (adv, ret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn dev() -> Device {
        Device::flex()
    }

    fn close(a: &[f32], b: &[f32], tol: f32) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tol, "index {i}: {x} vs {y}");
        }
    }

    /// EasyR1's GAE loop, which is correct for a single row: the reference the fix must match
    /// row by row.
    fn gae_single_row_reference(r: &[f32], v: &[f32], m: &[f32], gamma: f32, lam: f32) -> Vec<f32> {
        let (mut nv, mut lg) = (0.0f32, 0.0f32);
        let mut out = vec![0.0; r.len()];
        for t in (0..r.len()).rev() {
            let delta = r[t] + gamma * nv - v[t];
            let g = delta + gamma * lam * lg;
            if m[t] != 0.0 {
                nv = v[t];
                lg = g;
            }
            out[t] = lg;
        }
        out
    }

    #[test]
    fn gae_batch_equals_rows_one_at_a_time() {
        let (bs, len) = (3, 4);
        let r = vec![0., 0., 1., 0., 0., 0., 0., 0.5, 0., 2., 0., 0.];
        let v = vec![0.1, 0.2, 0.3, 0.9, -0.5, 0.4, 0.0, 0.2, 1.0, 1.0, 7.0, 7.0];
        let m = vec![1., 1., 1., 0., 1., 1., 1., 1., 1., 1., 0., 0.];
        let (adv, ret) = gae(&r, &v, &m, bs, len, 0.9, 0.8);
        for b in 0..bs {
            let s = b * len..(b + 1) * len;
            let want =
                gae_single_row_reference(&r[s.clone()], &v[s.clone()], &m[s.clone()], 0.9, 0.8);
            close(&adv[s.clone()], &want, 1e-6);
            let want_ret: Vec<f32> = want.iter().zip(&v[s.clone()]).map(|(a, v)| a + v).collect();
            close(&ret[s], &want_ret, 1e-6);
        }
        // Hand check of row 0, t = 2 (last valid): delta = 1 - 0.3 = 0.7.
        assert!((adv[2] - 0.7).abs() < 1e-6);
        // t = 1: delta = 0 + 0.9 * 0.3 - 0.2 = 0.07; gae = 0.07 + 0.72 * 0.7 = 0.574.
        assert!((adv[1] - 0.574).abs() < 1e-6);
    }

    #[test]
    fn gae_with_zero_values_and_unit_discount_is_reward_to_go() {
        let d = dev();
        let (bs, len) = (2, 3);
        let rewards = tensor2(vec![0., 0., 1., 0., 0.5, 0.], bs, len, &d);
        let mask = tensor2(vec![1., 1., 1., 1., 1., 0.], bs, len, &d);
        let mut inputs = AdvantageInputs::new(rewards, mask.clone(), &[0, 1]);
        inputs.values = Some(tensor2(vec![0.0; 6], bs, len, &d));
        let (_, ret) = compute_advantage_return(AdvantageEstimator::Gae, &inputs).unwrap();
        close(&to_host(ret * mask), &[1., 1., 1., 0.5, 0.5, 0.], 1e-6);
    }

    #[test]
    fn remax_broadcasts_along_rows_when_batch_equals_len() {
        // bs == len == 2 is exactly where EasyR1's version silently broadcasts along columns.
        let d = dev();
        let rewards = tensor2(vec![0., 1., 0.3, 0.], 2, 2, &d);
        let mask = tensor2(vec![1., 1., 1., 0.], 2, 2, &d);
        let mut inputs = AdvantageInputs::new(rewards, mask, &[0, 0]);
        inputs.reward_baselines = Some(crate::masked::tensor1(vec![0.25, 0.5], &d));
        let (adv, ret) = compute_advantage_return(AdvantageEstimator::Remax, &inputs).unwrap();
        close(&to_host(adv), &[0.75, 0.75, -0.2, 0.0], 1e-6);
        close(&to_host(ret), &[1.0, 1.0, 0.3, 0.0], 1e-6);
        // And for bs != len it works at all.
        let rewards = tensor2(vec![0., 0., 1., 0., 0., 0.], 2, 3, &d);
        let mask = tensor2(vec![1.; 6], 2, 3, &d);
        let mut inputs = AdvantageInputs::new(rewards, mask, &[0, 0]);
        inputs.reward_baselines = Some(crate::masked::tensor1(vec![0.5, 0.5], &d));
        let (adv, _) = compute_advantage_return(AdvantageEstimator::Remax, &inputs).unwrap();
        close(&to_host(adv), &[0.5, 0.5, 0.5, -0.5, -0.5, -0.5], 1e-6);
    }

    #[test]
    fn missing_inputs_and_singleton_groups_are_errors() {
        let d = dev();
        let r = tensor2(vec![1.0, 0.0], 2, 1, &d);
        let m = tensor2(vec![1.0, 1.0], 2, 1, &d);
        let inputs = AdvantageInputs::new(r, m, &[0, 1]);
        assert!(matches!(
            compute_advantage_return(AdvantageEstimator::Grpo, &inputs),
            Err(Error::GroupTooSmall { .. })
        ));
        assert!(matches!(
            compute_advantage_return(AdvantageEstimator::Gae, &inputs),
            Err(Error::MissingInput { .. })
        ));
        assert!(matches!(
            compute_advantage_return(AdvantageEstimator::Remax, &inputs),
            Err(Error::MissingInput { .. })
        ));
    }

    #[test]
    fn dr_grpo_is_centred_not_scaled() {
        let d = dev();
        let r = tensor2(vec![1.0, 0.0, 0.0, 0.0], 4, 1, &d);
        let m = tensor2(vec![1.0; 4], 4, 1, &d);
        let inputs = AdvantageInputs::new(r, m, &[7, 7, 7, 7]);
        let (adv, _) = compute_advantage_return(AdvantageEstimator::DrGrpo, &inputs).unwrap();
        close(&to_host(adv), &[0.75, -0.25, -0.25, -0.25], 1e-6);
    }

    #[test]
    fn names_round_trip() {
        for e in AdvantageEstimator::ALL {
            assert_eq!(e.name().parse::<AdvantageEstimator>().unwrap(), e);
        }
        assert!("ppo".parse::<AdvantageEstimator>().is_err());
    }
}
