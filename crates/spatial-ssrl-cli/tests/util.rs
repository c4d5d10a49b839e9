//! Helpers shared by the CLI test areas.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// A `Command` for the built `spatial-ssrl` binary.
pub fn cmd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_spatial-ssrl"))
}

/// The repository's `tests/fixtures` folder.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// Runs a command, asserting success, and returns its stdout.
pub fn run_ok(c: &mut Command) -> String {
    let out = c.output().expect("spawn spatial-ssrl");
    assert!(
        out.status.success(),
        "command failed: {:?}\nstatus: {}\nstdout:\n{}\nstderr:\n{}",
        c,
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
