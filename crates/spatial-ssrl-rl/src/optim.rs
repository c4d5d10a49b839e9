//! Optimiser plumbing shared by SFT and GRPO: AdamW settings, global-norm gradient clipping
//! (torch's `clip_grad_norm_`: one norm over every parameter), the non-finite-gradient skip,
//! and learning-rate schedules (constant or cosine, with linear warmup).

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::DType;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::mixed_precision::MasterAdamW;

/// AdamW settings (EasyR1 `worker.actor.optim`; torch's AdamW epsilon).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimConfig {
    /// Peak learning rate (GRPO 1e-6; SFT 1e-5).
    pub lr: f64,
    /// Decoupled weight decay (0.01).
    pub weight_decay: f32,
    /// Adam betas (0.9, 0.999).
    pub betas: (f32, f32),
    /// Adam epsilon (1e-8, torch's default).
    pub eps: f32,
    /// Global gradient-norm bound (1.0); `0` disables clipping.
    pub max_grad_norm: f32,
    /// Fraction of the optimiser steps spent in linear warmup (GRPO 0.0, SFT 0.1).
    pub lr_warmup_ratio: f64,
    /// Schedule after warmup.
    pub lr_scheduler: LrSchedule,
}

impl Default for OptimConfig {
    fn default() -> Self {
        OptimConfig {
            lr: 1e-6,
            weight_decay: 1e-2,
            betas: (0.9, 0.999),
            eps: 1e-8,
            max_grad_norm: 1.0,
            lr_warmup_ratio: 0.0,
            lr_scheduler: LrSchedule::Constant,
        }
    }
}

/// Learning-rate shape after warmup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LrSchedule {
    /// Constant (EasyR1's default for GRPO).
    #[default]
    Constant,
    /// Cosine decay to zero (LLaMA-Factory's SFT schedule).
    Cosine,
}

impl OptimConfig {
    /// The burn optimiser: AdamW with f32 master weights for parameters held in bf16/f16
    /// ([`MasterAdamW`]); clipping is done globally by [`clip_global_norm`], not per tensor.
    pub fn init(&self) -> ModuleOptimizer {
        let adamw = AdamWConfig::new()
            .with_beta_1(self.betas.0)
            .with_beta_2(self.betas.1)
            .with_epsilon(self.eps)
            .with_weight_decay(self.weight_decay)
            .build();
        ModuleOptimizer::from(MasterAdamW::new(adamw))
    }

    /// Learning rate at optimiser step `step` (0-based) of `total` steps.
    pub fn lr_at(&self, step: u64, total: u64) -> f64 {
        let total = total.max(1) as f64;
        let warmup = (self.lr_warmup_ratio * total).ceil();
        let s = step as f64;
        if warmup > 0.0 && s < warmup {
            return self.lr * (s + 1.0) / warmup;
        }
        match self.lr_scheduler {
            LrSchedule::Constant => self.lr,
            LrSchedule::Cosine => {
                let progress = ((s - warmup) / (total - warmup).max(1.0)).clamp(0.0, 1.0);
                self.lr * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
        }
    }
}

struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    acc: Option<Tensor<1>>,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            // Summed in f32 whatever the gradient's dtype (bf16 squares overflow and round).
            let sq = g.cast(DType::F32).powi_scalar(2).sum();
            self.acc = Some(match self.acc.take() {
                Some(a) => a + sq,
                None => sq,
            });
        }
    }
}

struct Scale<'a> {
    grads: &'a mut GradientsParams,
    factor: f32,
}

impl ModuleVisitor for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            self.grads.register(param.id, g * self.factor);
        }
    }
}

/// Global L2 norm of the gradients of `module`'s parameters (0 when there are none).
pub fn grad_norm<M: Module>(module: &M, grads: &GradientsParams) -> f32 {
    let mut v = SquaredNorm { grads, acc: None };
    module.visit(&mut v);
    v.acc.map(|a| a.into_scalar::<f32>().sqrt()).unwrap_or(0.0)
}

/// Scales every gradient by `factor`.
pub fn scale_grads<M: Module>(module: &M, grads: &mut GradientsParams, factor: f32) {
    module.visit(&mut Scale { grads, factor });
}

/// torch's `clip_grad_norm_`: computes the global norm, scales by
/// `max_norm / (norm + 1e-6)` when that is below 1, and returns the norm before clipping.
pub fn clip_global_norm<M: Module>(module: &M, grads: &mut GradientsParams, max_norm: f32) -> f32 {
    let norm = grad_norm(module, grads);
    if max_norm > 0.0 && norm.is_finite() {
        let coef = max_norm / (norm + 1e-6);
        if coef < 1.0 {
            scale_grads(module, grads, coef);
        }
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine() {
        let cfg = OptimConfig {
            lr: 1.0,
            lr_warmup_ratio: 0.1,
            lr_scheduler: LrSchedule::Cosine,
            ..OptimConfig::default()
        };
        assert!((cfg.lr_at(0, 100) - 0.1).abs() < 1e-12);
        assert!((cfg.lr_at(9, 100) - 1.0).abs() < 1e-12);
        assert!((cfg.lr_at(10, 100) - 1.0).abs() < 1e-12);
        assert!((cfg.lr_at(55, 100) - 0.5).abs() < 1e-12);
        assert!(cfg.lr_at(100, 100).abs() < 1e-12);
        let constant = OptimConfig::default();
        assert_eq!(constant.lr_at(7, 10), 1e-6);
    }
}
