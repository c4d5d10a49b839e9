//! The generate driver: sources in, dataset shards out.
//!
//! [`Pipeline`] turns one decoded [`Scene`] into samples for every selected task;
//! [`generate`] runs it over many sources on a thread pool, encodes the images and writes
//! sharded, resumable output through the [`export`](crate::DatasetFormat) writers.
//!
//! Determinism: each `generate` call's generator comes from [`task_rng`] (seed, source id,
//! task name, index), and rows are written in source order, then task order, then index,
//! whatever thread finished first. Resume: shards are written atomically and recorded in
//! `manifest.json` with, per split, the position of the first row not yet in a shard; a rerun
//! regenerates from there (generation is deterministic) and ends with the same bytes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::export::{self, DatasetFormat, EncodedImage, Record};
use crate::io::{ImageFormat, SourceSpec};
use crate::mix::{self, Calls, Draw, PlannedTask, Routing, TaskMix};
use crate::registry::Registry;
use crate::seed::{fnv1a64, split_draw, task_rng};
use crate::shard::Shard;
use crate::task::{Inputs, PretextTask, Sample, Scene};

/// The failure of one task on one source (or of reading the source), kept in the run summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// Source id.
    pub source: String,
    /// Task name, or `"input"` when the source's files could not be read.
    pub task: String,
    /// Which call failed (`0..samples_per_image`); 0 for input failures.
    pub index: u64,
    /// [`Error::kind`] of the error.
    pub kind: String,
    /// The error message with its cause chain.
    pub message: String,
}

impl Failure {
    fn new(source: &str, task: &str, index: u64, e: &Error) -> Self {
        let mut message = e.to_string();
        let mut cause = std::error::Error::source(e);
        while let Some(c) = cause {
            message.push_str(&format!(": {c}"));
            cause = c.source();
        }
        Self {
            source: source.into(),
            task: task.into(),
            index,
            kind: e.kind().into(),
            message,
        }
    }
}

/// What one scene produced: samples in task order then index order, and the failures.
#[derive(Debug, Clone, Default)]
pub struct SceneOutput {
    /// The samples.
    pub samples: Vec<Sample>,
    /// Calls that returned an error.
    pub failures: Vec<Failure>,
}

/// The task name used in [`Failure::task`] for unreadable inputs.
pub const INPUT_FAILURE: &str = "input";

/// A set of tasks with a seed and a number of calls per (source, task).
///
/// ```
/// use spatial_ssrl_tasks::{Pipeline, Registry, Scene, TasksConfig};
/// let reg = Registry::builtin(&TasksConfig::default());
/// let pipe = Pipeline::new(&reg, &["shuffle", "flip"], 42, 2)?;
/// let img = image::RgbImage::from_fn(96, 64, |x, y| image::Rgb([x as u8 * 2, y as u8 * 3, 90]));
/// let out = pipe.scene_samples(&Scene::rgb("demo", img));
/// assert!(out.failures.is_empty());
/// assert_eq!(out.samples.len(), 4); // 2 tasks x 2 calls, one sample each
/// assert_eq!(out.samples[0].task, "shuffle");
/// # Ok::<(), spatial_ssrl_tasks::Error>(())
/// ```
#[derive(Clone)]
pub struct Pipeline<'r> {
    registry: &'r Registry,
    tasks: Vec<&'r dyn PretextTask>,
    seed: u64,
    samples_per_image: u64,
    /// How calls are chosen per selected task ([`Pipeline::with_mix`]).
    draw: Draw,
    /// Under counts, each source's calls per selected task ([`Pipeline::with_sources`]).
    quotas: Option<Arc<BTreeMap<String, Vec<u64>>>>,
    routing: Routing,
}

