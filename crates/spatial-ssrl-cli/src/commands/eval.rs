//! `spatial-ssrl eval`: score a model on a spatial benchmark.
//!
//! Offline (`--predictions preds.jsonl`) scores answers produced anywhere; live
//! (`--model DIR`, needs the `ml` feature) generates them with a Qwen2.5-VL model folder,
//! appending to a resumable predictions file. Both write `report.json` and a Markdown table
//! beside it. `spatial-ssrl eval compare --reports a.json b.json` lays runs side by side in
//! the paper's column order, with its published numbers as reference rows.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use spatial_ssrl_bench::{Registry, Report, compare, evaluate, read_predictions};

use super::generation_args::GenerationArgs;

/// Evaluate predictions or a model on a spatial benchmark.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    sub: Option<Sub>,
    /// Benchmark: spatial457, 3dsrbench, spatialeval, whatsup, viewspatial, vsibench, qspatial, mcq-tsv.
    #[arg(long, required = true)]
    bench: Option<String>,
    /// The benchmark's data file (TSV, JSON, JSONL or parquet, as published).
    #[arg(long, required = true)]
    data: Option<PathBuf>,
    /// Predictions JSONL (`{"index": i, "prediction": ".."}` per line). Offline: the answers to
    /// score. Live: where answers are appended (default: next to --out), resumed if present.
    #[arg(long)]
    predictions: Option<PathBuf>,
    /// Qwen2.5-VL model folder for live evaluation (binary built with the `ml` feature).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Report JSON to write (a Markdown table goes beside it, `.md`).
    #[arg(long, required = true)]
    out: Option<PathBuf>,
    /// Row label in comparison tables (default: the model folder or predictions file name).
    #[arg(long)]
    label: Option<String>,
    /// Score only the items that have a prediction instead of failing on missing ones.
    #[arg(long)]
    allow_partial: bool,
    /// Also write every item's score, extracted answer and rule to this JSONL file.
    #[arg(long)]
    scores: Option<PathBuf>,
    /// Live: prompts per generation batch.
    #[arg(long, default_value_t = 1)]
    batch_size: usize,
    /// Live: upper bound on generated tokens per answer.
    #[arg(long, default_value_t = 2048)]
    max_new_tokens: usize,
    /// Live: frames sampled per video (VSI-Bench).
    #[arg(long, default_value_t = 16)]
    max_frames: usize,
    /// Live decoding (default: the model folder's `generation_config.json`).
    #[command(flatten)]
    generation: GenerationArgs,
}

#[derive(clap::Subcommand, Debug)]
enum Sub {
    /// Compare reports side by side in the paper's column order.
    Compare(CompareArgs),
}

/// Options of `eval compare`.
#[derive(clap::Args, Debug)]
struct CompareArgs {
    /// Report JSON files written by `spatial-ssrl eval` (one row per label).
    #[arg(long, num_args = 1.., required = true)]
    reports: Vec<PathBuf>,
    /// Leave out the paper's reference rows.
    #[arg(long)]
    no_reference: bool,
    /// Also write the table to this Markdown file.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn file_label(p: &Path) -> String {
    p.file_stem()
        .or_else(|| p.file_name())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(Sub::Compare(c)) = args.sub {
        return run_compare(c);
    }
    let (Some(name), Some(data), Some(out)) = (
        args.bench.as_deref(),
        args.data.as_deref(),
        args.out.as_deref(),
    ) else {
        bail!("--bench, --data and --out are required");
    };
    let registry = Registry::builtin();
    let bench = registry.get(name)?;
    let items = bench
        .load(data)
        .with_context(|| format!("cannot load {name} from {}", data.display()))?;

    let (preds, preds_path, default_label) = match &args.model {
        Some(model) => {
            let path = args
                .predictions
                .clone()
                .unwrap_or_else(|| out.with_extension("predictions.jsonl"));
            let preds = live(&args, model, bench, &items, &path)?;
            (preds, path, file_label(model))
        }
        None => {
            let Some(path) = args.predictions.clone() else {
                bail!("give --predictions FILE to score answers, or --model DIR to generate them");
            };
            let (preds, _) = read_predictions(&path, false)?;
            let label = file_label(&path);
            (preds, path, label)
        }
    };
    let eval = evaluate(bench, &items, &preds, args.allow_partial, &preds_path)
        .with_context(|| format!("cannot score {}", preds_path.display()))?;
    let mut report = eval.report;
    report.label = Some(args.label.clone().unwrap_or(default_label));
    report.save(out)?;
    let md = report.to_markdown();
    let md_path = out.with_extension("md");
    std::fs::write(&md_path, &md).with_context(|| format!("cannot write {}", md_path.display()))?;
    if let Some(path) = &args.scores {
        let mut text = String::new();
        for s in &eval.scored {
            text.push_str(&serde_json::to_string(s)?);
            text.push('\n');
        }
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    print!("{md}");
    Ok(ExitCode::SUCCESS)
}

fn run_compare(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let mut reports = Vec::with_capacity(args.reports.len());
    for p in &args.reports {
        let mut r = Report::load(p)?;
        if r.label.is_none() {
            r.label = Some(file_label(p));
        }
        reports.push(r);
    }
    let table = compare(&reports, !args.no_reference);
    if let Some(out) = &args.out {
        std::fs::write(out, &table).with_context(|| format!("cannot write {}", out.display()))?;
    }
    print!("{table}");
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "ml"))]
fn live(
    _: &Args,
    _: &Path,
    _: &dyn spatial_ssrl_bench::Benchmark,
    _: &[spatial_ssrl_bench::Item],
    _: &Path,
) -> anyhow::Result<Vec<spatial_ssrl_bench::Prediction>> {
    bail!(
        "live evaluation needs the `ml` feature (build with default features); offline scoring works with --predictions"
    )
}

