//! Integration tests of the `spatial-ssrl` binary: one test binary, a module per area.
//! Each area module runs the real binary (`util::cmd()`) on files in a temp dir.

mod custom_task;
mod eval;
mod generate;
#[cfg(feature = "ml")]
mod infer;
mod merge;
mod parquet_input;
mod score;
#[cfg(feature = "ml")]
mod train;
mod util;