impl<'r> Pipeline<'r> {
    /// Selects `tasks` (in that order) from `registry`. Errors on an unknown or repeated
    /// name, no task, or `samples_per_image == 0`.
    pub fn new<S: AsRef<str>>(
        registry: &'r Registry,
        tasks: &[S],
        seed: u64,
        samples_per_image: usize,
    ) -> Result<Self> {
        if tasks.is_empty() {
            return Err(Error::InvalidOption {
                option: "tasks",
                message: "no task selected".into(),
            });
        }
        if samples_per_image == 0 {
            return Err(Error::InvalidOption {
                option: "samples-per-image",
                message: "must be at least 1".into(),
            });
        }
        let tasks = registry.select(tasks)?;
        for (i, t) in tasks.iter().enumerate() {
            if tasks[..i].iter().any(|u| u.name() == t.name()) {
                return Err(Error::InvalidOption {
                    option: "tasks",
                    message: format!("{:?} listed twice", t.name()),
                });
            }
        }
        Ok(Self {
            registry,
            tasks,
            seed,
            samples_per_image: samples_per_image as u64,
            draw: Draw::Every,
            quotas: None,
            routing: Routing::Any,
        })
    }

    /// Applies a task mix: with weights, each source gets `samples_per_image` calls in all,
    /// each call's task drawn by weight (from the seed and source id) among the selected
    /// tasks the source can take; with counts, each task gets exactly its count of calls
    /// over the sources of the run ([`Pipeline::with_sources`]); the routing decides which
    /// sources a task can take. Weights and counts together, names of unregistered tasks,
    /// or every selected task at 0 are errors; registered but unselected tasks are ignored.
    ///
    /// ```
    /// use spatial_ssrl_tasks::{Pipeline, Registry, Scene, TaskMix, TasksConfig};
    /// let reg = Registry::builtin(&TasksConfig::default());
    /// let mix: TaskMix = "shuffle=3,flip=1".parse()?;
    /// let pipe = Pipeline::new(&reg, &["shuffle", "flip"], 42, 8)?.with_mix(&mix)?;
    /// let img = image::RgbImage::from_fn(96, 64, |x, y| image::Rgb([x as u8 * 2, y as u8 * 3, 90]));
    /// let out = pipe.scene_samples(&Scene::rgb("demo", img));
    /// assert_eq!(out.samples.len(), 8); // 8 calls in all, about 3 in 4 of them shuffle
    /// # Ok::<(), spatial_ssrl_tasks::Error>(())
    /// ```
    pub fn with_mix(mut self, mix: &TaskMix) -> Result<Self> {
        self.routing = mix.routing;
        self.draw = mix::resolve(mix, &self.task_names(), &self.registry.names())?;
        self.quotas = None;
        Ok(self)
    }

    /// Shares a mix's task counts out over `sources` (RGB-D when they name a depth file);
    /// [`generate`] does this itself over the sources it is given, so call it only to run
    /// [`Pipeline::scene_samples`] by hand (without it, under counts each scene is taken as
    /// the only source). A task with a count that no source can take is an
    /// [`Error::InvalidOption`]. Without counts it changes nothing.
    ///
    /// ```
    /// use spatial_ssrl_tasks::{Pipeline, Registry, SourceSpec, TaskMix, TasksConfig};
    /// let reg = Registry::builtin(&TasksConfig::default());
    /// let mix = TaskMix::parse_counts("shuffle=5,flip=2")?;
    /// let sources = [SourceSpec::rgb("a.jpg"), SourceSpec::rgb("b.jpg")];
    /// let pipe = Pipeline::new(&reg, &["shuffle", "flip"], 42, 1)?
    ///     .with_mix(&mix)?
    ///     .with_sources(&sources)?;
    /// let t = pipe.targets(&sources);
    /// assert_eq!((t["shuffle"], t["flip"]), (5, 2));
    /// # Ok::<(), spatial_ssrl_tasks::Error>(())
    /// ```
    pub fn with_sources(mut self, sources: &[SourceSpec]) -> Result<Self> {
        if let Draw::Counts(counts) = &self.draw {
            let list: Vec<(&str, bool)> = sources
                .iter()
                .map(|s| (s.id.as_str(), s.depth.is_some()))
                .collect();
            let (planned, names) = (self.planned(), self.task_names());
            mix::check_placeable(&planned, &names, counts, self.routing, &list)?;
            let quotas = mix::allocate(&planned, &names, counts, self.routing, self.seed, &list);
            self.quotas = Some(Arc::new(quotas));
        }
        Ok(self)
    }

    fn planned(&self) -> Vec<PlannedTask> {
        self.tasks
            .iter()
            .enumerate()
            .map(|(i, t)| PlannedTask {
                needs_depth: t.inputs() == Inputs::RgbDepth,
                weight: match &self.draw {
                    Draw::Weights(w) => w[i],
                    _ => 0,
                },
            })
            .collect()
    }

