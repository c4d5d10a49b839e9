//! `spatial-ssrl generate`: turns a folder (or manifest) of RGB and RGB-D sources into a
//! verifiable spatial-reasoning dataset (parquet for EasyR1, or JSONL + images).
//!
//! Reproducible from the seed for any `--threads`; killed and rerun with the same arguments,
//! it resumes and finishes with the same bytes as an uninterrupted run.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use spatial_ssrl_tasks::{
    BUILTIN_TASKS, DatasetFormat, ImageFormat, Pipeline, Progress, RunConfig, Shard, TaskMix,
    TasksConfig, discover, read_manifest, read_parquet_sources, settings_digest,
};

use crate::RegistryBuilder;

/// Generate a pretext-task dataset from RGB / RGB-D images.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Folder of sources: `name.jpg|png`, with `name.npy|h5` or `name_depth.png` for depth
    /// (and `name_mask.npy` for a validity mask); searched recursively.
    #[arg(long, required_unless_present_any = ["manifest", "parquet", "print_config"])]
    input: Option<PathBuf>,
    /// CSV or JSONL manifest listing sources (columns id, image, depth, mask, depth_scale),
    /// instead of --input.
    #[arg(long, conflicts_with = "input")]
    manifest: Option<PathBuf>,
    /// A parquet image dataset in Hugging Face layout (a `.parquet` file or a folder of
    /// them), one source per row, instead of --input.
    #[arg(long, conflicts_with_all = ["input", "manifest"])]
    parquet: Option<PathBuf>,
    /// With --parquet: the image column (`struct{bytes, path}` or binary).
    #[arg(long, default_value = "image", requires = "parquet")]
    image_column: String,
    /// With --parquet: the depth column (depth-file bytes: 16-bit PNG, .npy or HDF5), making
    /// every row an RGB-D source.
    #[arg(long, requires = "parquet")]
    depth_column: Option<String>,
    /// Output folder; rerun with the same arguments to resume an interrupted run.
    #[arg(long, required_unless_present = "print_config")]
    out: Option<PathBuf>,
    /// Comma-separated tasks.
    #[arg(long, value_delimiter = ',', default_values_t = BUILTIN_TASKS.map(String::from))]
    tasks: Vec<String>,
    /// Seed: same seed, same dataset, byte for byte.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Calls of each task per source; with task weights (--task-weights, a preset's mix),
    /// calls per source in all; unused with task counts (--task-counts).
    #[arg(long, default_value_t = 1)]
    samples_per_image: usize,
    /// Dataset format: parquet (EasyR1 / HF datasets) or jsonl (+ image files).
    #[arg(long, default_value = "parquet")]
    format: DatasetFormat,
    /// Image encoding inside the dataset: png (lossless) or jpeg.
    #[arg(long, default_value = "png")]
    image_format: ImageFormat,
    /// Worker threads (default: all cores). Does not change the output.
    #[arg(long)]
    threads: Option<usize>,
    /// TOML file overriding task parameters and prompt templates (`[shuffle]`, `[flip]`, ...).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Rows per shard file.
    #[arg(long, default_value_t = 256)]
    shard_size: usize,
    /// Fraction of sources (chosen by a hash of their id) whose samples go to the val split.
    #[arg(long, default_value_t = 0.0)]
    val_fraction: f64,
    /// Print the task configuration (the preset with --config laid over it) as TOML and
    /// exit: a starting point for --config.
    #[arg(long, conflicts_with_all = ["input", "manifest", "parquet", "out"])]
    print_config: bool,
    /// Starting configuration: `default` (our wording and look) or `spatial-ssrl` (the
    /// released data: the paper's questions, look, shuffle variants and task mix, RGB tasks on
    /// RGB sources, depth tasks on RGB-D). --config, --task-weights and --task-counts apply
    /// on top.
    #[arg(long, default_value = "default")]
    preset: String,
    /// Task mix as relative weights, e.g. `shuffle=2,flip=1,crop=2`: each source gets
    /// --samples-per-image calls in all, each call's task drawn by weight (from the seed).
    /// Replaces the config's `[mix.weights]`; tasks left out do not run.
    #[arg(long, conflicts_with = "task_counts")]
    task_weights: Option<TaskMix>,
    /// Task mix as counts over the whole run, e.g. `shuffle=16028,flip=4005`: each task gets
    /// exactly that many calls, spread over the sources it can take (from the seed);
    /// --samples-per-image does not apply. Replaces the config's `[mix.counts]` and weights.
    #[arg(long, value_parser = TaskMix::parse_counts)]
    task_counts: Option<TaskMix>,
    /// Split the sources between this many independent workers (a Slurm array, a
    /// Kubernetes indexed job); join their --out folders with `spatial-ssrl merge`.
    #[arg(long, default_value_t = 1, requires = "shard_index")]
    num_shards: usize,
    /// This worker's part, 0..num-shards (e.g. $SLURM_ARRAY_TASK_ID, $JOB_COMPLETION_INDEX).
    #[arg(long, default_value_t = 0)]
    shard_index: usize,
}

