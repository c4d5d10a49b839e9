//! `spatial-ssrl`: generate pretext datasets, score responses, train, evaluate and run inference.
//!
//! The commands live in the library (`spatial_ssrl_cli::run`), so a program with its own
//! tasks gets the same command line; this binary registers the built-in tasks.

fn main() -> std::process::ExitCode {
    spatial_ssrl_cli::main(spatial_ssrl_cli::builtin_registry)
}
