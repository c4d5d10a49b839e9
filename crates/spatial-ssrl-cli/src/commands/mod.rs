//! One module per subcommand: a clap `Args` struct and `run(args) -> anyhow::Result<ExitCode>`.

pub mod eval;
pub mod generate;
pub mod generation_args;
pub mod merge;
pub mod preview;
pub mod score;

#[cfg(feature = "ml")]
pub mod infer;
#[cfg(feature = "ml")]
pub mod plot;
#[cfg(feature = "ml")]
pub mod train;
