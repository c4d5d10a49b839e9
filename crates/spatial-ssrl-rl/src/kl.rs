//! Per-token KL estimators between the policy and the frozen reference, with EasyR1's clamps
//! (`compute_kl` in `verl/trainer/core_algos.py` @ b44b311).

use std::fmt;
use std::str::FromStr;

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// KL estimator (EasyR1's `algorithm.kl_penalty`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum KlPenalty {
    /// `kl`: `lp - ref` (k1).
    Kl,
    /// `abs`: `|lp - ref|`.
    Abs,
    /// `mse`: `0.5 (lp - ref)^2` (k2).
    Mse,
    /// `low_var_kl`: `exp(x) - x - 1` with `x = clamp(ref - lp, -20, 20)`, clamped to
    /// `[-10, 10]` (Schulman's k3; Spatial-SSRL's choice).
    #[default]
    LowVarKl,
}

impl KlPenalty {
    /// Every estimator.
    pub const ALL: [KlPenalty; 4] = [
        KlPenalty::Kl,
        KlPenalty::Abs,
        KlPenalty::Mse,
        KlPenalty::LowVarKl,
    ];

    /// Config name.
    pub fn name(self) -> &'static str {
        match self {
            KlPenalty::Kl => "kl",
            KlPenalty::Abs => "abs",
            KlPenalty::Mse => "mse",
            KlPenalty::LowVarKl => "low_var_kl",
        }
    }
}

impl fmt::Display for KlPenalty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KlPenalty {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        KlPenalty::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| Error::UnknownName {
                kind: "kl penalty",
                name: s.into(),
                expected: "kl, abs, mse, low_var_kl",
            })
    }
}

/// Per-token KL estimate, `[batch, len]` from two `[batch, len]` log-prob tensors.
/// Differentiable in `log_probs` (gradients stop at the clamps, as in torch).
pub fn compute_kl(log_probs: Tensor<2>, ref_log_probs: Tensor<2>, penalty: KlPenalty) -> Tensor<2> {
    match penalty {
        KlPenalty::Kl => log_probs - ref_log_probs,
        KlPenalty::Abs => (log_probs - ref_log_probs).abs(),
        KlPenalty::Mse => (log_probs - ref_log_probs).powi_scalar(2) * 0.5,
        KlPenalty::LowVarKl => {
            let x = (ref_log_probs - log_probs).clamp(-20.0, 20.0);
            (x.clone().exp() - x - 1.0).clamp(-10.0, 10.0)
        }
    }
}

/// EasyR1's `compute_rewards`: the reward-side KL penalty used when the KL is not a loss,
/// `scores - (old_log_probs - ref_log_probs) * kl_ratio`, `[batch, len]`.
pub fn kl_penalised_rewards(
    token_level_scores: Tensor<2>,
    old_log_probs: Tensor<2>,
    ref_log_probs: Tensor<2>,
    kl_ratio: f32,
) -> Tensor<2> {
    token_level_scores - (old_log_probs - ref_log_probs) * kl_ratio
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::masked::{tensor2, to_host};
    use burn::tensor::Device;

    #[test]
    fn low_var_kl_is_zero_at_equality_and_clamped_far_away() {
        let d = Device::flex();
        let lp = tensor2(vec![-1.0, -1.0, -1.0], 1, 3, &d);
        let rf = tensor2(vec![-1.0, -30.0, 5.0], 1, 3, &d);
        let k = to_host(compute_kl(lp, rf, KlPenalty::LowVarKl));
        assert!(k[0].abs() < 1e-7);
        // x = -29 -> clamp -20: exp(-20) + 20 - 1 = 19 -> clamp 10.
        assert_eq!(k[1], 10.0);
        // x = 6: exp(6) - 7 = 396.4 -> 10.
        assert_eq!(k[2], 10.0);
    }

    #[test]
    fn names_round_trip() {
        for k in KlPenalty::ALL {
            assert_eq!(k.name().parse::<KlPenalty>().unwrap(), k);
        }
        assert!("full".parse::<KlPenalty>().is_err());
    }
}
