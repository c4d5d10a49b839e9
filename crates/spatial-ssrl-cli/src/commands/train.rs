//! `spatial-ssrl train --config train.toml [--resume]`: SFT cold start (when `data.sft_files`
//! is set) then GRPO, with checkpoints, `metrics.jsonl`, `curves.png` and a progress bar.
//! A Qwen2.5-VL or Qwen3-VL run (`model.kind = "qwen2_5_vl"` or `"qwen3_vl"`, the family of
//! the `model.path` folder) also writes the trained model in HF layout to `<output_dir>/final`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use burn::tensor::Device;
use indicatif::{ProgressBar, ProgressStyle};
use spatial_ssrl_model::{Family, WeightDtype};
use spatial_ssrl_rl::{
    GrpoTrainer, MetricsLine, MetricsWriter, PixelLimits, Policy, PromptRecord, QwenPolicy,
    SftTrainer, StepMetrics, TrainConfig, Validator, load_prompts, plot_metrics, prune_checkpoints,
    read_metrics, read_sft_examples, resolve_checkpoint,
};

/// Arguments of `train`.
#[derive(clap::Args)]
pub struct Args {
    /// TOML config (see docs/training.md; every key defaults to the paper's run).
    #[arg(long)]
    config: PathBuf,
    /// Continue from the latest checkpoint in the output folder.
    #[arg(long)]
    resume: bool,
    /// Override `trainer.max_steps`.
    #[arg(long)]
    max_steps: Option<u64>,
    /// Override `trainer.output_dir`.
    #[arg(long)]
    output_dir: Option<PathBuf>,
    /// Override `model.dtype`: `auto` (as stored), `bf16`, `f16` or `f32` (the config's
    /// default).
    #[arg(long)]
    dtype: Option<WeightDtype>,
    /// No progress bar (logs one line per step instead).
    #[arg(long)]
    quiet: bool,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut cfg = TrainConfig::load(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    if let Some(s) = args.max_steps {
        cfg.trainer.max_steps = Some(s);
    }
    if let Some(o) = args.output_dir {
        cfg.trainer.output_dir = o;
    }
    if let Some(d) = args.dtype {
        cfg.model.dtype = d.to_string();
    }
    if cfg.trainer.n_gpus_per_node > 1 {
        // Refused rather than run on one device while the config asks for more.
        anyhow::bail!(
            "trainer.n_gpus_per_node = {}: the train command runs one device; data-parallel \
             peers run through spatial_ssrl_rl::distributed::run_peers (docs/training.md, \
             \"Many devices\")",
            cfg.trainer.n_gpus_per_node
        );
    }
    std::fs::create_dir_all(&cfg.trainer.output_dir)
        .with_context(|| format!("creating {}", cfg.trainer.output_dir.display()))?;
    std::fs::write(cfg.trainer.output_dir.join("config.toml"), cfg.to_toml())?;
    // Narrow weights train with f32 master weights (spatial_ssrl_rl::MasterAdamW).
    let device = cfg.model.training_device(Device::default());
    match cfg.model.kind.as_str() {
        "tiny" => {
            let policy = cfg.model.tiny.init(&device);
            train(&cfg, policy, args.resume, args.quiet, false, None)?;
        }
        kind @ ("qwen2_5_vl" | "qwen3_vl") => {
            let path = cfg.model.path.clone().with_context(|| {
                format!("model.kind = {kind:?} needs model.path (an HF model folder)")
            })?;
            // The kind names the family the run is meant for; a folder of the other family
            // is a configuration mistake, not something to train silently.
            let family = Family::detect(&path)
                .with_context(|| format!("reading the model family of {}", path.display()))?;
            if family.model_type() != kind {
                bail!(
                    "model.kind = {kind:?} but {} holds a {family} model (config.json \
                     model_type); set model.kind = \"{family}\"",
                    path.display()
                );
            }
            let pixels = PixelLimits {
                min_pixels: cfg.data.min_pixels,
                max_pixels: cfg.data.max_pixels,
            };
            let dtype = cfg.model.weight_dtype()?;
            let mut policy = QwenPolicy::from_pretrained_dtype(&path, &device, dtype)
                .map(|p| p.with_pixel_limits(pixels))
                .with_context(|| format!("loading {}", path.display()))?;
            if cfg.model.freeze_vision_tower {
                policy = policy.freeze_vision_tower();
            }
            let export = |p: &QwenPolicy, dir: &Path| -> anyhow::Result<()> {
                p.save_pretrained(dir)
                    .with_context(|| format!("saving {}", dir.display()))
            };
            let trained = train(&cfg, policy, args.resume, args.quiet, true, Some(&export))?;
            let final_dir = cfg.trainer.output_dir.join("final");
            trained
                .save_pretrained(&final_dir)
                .with_context(|| format!("saving {}", final_dir.display()))?;
        }
        other => bail!(
            "unknown model.kind {other:?} (expected \"qwen2_5_vl\", \"qwen3_vl\" or \"tiny\")"
        ),
    }
    Ok(ExitCode::SUCCESS)
}

fn bar(total: u64, quiet: bool, label: &str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template(
            "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} eta {eta} {msg}",
        )
        .expect("static template"),
    );
    pb.set_prefix(label.to_string());
    pb
}