    /// The calls a source gets, as `(task, call index)` in task order then index order.
    fn calls(&self, source: &str, has_depth: bool) -> Vec<(&'r dyn PretextTask, u64)> {
        let planned = self.planned();
        let alone;
        let calls = match (&self.draw, &self.quotas) {
            (Draw::Every, _) => Calls::Each(self.samples_per_image),
            (Draw::Weights(_), _) => Calls::Drawn(self.samples_per_image),
            (Draw::Counts(_), Some(q)) => Calls::Quota(q.get(source).map_or(&[], Vec::as_slice)),
            (Draw::Counts(counts), None) => {
                // No source list given: this source is the whole run.
                alone = mix::allocate(
                    &planned,
                    &self.task_names(),
                    counts,
                    self.routing,
                    self.seed,
                    &[(source, has_depth)],
                )
                .remove(source)
                .unwrap_or_default();
                Calls::Quota(&alone)
            }
        };
        mix::plan(&planned, calls, self.routing, self.seed, source, has_depth)
            .into_iter()
            .map(|(i, k)| (self.tasks[i], k))
            .collect()
    }

    /// Calls planned per task over `sources` (RGB-D when they name a depth file): the
    /// target that a run's realised counts ([`Summary::samples`]) are held against. Every
    /// selected task is listed, with 0 when it gets no call.
    ///
    /// ```
    /// use spatial_ssrl_tasks::{Pipeline, Registry, SourceSpec, TasksConfig};
    /// let reg = Registry::builtin(&TasksConfig::default());
    /// let pipe = Pipeline::new(&reg, &["flip", "depth"], 1, 2)?;
    /// let t = pipe.targets(&[SourceSpec::rgb("a.jpg")]);
    /// assert_eq!((t["flip"], t["depth"]), (2, 0));
    /// # Ok::<(), spatial_ssrl_tasks::Error>(())
    /// ```
    pub fn targets(&self, sources: &[SourceSpec]) -> BTreeMap<String, u64> {
        if let (Draw::Counts(counts), None) = (&self.draw, &self.quotas) {
            // Counts shared out over exactly these sources.
            let list: Vec<(&str, bool)> = sources
                .iter()
                .map(|s| (s.id.as_str(), s.depth.is_some()))
                .collect();
            let q = mix::allocate(
                &self.planned(),
                &self.task_names(),
                counts,
                self.routing,
                self.seed,
                &list,
            );
            return self
                .task_names()
                .iter()
                .enumerate()
                .map(|(i, t)| ((*t).to_owned(), q.values().map(|v| v[i]).sum()))
                .collect();
        }
        let mut out: BTreeMap<String, u64> = self
            .tasks
            .iter()
            .map(|t| (t.name().to_owned(), 0))
            .collect();
        for s in sources {
            for (t, _) in self.calls(&s.id, s.depth.is_some()) {
                *out.entry(t.name().to_owned()).or_insert(0) += 1;
            }
        }
        out
    }

    /// The selected task names, in order.
    pub fn task_names(&self) -> Vec<&str> {
        self.tasks.iter().map(|t| t.name()).collect()
    }

    /// The run seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Calls per (source, task), or per source with a weighted mix.
    pub fn samples_per_image(&self) -> usize {
        self.samples_per_image as usize
    }

    /// Whether depth files are read: some selected task needs depth, or the routing sends
    /// RGB-D sources to depth tasks only (then a source's kind must be known for sure).
    pub fn needs_depth(&self) -> bool {
        self.routing == Routing::ByInput
            || self.tasks.iter().any(|t| t.inputs() == Inputs::RgbDepth)
    }

