//! Running a [`Pipeline`] over many sources: decode, generate, encode, write shards,
//! resume.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::manifest::{
    Cursor, IndexedFailure, MANIFEST_FILE, Manifest, SPLITS, ShardEntry, Summary, first_difference,
    identity, shard_order, summary, write_manifest,
};
use super::{Failure, INPUT_FAILURE, Pipeline};
use crate::error::{Error, Result};
use crate::export::{self, DatasetFormat, EncodedImage, Record};
use crate::io::{ImageFormat, SourceSpec};
use crate::seed::{fnv1a64, split_draw};
use crate::shard::Shard;
use crate::task::{Sample, Scene};

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
