//! `spatial-ssrl eval`: score a model on a spatial benchmark.
//!
//! Offline (`--predictions preds.jsonl`) scores answers produced anywhere; live
//! (`--model DIR`, needs the `ml` feature) generates them with a Qwen2.5-VL or Qwen3-VL model
//! folder, appending to a resumable predictions file. Both write `report.json` and a Markdown
//! table beside it. Prompts are the paper scripts' own by default (`--prompt paper`, their CoT run;
//! `--no-think` for their direct run); `--scoring paper` scores with the scripts' rules
//! instead of the robust default. `--dump-prompts FILE` writes what each item would be sent
//! with, without a model and without reading media. `spatial-ssrl eval compare --reports
//! a.json b.json` lays runs side by side in the paper's column order, with its published
//! numbers as reference rows.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::generation_args::GenerationArgs;
use anyhow::{Context, bail};
use spatial_ssrl_bench::{
    Benchmark, Item, LiveConfig, PromptMode, Registry, Report, Scoring, compare, evaluate,
    load_pooled, read_predictions,
};

/// Generation length when neither the benchmark's paper settings nor `--max-new-tokens` set one.
const DEFAULT_MAX_NEW_TOKENS: usize = 2048;

/// Which prompts `eval` sends.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum PromptArg {
    /// The paper scripts' user text, pixel limits, frames and generation length.
    Paper,
    /// This crate's reworded prompts (question, `Options:`, training format instruction).
    Robust,
}

/// Which answer rules score.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ScoringArg {
    /// The paper scripts' own rules (strict).
    Paper,
    /// This crate's forgiving extraction (box, letter forms, option text, units).
    Robust,
}

/// Evaluate predictions or a model on a spatial benchmark.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    sub: Option<Sub>,
    /// Benchmark: spatial457, 3dsrbench, spatialeval, whatsup, viewspatial, vsibench, qspatial, mcq-tsv.
    #[arg(long, required = true)]
    bench: Option<String>,
    /// The benchmark's data file(s) (TSV, JSON, JSONL or parquet, as published). Several
    /// files (or a What'sUp folder) are pooled into one run, keys continuing across files.
    #[arg(long, num_args = 1.., required = true)]
    data: Vec<PathBuf>,
    /// Predictions JSONL (`{"index": i, "prediction": ".."}` per line). Offline: the answers to
    /// score. Live: where answers are appended (default: next to --out), resumed if present.
    #[arg(long)]
    predictions: Option<PathBuf>,
    /// Qwen2.5-VL or Qwen3-VL model folder for live evaluation (binary built with the `ml`
    /// feature).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Report JSON to write (a Markdown table goes beside it, `.md`); not needed with
    /// `--dump-prompts`.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write one JSON line per item (`id`, `text`, `n_images`, `n_frames`, `min_pixels`,
    /// `max_pixels`, `max_new_tokens`) and stop: no model, no media read.
    #[arg(long, value_name = "FILE")]
    dump_prompts: Option<PathBuf>,
    /// Prompts to send: the paper scripts' (default) or this crate's reworded ones.
    #[arg(long, value_enum, default_value_t = PromptArg::Paper)]
    prompt: PromptArg,
    /// The scripts' direct-answer run instead of their think/boxed (CoT) run; applies to
    /// paper prompts and paper scoring.
    #[arg(long)]
    no_think: bool,
    /// Answer rules: robust (default) or the paper scripts' own; the report records which.
    #[arg(long, value_enum, default_value_t = ScoringArg::Robust)]
    scoring: ScoringArg,
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
    /// Live: upper bound on generated tokens per answer (default: the benchmark's paper
    /// setting, 4096 or 2048, else 2048).
    #[arg(long)]
    max_new_tokens: Option<usize>,
    /// Live: frames sampled per video (default: the benchmark's, 128 for VSI-Bench).
    #[arg(long)]
    max_frames: Option<usize>,
    /// Live: dtype the weights are held in, `auto` (as stored), `bf16`, `f16` or `f32`.
    #[arg(long, default_value = "auto")]
    dtype: String,
    /// Live decoding (default: the model folder's `generation_config.json`).
    #[command(flatten)]
    generation: GenerationArgs,
}

impl Args {
    fn live_config(&self) -> LiveConfig {
        LiveConfig {
            batch_size: self.batch_size.max(1),
            mode: match self.prompt {
                PromptArg::Paper => PromptMode::Paper {
                    cot: !self.no_think,
                },
                PromptArg::Robust => PromptMode::Robust,
            },
            max_frames: self.max_frames,
            max_new_tokens: self.max_new_tokens,
        }
    }

    fn scoring(&self) -> Scoring {
        match self.scoring {
            ScoringArg::Paper => Scoring::Paper {
                cot: !self.no_think,
            },
            ScoringArg::Robust => Scoring::Robust,
        }
    }
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
    let Some(name) = args.bench.as_deref() else {
        bail!("--bench and --data are required");
    };
    let registry = Registry::builtin();
    let bench = registry.get(name)?;
    let data: Vec<&Path> = args.data.iter().map(PathBuf::as_path).collect();
    let items = load_pooled(bench, &data).with_context(|| {
        let files: Vec<String> = data.iter().map(|p| p.display().to_string()).collect();
        format!("cannot load {name} from {}", files.join(", "))
    })?;
    if let Some(path) = &args.dump_prompts {
        dump_prompts(&args.live_config(), bench, &items, path)?;
        return Ok(ExitCode::SUCCESS);
    }
    let Some(out) = args.out.as_deref() else {
        bail!("--out is required (or --dump-prompts FILE)");
    };

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
    let eval = evaluate(
        bench,
        &items,
        &preds,
        args.allow_partial,
        args.scoring(),
        &preds_path,
    )
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

/// Writes each item's request as one JSON line; reads no image or video.
fn dump_prompts(
    cfg: &LiveConfig,
    bench: &dyn Benchmark,
    items: &[Item],
    path: &Path,
) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    let mut w = std::io::BufWriter::new(file);
    for it in items {
        let line = cfg
            .request(bench, it)
            .dump_line(it.index, DEFAULT_MAX_NEW_TOKENS);
        writeln!(w, "{line}").with_context(|| format!("cannot write {}", path.display()))?;
    }
    w.flush()
        .with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("wrote {} prompts to {}", items.len(), path.display());
    Ok(())
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
    use spatial_ssrl_bench::run_live;
    let mut responder = qwen::QwenResponder::load(
        model_dir,
        DEFAULT_MAX_NEW_TOKENS,
        &args.generation,
        &args.dtype,
    )?;
    let bar = indicatif::ProgressBar::new(items.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} items, {elapsed} elapsed, eta {eta}",
        )
        .expect("a valid progress template"),
    );
    let cfg = args.live_config();
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

