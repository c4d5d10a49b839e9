//! Helpers shared by unit tests.

use std::path::PathBuf;

/// The tiny model fixture: `SSRL_TINY_QWEN_DIR` or the repository copy.
pub(crate) fn fixture_dir() -> PathBuf {
    std::env::var_os("SSRL_TINY_QWEN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-qwen2_5-vl")
        })
}