fn log_line(quiet: bool, m: &StepMetrics) {
    if quiet {
        eprintln!(
            "{} step {}: reward {:.4} loss {:.4} kl {:.4} grad_norm {:.4}",
            m.phase, m.step, m.reward.mean, m.pg_loss, m.kl, m.grad_norm
        );
    }
}

/// GRPO prompts (`data.train_files`, its train split) with the format instruction added for
/// a real model.
fn records_of(cfg: &TrainConfig, format_prompt: bool) -> anyhow::Result<Vec<PromptRecord>> {
    let spec = cfg
        .data
        .train_files
        .as_ref()
        .context("data.train_files is not set")?;
    let mut out = load_prompts(
        spec,
        "train",
        &cfg.data.columns(),
        cfg.data.image_dir.as_deref(),
    )
    .with_context(|| format!("reading data.train_files = {}", spec.display()))?;
    if format_prompt {
        for r in &mut out {
            r.problem = spatial_ssrl_rewards::with_format_instruction(&r.problem);
        }
    }
    Ok(out)
}

/// Writes an HF folder of a policy (Qwen: `save_pretrained`).
type Export<'a, P> = &'a dyn Fn(&P, &Path) -> anyhow::Result<()>;

fn train<P: Policy>(
    cfg: &TrainConfig,
    policy: P,
    resume: bool,
    quiet: bool,
    format_prompt: bool,
    export: Option<Export<'_, P>>,
) -> anyhow::Result<P> {
    let out = &cfg.trainer.output_dir;
    let metrics_path = out.join("metrics.jsonl");
    let grpo_dir = out.join("grpo");
    let sft_dir = out.join("sft");
    let resuming_grpo = resume && resolve_checkpoint(&grpo_dir).is_ok();
    let mut policy = policy;

    // SFT cold start. A resumed GRPO run rebuilds its result from the last SFT checkpoint
    // (no steps left to take): GRPO's reference is the merged SFT model.
    if let Some(sft_files) = &cfg.data.sft_files {
        let examples = read_sft_examples(sft_files)?;
        let mut sft = SftTrainer::new(policy, &examples, cfg.sft.clone())?;
        if sft.dropped_examples() > 0 {
            eprintln!(
                "sft: dropped {} examples longer than cutoff_len",
                sft.dropped_examples()
            );
        }
        if resume && resolve_checkpoint(&sft_dir).is_ok() {
            sft.load_checkpoint(&sft_dir)?;
        } else if resuming_grpo {
            bail!(
                "resuming GRPO after SFT needs the SFT checkpoint in {}",
                sft_dir.display()
            );
        }
        // A fresh run starts a fresh log; a resumed one drops SFT lines past the checkpoint.
        let sft_done = sft.state().step;
        let mut writer = MetricsWriter::open(&metrics_path, |m| {
            resume && (m.phase != "sft" || m.step <= sft_done)
        })?;
        let total = cfg
            .trainer
            .sft_max_steps
            .unwrap_or(u64::MAX)
            .min(sft.total_steps());
        let pb = bar(total, quiet, "sft");
        pb.set_position(sft.state().step);
        let fresh = sft.state().step < total;
        while sft.state().step < total {
            let m = sft.step()?;
            writer.write(&m.to_line())?;
            log_line(quiet, &m);
            pb.set_message(format!("loss {:.4}", m.pg_loss));
            pb.inc(1);
            if cfg.trainer.save_freq > 0 && m.step % cfg.trainer.save_freq == 0 {
                prune_checkpoints(&sft_dir, m.step, None, cfg.trainer.save_limit)?;
                sft.save_checkpoint(&sft_dir)?;
            }
        }
        if fresh {
            prune_checkpoints(&sft_dir, sft.state().step, None, cfg.trainer.save_limit)?;
            sft.save_checkpoint(&sft_dir)?;
        }
        pb.finish();
        policy = sft.into_policy();
    }

    // GRPO.
    let records = records_of(cfg, format_prompt)?;
    let n_records = records.len();
    println!("data: {n_records} train prompts");
    // The KL reference is the policy GRPO starts from; none without a KL term.
    let reference = cfg.grpo.use_kl_loss.then(|| policy.clone());
    let mut grpo = GrpoTrainer::new(policy, reference, records, cfg.grpo.clone())?;
    if grpo.filtered_prompts() > 0 {
        eprintln!(
            "grpo: filtered {} of {n_records} prompts longer than max_prompt_length {}",
            grpo.filtered_prompts(),
            cfg.grpo.max_prompt_length
        );
    }
    let steps_per_epoch =
        (n_records - grpo.filtered_prompts()).div_ceil(cfg.grpo.rollout_batch_size) as u64;
    let total = cfg
        .trainer
        .max_steps
        .unwrap_or(cfg.trainer.total_epochs * steps_per_epoch.max(1));
    if resuming_grpo {
        grpo.load_checkpoint(&grpo_dir)?;
    }
    // SFT lines stay; GRPO lines stay only up to the checkpoint a resumed run continues from.
    let grpo_done = grpo.step_count();
    let sft_logged = resume || cfg.data.sft_files.is_some();
    let mut writer = MetricsWriter::open(&metrics_path, |m| {
        if m.phase == "grpo" {
            resume && m.step <= grpo_done
        } else {
            sft_logged
        }
    })?;
    let reward = cfg.reward.build()?;
    let validator = match &cfg.data.val_files {
        Some(spec) => {
            let mut val = load_prompts(
                spec,
                "val",
                &cfg.data.columns(),
                cfg.data.image_dir.as_deref(),
            )
            .with_context(|| format!("reading data.val_files = {}", spec.display()))?;
            if format_prompt {
                for r in &mut val {
                    r.problem = spatial_ssrl_rewards::with_format_instruction(&r.problem);
                }
            }
            let v = Validator::new(
                grpo.policy(),
                val,
                cfg.grpo.val_sampling,
                cfg.grpo.sampling.max_new_tokens,
                cfg.grpo.max_prompt_length,
                cfg.grpo.seed,
            )?
            .with_generation_log(
                cfg.trainer.output_dir.join("val_generations.jsonl"),
                cfg.trainer.val_generations_to_log,
            );
            println!("data: {} val prompts", v.len());
            Some(v)
        }
        None => None,
    };
    if let Some(v) = &validator
        && cfg.trainer.val_before_train
        && grpo.step_count() == 0
    {
        let values = v.run(grpo.policy(), 0, &reward)?;
        writer.write(&MetricsLine {
            step: 0,
            phase: "grpo".into(),
            values,
        })?;
    }
    let pb = bar(total, quiet, "grpo");
    pb.set_position(grpo.step_count());
    while grpo.step_count() < total {
        let m = grpo.step(&reward, total)?;
        let mut line = m.to_line();
        if let Some(v) = &validator {
            let due = cfg.trainer.val_freq > 0 && m.step % cfg.trainer.val_freq == 0;
            if due || m.step == total {
                let t = std::time::Instant::now();
                line.values.extend(v.run(grpo.policy(), m.step, &reward)?);
                line.values
                    .insert("timing_s/validation".into(), t.elapsed().as_secs_f64());
            }
        }
        writer.write(&line)?;
        log_line(quiet, &m);
        pb.set_message(format!("reward {:.3}", m.reward.mean));
        pb.inc(1);
        if cfg.trainer.save_freq > 0 && m.step % cfg.trainer.save_freq == 0 {
            save_grpo(cfg, &grpo, &grpo_dir, export)?;
        }
    }
    save_grpo(cfg, &grpo, &grpo_dir, export)?;
    pb.finish();
    let all = read_metrics(&metrics_path)?;
    plot_metrics(&all, &out.join("curves.png"), 1600, 900)?;
    Ok(grpo.into_policy())
}

/// A GRPO checkpoint (`global_step_<N>`, older ones pruned to `save_limit`), with its HF
/// folder in `global_step_<N>/huggingface` when `trainer.save_hf` is set.
fn save_grpo<P: Policy>(
    cfg: &TrainConfig,
    grpo: &GrpoTrainer<P>,
    dir: &Path,
    export: Option<Export<'_, P>>,
) -> anyhow::Result<()> {
    prune_checkpoints(dir, grpo.step_count(), None, cfg.trainer.save_limit)?;
    let ckpt = grpo.save_checkpoint(dir)?;
    if cfg.trainer.save_hf
        && let Some(export) = export
    {
        export(grpo.policy(), &ckpt.join("huggingface"))?;
    }
    Ok(())
}
