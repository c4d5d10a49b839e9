//! Spatial-SSRL pretext tasks: turn ordinary RGB and RGB-D photos into verifiable spatial puzzles.
//!
//! (Crate documentation is completed with the export pipeline.)
#![deny(missing_docs)]

pub mod draw;
mod error;
mod prompt;
mod task;
pub mod tasks;

pub use crate::{
    error::{Error, Result},
    prompt::{FORMAT_INSTRUCTION, with_format_instruction},
    task::{DepthMap, Inputs, PretextTask, Sample, Scene, TaskRng},
};
