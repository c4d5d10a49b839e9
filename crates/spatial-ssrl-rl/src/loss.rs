//! Policy losses: PPO clipped objective with asymmetric clip and dual clip, GSPO
//! (sequence-level ratio), GSPO-token, CISPO and SAPO, with EasyR1's log-ratio clamping and
//! metrics (`compute_policy_loss` in `verl/trainer/core_algos.py` @ b44b311).

use std::fmt;
use std::str::FromStr;

use burn::tensor::Tensor;
use burn::tensor::activation::sigmoid;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::kl::{KlPenalty, compute_kl};
use crate::masked::{LossAggregation, average_loss, masked_mean, masked_mean_rows, scalar};

/// Which surrogate objective (EasyR1's `worker.actor.loss_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PolicyLossType {
    /// `default`: PPO clip with `[1 - low, 1 + high]` and dual clip for negative advantages.
    #[default]
    Default,
    /// `gspo`: the clipped objective on the sequence-level ratio (mean token log-ratio).
    Gspo,
    /// `gspo_token`: the sequence ratio's value with per-token gradients.
    GspoToken,
    /// `cispo`: `-A * lp * stopgrad(clipped ratio)`.
    Cispo,
    /// `sapo`: smooth sigmoid gates instead of hard clipping.
    Sapo,
}

impl PolicyLossType {
    /// Every loss type.
    pub const ALL: [PolicyLossType; 5] = [
        PolicyLossType::Default,
        PolicyLossType::Gspo,
        PolicyLossType::GspoToken,
        PolicyLossType::Cispo,
        PolicyLossType::Sapo,
    ];

    /// Config name.
    pub fn name(self) -> &'static str {
        match self {
            PolicyLossType::Default => "default",
            PolicyLossType::Gspo => "gspo",
            PolicyLossType::GspoToken => "gspo_token",
            PolicyLossType::Cispo => "cispo",
            PolicyLossType::Sapo => "sapo",
        }
    }

    fn has_clip_metrics(self) -> bool {
        matches!(
            self,
            PolicyLossType::Default | PolicyLossType::Gspo | PolicyLossType::GspoToken
        )
    }
}

impl fmt::Display for PolicyLossType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PolicyLossType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        PolicyLossType::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| Error::UnknownName {
                kind: "policy loss type",
                name: s.into(),
                expected: "default, gspo, gspo_token, cispo, sapo",
            })
    }
}

/// Hyper-parameters of the policy loss (EasyR1 `worker.actor.*` defaults = Spatial-SSRL's run).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyLossConfig {
    /// Lower clip: ratio >= `1 - clip_ratio_low` (0.2).
    pub clip_ratio_low: f32,
    /// Upper clip: ratio <= `1 + clip_ratio_high` (0.3, DAPO's clip-higher).
    pub clip_ratio_high: f32,
    /// Dual clip for negative advantages: loss <= `-A * clip_ratio_dual` (3.0).
    pub clip_ratio_dual: f32,
    /// SAPO gate temperature for positive advantages (1.0).
    pub tau_positive: f32,
    /// SAPO gate temperature for negative advantages (1.05).
    pub tau_negative: f32,
    /// Surrogate objective (`default`).
    pub loss_type: PolicyLossType,
    /// Aggregation of per-token losses (`token`).
    pub loss_avg_mode: LossAggregation,
}

impl Default for PolicyLossConfig {
    fn default() -> Self {
        PolicyLossConfig {
            clip_ratio_low: 0.2,
            clip_ratio_high: 0.3,
            clip_ratio_dual: 3.0,
            tau_positive: 1.0,
            tau_negative: 1.05,
            loss_type: PolicyLossType::Default,
            loss_avg_mode: LossAggregation::Token,
        }
    }
}

/// Scalar diagnostics of one policy-loss evaluation (masked means over every valid token).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct PolicyLossMetrics {
    /// Mean of `old_lp - lp` (approximate KL between the behaviour and the current policy).
    pub ppo_kl: f32,
    /// Mean negative log-prob, aggregated with the loss mode (an entropy proxy).
    pub entropy_loss: f32,
    /// Fraction of tokens whose loss the upper/lower clip replaced (`l1 < l2`); `None` for
    /// CISPO and SAPO, which have no such clip.
    pub pg_clipfrac_higher: Option<f32>,
    /// Fraction of tokens with a negative advantage where the dual clip is active.
    pub pg_clipfrac_lower: Option<f32>,
}

/// The policy loss (`[1]`, differentiable) and its metrics.
#[derive(Debug, Clone)]
pub struct PolicyLoss {
    /// Aggregated policy-gradient loss, shape `[1]`.
    pub pg_loss: Tensor<1>,
    /// Diagnostics.
    pub metrics: PolicyLossMetrics,
}

