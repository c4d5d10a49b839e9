//! bf16 weights with f32 master weights (EasyR1's FSDP mixed precision) on the tiny Qwen2.5-VL
//! fixture (or the folder in `SSRL_TINY_QWEN_DIR`): SFT steps (full and LoRA) and a GRPO step
//! run on a bf16 policy and track the same steps of its f32 twin, the policy with every bf16
//! weight widened to f32. Both start from the same values and compute the same forward pass
//! (a bf16 weight is widened for its product), so rollouts are the same and what differs is
//! only what mixed precision changes: gradients rounded to bf16 on their way out of the
//! backward pass, and the held weights rounded from the f32 master after each step.
//!
//! Documented tolerance (docs/training.md, "Mixed precision"): losses and gradient norms
//! within `REL_TOL` relative of the f32 run's; after `k` optimiser steps every weight within
//! `2^-8 |w| + 2 k lr` of the f32 run's (bf16 rounding of the held value, plus AdamW's
//! per-step update of at most about `lr` per weight, whose sign may differ where a gradient
//! is near zero), and the bf16 run's weight updates point the same way as the f32 run's
//! (cosine >= `MIN_UPDATE_COSINE`).

use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{DType, Device, Tensor};
use spatial_ssrl_model::WeightDtype;
use spatial_ssrl_rewards::{RewardBreakdown, RewardFn, TaskRouter};
use spatial_ssrl_rl::{
    GrpoConfig, GrpoTrainer, ImageSource, OptimConfig, PromptRecord, QwenPolicy, SamplingConfig,
    SftConfig, SftExample, SftTrainer, StepMetrics,
};

const REL_TOL: f64 = 1e-2;
const MIN_UPDATE_COSINE: f64 = 0.9;
const LR: f64 = 1e-3;
const SEED: u64 = 5;

fn fixture() -> PathBuf {
    std::env::var_os("SSRL_TINY_QWEN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-qwen2_5-vl")
        })
}

fn image() -> ImageSource {
    ImageSource::Path(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/street.jpg"))
}

fn records() -> Vec<PromptRecord> {
    ["<image>Which side is nearer?", "Count to three."]
        .iter()
        .enumerate()
        .map(|(i, q)| PromptRecord {
            id: i as u64,
            problem: (*q).into(),
            answer: "1 2 3".into(),
            images: if q.contains("<image>") {
                vec![image()]
            } else {
                vec![]
            },
            task: "toy".into(),
        })
        .collect()
}

/// Widens every parameter to f32, keeping its id and trainability.
struct ToF32;

impl ModuleMapper for ToF32 {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|t| {
            let grad = t.is_require_grad();
            let t = t.inner().cast(DType::F32).autodiff();
            if grad { t.require_grad() } else { t }
        })
    }
}

/// The bf16 policy, or its f32 twin.
fn policy(bf16: bool) -> QwenPolicy {
    let device = Device::flex().autodiff();
    // LoRA's `A` factors draw from the device's generator: both runs start from the same.
    device.seed(SEED);
    let p = QwenPolicy::from_pretrained_dtype(fixture(), &device, WeightDtype::Bf16).unwrap();
    assert_eq!(p.model().weight_dtype(), DType::BF16);
    if bf16 { p } else { p.map(&mut ToF32) }
}

/// Every float parameter, widened to f32 and flattened in visiting order.
fn weights<M: Module>(m: &M) -> Vec<f32> {
    struct Collect(Vec<f32>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let v = param.val().cast(DType::F32).into_data();
            self.0.extend(v.iter::<f32>());
        }
    }
    let mut c = Collect(Vec::new());
    m.visit(&mut c);
    c.0
}

fn close(what: &str, bf16: f64, f32: f64) {
    let rel = (bf16 - f32).abs() / f32.abs().max(1e-6);
    eprintln!("{what}: bf16 {bf16:.6} f32 {f32:.6} (rel {rel:.2e})");
    assert!(rel <= REL_TOL, "{what}: bf16 {bf16} vs f32 {f32}");
}

