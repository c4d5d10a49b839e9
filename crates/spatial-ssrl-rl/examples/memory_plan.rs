//! Prints the memory model's table for docs/training.md: a GRPO step of Qwen2.5-VL 3B and 7B
//! (the hub configs in tests/fixtures/hub-configs, or the `config.json` files given as
//! arguments) with the paper's batch settings, per precision, gradient checkpointing and
//! rollout micro-batch, and whether it fits on an 80 GB and a 141 GB GPU.
//!
//! `cargo run -p spatial-ssrl-rl --example memory_plan [config.json ...]`

use std::path::{Path, PathBuf};

use spatial_ssrl_model::Qwen2_5VlConfig;
use spatial_ssrl_rl::{GrpoConfig, MemoryInputs, ModelConfig, gib};

/// Prompt length assumed for the table: a pretext question with one image of about
/// 640 x 480 pixels (EasyR1's min/max pixels leave it as is: 384 merged image tokens).
const PROMPT_TOKENS: u64 = 512;
const IMAGE_TOKENS: u64 = 384;
const GPUS_GB: [u64; 2] = [80, 141];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut paths: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    if paths.is_empty() {
        let hub = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/hub-configs");
        paths = ["qwen2_5_vl_3b_instruct", "qwen2_5_vl_7b_instruct"]
            .iter()
            .map(|n| hub.join(format!("{n}.config.json")))
            .collect();
    }
    println!(
        "| model | dtype | ckpt | rollout micro | weights | master | AdamW | grads | ref | \
         activations + head | KV cache | peak GiB | 80 GB | 141 GB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for path in &paths {
        let config = Qwen2_5VlConfig::from_file(path)?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("model")
            .split('.')
            .next()
            .unwrap_or("model")
            .to_owned();
        for (dtype, ckpt, micro) in [
            ("f32", false, None),
            ("bf16", false, None),
            ("bf16", false, Some(128)),
            ("bf16", true, Some(128)),
            ("bf16", true, Some(32)),
        ] {
            let model = ModelConfig {
                dtype: dtype.into(),
                enable_gradient_checkpointing: ckpt,
                ..ModelConfig::default()
            };
            let grpo = GrpoConfig {
                rollout_micro_batch_size: micro,
                ..GrpoConfig::default()
            };
            let inputs =
                MemoryInputs::for_run(&config, &model, &grpo, PROMPT_TOKENS, IMAGE_TOKENS)?;
            let e = inputs.estimate();
            let peak = e.peak();
            let fits = |gb: u64| {
                if peak <= gb * 1_000_000_000 {
                    "yes"
                } else {
                    "no"
                }
            };
            println!(
                "| {name} | {dtype} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | \
                 {:.1} | {:.1} | {} | {} |",
                if ckpt { "on" } else { "off" },
                micro.map_or("all 1280".to_owned(), |m| m.to_string()),
                gib(e.weights),
                gib(e.master_weights),
                gib(e.optimizer),
                gib(e.gradients + e.gradient_accumulation),
                gib(e.reference),
                gib(e.activations + e.log_prob_head),
                gib(e.kv_cache),
                gib(peak),
                fits(GPUS_GB[0]),
                fits(GPUS_GB[1]),
            );
        }
    }
    Ok(())
}
