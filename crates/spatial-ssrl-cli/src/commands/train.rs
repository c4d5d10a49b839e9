//! `spatial-ssrl train --config train.toml [--resume]`: SFT cold start (when `data.sft_files`
//! is set) then GRPO, with checkpoints, `metrics.jsonl`, `curves.png` and a progress bar.
//! A Qwen2.5-VL or Qwen3-VL run (`model.kind = "qwen2_5_vl"` or `"qwen3_vl"`, the family of
//! the `model.path` folder) also writes the trained model in HF layout to `<output_dir>/final`.
//! `trainer.n_gpus_per_node = N > 1` runs N data-parallel peers in this process (one thread
//! per device, `spatial_ssrl_rl::distributed`); rank 0 alone writes the log, plots, prunes
//! and exports, and the result is the one-device run's up to rounding.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use burn::tensor::Device;
use indicatif::{ProgressBar, ProgressStyle};
use spatial_ssrl_model::{Family, WeightDtype};
use spatial_ssrl_rl::distributed::{Peer, peer_devices, run_peers};
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
    std::fs::create_dir_all(&cfg.trainer.output_dir)
        .with_context(|| format!("creating {}", cfg.trainer.output_dir.display()))?;
    std::fs::write(cfg.trainer.output_dir.join("config.toml"), cfg.to_toml())?;
    // Narrow weights train with f32 master weights (spatial_ssrl_rl::MasterAdamW).
    let device = cfg.model.training_device(Device::default());
    let peers = cfg.trainer.n_gpus_per_node;
    let job = Run {
        cfg: &cfg,
        resume: args.resume,
        quiet: args.quiet,
    };
    match cfg.model.kind.as_str() {
        "tiny" if peers > 1 => {
            train_on_peers(&job, |d| Ok(cfg.model.tiny.init(d)), false, None)?;
        }
        "tiny" => {
            let policy = cfg.model.tiny.init(&device);
            train(&job, policy, None, false, None)?;
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
            let load = |device: &Device| -> anyhow::Result<QwenPolicy> {
                let policy = QwenPolicy::from_pretrained_dtype(&path, device, dtype)
                    .map(|p| p.with_pixel_limits(pixels))
                    .with_context(|| format!("loading {}", path.display()))?;
                Ok(if cfg.model.freeze_vision_tower {
                    policy.freeze_vision_tower()
                } else {
                    policy
                })
            };
            let export = |p: &QwenPolicy, dir: &Path| -> anyhow::Result<()> {
                p.save_pretrained(dir)
                    .with_context(|| format!("saving {}", dir.display()))
            };
            let trained = if peers > 1 {
                train_on_peers(&job, load, true, Some(&export))?
            } else {
                train(&job, load(&device)?, None, true, Some(&export))?
            };
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

/// Writes an HF folder of a policy (Qwen: `save_pretrained`); shared by the peer threads.
type Export<'a, P> = &'a (dyn Fn(&P, &Path) -> anyhow::Result<()> + Sync);

/// `trainer.n_gpus_per_node` data-parallel peers on this machine (`peer_devices`: CUDA devices
/// in a `cuda` build, else CPU threads), one policy each from `build`, each running [`train`];
/// returns rank 0's trained policy (every peer's weights are the same).
fn train_on_peers<P: Policy + Send>(
    job: &Run<'_>,
    build: impl Fn(&Device) -> anyhow::Result<P>,
    format_prompt: bool,
    export: Option<Export<'_, P>>,
) -> anyhow::Result<P> {
    let cfg = job.cfg;
    let n = cfg.trainer.n_gpus_per_node;
    let base = peer_devices(n);
    // Peers run where `peer_devices` puts them; a build whose one-device run would use other
    // hardware (wgpu, a BURN_DEVICE override) is refused rather than moved onto it silently.
    if base.first() != Some(&Device::default()) {
        bail!(
            "trainer.n_gpus_per_node = {n}: data-parallel peers run on {:?} (CUDA devices in a \
             cuda build, else CPU threads) but this build trains on {:?}; use \
             n_gpus_per_node = 1 or a cuda/flex build",
            base.first(),
            Device::default()
        );
    }
    let devices: Vec<Device> = base
        .into_iter()
        .map(|d| cfg.model.training_device(d))
        .collect();
    let policies = devices.iter().map(&build).collect::<anyhow::Result<_>>()?;
    // A peer's own failure comes back as its result; the peers it left behind stop with
    // `Error::PeerLeft`, which is reported only when nothing else is.
    let results = run_peers(
        devices,
        cfg.trainer.collective_timeout(),
        policies,
        |peer, policy| Ok(train(job, policy, Some(peer), format_prompt, export)),
    )?;
    let left = |e: &anyhow::Error| {
        matches!(
            e.downcast_ref::<spatial_ssrl_rl::Error>(),
            Some(spatial_ssrl_rl::Error::PeerLeft { .. })
        )
    };
    let mut errors = Vec::new();
    let mut rank0 = None;
    for result in results {
        match result {
            Ok(policy) => rank0 = rank0.or(Some(policy)),
            Err(e) => errors.push(e),
        }
    }
    if let Some(root) = errors.iter().position(|e| !left(e)) {
        return Err(errors.swap_remove(root));
    }
    match (errors.into_iter().next(), rank0) {
        (Some(e), _) => Err(e),
        (None, Some(policy)) => Ok(policy),
        (None, None) => bail!("no peer returned a policy"),
    }
}

/// What every peer of one `train` invocation shares.
struct Run<'a> {
    cfg: &'a TrainConfig,
    resume: bool,
    quiet: bool,
}

/// SFT then GRPO on one device (`peer` None: today's single-device path) or as one
/// data-parallel peer; only the writer (rank 0, or the single device) logs, plots, prunes and
/// exports, while every peer takes part in checkpoint writes (rank 0 writes, the others wait).
fn train<P: Policy>(
    run: &Run<'_>,
    policy: P,
    peer: Option<Peer>,
    format_prompt: bool,
    export: Option<Export<'_, P>>,
) -> anyhow::Result<P> {
    let (cfg, resume) = (run.cfg, run.resume);
    let writer_peer = peer.as_ref().is_none_or(Peer::is_writer);
    let quiet = run.quiet;
    // Other peers stay silent: no bar, no per-step log, no files of their own.
    let hidden = !writer_peer;
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
        let mut sft = match &peer {
            None => SftTrainer::new(policy, &examples, cfg.sft.clone())?,
            Some(p) => {
                // `SftTrainer::new` seeds the device and draws the LoRA adapters: rank 0 does
                // it alone (as a single device would), and `with_peer` gives every peer its
                // adapters.
                if !p.is_writer() {
                    p.barrier("lora init")?;
                }
                let built = SftTrainer::new(policy, &examples, cfg.sft.clone());
                if p.is_writer() {
                    p.barrier("lora init")?;
                }
                built?.with_peer(p.clone())?
            }
        };
        if !hidden && sft.dropped_examples() > 0 {
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
        let mut writer = (!hidden)
            .then(|| {
                MetricsWriter::open(&metrics_path, |m| {
                    resume && (m.phase != "sft" || m.step <= sft_done)
                })
            })
            .transpose()?;
        let total = cfg
            .trainer
            .sft_max_steps
            .unwrap_or(u64::MAX)
            .min(sft.total_steps());
        let pb = bar(total, quiet || hidden, "sft");
        pb.set_position(sft.state().step);
        let fresh = sft.state().step < total;
        while sft.state().step < total {
            let m = sft.step()?;
            if let Some(w) = &mut writer {
                w.write(&m.to_line())?;
                log_line(quiet, &m);
            }
            pb.set_message(format!("loss {:.4}", m.pg_loss));
            pb.inc(1);
            if cfg.trainer.save_freq > 0 && m.step % cfg.trainer.save_freq == 0 {
                if !hidden {
                    prune_checkpoints(&sft_dir, m.step, None, cfg.trainer.save_limit)?;
                }
                sft.save_checkpoint(&sft_dir)?;
            }
        }
        if fresh {
            if !hidden {
                prune_checkpoints(&sft_dir, sft.state().step, None, cfg.trainer.save_limit)?;
            }
            sft.save_checkpoint(&sft_dir)?;
        }
        pb.finish();
        policy = sft.into_policy();
    }

    // GRPO.
    let records = records_of(cfg, format_prompt)?;
    let n_records = records.len();
    if !hidden {
        println!("data: {n_records} train prompts");
    }
    // The KL reference is the policy GRPO starts from; none without a KL term.
    let reference = cfg.grpo.use_kl_loss.then(|| policy.clone());
    let mut grpo = GrpoTrainer::new(policy, reference, records, cfg.grpo.clone())?;
    if let Some(p) = &peer {
        grpo = grpo.with_peer(p.clone())?;
    }
    if !hidden && grpo.filtered_prompts() > 0 {
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
    let mut writer = (!hidden)
        .then(|| {
            MetricsWriter::open(&metrics_path, |m| {
                if m.phase == "grpo" {
                    resume && m.step <= grpo_done
                } else {
                    sft_logged
                }
            })
        })
        .transpose()?;
    let reward = cfg.reward.build()?;
    // Validation is rank 0's: every peer holds the same weights.
    let validator = match &cfg.data.val_files {
        Some(spec) if !hidden => {
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
        _ => None,
    };
    if let Some(v) = &validator
        && let Some(writer) = &mut writer
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
    let pb = bar(total, quiet || hidden, "grpo");
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
        if let Some(w) = &mut writer {
            w.write(&line)?;
            log_line(quiet, &m);
        }
        pb.set_message(format!("reward {:.3}", m.reward.mean));
        pb.inc(1);
        if cfg.trainer.save_freq > 0 && m.step % cfg.trainer.save_freq == 0 {
            save_grpo(cfg, &grpo, &grpo_dir, export, hidden)?;
        }
    }
    save_grpo(cfg, &grpo, &grpo_dir, export, hidden)?;
    pb.finish();
    if !hidden {
        let all = read_metrics(&metrics_path)?;
        plot_metrics(&all, &out.join("curves.png"), 1600, 900)?;
    }
    Ok(grpo.into_policy())
}

/// A GRPO checkpoint (`global_step_<N>`, older ones pruned to `save_limit`), with its HF
/// folder in `global_step_<N>/huggingface` when `trainer.save_hf` is set. A `hidden` peer
/// (not rank 0) only joins the checkpoint write.
fn save_grpo<P: Policy>(
    cfg: &TrainConfig,
    grpo: &GrpoTrainer<P>,
    dir: &Path,
    export: Option<Export<'_, P>>,
    hidden: bool,
) -> anyhow::Result<()> {
    if !hidden {
        prune_checkpoints(dir, grpo.step_count(), None, cfg.trainer.save_limit)?;
    }
    let ckpt = grpo.save_checkpoint(dir)?;
    if !hidden
        && cfg.trainer.save_hf
        && let Some(export) = export
    {
        export(grpo.policy(), &ckpt.join("huggingface"))?;
    }
    Ok(())
}