    /// Runs the calls `scene` gets (every selected task `samples_per_image` times, or as
    /// the mix draws them) in parallel on the current rayon pool; the result is in task
    /// order, then index order, regardless. Tasks that need depth are skipped on RGB-only
    /// scenes.
    pub fn scene_samples(&self, scene: &Scene) -> SceneOutput {
        let calls = self.calls(&scene.id, scene.depth.is_some());
        let results: Vec<_> = calls
            .par_iter()
            .map(|&(task, k)| {
                let mut rng = task_rng(self.seed, &scene.id, task.name(), k);
                (task.name(), k, task.generate(scene, &mut rng))
            })
            .collect();
        let mut out = SceneOutput::default();
        for (task, k, res) in results {
            match res {
                // A sample that breaks the row contract is a failure, never a row.
                Ok(samples) => {
                    for sample in samples {
                        match sample.validate(task, &scene.id) {
                            Ok(()) => out.samples.push(sample),
                            Err(e) => out.failures.push(Failure::new(&scene.id, task, k, &e)),
                        }
                    }
                }
                Err(e) => out.failures.push(Failure::new(&scene.id, task, k, &e)),
            }
        }
        out
    }
}

/// Where and how [`generate`] writes.
#[derive(Debug, Clone, PartialEq)]
pub struct RunConfig {
    /// Output folder (created if missing).
    pub out: PathBuf,
    /// Parquet or JSONL.
    pub format: DatasetFormat,
    /// PNG or JPEG for the sample images.
    pub image_format: ImageFormat,
    /// Rows per shard file (the last shard of each split may hold fewer).
    pub shard_size: usize,
    /// Fraction of sources (by a hash of their id) whose samples go to the `val` split.
    pub val_fraction: f64,
    /// Worker threads.
    pub threads: usize,
    /// Identifies task settings not visible in the pipeline (e.g. a digest of the
    /// [`TasksConfig`](crate::TasksConfig)); resuming with a different value is refused.
    pub settings_digest: u64,
    /// Which part of the sources this run covers ([`Shard::WHOLE`]: all of them); the
    /// parts' folders join with [`merge`](crate::merge).
    pub shard: Shard,
}

impl RunConfig {
    /// Defaults: parquet, PNG, 256 rows per shard, no validation split, 1 thread.
    ///
    /// ```
    /// let cfg = spatial_ssrl_tasks::RunConfig::new("/tmp/out");
    /// assert_eq!(cfg.shard_size, 256);
    /// ```
    pub fn new(out: impl Into<PathBuf>) -> Self {
        Self {
            out: out.into(),
            format: DatasetFormat::Parquet,
            image_format: ImageFormat::Png,
            shard_size: 256,
            val_fraction: 0.0,
            threads: 1,
            settings_digest: 0,
            shard: Shard::WHOLE,
        }
    }
}

/// Reports progress of a [`generate`] run; every method has a no-op default and `()`
/// implements it. Called from one thread at a time.
pub trait Progress: Sync {
    /// The run starts: `total` sources, `done` of them finished by an earlier (resumed) run.
    fn start(&self, total: u64, done: u64) {
        let _ = (total, done);
    }
    /// `n` more sources are finished.
    fn advance(&self, n: u64) {
        let _ = n;
    }
    /// The run is over.
    fn finish(&self) {}
}

impl Progress for () {}

/// Totals of a finished run, read back from its manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Rows per task and split (`"train"`, `"val"`).
    pub samples: BTreeMap<String, BTreeMap<String, u64>>,
    /// Failures per [`Error::kind`].
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

/// One split's rows waiting for their shard.
#[derive(Default)]
struct SplitBuffer {
    rows: Vec<Record>,
    first: Option<Cursor>,
    next_shard: usize,
}

