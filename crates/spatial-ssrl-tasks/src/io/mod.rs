//! Reading inputs: RGB images, depth maps and masks, and finding which files form a source.

mod depth;
mod integrity;
mod jpeg;
mod npy;
mod parquet_source;
mod png;
mod rgb;
mod source;

pub use depth::{DEFAULT_PNG_DEPTH_SCALE, load_depth, load_mask, save_depth_npy};
pub use parquet_source::{ParquetRow, read_parquet_sources};
pub use rgb::{ImageFormat, decode_rgb, load_rgb};
pub use source::{SourceSpec, discover, read_manifest};
