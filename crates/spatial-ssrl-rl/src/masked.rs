//! Masked reductions over `[batch, response_len]` tensors, with EasyR1's epsilons
//! (`verl/utils/torch_functional.py`: `masked_mean`, `masked_var`, `masked_whiten`) and its
//! loss aggregation modes (`average_loss` in `verl/trainer/core_algos.py`).

use std::fmt;
use std::str::FromStr;

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Epsilon EasyR1 adds to mask sums before dividing (`masked_mean`, `average_loss`).
pub const MASK_EPS: f32 = 1e-8;

/// `sum(values * mask) / (sum(mask) + 1e-8)` over the whole tensor: shape `[1]`.
pub fn masked_mean(values: Tensor<2>, mask: Tensor<2>) -> Tensor<1> {
    (values * mask.clone()).sum() / (mask.sum() + MASK_EPS)
}

/// Row-wise masked mean: `[batch, len] -> [batch]`.
pub fn masked_mean_rows(values: Tensor<2>, mask: Tensor<2>) -> Tensor<1> {
    let num = (values * mask.clone()).sum_dim(1).squeeze_dim::<1>(1);
    let den = mask.sum_dim(1).squeeze_dim::<1>(1) + MASK_EPS;
    num / den
}

/// Unbiased masked variance (Bessel factor `n / (n - 1)` with `n = sum(mask)`, skipped when
/// `n <= 1` as EasyR1 does): shape `[1]`.
pub fn masked_var(values: Tensor<2>, mask: Tensor<2>) -> Tensor<1> {
    let mean = masked_mean(values.clone(), mask.clone());
    let centered = values - mean.unsqueeze::<2>();
    let var = masked_mean(centered.powi_scalar(2), mask.clone());
    let n: f32 = mask.sum().into_scalar();
    if n <= 1.0 { var } else { var * (n / (n - 1.0)) }
}

/// `(values - mean) * rsqrt(var + 1e-8)` over the valid tokens (masked positions are not
/// zeroed, as in EasyR1; every consumer multiplies by the mask again).
pub fn masked_whiten(values: Tensor<2>, mask: Tensor<2>) -> Tensor<2> {
    let mean = masked_mean(values.clone(), mask.clone());
    let var = masked_var(values.clone(), mask);
    (values - mean.unsqueeze::<2>()) / (var + MASK_EPS).sqrt().unsqueeze::<2>()
}

/// How a per-token loss `[batch, len]` becomes a scalar (EasyR1's `loss_avg_mode`, plus the
/// Dr. GRPO constant normaliser).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LossAggregation {
    /// `token`: mean over every valid token of the batch (EasyR1 default, DAPO's token-level loss).
    #[default]
    Token,
    /// `seq`: mean over tokens within each response, then mean over responses (original GRPO).
    Seq,
    /// `seq_sum_norm`: sum over tokens divided by the padded response length, then mean over
    /// responses (Dr. GRPO: no per-response length normalisation bias).
    SeqSumNorm,
}

impl LossAggregation {
    /// Config name (`token`, `seq`, `seq_sum_norm`).
    pub fn name(self) -> &'static str {
        match self {
            LossAggregation::Token => "token",
            LossAggregation::Seq => "seq",
            LossAggregation::SeqSumNorm => "seq_sum_norm",
        }
    }
}

impl fmt::Display for LossAggregation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for LossAggregation {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "token" => Ok(LossAggregation::Token),
            "seq" => Ok(LossAggregation::Seq),
            "seq_sum_norm" => Ok(LossAggregation::SeqSumNorm),
            _ => Err(Error::UnknownName {
                kind: "loss aggregation",
                name: s.into(),
                expected: "token, seq, seq_sum_norm",
            }),
        }
    }
}

/// EasyR1's `average_loss(values, mask, mode)`: `[batch, len] -> [1]`.
pub fn average_loss(values: Tensor<2>, mask: Tensor<2>, mode: LossAggregation) -> Tensor<1> {
    match mode {
        LossAggregation::Token => masked_mean(values, mask),
        LossAggregation::Seq => masked_mean_rows(values, mask).mean(),
        LossAggregation::SeqSumNorm => {
            let len = values.dims()[1].max(1) as f32;
            ((values * mask).sum_dim(1).squeeze_dim::<1>(1) / len).mean()
        }
    }
}

/// A `[rows, cols]` float tensor from row-major host values.
pub fn tensor2(values: Vec<f32>, rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values, [rows, cols]), device)
}

/// A `[n]` float tensor from host values.
pub fn tensor1(values: Vec<f32>, device: &Device) -> Tensor<1> {
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [n]), device)
}

/// Row-major host copy of a float tensor (synchronises with the device).
pub fn to_host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec_as::<f32>()
        .expect("a float tensor converted to f32 reads back as f32")
}

/// Scalar value of a one-element float tensor (synchronises with the device).
pub fn scalar(t: Tensor<1>) -> f32 {
    t.into_scalar::<f32>()
}
