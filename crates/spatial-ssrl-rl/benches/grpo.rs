//! One GRPO update (rollout, rewards, loss + backward + optimiser) and rollout tokens/s for
//! the tiny policy, and the loss + backward alone on the golden-sized batch (20 x 12).

use burn::tensor::Device;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use spatial_ssrl_rewards::{RewardBreakdown, RewardFn, TaskRouter};
use spatial_ssrl_rl::{
    GrpoConfig, GrpoTrainer, KlPenalty, LossAggregation, OptimConfig, Policy, PolicyLossConfig,
    PromptRecord, SamplingConfig, TinyPolicyConfig, compute_policy_loss, kl_loss, masked,
};

struct TokenMatch;

impl RewardFn for TokenMatch {
    fn score(&self, response: &str, ground_truth: &str) -> RewardBreakdown {
        let r: Vec<&str> = response.split_whitespace().collect();
        let g: Vec<&str> = ground_truth.split_whitespace().collect();
        let hits = g.iter().zip(&r).filter(|(a, b)| a == b).count();
        let s = hits as f64 / r.len().max(g.len()).max(1) as f64;
        RewardBreakdown {
            overall: s,
            format: 1.0,
            accuracy: s,
        }
    }
}

fn tiny() -> TinyPolicyConfig {
    TinyPolicyConfig {
        n_prompts: 4,
        vocab: 8,
        hidden: 32,
        max_len: 4,
        seed: 1,
    }
}

fn records() -> Vec<PromptRecord> {
    ["3 1 4", "2 7 5", "6 6 1", "5 3 2"]
        .iter()
        .enumerate()
        .map(|(i, t)| PromptRecord {
            id: i as u64,
            problem: i.to_string(),
            answer: t.to_string(),
            images: Vec::new(),
            task: "toy".into(),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let ad = Device::flex().autodiff();
    let cfg = GrpoConfig {
        rollout_batch_size: 4,
        n: 5,
        global_batch_size: 2,
        micro_batch_size: 10,
        sampling: SamplingConfig {
            temperature: 1.0,
            top_p: 1.0,
            max_new_tokens: 4,
        },
        optim: OptimConfig {
            lr: 1e-3,
            ..OptimConfig::default()
        },
        ..GrpoConfig::default()
    };
    let mut trainer =
        GrpoTrainer::new(tiny().init(&ad), Some(tiny().init(&ad)), records(), cfg).unwrap();
    let reward = TaskRouter::new(Box::new(TokenMatch));
    c.bench_function("grpo_step_tiny (20 rollouts, 2 updates)", |b| {
        b.iter(|| trainer.step(&reward, 1_000_000).unwrap())
    });

    let policy = tiny().init(&Device::flex());
    let prompts: Vec<u32> = (0..64).map(|i| i % 4).collect();
    let sampling = SamplingConfig {
        temperature: 1.0,
        top_p: 1.0,
        max_new_tokens: 4,
    };
    let seeds: Vec<u64> = (0..64).collect();
    let mut group = c.benchmark_group("rollout_tiny");
    group.throughput(Throughput::Elements(64 * 4));
    group.bench_function("64 prompts x 4 tokens (elements = max tokens)", |b| {
        b.iter(|| policy.generate(&prompts, &sampling, &seeds).unwrap())
    });
    group.finish();

    // Loss + backward on a [20, 12] batch, the golden fixture's size.
    let (bs, len) = (20, 12);
    let vals = |k: f32| -> Vec<f32> {
        (0..bs * len)
            .map(|i| -1.0 - ((i as f32 * k).sin()).abs())
            .collect()
    };
    let cfg = PolicyLossConfig::default();
    c.bench_function("policy_loss+kl backward [20x12]", |b| {
        b.iter(|| {
            let lp = masked::tensor2(vals(0.37), bs, len, &ad).require_grad();
            let old = masked::tensor2(vals(0.41), bs, len, &ad);
            let rf = masked::tensor2(vals(0.53), bs, len, &ad);
            let adv = masked::tensor2(
                (0..bs * len)
                    .map(|i| ((i / len) as f32 - 9.5) / 6.0)
                    .collect(),
                bs,
                len,
                &ad,
            );
            let mask = masked::tensor2(vec![1.0; bs * len], bs, len, &ad);
            let out = compute_policy_loss(old, lp.clone(), adv, mask.clone(), &cfg);
            let loss = out.pg_loss
                + kl_loss(
                    lp.clone(),
                    rf,
                    mask,
                    KlPenalty::LowVarKl,
                    LossAggregation::Token,
                ) * 0.01;
            let g = loss.backward();
            lp.grad(&g).unwrap()
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
