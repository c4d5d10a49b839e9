//! Helpers shared by the CLI test areas.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A `Command` for the built `spatial-ssrl` binary.
pub fn cmd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_spatial-ssrl"))
}

/// The repository's `tests/fixtures` folder.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// The tiny Qwen2.5-VL model folder: `SSRL_TINY_QWEN_DIR` or the repository copy (any
/// fixture made by the same generator works).
pub fn tiny_qwen_dir() -> PathBuf {
    std::env::var_os("SSRL_TINY_QWEN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| fixtures().join("tiny-qwen2_5-vl"))
}

/// The tiny model folder's `golden.json`.
pub fn tiny_qwen_golden() -> serde_json::Value {
    golden_of(&tiny_qwen_dir())
}

/// The tiny Qwen3-VL model folder: `SSRL_TINY_QWEN3_DIR` or the repository copy.
pub fn tiny_qwen3_dir() -> PathBuf {
    std::env::var_os("SSRL_TINY_QWEN3_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| fixtures().join("tiny-qwen3-vl"))
}

/// The `golden.json` of a tiny model folder.
pub fn golden_of(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("golden.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A file `golden.json` names (`image`, `rgba_image`): as written when it exists (absolute,
/// or relative to the folder above the repository, where `shared/` lives), else the file of
/// that name in the repository's `tests/fixtures/reference_inputs`.
pub fn golden_input(recorded: &str) -> PathBuf {
    let as_written = PathBuf::from(recorded);
    let beside_repo = fixtures().join("../../..").join(recorded);
    let name = as_written.file_name().expect("a file name");
    [as_written.clone(), beside_repo]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| fixtures().join("reference_inputs").join(name))
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

/// Every file under `dir` with its bytes, by relative path: byte-compare two output folders.
pub fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}