/// The live glue: a Qwen2.5-VL or Qwen3-VL folder (`spatial-ssrl-model`'s [`VlModel`]) as a
/// benchmark [`Responder`](spatial_ssrl_bench::Responder). Both families get the same prompts:
/// the paper scripts' text, and their pixel limits.
///
/// [`VlModel`]: spatial_ssrl_model::VlModel
#[cfg(feature = "ml")]
mod qwen {
    use std::path::Path;
    use std::sync::Arc;

    use anyhow::Context;
    use spatial_ssrl_bench::{Prompt, Responder};

    use super::GenerationArgs;
    use spatial_ssrl_model::burn::tensor::Device;
    use spatial_ssrl_model::{
        ContentPart, GenerationConfig, ImageProcessor, Message, Processor, VideoInput, VlBatch,
        VlModel,
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
        model: VlModel,
        cfg: GenerationConfig,
        default_max_new_tokens: usize,
    }

    impl QwenResponder {
        pub fn load(
            dir: &Path,
            max_new_tokens: usize,
            generation: &GenerationArgs,
            dtype: &str,
        ) -> anyhow::Result<Self> {
            let processor = Processor::from_dir(dir)
                .with_context(|| format!("cannot load the processor of {}", dir.display()))?;
            let dtype: spatial_ssrl_model::WeightDtype = dtype.parse()?;
            let model = VlModel::from_pretrained_dtype(dir, &device(), dtype)
                .with_context(|| format!("cannot load the model in {}", dir.display()))?;
            // From here on, activation buffers are reused instead of faulted in afresh on every
            // forward (the weights above keep their own mappings).
            spatial_ssrl_model::keep_freed_memory();
            let pad = i64::from(processor.pad_id());
            let cfg = generation.resolve(dir, None, max_new_tokens, pad)?;
            Ok(QwenResponder {
                processor,
                model,
                cfg,
                default_max_new_tokens: max_new_tokens,
            })
        }
    }

    impl QwenResponder {
        /// One image as the script's pipeline hands it to the model: a fixed resize first
        /// (qwen_vl_utils' `resized_height/width`, bicubic like Pillow), then the request's
        /// pixel limits. Resizing to the limits here leaves the processor's own resize a
        /// no-op, since its wider model-folder limits keep a 28-aligned size as it is.
        fn prepare_image(&self, bytes: &[u8], p: &Prompt) -> Result<image::DynamicImage, BoxError> {
            let mut img =
                image::load_from_memory(bytes).map_err(|e| format!("item {}: {e}", p.index))?;
            let r = &p.request;
            if let Some((h, w)) = r.resize {
                img = img.resize_exact(w, h, image::imageops::FilterType::CatmullRom);
            }
            if r.min_pixels.is_some() || r.max_pixels.is_some() {
                let mut cfg = self.processor.image_processor().config().clone();
                cfg.min_pixels = r.min_pixels.or(cfg.min_pixels);
                cfg.max_pixels = r.max_pixels.or(cfg.max_pixels);
                let limited = ImageProcessor::new(cfg).map_err(|e| format!("{e:#}"))?;
                img = image::DynamicImage::ImageRgb8(
                    limited.resize(&img).map_err(|e| format!("{e:#}"))?,
                );
            }
            Ok(img)
        }
    }

    impl Responder for QwenResponder {
        fn respond(&mut self, prompts: &[Prompt]) -> Result<Vec<String>, BoxError> {
            let mut convs = Vec::with_capacity(prompts.len());
            for p in prompts {
                let (before, after) = p.request.text.split_at(p.request.visuals_at);
                let mut parts = Vec::with_capacity(p.images.len() + 2);
                if !before.is_empty() {
                    parts.push(ContentPart::Text(before.to_string()));
                }
                for bytes in &p.images {
                    parts.push(ContentPart::Image(Arc::new(self.prepare_image(bytes, p)?)));
                }
                // A video goes in as one clip (pixel_values_videos, temporal M-RoPE positions);
                // its frames keep their size, the video processor applies its own limits.
                if let Some(v) = &p.video {
                    let frames = v
                        .frames
                        .iter()
                        .map(|b| image::load_from_memory(b))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| format!("item {}: {e}", p.index))?;
                    let clip = VideoInput::new(frames, v.fps as f32)
                        .map_err(|e| format!("item {}: {e:#}", p.index))?;
                    parts.push(ContentPart::Video(Arc::new(clip)));
                }
                parts.push(ContentPart::Text(after.to_string()));
                convs.push(vec![Message::user(parts)]);
            }
            // Requests of one benchmark share their generation length.
            self.cfg.max_new_tokens = prompts
                .first()
                .and_then(|p| p.request.max_new_tokens)
                .unwrap_or(self.default_max_new_tokens);
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
