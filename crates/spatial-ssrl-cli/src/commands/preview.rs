//! `spatial-ssrl preview`: one self-contained HTML page showing a generated dataset's puzzles.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

/// Write an HTML page with samples (images, problem, answer) of a generated dataset.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Dataset folder written by `generate` (parquet or jsonl shards).
    #[arg(long)]
    data: PathBuf,
    /// Output HTML file.
    #[arg(long, default_value = "preview.html")]
    out: PathBuf,
    /// Samples shown per task.
    #[arg(long, default_value_t = 8)]
    per_task: usize,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let rows = spatial_ssrl_tasks::read_dataset(&args.data)?;
    if rows.is_empty() {
        anyhow::bail!(
            "no rows found in {} (expected *.parquet or *.jsonl shards)",
            args.data.display()
        );
    }
    let html = spatial_ssrl_tasks::preview_html(&rows, args.per_task);
    std::fs::write(&args.out, html)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    println!("{} rows previewed in {}", rows.len(), args.out.display());
    Ok(ExitCode::SUCCESS)
}
