//! The built-in pretext tasks, one module each.
// TASKS (one `pub mod` line per task module; add yours here)
pub mod crop;
pub mod flip;
mod grid;
pub mod shuffle;
mod template;
