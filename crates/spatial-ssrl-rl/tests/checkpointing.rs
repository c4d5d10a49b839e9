//! Gradient checkpointing (`model.enable_gradient_checkpointing`, burn's balanced strategy:
//! memory-bound activations are recomputed in the backward pass instead of kept) changes
//! memory, not results: on the tiny Qwen2.5-VL fixture (or `SSRL_TINY_QWEN_DIR`) the
//! gradients of a GRPO-style loss and a whole GRPO step equal those without it.

use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, GradientCheckpointingStrategy, Tensor};
use spatial_ssrl_rewards::{RewardBreakdown, RewardFn, TaskRouter};
use spatial_ssrl_rl::{
    GrpoConfig, GrpoTrainer, ImageSource, OptimConfig, Policy, PromptRecord, QwenPolicy,
    SamplingConfig, StepMetrics, TrainConfig,
};

/// Recomputing the same ops in the same order gives the same floats; a little room is left
/// for a backend that fuses the recomputed graph differently.
const TOL: f32 = 1e-5;

fn fixture() -> PathBuf {
    std::env::var_os("SSRL_TINY_QWEN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-qwen2_5-vl")
        })
}

/// The training device a `train.toml` with the switch set to `checkpointing` selects.
fn device(checkpointing: bool) -> Device {
    let toml = format!("[model]\nenable_gradient_checkpointing = {checkpointing}\n");
    let cfg = TrainConfig::from_toml(&toml, Path::new("train.toml")).unwrap();
    cfg.model.training_device(Device::flex())
}

fn record(id: u64, problem: &str, image: bool) -> PromptRecord {
    let img = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/street.jpg");
    PromptRecord {
        id,
        problem: problem.into(),
        answer: "2".into(),
        images: if image {
            vec![ImageSource::Path(img)]
        } else {
            vec![]
        },
        task: "toy".into(),
    }
}

/// The gradient of every parameter, flattened in visiting order.
fn flat_grads<M: Module>(m: &M, grads: &GradientsParams) -> Vec<f32> {
    struct Collect<'a>(&'a GradientsParams, Vec<f32>);
    impl ModuleVisitor for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.0.get::<D>(param.id) {
                self.1.extend(g.into_data().iter::<f32>());
            }
        }
    }
    let mut c = Collect(grads, Vec::new());
    m.visit(&mut c);
    c.1
}

fn assert_close(a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len());
    assert!(!a.is_empty());
    let worst = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
        .fold(0.0f32, f32::max);
    assert!(worst <= TOL, "gradients differ by {worst}");
}

fn log_prob_grads(checkpointing: bool) -> Vec<f32> {
    let policy = QwenPolicy::from_pretrained(fixture(), &device(checkpointing)).unwrap();
    let strategy = policy.devices()[0].gradient_checkpointing_strategy();
    assert_eq!(
        strategy,
        Some(if checkpointing {
            GradientCheckpointingStrategy::Balanced
        } else {
            GradientCheckpointingStrategy::Disabled
        })
    );
    let prompts = [
        policy
            .encode_prompt(&record(0, "<image>Which side?", true))
            .unwrap(),
        policy.encode_prompt(&record(1, "Count.", false)).unwrap(),
    ];
    let responses = [
        policy.encode_response("left 2").unwrap(),
        policy.encode_response("1").unwrap(),
    ];
    let len = responses.iter().map(Vec::len).max().unwrap();
    let lp = policy
        .response_log_probs(&prompts, &responses, len, 0.7)
        .unwrap();
    // A loss that touches every position, through exp and the log-softmax.
    let loss = (lp.log_probs.clone().exp() * lp.log_probs).sum();
    let grads = GradientsParams::from_grads(loss.backward(), &policy);
    flat_grads(&policy, &grads)
}

#[test]
fn checkpointing_gives_the_same_gradients() {
    assert_close(&log_prob_grads(true), &log_prob_grads(false));
}

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

fn grpo_step(checkpointing: bool) -> StepMetrics {
    let policy = QwenPolicy::from_pretrained(fixture(), &device(checkpointing)).unwrap();
    let cfg = GrpoConfig {
        rollout_batch_size: 2,
        n: 2,
        global_batch_size: 2,
        micro_batch_size: 2,
        sampling: SamplingConfig {
            temperature: 1.0,
            top_p: 1.0,
            max_new_tokens: 3,
        },
        optim: OptimConfig {
            lr: 1e-3,
            ..OptimConfig::default()
        },
        seed: 3,
        ..GrpoConfig::default()
    };
    let reference = policy.clone();
    let records = vec![
        record(0, "<image>Which side?", true),
        record(1, "Count.", false),
    ];
    let mut t = GrpoTrainer::new(policy, Some(reference), records, cfg).unwrap();
    let reward = TaskRouter::new(Box::new(Short));
    t.step(&reward, 2).unwrap();
    // The second step runs on the weights the first step's (checkpointed) gradients made.
    t.step(&reward, 2).unwrap()
}

#[test]
fn checkpointed_grpo_steps_match() {
    let (a, b) = (grpo_step(true), grpo_step(false));
    for (what, x, y) in [
        ("pg_loss", a.pg_loss, b.pg_loss),
        ("kl", a.kl, b.kl),
        ("grad_norm", a.grad_norm, b.grad_norm),
        ("reward", a.reward.mean, b.reward.mean),
    ] {
        assert!(
            (x - y).abs() <= f64::from(TOL) * (1.0 + y.abs()),
            "{what}: {x} vs {y}"
        );
    }
}