/// Drives an indicatif bar (hidden when stderr is not a terminal).
struct Bar(ProgressBar);

impl Progress for Bar {
    fn start(&self, total: u64, done: u64) {
        self.0.set_length(total);
        self.0.set_position(done);
    }
    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

pub fn run(args: Args, registry: RegistryBuilder<'_>) -> anyhow::Result<ExitCode> {
    let mut config = TasksConfig::preset(&args.preset)?;
    if let Some(p) = &args.config {
        config = config.load_over(p)?;
    }
    // A mix from the command line replaces the config's, weights and counts alike.
    if let Some(mix) = &args.task_weights {
        config.mix.weights = mix.weights.clone();
        config.mix.counts.clear();
    }
    if let Some(mix) = &args.task_counts {
        config.mix.counts = mix.counts.clone();
        config.mix.weights.clear();
    }
    if args.print_config {
        print!("{}", config.to_toml());
        return Ok(ExitCode::SUCCESS);
    }
    let Some(out) = args.out.clone() else {
        bail!("give --out DIR")
    };
    let sources = match (&args.input, &args.manifest, &args.parquet) {
        (_, _, Some(p)) => {
            read_parquet_sources(p, &args.image_column, args.depth_column.as_deref())?
        }
        (_, Some(m), None) => read_manifest(m)?,
        (Some(dir), None, None) => {
            discover(dir).with_context(|| format!("cannot list sources in {}", dir.display()))?
        }
        (None, None, None) => bail!("give --input DIR, --manifest FILE or --parquet PATH"),
    };
    if sources.is_empty() {
        bail!("no source images found (expected .jpg/.jpeg/.png files)");
    }
    let registry = registry(&config)?;
    config.check_tables(&registry)?;
    let shard = Shard::new(args.shard_index, args.num_shards)?;
    let pipeline = Pipeline::new(&registry, &args.tasks, args.seed, args.samples_per_image)?
        .with_mix(&config.mix)?;
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let run = RunConfig {
        out: out.clone(),
        format: args.format,
        image_format: args.image_format,
        shard_size: args.shard_size,
        val_fraction: args.val_fraction,
        threads,
        settings_digest: settings_digest(&config),
        shard,
    };
    let bar = ProgressBar::new(shard.range(sources.len()).len() as u64).with_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} sources ({per_sec}, eta {eta})",
        )
        .expect("valid template"),
    );
    let start = std::time::Instant::now();
    let summary = spatial_ssrl_tasks::generate(&pipeline, &sources, &run, &Bar(bar))?;
    let secs = start.elapsed().as_secs_f64();

    if !shard.is_whole() {
        let part = shard.range(sources.len());
        println!(
            "part {} of {}: sources {}..{} of {}",
            shard.index, shard.count, part.start, part.end, summary.sources
        );
    }
    println!(
        "{} sources -> {} samples in {}",
        summary.sources,
        summary.total_samples(),
        out.display()
    );
    // Realised rows against the calls the mix planned, per task.
    let mut tasks: Vec<&String> = summary.targets.keys().collect();
    tasks.extend(
        summary
            .samples
            .keys()
            .filter(|t| !summary.targets.contains_key(*t)),
    );
    for task in tasks {
        let parts: Vec<String> = summary
            .samples
            .get(task)
            .into_iter()
            .flatten()
            .map(|(s, n)| format!("{s} {n}"))
            .collect();
        let target = summary.targets.get(task).copied().unwrap_or(0);
        println!(
            "  {task:<10} {} of {target} planned ({})",
            summary.realised(task),
            if parts.is_empty() {
                "none".to_owned()
            } else {
                parts.join(", ")
            }
        );
    }
    if !summary.failures.is_empty() {
        let kinds: Vec<String> = summary
            .failures_by_kind
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        println!("{} failures: {}", summary.failures.len(), kinds.join(", "));
        for f in summary.failures.iter().take(10) {
            println!("  {} / {} #{}: {}", f.source, f.task, f.index, f.message);
        }
        if summary.failures.len() > 10 {
            println!(
                "  ... (all failures are listed in {})",
                out.join(spatial_ssrl_tasks::MANIFEST_FILE).display()
            );
        }
    }
    println!("{} shard(s); {:.1} s", summary.shards.len(), secs);
    if summary.total_samples() == 0 {
        eprintln!("spatial-ssrl: no sample could be generated");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