/// Runs `pipeline` over `sources` and writes the dataset to `run.out`.
///
/// Sources are decoded once each (depth only when a selected task needs it) and shared by
/// all tasks and calls; a source or task that fails is recorded and the run goes on. If
/// `run.out` holds an unfinished run with the same settings, it is resumed; the finished
/// folder is byte-identical to an uninterrupted run's, for any thread count. A finished run
/// is not redone.
///
/// ```no_run
/// use spatial_ssrl_tasks::{discover, generate, Pipeline, Registry, RunConfig, TasksConfig};
/// let reg = Registry::builtin(&TasksConfig::default());
/// let pipe = Pipeline::new(&reg, &["shuffle", "depth"], 42, 1)?;
/// let sources = discover("examples/data")?;
/// let summary = generate(&pipe, &sources, &RunConfig::new("/tmp/ssrl-demo"), &())?;
/// println!("{} samples", summary.total_samples());
/// # Ok::<(), spatial_ssrl_tasks::Error>(())
/// ```
pub fn generate(
    pipeline: &Pipeline<'_>,
    sources: &[SourceSpec],
    run: &RunConfig,
    progress: &dyn Progress,
) -> Result<Summary> {
    if run.shard_size == 0 {
        return Err(Error::InvalidOption {
            option: "shard-size",
            message: "must be at least 1".into(),
        });
    }
    if !(0.0..1.0).contains(&run.val_fraction) {
        return Err(Error::InvalidOption {
            option: "val-fraction",
            message: format!("{} is not in [0, 1)", run.val_fraction),
        });
    }
    if run.threads == 0 {
        return Err(Error::InvalidOption {
            option: "threads",
            message: "must be at least 1".into(),
        });
    }
    // Ids seed the puzzles and name the image files: two sources must not share one.
    let mut ids: Vec<&str> = sources.iter().map(|s| s.id.as_str()).collect();
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Err(Error::InvalidOption {
            option: "sources",
            message: format!("source id {:?} appears more than once", w[0]),
        });
    }
    run.shard.check()?;
    // Task counts are shared out over every source of the run, so that shards agree.
    let pipeline = &pipeline.clone().with_sources(sources)?;
    // This worker's sources; indices stay global so its manifest joins the others'.
    let range = run.shard.range(sources.len());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(run.threads)
        .build()
        .map_err(|e| Error::InvalidOption {
            option: "threads",
            message: e.to_string(),
        })?;
    std::fs::create_dir_all(&run.out).map_err(|e| Error::io(&run.out, e))?;
    export::remove_temporaries(&run.out)?;

    let identity = identity(pipeline, sources, run);
    let manifest_path = run.out.join(MANIFEST_FILE);
    let mut manifest = match std::fs::read(&manifest_path) {
        Ok(bytes) => {
            let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| Error::Malformed {
                what: "run manifest",
                path: manifest_path.clone(),
                message: e.to_string(),
            })?;
            if let Some(field) = first_difference(&m.run, &identity) {
                return Err(Error::ForeignRun {
                    path: run.out.clone(),
                    field,
                });
            }
            m
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Manifest {
            format_version: 1,
            run: identity,
            complete: false,
            cursors: SPLITS
                .iter()
                .map(|s| (s.to_string(), Cursor::default()))
                .collect(),
            consumed: 0,
            shards: Vec::new(),
            failures: Vec::new(),
            targets: pipeline.targets(&sources[range.clone()]),
        },
        Err(e) => return Err(Error::io(manifest_path, e)),
    };
    if manifest.complete {
        progress.start(range.len() as u64, range.len() as u64);
        progress.finish();
        return Ok(summary(&manifest));
    }

    let split_of: Vec<usize> = sources
        .iter()
        .map(|s| usize::from(split_draw(&s.id) < run.val_fraction))
        .collect();
    let cursors: Vec<Cursor> = SPLITS
        .iter()
        .map(|s| manifest.cursors.get(*s).copied().unwrap_or_default())
        .collect();
    // A source whose rows are all in shards needs no regeneration; its failures are in the
    // manifest. Failures of sources that will be regenerated come back from regeneration.
    let committed = |s: usize| s < cursors[split_of[s]].source;
    manifest.failures.retain(|f| committed(f.source_index));
    let start = cursors
        .iter()
        .map(|c| c.source)
        .min()
        .unwrap_or(0)
        .clamp(range.start, range.end);
    let mut buffers: Vec<SplitBuffer> = SPLITS
        .iter()
        .map(|s| SplitBuffer {
            rows: Vec::new(),
            first: None,
            next_shard: manifest.shards.iter().filter(|e| e.split == *s).count(),
        })
        .collect();
    let done_before = range.clone().filter(|&s| s < start || committed(s)).count() as u64;
    progress.start(range.len() as u64, done_before);

    let window = (run.threads * 2).max(4);
    let mut next = start;
    pool.install(|| -> Result<()> {
        while next < range.end {
            let end = (next + window).min(range.end);
            let outputs: Vec<(usize, Vec<Record>, Vec<Failure>)> = (next..end)
                .into_par_iter()
                .filter(|&s| !committed(s))
                .map(|s| {
                    let skip = if s == cursors[split_of[s]].source {
                        cursors[split_of[s]].row
                    } else {
                        0
                    };
                    let (records, failures) = process_source(pipeline, &sources[s], run, skip);
                    (s, records, failures)
                })
                .collect();
            for (s, records, failures) in outputs {
                let split = split_of[s];
                let skip = if s == cursors[split].source {
                    cursors[split].row
                } else {
                    0
                };
                manifest
                    .failures
                    .extend(failures.into_iter().map(|failure| IndexedFailure {
                        source_index: s,
                        failure,
                    }));
                manifest.consumed = s + 1;
                let n = records.len() + skip;
                for (j, rec) in records.into_iter().enumerate() {
                    let row = skip + j;
                    let buf = &mut buffers[split];
                    buf.first.get_or_insert(Cursor { source: s, row });
                    buf.rows.push(rec);
                    if buf.rows.len() == run.shard_size {
                        let after = if row + 1 == n {
                            Cursor {
                                source: s + 1,
                                row: 0,
                            }
                        } else {
                            Cursor {
                                source: s,
                                row: row + 1,
                            }
                        };
                        flush(&mut manifest, &mut buffers, split, run, after)?;
                    }
                }
            }
            progress.advance(
                (end - next) as u64 - (next..end).filter(|&s| committed(s)).count() as u64,
            );
            next = end;
        }
        Ok(())
    })?;
    let end = Cursor {
        source: range.end,
        row: 0,
    };
    for split in 0..SPLITS.len() {
        if !buffers[split].rows.is_empty() {
            flush(&mut manifest, &mut buffers, split, run, end)?;
        }
    }
    manifest.complete = true;
    manifest.consumed = range.end;
    // Flush order depends on how the splits interleave; a finished run lists its shards by
    // split, then write order, so the same list comes out of one run and of merged workers.
    manifest.shards.sort_by_key(shard_order);
    for s in SPLITS {
        manifest.cursors.insert(s.to_string(), end);
    }
    manifest.failures.sort_by_key(|f| f.source_index);
    write_manifest(&manifest, &run.out)?;
    progress.finish();
    Ok(summary(&manifest))
}