#[cfg(feature = "ml")]
fn live(
    args: &Args,
    model_dir: &Path,
    bench: &dyn spatial_ssrl_bench::Benchmark,
    items: &[spatial_ssrl_bench::Item],
    preds_path: &Path,
) -> anyhow::Result<Vec<spatial_ssrl_bench::Prediction>> {
    use spatial_ssrl_bench::{LiveConfig, run_live};
    let mut responder =
        qwen::QwenResponder::load(model_dir, args.max_new_tokens, &args.generation)?;
    let bar = indicatif::ProgressBar::new(items.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} items, {elapsed} elapsed, eta {eta}",
        )
        .expect("a valid progress template"),
    );
    let cfg = LiveConfig {
        batch_size: args.batch_size.max(1),
        max_frames: args.max_frames,
    };
    let preds = run_live(
        bench,
        items,
        &mut responder,
        preds_path,
        cfg,
        &mut |done, _| bar.set_position(done as u64),
    )?;
    bar.finish_and_clear();
    Ok(preds)
}

/// The live glue: Qwen2.5-VL from `spatial-ssrl-model` as a benchmark [`Responder`](spatial_ssrl_bench::Responder).
#[cfg(feature = "ml")]
mod qwen {
    use std::path::Path;
    use std::sync::Arc;

    use anyhow::Context;
    use spatial_ssrl_bench::{Prompt, Responder};

    use super::GenerationArgs;
    use spatial_ssrl_model::burn::tensor::Device;
    use spatial_ssrl_model::{
        ContentPart, GenerationConfig, Message, Processor, Qwen2_5VlForCausalLm, VlBatch,
    };

    type BoxError = Box<dyn std::error::Error + Send + Sync>;

    fn device() -> Device {
        #[cfg(feature = "cuda")]
        return Device::cuda(0);
        #[cfg(all(feature = "wgpu", not(feature = "cuda")))]
        return Device::wgpu(Default::default());
        #[cfg(all(feature = "flex", not(any(feature = "cuda", feature = "wgpu"))))]
        return Device::flex();
        #[cfg(not(any(feature = "cuda", feature = "wgpu", feature = "flex")))]
        return Device::ndarray();
    }

    /// Decoding as transformers' `model.generate` with the folder's `generation_config.json`
    /// (how the paper's evaluation scripts call it) under the `eval` flags, stopping at its EOS
    /// tokens.
    pub struct QwenResponder {
        processor: Processor,
        model: Qwen2_5VlForCausalLm,
        cfg: GenerationConfig,
    }

    impl QwenResponder {
        pub fn load(
            dir: &Path,
            max_new_tokens: usize,
            generation: &GenerationArgs,
        ) -> anyhow::Result<Self> {
            let processor = Processor::from_dir(dir)
                .with_context(|| format!("cannot load the processor of {}", dir.display()))?;
            let model = Qwen2_5VlForCausalLm::from_pretrained(dir, &device())
                .with_context(|| format!("cannot load the model in {}", dir.display()))?;
            let pad = i64::from(processor.pad_id());
            let cfg = generation.resolve(dir, Some(max_new_tokens), max_new_tokens, pad)?;
            Ok(QwenResponder {
                processor,
                model,
                cfg,
            })
        }
    }

    impl Responder for QwenResponder {
        fn respond(&mut self, prompts: &[Prompt]) -> Result<Vec<String>, BoxError> {
            let mut convs = Vec::with_capacity(prompts.len());
            for p in prompts {
                let mut parts = Vec::with_capacity(p.images.len() + 1);
                for bytes in &p.images {
                    let img = image::load_from_memory(bytes)
                        .map_err(|e| format!("item {}: {e}", p.index))?;
                    parts.push(ContentPart::Image(Arc::new(img)));
                }
                parts.push(ContentPart::Text(p.text.clone()));
                convs.push(vec![Message::user(parts)]);
            }
            let refs: Vec<&[Message]> = convs.iter().map(Vec::as_slice).collect();
            let inputs = self
                .processor
                .prepare_batch(&refs, true)
                .map_err(|e| format!("{e:#}"))?;
            let batch = VlBatch::from_processed(&inputs).map_err(|e| format!("{e:#}"))?;
            let out = self
                .model
                .generate_batch(&batch, &self.cfg, |_, _| {})
                .map_err(|e| format!("{e:#}"))?;
            out.iter()
                .map(|g| {
                    let ids: Vec<u32> = g.tokens.iter().map(|&t| t as u32).collect();
                    self.processor
                        .decode(&ids, true)
                        .map_err(|e| BoxError::from(format!("{e:#}")))
                })
                .collect()
        }
    }
}
