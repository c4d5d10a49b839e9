//! The `spatial-ssrl` command as a library, so a program with its own pretext tasks gets
//! `generate`, `preview`, `merge`, `score` and `eval` in a ten-line `main`.
//!
//! The registry of tasks is built by a function of the run's [`TasksConfig`] (the `--config`
//! file or the defaults): the built-ins read their own tables, a custom task reads its
//! `[tasks.<name>]` table with [`TasksConfig::custom`].
//!
//! ```no_run
//! use spatial_ssrl_tasks::prelude::*;
//!
//! struct Blank;
//! impl PretextTask for Blank {
//!     fn name(&self) -> &str { "blank" }
//!     fn inputs(&self) -> Inputs { Inputs::Rgb }
//!     fn generate(&self, scene: &Scene, _rng: &mut TaskRng) -> Result<Vec<Sample>> {
//!         Ok(vec![Sample::new(self.name(), &scene.id, "<image>Is this blank? A. yes B. no", "B",
//!             vec![(*scene.rgb).clone()])])
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     spatial_ssrl_cli::main(|config: &TasksConfig| {
//!         let mut registry = Registry::builtin(config);
//!         registry.register(Blank)?;
//!         Ok(registry)
//!     })
//! }
//! ```
//!
//! The `spatial-ssrl` binary itself is `main(`[`builtin_registry`]`)`. Model-backed commands
//! (`train`, `infer`, `plot`) come with the default `ml` feature.
#![deny(missing_docs)]

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use spatial_ssrl_tasks::{Registry, TasksConfig};

mod commands;

/// Builds the task registry of a run from its task configuration.
pub type RegistryBuilder<'a> = &'a dyn Fn(&TasksConfig) -> anyhow::Result<Registry>;

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
    /// Join the outputs of `generate --num-shards K --shard-index i` workers into one dataset.
    Merge(commands::merge::Args),
    /// Render a generated dataset as an HTML page to eyeball the puzzles.
    Preview(commands::preview::Args),
    /// Score model responses against ground truths with a verifiable reward.
    Score(commands::score::Args),
    /// Evaluate on a spatial benchmark (offline predictions or a live model).
    Eval(commands::eval::Args),
    /// Answer a question about an image with a Qwen2.5-VL or Qwen3-VL model.
    #[cfg(feature = "ml")]
    Infer(commands::infer::Args),
    /// Train: SFT cold start and GRPO.
    #[cfg(feature = "ml")]
    Train(commands::train::Args),
    /// Plot training curves from a metrics file.
    #[cfg(feature = "ml")]
    Plot(commands::plot::Args),
}

/// The registry of the `spatial-ssrl` binary: the five built-in tasks, configured by `config`.
pub fn builtin_registry(config: &TasksConfig) -> anyhow::Result<Registry> {
    Ok(Registry::builtin(config))
}

/// Runs the command line `args` (the program name first, as in `std::env::args_os`) with
/// the tasks `registry` builds. `--help` and `--version` print and return success; a usage
/// error prints and returns exit code 2.
///
/// ```
/// let code = spatial_ssrl_cli::run(["spatial-ssrl", "--version"], &spatial_ssrl_cli::builtin_registry)?;
/// assert_eq!(code, std::process::ExitCode::SUCCESS);
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn run<I, T>(args: I, registry: RegistryBuilder<'_>) -> anyhow::Result<ExitCode>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            e.print()?;
            return Ok(if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            });
        }
    };
    match cli.command {
        Command::Generate(args) => commands::generate::run(args, registry),
        Command::Merge(args) => commands::merge::run(args),
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

/// A whole `main`: runs the process's arguments with the tasks `registry` builds and prints
/// the error chain (exit code 2) on failure.
pub fn main(registry: impl Fn(&TasksConfig) -> anyhow::Result<Registry>) -> ExitCode {
    match run(std::env::args_os(), &registry) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("spatial-ssrl: {e:#}");
            ExitCode::from(2)
        }
    }
}
