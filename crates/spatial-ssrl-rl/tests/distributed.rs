//! Data-parallel training: 2 peers and 1 peer on the same global batch end with the same
//! weights and log the same metrics (SFT with LoRA, then GRPO, on the tiny Qwen2.5-VL
//! fixture); a peer that crashes or stalls ends the run with a typed error, not a hang; a
//! data-parallel run resumes from the checkpoint rank 0 wrote.

use std::path::{Path, PathBuf};
use std::time::Duration;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};
use spatial_ssrl_rewards::{RewardBreakdown, RewardFn, TaskRouter};
use spatial_ssrl_rl::distributed::{Peer, run_peers};
use spatial_ssrl_rl::{
    Error, GrpoConfig, GrpoTrainer, OptimConfig, PromptRecord, QwenPolicy, SamplingConfig,
    SftConfig, SftExample, SftTrainer, StepMetrics, TinyPolicy, TinyPolicyConfig, masked,
};

/// The fixture folder (`SSRL_TINY_QWEN_DIR` overrides it).
fn fixture() -> PathBuf {
    std::env::var_os("SSRL_TINY_QWEN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-qwen2_5-vl")
        })
}

/// A reward that varies with the sampled text, so groups get non-zero advantages.
struct TextParity;

impl RewardFn for TextParity {
    fn score(&self, response: &str, _ground_truth: &str) -> RewardBreakdown {
        let s = (response.chars().map(u32::from).sum::<u32>() % 3) as f64 / 2.0;
        RewardBreakdown {
            overall: s,
            format: 1.0,
            accuracy: s,
        }
    }
}

fn records(n: u64) -> Vec<PromptRecord> {
    (0..n)
        .map(|i| PromptRecord {
            id: i,
            problem: format!("Which is nearer, object {i} or object {}?", i + 1),
            answer: (i % 2).to_string(),
            images: Vec::new(),
            task: if i % 2 == 0 { "even" } else { "odd" }.into(),
        })
        .collect()
}

fn optim() -> OptimConfig {
    // Adam moves the weights by up to `lr` per step, a hundred times the tolerance, so a
    // wrong reduction shows. A large epsilon keeps the step a smooth function of the
    // gradient: with torch's 1e-8 the first step is `lr * sign(g)`, and where a summed
    // gradient nearly cancels, the rounding of another summation order (2 peers add their
    // micro-batches in another order than 1) flips that sign.
    OptimConfig {
        lr: 1e-3,
        eps: 1e-3,
        lr_warmup_ratio: 0.0,
        ..OptimConfig::default()
    }
}

fn grpo_cfg() -> GrpoConfig {
    GrpoConfig {
        rollout_batch_size: 4,
        n: 2,
        global_batch_size: 2,
        micro_batch_size: 1,
        sampling: SamplingConfig {
            // The random-weight fixture's next-token distribution is near-uniform over 151k
            // tokens (entropy 11.6 of 11.9 nats): at temperature 1 a weight difference at the
            // rounding level (peers add gradients in another order) picks another token now
            // and then. A low temperature keeps several candidates per position but puts
            // them far apart.
            temperature: 0.05,
            top_p: 1.0,
            max_new_tokens: 3,
        },
        optim: optim(),
        seed: 5,
        ..GrpoConfig::default()
    }
}

fn sft_cfg() -> SftConfig {
    SftConfig {
        batch_size: 1,
        grad_accum: 4,
        epochs: 2,
        lora_rank: 2,
        lora_alpha: 4.0,
        optim: optim(),
        seed: 3,
        ..SftConfig::default()
    }
}

fn sft_examples() -> Vec<SftExample> {
    records(4)
        .into_iter()
        .map(|r| SftExample {
            response: format!("<think>count</think><answer>{}</answer>", r.answer),
            prompt: r,
        })
        .collect()
}