/// Writes `split`'s buffered rows as its next shard and records it in the manifest.
/// `after` is the stream position just past the last buffered row.
fn flush(
    manifest: &mut Manifest,
    buffers: &mut [SplitBuffer],
    split: usize,
    run: &RunConfig,
    after: Cursor,
) -> Result<()> {
    let buf = &mut buffers[split];
    let file = format!(
        "{}-{:05}.{}",
        SPLITS[split],
        buf.next_shard,
        run.format.extension()
    );
    let mut tasks = BTreeMap::new();
    for r in &buf.rows {
        *tasks.entry(r.task.clone()).or_insert(0) += 1;
    }
    let rows = std::mem::take(&mut buf.rows);
    let n = rows.len() as u64;
    export::write_shard(run.format, &run.out, &file, rows)?;
    manifest.shards.push(ShardEntry {
        split: SPLITS[split].into(),
        file,
        rows: n,
        tasks,
    });
    buf.first = None;
    buf.next_shard += 1;
    // Every split's cursor: its first waiting row, or (no row waiting) the writer's position.
    for (i, b) in buffers.iter().enumerate() {
        manifest
            .cursors
            .insert(SPLITS[i].into(), b.first.unwrap_or(after));
    }
    // Keep failures sorted, so a resumed run lists them in the same order.
    manifest.failures.sort_by_key(|f| f.source_index);
    write_manifest(manifest, &run.out)
}

pub(crate) fn write_manifest(manifest: &Manifest, out: &Path) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(manifest).expect("manifest serialises");
    bytes.push(b'\n');
    export::atomic_write(&out.join(MANIFEST_FILE), &bytes)
}

