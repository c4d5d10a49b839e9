//! `spatial-ssrl merge`: joins the output folders of `generate --num-shards K --shard-index i`
//! workers into one dataset, byte-identical to what a single `generate` run writes.

use std::path::PathBuf;
use std::process::ExitCode;

/// Join sharded `generate` outputs into one dataset.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The workers' --out folders, one per shard index (any order).
    #[arg(required = true, num_args = 1..)]
    workers: Vec<PathBuf>,
    /// Output folder for the joined dataset (must not hold a dataset yet).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let summary = spatial_ssrl_tasks::merge(&args.workers, &args.out)?;
    println!(
        "{} workers, {} sources -> {} samples, {} shard(s), {} failures in {}",
        args.workers.len(),
        summary.sources,
        summary.total_samples(),
        summary.shards.len(),
        summary.failures.len(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
