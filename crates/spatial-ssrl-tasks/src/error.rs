//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong while reading inputs, generating samples or exporting them.
///
/// Variants keep the offending input (path, task, sizes) so a long `generate` run can log
/// the failure, skip that source and carry on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be opened, read or written.
    #[error("cannot access {path}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An image file could not be decoded or encoded.
    #[error("cannot decode image {path}: {message}")]
    Image {
        /// The image file.
        path: PathBuf,
        /// What the decoder said.
        message: String,
    },
    /// A depth file could not be parsed.
    #[error("cannot read depth map {path}: {message}")]
    Depth {
        /// The depth file.
        path: PathBuf,
        /// What was wrong with it.
        message: String,
    },
    /// Depth and RGB sizes disagree.
    #[error("depth map {path} is {depth_w}x{depth_h} but its image is {rgb_w}x{rgb_h}")]
    SizeMismatch {
        /// The depth file.
        path: PathBuf,
        /// Depth width.
        depth_w: u32,
        /// Depth height.
        depth_h: u32,
        /// Image width.
        rgb_w: u32,
        /// Image height.
        rgb_h: u32,
    },
    /// The image is too small for the task.
    #[error("task {task}: image {w}x{h} is too small (needs at least {min_w}x{min_h})")]
    TooSmall {
        /// The task that refused the image.
        task: &'static str,
        /// Image width.
        w: u32,
        /// Image height.
        h: u32,
        /// Minimum width.
        min_w: u32,
        /// Minimum height.
        min_h: u32,
    },
    /// The task needs depth but the scene has none.
    #[error("task {task} needs a depth map, scene {scene} has none")]
    MissingDepth {
        /// The task.
        task: &'static str,
        /// The scene id.
        scene: String,
    },
    /// The depth map has too few valid (finite, positive) values for the task.
    #[error("task {task}: depth map of scene {scene} has too few valid pixels ({valid} valid)")]
    InvalidDepth {
        /// The task.
        task: &'static str,
        /// The scene id.
        scene: String,
        /// How many valid pixels there were.
        valid: usize,
    },
    /// A bounded search (points, object pairs) found no configuration satisfying the task's rules.
    #[error("task {task}: no valid configuration in scene {scene} after {tries} tries")]
    NoCandidate {
        /// The task.
        task: &'static str,
        /// The scene id.
        scene: String,
        /// How many candidates were tried.
        tries: usize,
    },
    /// A task configuration that cannot work (zero weights, a template whose `<image>`
    /// placeholders do not match the images, a grid of fewer than two patches...).
    #[error("task {task}: invalid configuration: {message}")]
    InvalidConfig {
        /// The task.
        task: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A task name that the registry does not know.
    #[error("unknown task {name:?} (known: {known})")]
    UnknownTask {
        /// The name asked for.
        name: String,
        /// Comma-separated known names.
        known: String,
    },
    /// A manifest or prompt-template file is malformed.
    #[error("malformed {what} {path}: {message}")]
    Malformed {
        /// What kind of file (manifest, template, ...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// Writing the dataset failed.
    #[error("export to {path} failed: {message}")]
    Export {
        /// The output file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
