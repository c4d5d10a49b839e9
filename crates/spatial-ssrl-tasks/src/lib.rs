//! Spatial-SSRL pretext tasks: turn ordinary RGB and RGB-D photos into verifiable spatial
//! puzzles for reinforcement learning of vision-language models, bit-for-bit reproducible
//! from a seed.
//!
//! Five self-supervised tasks ship built in (after the Spatial-SSRL paper, arXiv 2510.27606):
//! `shuffle` (jigsaw), `flip` (flipped patch), `crop` (cropped-patch inpainting), `depth`
//! (depth ordering, RGB-D) and `position` (relative 3D position, RGB-D). Each turns a
//! [`Scene`] into [`Sample`]s: a problem with `<image>` placeholders, its images and a
//! ground-truth answer that a verifier can check exactly.
//!
//! ```no_run
//! use spatial_ssrl_tasks::{discover, generate, Pipeline, Registry, RunConfig, TasksConfig, BUILTIN_TASKS};
//!
//! let registry = Registry::builtin(&TasksConfig::default());
//! let pipeline = Pipeline::new(&registry, &BUILTIN_TASKS, 42, 2)?; // seed 42, 2 calls per task
//! let sources = discover("examples/data")?; // name.jpg + name.npy / .h5 / _depth.png
//! let summary = generate(&pipeline, &sources, &RunConfig { threads: 2, ..RunConfig::new("/tmp/ssrl-demo") }, &())?;
//! println!("{} samples, {} failures", summary.total_samples(), summary.failures.len());
//! # Ok::<(), spatial_ssrl_tasks::Error>(())
//! ```
//!
//! One scene in memory, no files:
//!
//! ```
//! use spatial_ssrl_tasks::{Pipeline, Registry, Scene, TasksConfig};
//! let registry = Registry::builtin(&TasksConfig::default());
//! let pipeline = Pipeline::new(&registry, &["shuffle", "crop"], 7, 1)?;
//! let img = image::RgbImage::from_fn(128, 96, |x, y| image::Rgb([x as u8, y as u8, (x * y) as u8]));
//! let out = pipeline.scene_samples(&Scene::rgb("demo", img));
//! assert_eq!(out.samples.len(), 2);
//! assert_eq!(out.samples[1].images.len(), 5); // crop: masked picture + candidates A-D
//! # Ok::<(), spatial_ssrl_tasks::Error>(())
//! ```
//!
//! # Contents
//!
//! - Tasks: the [`PretextTask`] trait (object-safe; implement it for your own task, with
//!   [`prelude`] and the re-exported [`image`], [`rand`], [`serde`], [`serde_json`], [`toml`]),
//!   [`Sample`] and its export check [`Sample::validate`], the [`Registry`] of tasks by name,
//!   [`TasksConfig`] (parameters and prompt templates of the built-ins, and a custom task's
//!   `[tasks.<name>]` table via [`TasksConfig::custom`]), the built-in tasks and their public
//!   building blocks in [`tasks`] (templates, grids, markers, depth statistics, point
//!   sampling), drawing helpers in [`draw`].
//! - Inputs: [`load_rgb`] (JPEG/PNG, EXIF orientation), [`load_depth`] (`.npy`, HDF5 in pure
//!   Rust, 16-bit PNG), [`load_mask`], [`discover`] (folder convention), [`read_manifest`]
//!   (CSV/JSONL), [`read_parquet_sources`] (a Hugging Face parquet image dataset), [`SourceSpec`].
//! - Running: [`Pipeline`] (tasks x seed x calls per source), [`generate`] (threads, shards,
//!   train/val split, resume), [`task_rng`]/[`sample_seed`] (how each call's randomness is
//!   derived), [`Summary`] and [`Failure`]; scale-out: [`Shard`] (one worker's part of the
//!   sources) and [`merge`] (the workers' folders joined into the bytes of one run).
//! - Output: [`DatasetFormat`] (EasyR1 parquet or JSONL + images), [`ImageFormat`],
//!   [`read_dataset`], [`preview_html`]; training prompts by column name and split:
//!   [`read_prompt_rows`], [`split_shards`], [`PromptColumns`].
//!
//! Determinism: every random choice comes from a ChaCha8 generator seeded by a fixed hash of
//! (seed, source id, task name, call index); drawing and image encoding use integers only.
//! The same inputs and seed give byte-identical files on any machine and thread count.
//!
//! No cargo features; no C libraries (HDF5 is read by the pure-Rust `hdf5-pure`).
#![deny(missing_docs)]

mod config;
pub mod draw;
mod error;
mod export;
mod io;
mod mix;
mod pipeline;
pub mod prelude;
mod preview;
mod registry;
mod seed;
mod shard;
mod task;
pub mod tasks;

pub use crate::{
    config::{PRESETS, TasksConfig},
    error::{Error, Result},
    export::{
        DatasetFormat, EncodedImage, ImageRef, PromptColumns, PromptRow, Record, read_dataset,
        read_prompt_rows, split_shards,
    },
    io::{
        DEFAULT_PNG_DEPTH_SCALE, ImageFormat, ParquetRow, SourceSpec, decode_rgb, discover,
        load_depth, load_mask, load_rgb, read_manifest, read_parquet_sources, save_depth_npy,
    },
    mix::{Routing, TaskMix},
    pipeline::{
        Failure, INPUT_FAILURE, MANIFEST_FILE, Pipeline, Progress, RunConfig, SceneOutput, Summary,
        generate, settings_digest,
    },
    preview::preview_html,
    registry::{BUILTIN_TASKS, Registry},
    seed::{sample_seed, task_rng},
    shard::{Shard, merge},
    task::{DepthMap, IMAGE_PLACEHOLDER, Inputs, PretextTask, Sample, Scene, TaskRng},
};
// The crates a task implementation touches, at the versions this crate was built with, so a
// task crate needs no version bookkeeping of its own (`spatial_ssrl_tasks::rand::Rng`).
pub use {image, rand, rand_chacha, serde, serde_json, toml};
/// The guide `docs/tasks.md`, compiled as a doctest so its code stays correct.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/tasks.md")]
struct TasksGuide;

// TASK TYPES (one `pub use` line per built-in task module, e.g.
// `pub use crate::tasks::flip::{Flip, FlipConfig};`)
pub use crate::tasks::crop::{Crop, CropCandidate, CropConfig};
pub use crate::tasks::depth_order::{DepthOrder, DepthOrderConfig};
pub use crate::tasks::flip::{Flip, FlipConfig, FlipDirection, FlipMix};
pub use crate::tasks::relative_position::{
    Facing, PairKind, RelativePosition, RelativePositionConfig,
};
pub use crate::tasks::shuffle::{
    Shuffle, ShuffleConfig, ShuffleMix, ShufflePrompts, ShuffleVariant,
};
