//! `spatial-ssrl plot --metrics run/metrics.jsonl --out curves.png`: training curves to PNG.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

/// Arguments of `plot`.
#[derive(clap::Args)]
pub struct Args {
    /// Metrics JSONL written by `train`.
    #[arg(long)]
    metrics: PathBuf,
    /// Output PNG.
    #[arg(long)]
    out: PathBuf,
    /// Image width in pixels.
    #[arg(long, default_value_t = 1600)]
    width: u32,
    /// Image height in pixels.
    #[arg(long, default_value_t = 900)]
    height: u32,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let metrics = spatial_ssrl_rl::read_metrics(&args.metrics)
        .with_context(|| format!("reading {}", args.metrics.display()))?;
    spatial_ssrl_rl::plot_metrics(&metrics, &args.out, args.width, args.height)?;
    eprintln!("wrote {} ({} steps)", args.out.display(), metrics.len());
    Ok(ExitCode::SUCCESS)
}