/// Every float parameter, in module order, on the host.
fn weights<M: Module>(m: &M) -> Vec<f32> {
    struct All(Vec<f32>);
    impl ModuleVisitor for All {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            self.0.extend(masked::to_host(p.val()));
        }
    }
    let mut all = All(Vec::new());
    m.visit(&mut all);
    all.0
}

/// Two SFT steps (LoRA, merged at the end) then two GRPO steps; `peer` None is today's
/// single-device path.
fn recipe(
    policy: QwenPolicy,
    peer: Option<Peer>,
) -> spatial_ssrl_rl::Result<(Vec<f32>, Vec<StepMetrics>)> {
    let mut logs = Vec::new();
    // LoRA adapters are drawn from the device's random stream: rank 0 draws them after the
    // same seed as the single run (alone, so no other peer's draws interleave) and
    // `with_peer` gives them to every peer.
    let rank = peer.as_ref().map_or(0, Peer::rank);
    if rank != 0
        && let Some(p) = &peer
    {
        p.barrier("lora init")?;
    }
    Device::flex().autodiff().seed(sft_cfg().seed);
    let mut sft = SftTrainer::new(policy, &sft_examples(), sft_cfg())?;
    if let Some(p) = &peer {
        if rank == 0 {
            p.barrier("lora init")?;
        }
        sft = sft.with_peer(p.clone())?;
    }
    for _ in 0..2 {
        logs.push(sft.step()?);
    }
    let policy = sft.into_policy();
    let reference = policy.clone();
    let mut grpo = GrpoTrainer::new(policy, Some(reference), records(4), grpo_cfg())?;
    if let Some(p) = peer {
        grpo = grpo.with_peer(p)?;
    }
    let reward = TaskRouter::new(Box::new(TextParity));
    for _ in 0..2 {
        logs.push(grpo.step(&reward, 2)?);
    }
    Ok((weights(grpo.policy()), logs))
}

/// Metrics the two runs must log alike: counts and the sampled batch's statistics exactly,
/// losses and norms within `1e-3` relative or `1e-5` absolute (the policy loss at temperature 0.05 turns the
/// rounding of differently batched log-probs into that much).
fn logged(m: &StepMetrics) -> (Vec<f64>, Vec<(&'static str, f64)>) {
    let exact = vec![
        m.step as f64,
        m.lr,
        m.reward.mean,
        m.reward.std,
        m.accuracy,
        m.clipfrac_high,
        m.clipfrac_low,
        m.response_length_mean,
        m.total_tokens as f64,
    ];
    let close = vec![
        ("loss", m.pg_loss),
        ("kl", m.kl),
        ("ppo_kl", m.ppo_kl),
        ("entropy", m.entropy),
        ("grad_norm", m.grad_norm),
    ];
    (exact, close)
}

#[test]
fn two_peers_match_one_peer_after_sft_and_grpo() {
    let device = Device::flex().autodiff();
    let policy = QwenPolicy::from_pretrained(fixture(), &device).unwrap();
    let initial = weights(&policy);
    let (one, one_logs) = recipe(policy.clone(), None).unwrap();

    let devices = vec![Device::flex().autodiff(); 2];
    let inputs = vec![policy.clone(), policy];
    let peers = run_peers(devices, Duration::from_secs(300), inputs, |peer, p| {
        recipe(p, Some(peer))
    })
    .unwrap();

    let moved = initial
        .iter()
        .zip(&one)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(
        moved > 1e-4,
        "training barely moved the weights ({moved}): the check is vacuous"
    );
    // Peers hold bit-identical weights: the reduction gives every peer the same sum.
    assert_eq!(peers[0].0, peers[1].0, "peers diverged");
    let worst = one
        .iter()
        .zip(&peers[0].0)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(
        worst <= 1e-5,
        "2 peers vs 1 peer: max weight difference {worst}"
    );

    for (a, b) in one_logs.iter().zip(&peers[0].1) {
        let ((ea, ca), (eb, cb)) = (logged(a), logged(b));
        assert_eq!(ea, eb, "{} step {}", a.phase, a.step);
        for ((name, x), (_, y)) in ca.into_iter().zip(cb) {
            let ok = (x - y).abs() <= 1e-3 * x.abs().max(y.abs()) + 1e-5;
            assert!(ok, "{} step {}: {name} {x} vs {y}", a.phase, a.step);
        }
    }
    assert_eq!(peers[0].1.len(), one_logs.len());
}

fn tiny_trainer() -> GrpoTrainer<TinyPolicy> {
    let ad = Device::flex().autodiff();
    let cfg = TinyPolicyConfig {
        n_prompts: 4,
        vocab: 8,
        hidden: 16,
        max_len: 4,
        seed: 7,
    };
    let (policy, reference) = (cfg.init(&ad), cfg.init(&ad));
    let grpo = GrpoConfig {
        sampling: SamplingConfig {
            max_new_tokens: 4,
            ..grpo_cfg().sampling
        },
        ..grpo_cfg()
    };
    // The tiny policy's prompt is its row id.
    let rows = records(4)
        .into_iter()
        .map(|r| PromptRecord {
            problem: r.id.to_string(),
            ..r
        })
        .collect();
    GrpoTrainer::new(policy, Some(reference), rows, grpo).unwrap()
}

#[test]
fn a_peer_crashing_mid_run_stops_the_others_with_its_error() {
    let devices = vec![Device::flex().autodiff(); 2];
    let reward = TaskRouter::new(Box::new(TextParity));
    let err = run_peers(
        devices,
        Duration::from_secs(300),
        vec![(), ()],
        |peer, ()| {
            let rank = peer.rank();
            let mut t = tiny_trainer().with_peer(peer)?;
            t.step(&reward, 3)?;
            if rank == 1 {
                panic!("injected crash");
            }
            // Rank 0 is inside step 2's rollout exchange when rank 1 dies.
            t.step(&reward, 3)?;
            t.step(&reward, 3)
        },
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::PeerPanicked { rank: 1, message } if message.contains("injected")),
        "{err}"
    );
}

