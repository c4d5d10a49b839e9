//! The built-in pretext tasks, one module each.
// TASKS (one `pub mod` line per task module; add yours here)
pub mod crop;
mod depth_cache;
pub mod depth_order;
pub mod depth_stats;
pub mod flip;
pub mod grid;
pub mod marker;
pub mod relative_position;
pub mod shuffle;
pub mod template;
pub mod tile_label;
