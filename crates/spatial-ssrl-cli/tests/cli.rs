//! Integration tests of the `spatial-ssrl` binary: one test binary, a module per area.
//! Each area module runs the real binary (`util::cmd()`) on files in a temp dir.

mod util;
// AREAS (one `mod` line per area; model-backed areas carry #[cfg(feature = "ml")])
#[cfg(feature = "ml")] mod train;
mod generate;
mod score;
mod eval;
