//! `spatial-ssrl`: generate pretext datasets, score responses, train, evaluate and run inference.
//!
//! `main` stays thin: it parses arguments, hands them to one command module and
//! prints the error chain. Each subcommand lives in `commands/<name>.rs` with a
//! clap `Args` struct and a `run(args) -> anyhow::Result<ExitCode>` function.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;

#[derive(Parser)]
#[command(name = "spatial-ssrl", version, about = "Self-supervised spatial RL for vision-language models")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// One variant per subcommand; model-backed commands sit behind the `ml` feature.
#[derive(Subcommand)]
enum Command {
    // COMMANDS (keep one line per variant; add yours here)
    #[cfg(feature = "ml")] Train(commands::train::Args),
    #[cfg(feature = "ml")] Plot(commands::plot::Args),
    #[cfg(feature = "ml")] Infer(commands::infer::Args),
    Generate(commands::generate::Args),
    Preview(commands::preview::Args),
    Eval(commands::eval::Args),
    Score(commands::score::Args),
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        // DISPATCH (keep one line per variant; add yours here)
        #[cfg(feature = "ml")] Command::Train(args) => commands::train::run(args),
        #[cfg(feature = "ml")] Command::Plot(args) => commands::plot::run(args),
        #[cfg(feature = "ml")] Command::Infer(a) => commands::infer::run(a),
        Command::Generate(args) => commands::generate::run(args),
        Command::Preview(args) => commands::preview::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Score(args) => commands::score::run(args),
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
