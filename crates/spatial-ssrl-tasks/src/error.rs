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
    /// A task's configuration is inconsistent (an empty variant mix, a percentile outside
    /// `[0, 100]`, a template without its placeholder...).
    #[error("task {task}: invalid configuration: {message}")]
    InvalidConfig {
        /// The task whose configuration is wrong.
        task: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A depth map has no valid (finite, positive, unmasked) pixel at all.
    #[error("depth map {path} has no valid pixel")]
    EmptyDepth {
        /// The depth file.
        path: PathBuf,
    },
    /// Two tasks were registered under the same name.
    #[error("a task named {name:?} is already registered")]
    DuplicateTask {
        /// The name registered twice.
        name: String,
    },
    /// A run or export option is invalid (zero threads, a fraction outside `[0, 1)`, ...).
    #[error("invalid option {option}: {message}")]
    InvalidOption {
        /// The option's name.
        option: &'static str,
        /// What is wrong with its value.
        message: String,
    },
    /// The output folder holds a different run's manifest, so resuming would mix datasets.
    #[error("output folder {path} holds another run (different {field}); choose an empty folder")]
    ForeignRun {
        /// The output folder.
        path: PathBuf,
        /// The first setting that differs.
        field: String,
    },
    /// A task returned a sample that cannot be exported (placeholder count differs from the
    /// image count, blank answer, wrong task name...).
    #[error("task {task}: invalid sample from scene {scene}: {message}")]
    InvalidSample {
        /// The sample's task name.
        task: String,
        /// The sample's source id.
        scene: String,
        /// What is wrong.
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

impl Error {
    /// A short, stable name for the kind of error, used to group failures in a run summary.
    ///
    /// ```
    /// use spatial_ssrl_tasks::Error;
    /// let e = Error::TooSmall { task: "shuffle", w: 4, h: 4, min_w: 8, min_h: 8 };
    /// assert_eq!(e.kind(), "too_small");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Io { .. } => "io",
            Error::Image { .. } => "image",
            Error::Depth { .. } => "depth",
            Error::SizeMismatch { .. } => "size_mismatch",
            Error::TooSmall { .. } => "too_small",
            Error::MissingDepth { .. } => "missing_depth",
            Error::InvalidDepth { .. } => "invalid_depth",
            Error::NoCandidate { .. } => "no_candidate",
            Error::UnknownTask { .. } => "unknown_task",
            Error::Malformed { .. } => "malformed",
            Error::InvalidConfig { .. } => "invalid_config",
            Error::EmptyDepth { .. } => "empty_depth",
            Error::DuplicateTask { .. } => "duplicate_task",
            Error::InvalidOption { .. } => "invalid_option",
            Error::ForeignRun { .. } => "foreign_run",
            Error::Export { .. } => "export",
            Error::InvalidSample { .. } => "invalid_sample",
        }
    }

    /// An [`Error::InvalidConfig`] of `task`.
    pub(crate) fn invalid_config(task: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidConfig {
            task,
            message: message.into(),
        }
    }

    /// An [`Error::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
