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
use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::io::SourceSpec;
use crate::mix::{self, Calls, Draw, PlannedTask, Routing, TaskMix};
use crate::registry::Registry;
use crate::seed::task_rng;
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

mod manifest;
mod run;

pub(crate) use manifest::{Cursor, Manifest, SPLITS, ShardEntry, summary, write_manifest};
pub use manifest::{MANIFEST_FILE, Summary, settings_digest};
pub use run::{Progress, RunConfig, generate};
