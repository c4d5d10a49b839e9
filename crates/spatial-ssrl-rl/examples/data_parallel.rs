//! Data-parallel cost on this machine: GRPO step time with 1 and 2 CPU peers on the tiny
//! Qwen2.5-VL fixture, and the gradient all-reduce time per optimiser step for the tiny model
//! and for a real-width, reduced-depth model (random weights).
//!
//! ```sh
//! cargo run -p spatial-ssrl-rl --example data_parallel -- \
//!     tests/fixtures/tiny-qwen2_5-vl tests/fixtures/hub-configs/qwen2_5_vl_3b_instruct.config.json 2
//! ```
//! Arguments: the tiny model folder, an HF `config.json` whose text widths the all-reduce
//! model takes, and how many of its decoder layers to build.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use burn::module::{Module, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use spatial_ssrl_rewards::{RewardBreakdown, RewardFn, TaskRouter};
use spatial_ssrl_rl::distributed::{GradReduce, Peer, all_reduce_grads, run_peers};
use spatial_ssrl_rl::{GrpoConfig, GrpoTrainer, PromptRecord, QwenPolicy, Result, SamplingConfig};

/// A reward that varies with the text, so every step has a learning signal.
struct TextParity;

impl RewardFn for TextParity {
    fn score(&self, response: &str, _: &str) -> RewardBreakdown {
        let s = (response.chars().map(u32::from).sum::<u32>() % 3) as f64 / 2.0;
        RewardBreakdown {
            overall: s,
            format: 1.0,
            accuracy: s,
        }
    }
}

fn records() -> Vec<PromptRecord> {
    (0..8)
        .map(|i| PromptRecord {
            id: i,
            problem: format!("Which is nearer, object {i} or object {}?", i + 1),
            answer: "0".into(),
            images: Vec::new(),
            task: "toy".into(),
        })
        .collect()
}

fn grpo_cfg() -> GrpoConfig {
    GrpoConfig {
        rollout_batch_size: 8,
        n: 4,
        global_batch_size: 4,
        micro_batch_size: 4,
        sampling: SamplingConfig {
            temperature: 1.0,
            top_p: 1.0,
            max_new_tokens: 8,
        },
        ..GrpoConfig::default()
    }
}

const STEPS: u64 = 3;

/// Seconds per GRPO step (mean of `STEPS` after one warm-up step) with `peers` peers.
fn step_secs(policy: &QwenPolicy, peers: usize) -> Result<f64> {
    let reward = TaskRouter::new(Box::new(TextParity));
    let run = |trainer: &mut GrpoTrainer<QwenPolicy>| -> spatial_ssrl_rl::Result<f64> {
        trainer.step(&reward, STEPS + 1)?;
        let t = Instant::now();
        for _ in 0..STEPS {
            trainer.step(&reward, STEPS + 1)?;
        }
        Ok(t.elapsed().as_secs_f64() / STEPS as f64)
    };
    let new = |p: QwenPolicy| GrpoTrainer::new(p.clone(), Some(p), records(), grpo_cfg());
    if peers == 1 {
        return run(&mut new(policy.clone())?);
    }
    let devices = vec![Device::flex().autodiff(); peers];
    let times = run_peers(
        devices,
        Duration::from_secs(600),
        vec![policy.clone(); peers],
        |peer, p| run(&mut new(p)?.with_peer(peer)?),
    )?;
    Ok(times.into_iter().fold(0.0, f64::max))
}

/// Seconds one all-reduce of `module`'s gradients takes with `peers` CPU peers (the slowest
/// peer, best of 3).
fn all_reduce_secs<M: Module + Clone + Send>(module: &M, peers: usize) -> Result<f64> {
    let devices = vec![Device::flex(); peers];
    let times = run_peers(
        devices,
        Duration::from_secs(600),
        vec![module.clone(); peers],
        |peer: Peer, m: M| {
            let mut best = f64::INFINITY;
            for _ in 0..3 {
                let grads = ones_like(&m);
                peer.barrier("start")?;
                let t = Instant::now();
                let g = all_reduce_grads(&peer, GradReduce::DeviceSum, &m, grads)?;
                best = best.min(t.elapsed().as_secs_f64());
                drop(g);
            }
            Ok(best)
        },
    )?;
    Ok(times.into_iter().fold(0.0, f64::max))
}

/// A gradient of ones for every float parameter.
fn ones_like<M: Module>(m: &M) -> GradientsParams {
    struct Ones(GradientsParams);
    impl burn::module::ModuleVisitor for Ones {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            let v = p.val();
            let g = Tensor::<D>::ones(v.dims(), &v.device().inner());
            self.0.register(p.id, g);
        }
    }
    let mut o = Ones(GradientsParams::new());
    m.visit(&mut o);
    o.0
}

/// The weight matrices of `layers` decoder layers at the widths of an HF config.
fn real_width_layers(
    config: &serde_json::Value,
    layers: usize,
) -> std::result::Result<Vec<Param<Tensor<2>>>, String> {
    let get = |k: &str| {
        config
            .get(k)
            .or_else(|| config.get("text_config").and_then(|t| t.get(k)))
            .and_then(serde_json::Value::as_u64)
            .map(|v| v as usize)
            .ok_or_else(|| format!("config has no {k}"))
    };
    let (h, i) = (get("hidden_size")?, get("intermediate_size")?);
    let kv = get("num_key_value_heads")? * h / get("num_attention_heads")?.max(1);
    let d = Device::flex();
    let shapes = [[h, h], [h, kv], [h, kv], [h, h], [h, i], [h, i], [i, h]];
    Ok((0..layers)
        .flat_map(|_| shapes)
        .map(|s| Param::from_tensor(Tensor::zeros(s, &d)))
        .collect())
}

fn count<M: Module>(m: &M) -> usize {
    m.num_params()
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    const USAGE: &str = "usage: data_parallel MODEL_DIR CONFIG_JSON LAYERS";
    let mut args = std::env::args().skip(1);
    let model = PathBuf::from(args.next().ok_or(USAGE)?);
    let config = PathBuf::from(args.next().ok_or(USAGE)?);
    let layers: usize = args.next().map_or(Ok(2), |s| s.parse())?;

    let policy = QwenPolicy::from_pretrained(&model, &Device::flex().autodiff())?;
    let one = step_secs(&policy, 1)?;
    let two = step_secs(&policy, 2)?;
    println!(
        "GRPO step, tiny Qwen ({} params), 8 prompts x 4 samples, 8 new tokens, 2 optimiser \
         steps: 1 peer {one:.3} s, 2 peers {two:.3} s (ratio 2/1 {:.2})",
        count(&policy),
        two / one
    );
    let tiny_ar = all_reduce_secs(&policy.valid(), 2)?;
    println!("all-reduce per optimiser step, tiny Qwen, 2 peers: {tiny_ar:.4} s");

    let cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&config)?)?;
    let wide = real_width_layers(&cfg, layers)?;
    let n = count(&wide);
    let wide_ar = all_reduce_secs(&wide, 2)?;
    println!(
        "all-reduce per optimiser step, {layers} decoder layers at {} widths ({n} params), \
         2 peers: {wide_ar:.3} s ({:.2} ns/param)",
        config.display(),
        wide_ar * 1e9 / n as f64
    );
    Ok(())
}
