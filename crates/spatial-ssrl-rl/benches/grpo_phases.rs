//! A GRPO step of `QwenPolicy` split into its phases, as the trainer times them
//! (`PhaseTimes`): rollout (sampling `n` responses per prompt), log-probs (behaviour and KL
//! reference, no graph) and update (loss, backward, AdamW). Two models: the tiny Qwen2.5-VL
//! fixture, and a real-width, reduced-depth one (the 3B configuration with
//! `SSRL_BENCH_LAYERS` decoder layers and vision blocks, default 1, random weights; skipped
//! when `SSRL_BENCH_REAL=0`). Each criterion iteration runs whole steps and reports the
//! phase's own seconds (`iter_custom`), so the three numbers add up to a step.

use std::path::{Path, PathBuf};
use std::time::Duration;

use burn::tensor::Device;
use criterion::{Criterion, criterion_group, criterion_main};
use spatial_ssrl_model::{Processor, Qwen2_5VlConfig, Qwen2_5VlForCausalLm};
use spatial_ssrl_rewards::{RewardBreakdown, RewardFn, TaskRouter};
use spatial_ssrl_rl::{
    GrpoConfig, GrpoTrainer, ImageSource, OptimConfig, PhaseTimes, PixelLimits, PromptRecord,
    QwenPolicy, SamplingConfig,
};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Rewards responses by length, so the group has distinct rewards and the update has work.
struct ByLength;

impl RewardFn for ByLength {
    fn score(&self, response: &str, _ground_truth: &str) -> RewardBreakdown {
        let s = (response.len() % 5) as f64 / 5.0;
        RewardBreakdown {
            overall: s,
            format: 1.0,
            accuracy: s,
        }
    }
}

fn records() -> Vec<PromptRecord> {
    let img = |n: &str| ImageSource::Path(root().join("examples/data").join(n));
    vec![
        PromptRecord {
            id: 0,
            problem: "<image>Which object is closer to the camera?".into(),
            answer: "A".into(),
            images: vec![img("street.jpg")],
            task: "depth".into(),
        },
        PromptRecord {
            id: 1,
            problem: "<image>Is the image flipped?".into(),
            answer: "no".into(),
            images: vec![img("portrait.jpg")],
            task: "flip".into(),
        },
    ]
}

fn trainer(policy: QwenPolicy, prompts: usize, max_new_tokens: usize) -> GrpoTrainer<QwenPolicy> {
    let cfg = GrpoConfig {
        rollout_batch_size: prompts,
        n: 5,
        global_batch_size: prompts,
        micro_batch_size: 5,
        sampling: SamplingConfig {
            temperature: 1.0,
            top_p: 1.0,
            max_new_tokens,
        },
        optim: OptimConfig {
            lr: 1e-6,
            ..OptimConfig::default()
        },
        ..GrpoConfig::default()
    };
    let reference = policy.clone();
    let mut records = records();
    records.truncate(prompts);
    GrpoTrainer::new(policy, Some(reference), records, cfg).unwrap()
}

/// Reads one phase's seconds off a step's timings.
type Pick = fn(&PhaseTimes) -> f64;

/// Registers the three phases of `trainer`'s steps under `name`.
fn phases(c: &mut Criterion, name: &str, mut t: GrpoTrainer<QwenPolicy>, samples: usize) {
    let reward = TaskRouter::new(Box::new(ByLength));
    let mut group = c.benchmark_group(name);
    group.sample_size(samples);
    let picks: [(&str, Pick); 3] = [
        ("rollout", |p| p.rollout),
        ("log_probs", |p| p.log_probs),
        ("update", |p| p.update),
    ];
    for (phase, pick) in picks {
        group.bench_function(phase, |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| Duration::from_secs_f64(pick(&t.step(&reward, 1 << 20).unwrap().time)))
                    .sum()
            })
        });
    }
    group.finish();
}

fn bench(c: &mut Criterion) {
    let device = Device::flex().autodiff();
    let fixture = root().join("tests/fixtures/tiny-qwen2_5-vl");
    let tiny = QwenPolicy::from_pretrained(&fixture, &device).unwrap();
    phases(
        c,
        "grpo_phases/tiny_qwen (2 prompts x 5, 16 tokens)",
        trainer(tiny, 2, 16),
        10,
    );

    if std::env::var("SSRL_BENCH_REAL").is_ok_and(|v| v == "0") {
        return;
    }
    let layers: usize = std::env::var("SSRL_BENCH_LAYERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut cfg = Qwen2_5VlConfig::from_file(
        root().join("tests/fixtures/hub-configs/qwen2_5_vl_3b_instruct.config.json"),
    )
    .unwrap();
    cfg.text.num_hidden_layers = layers;
    cfg.vision.depth = layers;
    cfg.vision.fullatt_block_indexes = vec![layers - 1];
    let model = Qwen2_5VlForCausalLm::random(cfg, 1, 0.02, &device).unwrap();
    let real = QwenPolicy::new(model, Processor::from_dir(&fixture).unwrap(), &fixture)
        .with_pixel_limits(PixelLimits {
            min_pixels: None,
            max_pixels: Some(200_704),
        });
    phases(
        c,
        &format!("grpo_phases/3b_width_{layers}_layer (1 prompt x 5, 8 tokens)"),
        trainer(real, 1, 8),
        10,
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