/// Decodes one source, runs the pipeline on it and encodes the sample images;
/// drops the first `skip` rows (already in shards).
fn process_source(
    pipeline: &Pipeline<'_>,
    spec: &SourceSpec,
    run: &RunConfig,
    skip: usize,
) -> (Vec<Record>, Vec<Failure>) {
    let rgb = match spec.load_rgb() {
        Ok(img) => img,
        Err(e) => {
            return (
                Vec::new(),
                vec![Failure::new(&spec.id, INPUT_FAILURE, 0, &e)],
            );
        }
    };
    let depth = if pipeline.needs_depth() {
        match spec.load_depth(rgb.width(), rgb.height()) {
            Ok(d) => d,
            Err(e) => {
                // A broken depth file or mask says the source is not what it claims to be:
                // none of it becomes training data, RGB tasks included.
                return (
                    Vec::new(),
                    vec![Failure::new(&spec.id, INPUT_FAILURE, 0, &e)],
                );
            }
        }
    } else {
        None
    };
    let scene = Scene {
        id: spec.id.clone(),
        rgb: rgb.into(),
        depth: depth.map(Into::into),
    };
    let out = pipeline.scene_samples(&scene);
    let mut failures = out.failures;
    // Number each sample among its task's samples, for unique image paths.
    let mut counters: BTreeMap<String, u64> = BTreeMap::new();
    let numbers: Vec<u64> = out
        .samples
        .iter()
        .map(|s| {
            let c = counters.entry(s.task.clone()).or_insert(0);
            *c += 1;
            *c - 1
        })
        .collect();
    let encoded: Vec<std::result::Result<Record, Failure>> = out
        .samples
        .into_par_iter()
        .zip(numbers)
        .map(|(sample, n)| {
            let (source, task) = (sample.source.clone(), sample.task.clone());
            encode(sample, n, run.image_format).map_err(|e| Failure::new(&source, &task, n, &e))
        })
        .collect();
    let mut ok = Vec::with_capacity(encoded.len());
    for r in encoded {
        match r {
            Ok(r) => ok.push(r),
            Err(f) => failures.push(f),
        }
    }
    // Rows are counted after encoding, so `skip` matches the row numbers of the first run.
    ok.drain(..skip.min(ok.len()));
    (ok, failures)
}

/// A sample with its images encoded; `n` numbers the sample among its task's samples.
fn encode(sample: Sample, n: u64, format: ImageFormat) -> Result<Record> {
    let images = sample
        .images
        .iter()
        .enumerate()
        .map(|(i, img)| {
            let path = format!(
                "images/{}/{}-{n}-{i}.{}",
                path_safe(&sample.source),
                path_safe(&sample.task),
                format.extension()
            );
            format
                .encode(img, Path::new(&path))
                .map(|bytes| EncodedImage { bytes, path })
        })
        .collect::<Result<_>>()?;
    Ok(Record {
        problem: sample.problem,
        answer: sample.answer,
        images,
        task: sample.task,
        source: sample.source,
        metadata: serde_json::to_string(&sample.metadata).expect("metadata is JSON"),
    })
}

/// A relative path for an id: `/`-separated segments of `[A-Za-z0-9._-]`, no empty, `.` or
/// `..` segment (so a manifest id cannot write outside the output folder). When anything had
/// to be replaced, a hash of the original id is appended so distinct ids stay distinct.
fn path_safe(id: &str) -> String {
    let segments: Vec<String> = id
        .split('/')
        .map(|seg| {
            let clean: String = seg
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "._-".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            if clean.is_empty() || clean == "." || clean == ".." {
                "_".into()
            } else {
                clean
            }
        })
        .collect();
    let joined = segments.join("/");
    if joined == id {
        joined
    } else {
        format!("{joined}-{:08x}", fnv1a64(id.as_bytes()) as u32)
    }
}

fn identity(pipeline: &Pipeline<'_>, sources: &[SourceSpec], run: &RunConfig) -> RunIdentity {
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
fn first_difference(a: &RunIdentity, b: &RunIdentity) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_become_safe_distinct_paths() {
        assert_eq!(path_safe("sub/RGB-D_img1"), "sub/RGB-D_img1");
        let odd = ["../../etc/passwd", "a b", "a_b", "/abs", "x//y", "ü"];
        let paths: Vec<String> = odd.iter().map(|id| path_safe(id)).collect();
        for p in &paths {
            assert!(
                p.split('/').all(|s| !s.is_empty() && s != "." && s != ".."),
                "{p}"
            );
            assert!(
                p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c)),
                "{p}"
            );
        }
        let mut unique = paths.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), paths.len(), "{paths:?}");
    }
}
