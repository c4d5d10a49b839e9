//! What a run records in `manifest.json`: its identity (to resume safely), shards, cursors,
//! failures and targets, and the [`Summary`] read back from it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::export::{self, DatasetFormat};
use crate::io::{ImageFormat, SourceSpec};
use crate::seed::fnv1a64;
use crate::shard::Shard;

use super::{Failure, Pipeline, RunConfig};

/// Totals of a finished run, read back from its manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Rows per task and split (`"train"`, `"val"`).
    pub samples: BTreeMap<String, BTreeMap<String, u64>>,
    /// Failures per [`Error::kind`](crate::Error::kind).
    pub failures_by_kind: BTreeMap<String, u64>,
    /// Shard files written, in order.
    pub shards: Vec<String>,
    /// Number of sources.
    pub sources: u64,
    /// Every failure, in source order.
    pub failures: Vec<Failure>,
    /// Calls planned per task ([`Pipeline::targets`]): what [`Summary::realised`] is held
    /// against (a call that fails, or a source that cannot be read, leaves a gap).
    #[serde(default)]
    pub targets: BTreeMap<String, u64>,
}

impl Summary {
    /// Total rows written.
    pub fn total_samples(&self) -> u64 {
        self.samples.values().flat_map(|m| m.values()).sum()
    }

    /// Rows written for `task`, all splits together.
    pub fn realised(&self, task: &str) -> u64 {
        self.samples.get(task).map_or(0, |m| m.values().sum())
    }
}

/// Name of the run manifest in the output folder.
pub const MANIFEST_FILE: &str = "manifest.json";

pub(crate) const SPLITS: [&str; 2] = ["train", "val"];

/// Sort key of a shard in a finished run's list: its split (train first). The sort is
/// stable, so each split's shards stay in write order (file names stop sorting numerically
/// past 99999 shards).
pub(crate) fn shard_order(e: &ShardEntry) -> usize {
    SPLITS
        .iter()
        .position(|s| *s == e.split)
        .unwrap_or(SPLITS.len())
}

/// Position in the row stream: row `row` of source `source`'s output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct Cursor {
    pub(crate) source: usize,
    pub(crate) row: usize,
}

/// What identifies a run; resuming requires every field to match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RunIdentity {
    seed: u64,
    tasks: Vec<String>,
    samples_per_image: usize,
    pub(crate) format: DatasetFormat,
    image_format: ImageFormat,
    pub(crate) shard_size: usize,
    val_fraction: f64,
    pub(crate) sources: usize,
    sources_digest: String,
    settings_digest: String,
    /// Absent for a whole run, so its manifest is the same as before sharding existed.
    #[serde(default, skip_serializing_if = "Shard::is_whole")]
    pub(crate) shard: Shard,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ShardEntry {
    pub(crate) split: String,
    pub(crate) file: String,
    pub(crate) rows: u64,
    pub(crate) tasks: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct IndexedFailure {
    pub(crate) source_index: usize,
    #[serde(flatten)]
    pub(crate) failure: Failure,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub(crate) format_version: u32,
    pub(crate) run: RunIdentity,
    pub(crate) complete: bool,
    /// Per split: the first row not yet in a shard.
    pub(crate) cursors: BTreeMap<String, Cursor>,
    /// Sources whose output the writer had consumed (their failures are listed).
    pub(crate) consumed: usize,
    pub(crate) shards: Vec<ShardEntry>,
    pub(crate) failures: Vec<IndexedFailure>,
    /// Calls planned per task ([`Pipeline::targets`]), to hold the realised rows against.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) targets: BTreeMap<String, u64>,
}

pub(crate) fn write_manifest(manifest: &Manifest, out: &Path) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(manifest).expect("manifest serialises");
    bytes.push(b'\n');
    export::atomic_write(&out.join(MANIFEST_FILE), &bytes)
}

pub(super) fn identity(
    pipeline: &Pipeline<'_>,
    sources: &[SourceSpec],
    run: &RunConfig,
) -> RunIdentity {
    let listing: String = sources
        .iter()
        .map(|s| {
            // A parquet row's columns count too; file sources keep their old digest.
            let row = s
                .parquet
                .as_ref()
                .map(|p| format!("\t{p:?}"))
                .unwrap_or_default();
            format!(
                "{}\t{}\t{:?}\t{:?}\t{:?}{row}\n",
                s.id,
                s.image.display(),
                s.depth,
                s.mask,
                s.depth_scale
            )
        })
        .collect();
    RunIdentity {
        seed: pipeline.seed,
        tasks: pipeline
            .task_names()
            .into_iter()
            .map(String::from)
            .collect(),
        samples_per_image: pipeline.samples_per_image(),
        format: run.format,
        image_format: run.image_format,
        shard_size: run.shard_size,
        val_fraction: run.val_fraction,
        sources: sources.len(),
        sources_digest: format!("{:016x}", fnv1a64(listing.as_bytes())),
        settings_digest: format!("{:016x}", run.settings_digest),
        shard: run.shard,
    }
}

/// Name of the first identity field that differs.
pub(super) fn first_difference(a: &RunIdentity, b: &RunIdentity) -> Option<String> {
    let (a, b) = (serde_json::to_value(a).ok()?, serde_json::to_value(b).ok()?);
    let (a, b) = (a.as_object()?, b.as_object()?);
    a.iter()
        .find(|(k, v)| b.get(*k) != Some(v))
        .map(|(k, _)| k.clone())
}

pub(crate) fn summary(m: &Manifest) -> Summary {
    let mut s = Summary {
        sources: m.run.sources as u64,
        targets: m.targets.clone(),
        ..Default::default()
    };
    for e in &m.shards {
        for (task, n) in &e.tasks {
            *s.samples
                .entry(task.clone())
                .or_default()
                .entry(e.split.clone())
                .or_insert(0) += n;
        }
        s.shards.push(e.file.clone());
    }
    for f in &m.failures {
        *s.failures_by_kind
            .entry(f.failure.kind.clone())
            .or_insert(0) += 1;
        s.failures.push(f.failure.clone());
    }
    s
}

/// Digest of any serialisable settings (e.g. a [`TasksConfig`](crate::TasksConfig)), for
/// [`RunConfig::settings_digest`].
///
/// ```
/// use spatial_ssrl_tasks::{settings_digest, TasksConfig};
/// assert_eq!(settings_digest(&TasksConfig::default()), settings_digest(&TasksConfig::default()));
/// ```
pub fn settings_digest<T: Serialize>(settings: &T) -> u64 {
    fnv1a64(
        serde_json::to_string(settings)
            .unwrap_or_default()
            .as_bytes(),
    )
}
