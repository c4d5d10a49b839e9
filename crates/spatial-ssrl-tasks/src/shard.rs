//! Scale-out: one `generate` run split between independent workers (a Slurm array, a
//! Kubernetes indexed job), and [`merge`], which joins their folders into the bytes the
//! single run would have written.
//!
//! Worker `i` of `K` takes a contiguous block of the source list (sizes differ by at most
//! one) and keeps global source indices in its manifest. Every row depends only on its
//! source, so a split's rows in one run are the workers' rows of that split, worker after
//! worker; [`merge`] re-cuts them into shards of the run's size and rebuilds the manifest.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::export::{self, Record};
use crate::pipeline::{
    Cursor, MANIFEST_FILE, Manifest, SPLITS, ShardEntry, Summary, summary, write_manifest,
};

/// Which part of the sources a `generate` run covers: part `index` of `count`.
///
/// ```
/// use spatial_ssrl_tasks::Shard;
/// let parts: Vec<_> = (0..3).map(|i| Shard::new(i, 3).unwrap().range(10)).collect();
/// assert_eq!(parts, [0..3, 3..6, 6..10]); // contiguous, together all ten sources
/// assert!(Shard::new(3, 3).is_err());
/// assert_eq!(Shard::WHOLE.range(10), 0..10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// This worker's index, `0..count`.
    pub index: usize,
    /// Number of workers.
    pub count: usize,
}

impl Default for Shard {
    fn default() -> Self {
        Self::WHOLE
    }
}

impl Shard {
    /// The whole run: one worker.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Part `index` of `count`; [`Error::InvalidOption`] unless `index < count`.
    pub fn new(index: usize, count: usize) -> Result<Self> {
        let shard = Self { index, count };
        shard.check()?;
        Ok(shard)
    }

    /// Errors unless `index < count`.
    pub(crate) fn check(&self) -> Result<()> {
        if self.count == 0 {
            return Err(Error::InvalidOption {
                option: "num-shards",
                message: "must be at least 1".into(),
            });
        }
        if self.index >= self.count {
            return Err(Error::InvalidOption {
                option: "shard-index",
                message: format!("{} is not below --num-shards {}", self.index, self.count),
            });
        }
        Ok(())
    }

    /// Whether this is the whole run.
    pub fn is_whole(&self) -> bool {
        self.count == 1
    }

    /// The indices of this part's sources among `sources` sources.
    pub fn range(&self, sources: usize) -> Range<usize> {
        let at = |i: usize| (sources as u128 * i as u128 / self.count.max(1) as u128) as usize;
        at(self.index)..at(self.index + 1)
    }
}

