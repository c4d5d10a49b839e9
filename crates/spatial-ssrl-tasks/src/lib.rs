//! Spatial-SSRL pretext tasks: turn ordinary RGB and RGB-D photos into verifiable spatial puzzles.
//!
//! (Crate documentation is completed with the export pipeline.)
#![deny(missing_docs)]

mod config;
pub mod draw;
mod error;
mod export;
mod io;
mod pipeline;
mod preview;
mod prompt;
mod registry;
mod seed;
mod task;
pub mod tasks;

pub use crate::{
    config::TasksConfig,
    error::{Error, Result},
    export::{DatasetFormat, EncodedImage, Record, read_dataset},
    io::{
        DEFAULT_PNG_DEPTH_SCALE, ImageFormat, SourceSpec, decode_rgb, discover, load_depth, load_mask, load_rgb,
        read_manifest, save_depth_npy,
    },
    pipeline::{
        Failure, INPUT_FAILURE, MANIFEST_FILE, Pipeline, Progress, RunConfig, SceneOutput, Summary, generate,
        settings_digest,
    },
    preview::preview_html,
    prompt::{FORMAT_INSTRUCTION, with_format_instruction},
    registry::{BUILTIN_TASKS, Registry},
    seed::{sample_seed, task_rng},
    task::{DepthMap, Inputs, PretextTask, Sample, Scene, TaskRng},
};
// TASK TYPES (one `pub use` line per built-in task module, e.g.
// `pub use crate::tasks::flip::{Flip, FlipConfig};`)
pub use crate::tasks::depth_order::{DepthOrder, DepthOrderConfig};
pub use crate::tasks::relative_position::{Facing, PairKind, RelativePosition, RelativePositionConfig};

