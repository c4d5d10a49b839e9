//! The memory model against a measured CPU GRPO step on a real-width, reduced-depth
//! Qwen2.5-VL: the 3B configuration (`tests/fixtures/hub-configs`, or the `config.json` in
//! `SSRL_MEMORY_CONFIG`) cut to `SSRL_MEMORY_LAYERS` decoder layers and vision blocks
//! (default 2), random weights, the tiny fixture's processor (same tokenizer and
//! vocabulary), one image, n = 5 responses of 256 tokens. The peak resident set
//! (`VmHWM` of /proc/self/status) of the run's first step must be within 20% of
//! `MemoryEstimate::first_step_peak` (AdamW's state appears during that step's update;
//! `peak`, the later steps' figure, adds it to every phase).
//!
//! It needs ~10 GB of memory and minutes of CPU, so it is ignored in CI; run it alone with
//! `scripts/memory_check.sh` (which also prints the breakdown).

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use spatial_ssrl_model::{Processor, Qwen2_5VlConfig, Qwen2_5VlForCausalLm};
use spatial_ssrl_rewards::{RewardBreakdown, RewardFn, TaskRouter};
use spatial_ssrl_rl::{
    GrpoConfig, GrpoTrainer, ImageSource, MemoryInputs, ModelConfig, OptimConfig, PixelLimits,
    Policy, PromptRecord, QwenPolicy, SamplingConfig, gib,
};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The reduced-depth configuration: every width of the real model, fewer layers.
fn config() -> Qwen2_5VlConfig {
    let path = std::env::var_os("SSRL_MEMORY_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            root().join("tests/fixtures/hub-configs/qwen2_5_vl_3b_instruct.config.json")
        });
    let mut cfg = Qwen2_5VlConfig::from_file(path).unwrap();
    let layers = env_or("SSRL_MEMORY_LAYERS", 2usize);
    cfg.text.num_hidden_layers = layers;
    cfg.vision.depth = layers;
    cfg.vision.fullatt_block_indexes = vec![layers - 1];
    cfg
}

/// Peak resident set of this process so far, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

struct Constant;

impl RewardFn for Constant {
    fn score(&self, response: &str, _ground_truth: &str) -> RewardBreakdown {
        // Distinct rewards per response so the advantages (and gradients) are not zero.
        let s = (response.len() % 7) as f64 / 7.0;
        RewardBreakdown {
            overall: s,
            format: 1.0,
            accuracy: s,
        }
    }
}

#[test]
#[ignore = "needs ~10 GB and minutes of CPU: scripts/memory_check.sh"]
fn grpo_step_peak_rss_matches_the_memory_model() {
    let cfg = config();
    let device = Device::flex().autodiff();
    let fixture = root().join("tests/fixtures/tiny-qwen2_5-vl");
    let processor = Processor::from_dir(&fixture).unwrap();
    let max_pixels = env_or("SSRL_MEMORY_MAX_PIXELS", 200_704u64);
    let model = Qwen2_5VlForCausalLm::random(cfg.clone(), 1, 0.02, &device).unwrap();
    let policy = QwenPolicy::new(model, processor, &fixture).with_pixel_limits(PixelLimits {
        min_pixels: None,
        max_pixels: Some(max_pixels),
    });
    let record = PromptRecord {
        id: 0,
        problem: "<image>Which object is closer to the camera?".into(),
        answer: "A".into(),
        images: vec![ImageSource::Path(root().join("examples/data/street.jpg"))],
        task: "depth".into(),
    };
    let prompt = policy.encode_prompt(&record).unwrap();
    let prompt_tokens = policy.prompt_len(&prompt) as u64;
    let image_tokens: u64 = prompt
        .images
        .iter()
        .map(|i| i.grid_thw.iter().product::<usize>() as u64 / 4)
        .sum();
    let grpo = GrpoConfig {
        rollout_batch_size: 1,
        n: 5,
        global_batch_size: 1,
        micro_batch_size: env_or("SSRL_MEMORY_MICRO_BATCH", 1usize),
        sampling: SamplingConfig {
            temperature: 1.0,
            top_p: 1.0,
            max_new_tokens: env_or("SSRL_MEMORY_RESPONSE", 256usize),
        },
        // The reference would be a third full copy; kept off so the check fits on a 24 GB
        // machine (the model counts it when `use_kl_loss`).
        use_kl_loss: false,
        optim: OptimConfig::default(),
        seed: 1,
        ..GrpoConfig::default()
    };
    let model_cfg = ModelConfig {
        enable_gradient_checkpointing: false,
        ..ModelConfig::default()
    };
    let inputs =
        MemoryInputs::for_run(&cfg, &model_cfg, &grpo, prompt_tokens, image_tokens).unwrap();
    let est = inputs.estimate();
    let before = peak_rss();
    let mut trainer = GrpoTrainer::new(policy, None, vec![record], grpo).unwrap();
    let m = trainer
        .step(&TaskRouter::new(Box::new(Constant)), 1)
        .unwrap();
    let peak = peak_rss();
    eprintln!(
        "params {} ({:.2} GiB f32); prompt {prompt_tokens} tokens ({image_tokens} image), \
         responses mean {:.0} tokens",
        inputs.params.total(),
        gib(inputs.params.total() * 4),
        m.response_length_mean
    );
    eprintln!("estimate: {est:#?}");
    eprintln!(
        "phases (GiB): rollout {:.2} scoring {:.2} update {:.2} step {:.2}",
        gib(est.rollout_peak()),
        gib(est.scoring_peak()),
        gib(est.update_peak()),
        gib(est.step_peak())
    );
    let predicted = est.first_step_peak();
    let ratio = peak as f64 / predicted as f64;
    eprintln!(
        "peak RSS {:.2} GiB (before the trainer {:.2} GiB) vs predicted first step {:.2} GiB: \
         ratio {ratio:.3} (later steps: {:.2} GiB)",
        gib(peak),
        gib(before),
        gib(predicted),
        gib(est.peak())
    );
    assert!(
        (0.8..=1.2).contains(&ratio),
        "measured {peak} vs predicted {predicted}"
    );
}
