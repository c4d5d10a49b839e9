//! `spatial-ssrl`: generate pretext datasets, score responses, train, evaluate and run inference.
//!
//! `main` stays thin: it parses arguments, hands them to one command module and
//! prints the error chain. Each subcommand lives in `commands/<name>.rs` with a
//! clap `Args` struct and a `run(args) -> anyhow::Result<ExitCode>` function.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;

#[derive(Parser)]
#[command(
    name = "spatial-ssrl",
    version,
    about = "Self-supervised spatial RL for vision-language models"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// One variant per subcommand; model-backed commands sit behind the `ml` feature.
#[derive(Subcommand)]
enum Command {
    /// Turn photos into a verifiable spatial-puzzle dataset.
    Generate(commands::generate::Args),
    /// Render a generated dataset as an HTML page to eyeball the puzzles.
    Preview(commands::preview::Args),
    /// Score model responses against ground truths with a verifiable reward.
    Score(commands::score::Args),
    /// Evaluate on a spatial benchmark (offline predictions or a live model).
    Eval(commands::eval::Args),
    /// Answer a question about an image with a Qwen2.5-VL model.
    #[cfg(feature = "ml")]
    Infer(commands::infer::Args),
    /// Train: SFT cold start and GRPO.
    #[cfg(feature = "ml")]
    Train(commands::train::Args),
    /// Plot training curves from a metrics file.
    #[cfg(feature = "ml")]
    Plot(commands::plot::Args),
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Generate(args) => commands::generate::run(args),
        Command::Preview(args) => commands::preview::run(args),
        Command::Score(args) => commands::score::run(args),
        Command::Eval(args) => commands::eval::run(args),
        #[cfg(feature = "ml")]
        Command::Infer(args) => commands::infer::run(args),
        #[cfg(feature = "ml")]
        Command::Train(args) => commands::train::run(args),
        #[cfg(feature = "ml")]
        Command::Plot(args) => commands::plot::run(args),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("spatial-ssrl: {e:#}");
            ExitCode::from(2)
        }
    }
}
