//! The memory model against measured CPU GRPO steps on a real-width, reduced-depth
//! Qwen2.5-VL: the 3B configuration (`tests/fixtures/hub-configs`, or the `config.json` in
//! `SSRL_MEMORY_CONFIG`) cut to `SSRL_MEMORY_LAYERS` decoder layers and vision blocks
//! (default 2), random f32 weights, the tiny fixture's processor (same tokenizer and
//! vocabulary), one image, n = 5 responses of 256 tokens, `SSRL_MEMORY_STEPS` steps (default
//! 2). The peak resident set (`VmHWM` of /proc/self/status) of the first step must be within
//! 20% of `MemoryEstimate::first_step_peak` (AdamW's state appears during that step's
//! update), and that of every later step (the high-water mark reset between steps through
//! /proc/self/clear_refs) within 20% of `MemoryEstimate::peak` (the state held in every
//! phase). Per step it prints the trainer's own phase seconds (`StepMetrics::time`: rollout,
//! reward, behaviour/reference log-probs, update) and the resident set sampled in each phase.
//!
//! It needs ~12 GB of memory and ~10 minutes on 2 cores, so it is ignored in CI; run it alone
//! with `scripts/memory_check.sh` (which also prints the breakdown).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use burn::tensor::Device;
use spatial_ssrl_model::{Processor, Qwen2_5VlConfig, Qwen2_5VlForCausalLm};
use spatial_ssrl_rewards::{RewardBreakdown, RewardFn, TaskRouter};
use spatial_ssrl_rl::{
    GrpoConfig, GrpoTrainer, ImageSource, MemoryInputs, ModelConfig, OptimConfig, PixelLimits,
    Policy, PromptRecord, QwenPolicy, SamplingConfig, StepMetrics, gib,
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

/// A field of /proc/self/status in bytes (`VmHWM`: peak resident set, `VmRSS`: current).
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// Peak resident set of this process since its start or the last [`reset_peak`], in bytes.
fn peak_rss() -> u64 {
    status_bytes("VmHWM:")
}

/// Resets `VmHWM` to the current resident set (Linux >= 4.0); false where the kernel refuses,
/// and the peak then runs on from the process's start.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Samples `VmRSS` every few milliseconds on its own thread, so each phase's peak can be read
/// off the samples that fall in its time window (the trainer reports the windows' lengths).
/// A spike shorter than the interval can slip between samples; `VmHWM` stays authoritative.
struct RssSampler {
    samples: Arc<Mutex<Vec<(Instant, u64)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    fn start(interval: Duration) -> RssSampler {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (samples.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                let rss = status_bytes("VmRSS:");
                s.lock().unwrap().push((Instant::now(), rss));
                std::thread::sleep(interval);
            }
        });
        RssSampler {
            samples,
            stop,
            thread: Some(thread),
        }
    }

    /// Writes every sample as `seconds since t0,GiB` lines to `path`, so the shape of a phase
    /// (micro-batches, then the optimiser step) can be read where its peak alone says too little.
    fn write_trace(&self, t0: Instant, path: &Path) {
        let samples = self.samples.lock().unwrap();
        let lines: String = samples
            .iter()
            .map(|(t, b)| {
                format!(
                    "{:.3},{:.4}\n",
                    t.saturating_duration_since(t0).as_secs_f64(),
                    gib(*b)
                )
            })
            .collect();
        std::fs::write(path, format!("seconds,rss_gib\n{lines}")).unwrap();
    }

    /// Largest sample in `[from, to)` (0 when none fell there).
    fn max_between(&self, from: Instant, to: Instant) -> u64 {
        let samples = self.samples.lock().unwrap();
        samples
            .iter()
            .filter(|(t, _)| *t >= from && *t < to)
            .map(|&(_, b)| b)
            .max()
            .unwrap_or(0)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One measured step: the trainer's phase seconds and the resident set in each phase.
struct Measured {
    metrics: StepMetrics,
    /// Sampled peak RSS per phase: rollout, reward, log-probs, update (optimiser included).
    phase_rss: [u64; 4],
    /// `VmHWM` at the step's end (since the previous reset, or the process's start).
    peak: u64,
    /// `VmRSS` as the step starts: what the previous steps left resident.
    start: u64,
    /// When the step started.
    started: Instant,
}

/// Runs one step, timing its phases with the trainer's own clock and attributing RSS samples
/// to them: the trainer runs rollout, reward, log-probs and update back to back, so the
/// phase windows are consecutive from the step's start (the last runs to the step's end).
fn measured_step(
    trainer: &mut GrpoTrainer<QwenPolicy>,
    reward: &TaskRouter,
    total_steps: u64,
    sampler: &RssSampler,
) -> Measured {
    let start_rss = status_bytes("VmRSS:");
    let start = Instant::now();
    let metrics = trainer.step(reward, total_steps).unwrap();
    let end = Instant::now();
    let t = &metrics.time;
    let mut bounds = [start; 5];
    let mut at = start;
    for (b, secs) in bounds[1..4]
        .iter_mut()
        .zip([t.rollout, t.reward, t.log_probs])
    {
        at = (at + Duration::from_secs_f64(secs)).min(end);
        *b = at;
    }
    bounds[4] = end;
    let mut phase_rss = [0u64; 4];
    for (p, w) in phase_rss.iter_mut().zip(bounds.windows(2)) {
        *p = sampler.max_between(w[0], w[1]);
    }
    Measured {
        metrics,
        phase_rss,
        peak: peak_rss(),
        start: start_rss,
        started: start,
    }
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
#[ignore = "needs ~12 GB and ~10 minutes of 2 cores: scripts/memory_check.sh"]
fn grpo_step_peak_rss_matches_the_memory_model() {
    let cfg = config();
    let device = Device::flex().autodiff();
    let fixture = root().join("tests/fixtures/tiny-qwen2_5-vl");
    let processor = Processor::from_dir(&fixture).unwrap();
    let max_pixels = env_or("SSRL_MEMORY_MAX_PIXELS", 200_704u64);
    let steps = env_or("SSRL_MEMORY_STEPS", 2u64).max(1);
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
    eprintln!(
        "params {} ({:.2} GiB f32); prompt {prompt_tokens} tokens ({image_tokens} image); \
         {steps} steps",
        inputs.params.total(),
        gib(inputs.params.total() * 4),
    );
    eprintln!("estimate: {est:#?}");
    let before = peak_rss();
    let t0 = Instant::now();
    let sampler = RssSampler::start(Duration::from_millis(20));
    let mut trainer = GrpoTrainer::new(policy, None, vec![record], grpo).unwrap();
    let reward = TaskRouter::new(Box::new(Constant));
    let mut runs = Vec::new();
    let mut reset = true;
    for step in 0..steps {
        if step > 0 {
            reset &= reset_peak();
        }
        runs.push(measured_step(&mut trainer, &reward, steps, &sampler));
    }
    // SSRL_MEMORY_TRACE=<file>: the whole RSS timeline, with each step's phase boundaries
    // printed below in the same clock.
    if let Some(path) = std::env::var_os("SSRL_MEMORY_TRACE") {
        sampler.write_trace(t0, Path::new(&path));
        for run in &runs {
            let t = &run.metrics.time;
            let s0 = run.started.saturating_duration_since(t0).as_secs_f64();
            eprintln!(
                "trace: step {} starts {s0:.1} s; rollout ends {:.1}, log-probs {:.1}, update {:.1}",
                run.metrics.step,
                s0 + t.rollout,
                s0 + t.rollout + t.reward + t.log_probs,
                s0 + t.step
            );
        }
    }
    drop(sampler);

    eprintln!(
        "model built: peak RSS {:.2} GiB before the trainer",
        gib(before)
    );
    eprintln!("step | response tokens | rollout s | reward s | log-probs s | update s | step s");
    for run in &runs {
        let t = &run.metrics.time;
        eprintln!(
            "{} | {:.0} | {:.1} | {:.3} | {:.1} | {:.1} | {:.1}",
            run.metrics.step,
            run.metrics.response_length_mean,
            t.rollout,
            t.reward,
            t.log_probs,
            t.update,
            t.step,
        );
    }
    // Predicted phase peaks: the first step holds no AdamW state (or masters) until its
    // optimiser step; the update row includes the optimiser step, as the trainer times it.
    let state = est.optimizer + est.master_weights;
    let predicted = |step: usize| -> [u64; 5] {
        let held = if step == 0 { state } else { 0 };
        [
            est.resident() - held,
            est.rollout_peak() - held,
            est.scoring_peak() - held,
            (est.update_peak() - held).max(est.step_peak()),
            if step == 0 {
                est.first_step_peak()
            } else {
                est.peak()
            },
        ]
    };
    eprintln!("RSS GiB, measured / predicted, per step:");
    for (row, name) in [
        "step start (resident)",
        "rollout",
        "log-probs",
        "update + optimiser",
        "peak (VmHWM)",
    ]
    .iter()
    .enumerate()
    {
        let cells: Vec<String> = runs
            .iter()
            .enumerate()
            .map(|(m, run)| {
                let measured = [
                    run.start,
                    run.phase_rss[0],
                    run.phase_rss[2],
                    run.phase_rss[3],
                    run.peak,
                ];
                format!("{:.2} / {:.2}", gib(measured[row]), gib(predicted(m)[row]))
            })
            .collect();
        eprintln!("{name} | {}", cells.join(" | "));
    }
    let mut failures = Vec::new();
    for (m, run) in runs.iter().enumerate() {
        let expected = predicted(m)[4];
        let ratio = run.peak as f64 / expected as f64;
        eprintln!(
            "step {}: peak {:.2} GiB vs {} {:.2} GiB, ratio {ratio:.3}",
            run.metrics.step,
            gib(run.peak),
            if m == 0 { "first_step_peak" } else { "peak" },
            gib(expected)
        );
        if !(0.8..=1.2).contains(&ratio) {
            failures.push(format!(
                "step {}: measured {} vs predicted {expected}",
                run.metrics.step, run.peak
            ));
        }
    }
    if !reset {
        eprintln!("(VmHWM could not be reset: later peaks run on from the process's start)");
    }
    assert!(failures.is_empty(), "{failures:?}");
}