/// Joins the output folders of the workers of one sharded run (`generate` with
/// [`RunConfig::shard`](crate::RunConfig::shard) = part `i` of `K`, for every `i`) into `out`:
/// shards and `manifest.json` byte-identical to what one run over all sources writes.
///
/// Each folder must hold a finished run; all must share every setting but the part index,
/// and every index `0..K` must be there once (in any order). `out` must not hold a dataset;
/// a merge that was killed is simply run again. Rows stream through one shard at a time, so
/// memory stays at about one shard.
///
/// ```no_run
/// let summary = spatial_ssrl_tasks::merge(&["out-0", "out-1"], "out")?;
/// println!("{} samples", summary.total_samples());
/// # Ok::<(), spatial_ssrl_tasks::Error>(())
/// ```
pub fn merge<P: AsRef<Path>>(workers: &[P], out: impl AsRef<Path>) -> Result<Summary> {
    let out = out.as_ref();
    let mut parts = workers
        .iter()
        .map(|w| read_worker(w.as_ref()))
        .collect::<Result<Vec<_>>>()?;
    let Some((_, first)) = parts.first() else {
        return Err(Error::InvalidOption {
            option: "workers",
            message: "no worker folder given".into(),
        });
    };
    let count = first.run.shard.count;
    let mut whole_run = first.run.clone();
    whole_run.shard = Shard::WHOLE;
    for (dir, m) in &parts {
        let mut run = m.run.clone();
        run.shard = Shard::WHOLE;
        if run != whole_run || m.run.shard.count != count {
            return Err(Error::ForeignRun {
                path: dir.clone(),
                field: "settings than the first worker".into(),
            });
        }
    }
    parts.sort_by_key(|(_, m)| m.run.shard.index);
    let indices: Vec<usize> = parts.iter().map(|(_, m)| m.run.shard.index).collect();
    if indices != (0..count).collect::<Vec<_>>() {
        return Err(Error::InvalidOption {
            option: "workers",
            message: format!("need each part 0..{count} once, got parts {indices:?}"),
        });
    }
    if out.join(MANIFEST_FILE).exists() {
        return Err(Error::InvalidOption {
            option: "out",
            message: format!("{} already holds a dataset", out.display()),
        });
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    // The manifest is written last: a killed merge leaves none, and rerunning it redoes the
    // (atomically written) shards after clearing the temporaries it left.
    export::remove_temporaries(out)?;

    let format = whole_run.format;
    let shard_size = whole_run.shard_size;
    let mut shards = Vec::new();
    for split in SPLITS {
        let mut rows: Vec<Record> = Vec::new();
        let mut next = 0;
        for (dir, m) in &parts {
            for entry in m.shards.iter().filter(|e| e.split == split) {
                rows.extend(export::read_shard(format, dir, &entry.file)?);
                while rows.len() >= shard_size {
                    let rest = rows.split_off(shard_size);
                    let full = std::mem::replace(&mut rows, rest);
                    shards.push(write(format, out, split, &mut next, full)?);
                }
            }
        }
        if !rows.is_empty() {
            shards.push(write(format, out, split, &mut next, rows)?);
        }
    }
    // Failure lists carry global source indices and are sorted in each worker.
    let failures = parts
        .iter()
        .flat_map(|(_, m)| m.failures.iter().cloned())
        .collect();
    // Planned calls are a sum over sources, so the parts' targets add up to the run's.
    let mut targets: BTreeMap<String, u64> = BTreeMap::new();
    for (_, m) in &parts {
        for (task, n) in &m.targets {
            *targets.entry(task.clone()).or_insert(0) += n;
        }
    }
    let sources = whole_run.sources;
    let end = Cursor {
        source: sources,
        row: 0,
    };
    let (_, template) = parts.swap_remove(0);
    let merged = Manifest {
        run: whole_run,
        complete: true,
        cursors: SPLITS.iter().map(|s| (s.to_string(), end)).collect(),
        consumed: sources,
        shards,
        failures,
        targets,
        ..template
    };
    write_manifest(&merged, out)?;
    Ok(summary(&merged))
}

/// A worker folder's manifest; errors unless it is a finished part of a sharded run.
fn read_worker(dir: &Path) -> Result<(PathBuf, Manifest)> {
    let path = dir.join(MANIFEST_FILE);
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let malformed = |message: String| Error::Malformed {
        what: "worker manifest",
        path: path.clone(),
        message,
    };
    let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| malformed(e.to_string()))?;
    if !m.complete {
        return Err(malformed(
            "the run is not finished (rerun its generate command)".into(),
        ));
    }
    Ok((dir.to_path_buf(), m))
}

/// Writes `rows` as the split's next shard in `out` and returns its manifest entry.
fn write(
    format: crate::DatasetFormat,
    out: &Path,
    split: &str,
    next: &mut usize,
    rows: Vec<Record>,
) -> Result<ShardEntry> {
    let file = format!("{split}-{:05}.{}", *next, format.extension());
    *next += 1;
    let mut tasks = BTreeMap::new();
    for r in &rows {
        *tasks.entry(r.task.clone()).or_insert(0) += 1;
    }
    let n = rows.len() as u64;
    export::write_shard(format, out, &file, rows)?;
    Ok(ShardEntry {
        split: split.into(),
        file,
        rows: n,
        tasks,
    })
}