/// Compares the weights of both runs after training (`before` = the f32 starting weights).
fn weights_track(before: &[f32], bf16: &[f32], f32: &[f32], steps: usize) {
    let atol = 2.0 * steps as f32 * LR as f32;
    assert_eq!(bf16.len(), f32.len());
    let (mut dot, mut n16, mut n32, mut worst) = (0.0f64, 0.0f64, 0.0f64, 0.0f32);
    for ((&w0, &a), &b) in before.iter().zip(bf16).zip(f32) {
        worst = worst.max((a - b).abs() - 2f32.powi(-8) * b.abs());
        let (da, db) = (f64::from(a - w0), f64::from(b - w0));
        dot += da * db;
        n16 += da * da;
        n32 += db * db;
    }
    let cosine = dot / (n16.sqrt() * n32.sqrt()).max(1e-30);
    eprintln!("weights: worst excess {worst:.2e}, update cosine {cosine:.4}");
    assert!(n32 > 0.0, "the f32 run did not move");
    assert!(worst <= atol, "weight off by {worst} beyond bf16 rounding");
    assert!(cosine >= MIN_UPDATE_COSINE, "update cosine {cosine}");
}

fn sft_run(bf16: bool, lora_rank: usize) -> (Vec<StepMetrics>, Vec<f32>) {
    let examples: Vec<SftExample> = records()
        .into_iter()
        .map(|r| SftExample {
            response: r.answer.clone(),
            prompt: r,
        })
        .collect();
    let cfg = SftConfig {
        batch_size: 1,
        grad_accum: 2,
        epochs: 2,
        lora_rank,
        lora_alpha: 2.0 * lora_rank as f64,
        optim: OptimConfig {
            lr: LR,
            lr_warmup_ratio: 0.0,
            ..SftConfig::default().optim
        },
        ..SftConfig::default()
    };
    let mut t = SftTrainer::new(policy(bf16), &examples, cfg).unwrap();
    let metrics = (0..t.total_steps()).map(|_| t.step().unwrap()).collect();
    // The trained parameters (LoRA factors unmerged: the merge rounds into the bf16 base).
    let trained = weights(t.policy());
    let merged = t.into_policy();
    if bf16 {
        assert_eq!(merged.model().weight_dtype(), DType::BF16);
    }
    (metrics, trained)
}

/// The f32 twin's starting parameters, with LoRA factors when `rank > 0`.
fn untrained(rank: usize) -> Vec<f32> {
    let (p, _) =
        spatial_ssrl_rl::apply_lora(policy(false), rank, 2.0 * rank as f64, "all").unwrap();
    weights(&p)
}

#[test]
fn bf16_sft_tracks_f32() {
    for rank in [0, 4] {
        let (m16, w16) = sft_run(true, rank);
        let (m32, w32) = sft_run(false, rank);
        let before = untrained(rank);
        assert_eq!(m16.len(), 2);
        for (a, b) in m16.iter().zip(&m32) {
            close(&format!("sft rank {rank} loss"), a.pg_loss, b.pg_loss);
            close(
                &format!("sft rank {rank} grad norm"),
                a.grad_norm,
                b.grad_norm,
            );
        }
        weights_track(&before, &w16, &w32, m16.len());
    }
}

/// Rewards short answers, so the sampled group has distinct rewards.
struct Short;

impl RewardFn for Short {
    fn score(&self, response: &str, _ground_truth: &str) -> RewardBreakdown {
        let s = 1.0 / (1.0 + response.len() as f64);
        RewardBreakdown {
            overall: s,
            format: 1.0,
            accuracy: s,
        }
    }
}

fn grpo_run(bf16: bool) -> (StepMetrics, Vec<f32>) {
    let cfg = GrpoConfig {
        rollout_batch_size: 2,
        n: 3,
        global_batch_size: 2,
        micro_batch_size: 2,
        sampling: SamplingConfig {
            temperature: 1.0,
            top_p: 1.0,
            max_new_tokens: 4,
        },
        optim: OptimConfig {
            lr: LR,
            ..OptimConfig::default()
        },
        seed: SEED,
        ..GrpoConfig::default()
    };
    let p = policy(bf16);
    let reference = p.clone();
    let mut t = GrpoTrainer::new(p, Some(reference), records(), cfg).unwrap();
    let m = t.step(&TaskRouter::new(Box::new(Short)), 1).unwrap();
    (m, weights(t.policy()))
}

#[test]
fn bf16_grpo_step_tracks_f32() {
    let before = weights(&policy(false));
    let (m16, w16) = grpo_run(true);
    let (m32, w32) = grpo_run(false);
    // Same seeds: the bf16 rollout samples the same responses.
    assert_eq!(m16.response_length_mean, m32.response_length_mean);
    close("grpo reward", m16.reward.mean, m32.reward.mean);
    close("grpo grad norm", m16.grad_norm, m32.grad_norm);
    assert!(m16.pg_loss.is_finite() && m16.kl.is_finite());
    assert!((m16.pg_loss - m32.pg_loss).abs() <= REL_TOL * (1.0 + m32.pg_loss.abs()));
    weights_track(&before, &w16, &w32, 1);
}