/// EasyR1's `compute_policy_loss`. All inputs `[batch, len]`; only `log_probs` needs to carry
/// gradients. The log-ratio is clamped to `[-20, 20]` before `exp` so extreme tokens give finite
/// gradients.
pub fn compute_policy_loss(
    old_log_probs: Tensor<2>,
    log_probs: Tensor<2>,
    advantages: Tensor<2>,
    response_mask: Tensor<2>,
    cfg: &PolicyLossConfig,
) -> PolicyLoss {
    let mask = response_mask;
    let neg_approx_kl = log_probs.clone() - old_log_probs;
    let log_ratio = match cfg.loss_type {
        PolicyLossType::Gspo => {
            masked_mean_rows(neg_approx_kl.clone(), mask.clone()).unsqueeze_dim::<2>(1)
                * mask.clone()
        }
        PolicyLossType::GspoToken => {
            let seq = masked_mean_rows(neg_approx_kl.clone().detach(), mask.clone());
            seq.unsqueeze_dim::<2>(1) + log_probs.clone() - log_probs.clone().detach()
        }
        _ => neg_approx_kl.clone(),
    };
    let ratio = log_ratio.clone().clamp(-20.0, 20.0).exp();
    let lo = (1.0 - cfg.clip_ratio_low).ln();
    let hi = (1.0 + cfg.clip_ratio_high).ln();
    let clipped_ratio = log_ratio.clamp(lo, hi).exp();

    let ppo_kl = scalar(masked_mean(neg_approx_kl.neg().detach(), mask.clone()));
    let entropy = average_loss(
        log_probs.clone().neg().detach(),
        mask.clone(),
        cfg.loss_avg_mode,
    );
    // EasyR1 passes the scalar once more through masked_mean: times n / (n + 1e-8).
    let n = scalar(mask.clone().sum());
    let entropy_loss = scalar(entropy) * (n / (n + crate::masked::MASK_EPS));

    let mut clipfrac_higher = None;
    let mut clipfrac_lower = None;
    let per_token = match cfg.loss_type {
        PolicyLossType::Cispo => advantages.neg() * log_probs * clipped_ratio.detach(),
        PolicyLossType::Sapo => {
            let pos = advantages.clone().greater_equal_elem(0.0).float();
            let neg = advantages.clone().lower_elem(0.0).float();
            let shifted = ratio - 1.0;
            let gate_neg = sigmoid(shifted.clone() * cfg.tau_negative) * (4.0 / cfg.tau_negative);
            let gate_pos = sigmoid(shifted * cfg.tau_positive) * (4.0 / cfg.tau_positive);
            advantages.neg() * (pos * gate_pos + neg * gate_neg)
        }
        _ => {
            let l1 = advantages.clone().neg() * ratio;
            let l2 = advantages.clone().neg() * clipped_ratio;
            let l3 = advantages.clone().neg() * cfg.clip_ratio_dual;
            let higher_active = l1.clone().lower(l2.clone()).float();
            let higher = l1.max_pair(l2);
            let negative = advantages.lower_elem(0.0);
            let lower_active =
                higher.clone().greater(l3.clone()).float() * negative.clone().float();
            let lower = higher.clone().min_pair(l3);
            clipfrac_higher = Some(scalar(masked_mean(higher_active, mask.clone())));
            clipfrac_lower = Some(scalar(masked_mean(lower_active, mask.clone())));
            higher.mask_where(negative, lower)
        }
    };
    debug_assert_eq!(cfg.loss_type.has_clip_metrics(), clipfrac_higher.is_some());
    let pg_loss = average_loss(per_token, mask, cfg.loss_avg_mode);
    PolicyLoss {
        pg_loss,
        metrics: PolicyLossMetrics {
            ppo_kl,
            entropy_loss,
            pg_clipfrac_higher: clipfrac_higher,
            pg_clipfrac_lower: clipfrac_lower,
        },
    }
}

/// KL-to-reference loss as `dp_actor.py` forms it: `average_loss(kl, mask, mode)`, `[1]`.
pub fn kl_loss(
    log_probs: Tensor<2>,
    ref_log_probs: Tensor<2>,
    response_mask: Tensor<2>,
    penalty: KlPenalty,
    mode: LossAggregation,
) -> Tensor<1> {
    average_loss(
        compute_kl(log_probs, ref_log_probs, penalty),
        response_mask,
        mode,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::masked::{tensor2, to_host};
    use burn::tensor::Device;

    #[test]
    fn ratio_one_gives_minus_mean_advantage_and_no_clipping() {
        let d = Device::flex();
        let lp = tensor2(vec![-1.0, -2.0, -0.5, -0.3], 2, 2, &d);
        let adv = tensor2(vec![1.0, 1.0, -0.5, -0.5], 2, 2, &d);
        let mask = tensor2(vec![1.0, 1.0, 1.0, 0.0], 2, 2, &d);
        let out = compute_policy_loss(lp.clone(), lp, adv, mask, &PolicyLossConfig::default());
        // -(1 + 1 - 0.5) / 3
        assert!((scalar(out.pg_loss) + 0.5).abs() < 1e-6);
        assert_eq!(out.metrics.pg_clipfrac_higher, Some(0.0));
        assert_eq!(out.metrics.pg_clipfrac_lower, Some(0.0));
        assert!(out.metrics.ppo_kl.abs() < 1e-7);
    }

    #[test]
    fn dual_clip_bounds_negative_advantage_loss() {
        let d = Device::flex();
        // ratio = e^2 = 7.39 > 3 with A = -1: loss capped at 3.
        let old = tensor2(vec![-3.0], 1, 1, &d);
        let lp = tensor2(vec![-1.0], 1, 1, &d);
        let adv = tensor2(vec![-1.0], 1, 1, &d);
        let mask = tensor2(vec![1.0], 1, 1, &d);
        let out = compute_policy_loss(old, lp, adv, mask, &PolicyLossConfig::default());
        assert!((to_host(out.pg_loss)[0] - 3.0).abs() < 1e-6);
        assert_eq!(out.metrics.pg_clipfrac_lower, Some(1.0));
    }

    #[test]
    fn names_round_trip() {
        for k in PolicyLossType::ALL {
            assert_eq!(k.name().parse::<PolicyLossType>().unwrap(), k);
        }
        assert!("ppo2".parse::<PolicyLossType>().is_err());
    }
}