#[test]
fn a_stalled_peer_times_out() {
    let devices = vec![Device::flex().autodiff(); 2];
    let reward = TaskRouter::new(Box::new(TextParity));
    let err = run_peers(
        devices,
        Duration::from_millis(300),
        vec![(), ()],
        |peer, ()| {
            let stall = peer.rank() == 1;
            let mut t = tiny_trainer().with_peer(peer)?;
            if stall {
                std::thread::sleep(Duration::from_secs(2));
            }
            t.step(&reward, 1)
        },
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::CollectiveTimeout { missing, .. } if missing == &[1]),
        "{err}"
    );
}

#[test]
fn a_data_parallel_run_resumes_from_rank_0s_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let reward = TaskRouter::new(Box::new(TextParity));
    let devices = || vec![Device::flex().autodiff(); 2];
    let timeout = Duration::from_secs(300);
    let straight = run_peers(devices(), timeout, vec![(), ()], |peer, ()| {
        let mut t = tiny_trainer().with_peer(peer)?;
        t.step(&reward, 2)?;
        t.step(&reward, 2)?;
        Ok(weights(t.policy()))
    })
    .unwrap();
    let paths = run_peers(devices(), timeout, vec![(), ()], |peer, ()| {
        let mut t = tiny_trainer().with_peer(peer)?;
        t.step(&reward, 2)?;
        t.save_checkpoint(dir.path())
    })
    .unwrap();
    assert_eq!(paths[0], paths[1]);
    let written = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().starts_with("global_step_")
        })
        .count();
    assert_eq!(written, 1, "one checkpoint folder, written once");
    let resumed = run_peers(devices(), timeout, vec![(), ()], |peer, ()| {
        let mut t = tiny_trainer().with_peer(peer)?;
        t.load_checkpoint(dir.path())?;
        t.step(&reward, 2)?;
        Ok(weights(t.policy()))
    })
    .unwrap();
    assert_eq!(resumed, straight);
}
