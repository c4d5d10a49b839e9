//! Checkpoints: `global_step_<N>/` (EasyR1's folder name) holding the policy (`policy.bpk`), the optimiser state
//! (`optimizer.bpk`) and the resumable state (`state.json`: step, data cursor, seed, counters).
//! Written into a temporary directory and renamed, so a crash never leaves a half checkpoint;
//! `latest` names the newest complete one; [`prune`] keeps `save_limit` of them as EasyR1's
//! `remove_obsolete_ckpt` does.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use serde::{Deserialize, Serialize};

use crate::data::DataCursor;
use crate::error::{Error, Result};

/// Everything besides weights that a resumed run needs to continue identically. Rollout
/// randomness is derived from `(seed, step)`, so the seed and step are the RNG state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainState {
    /// Steps completed.
    pub step: u64,
    /// Optimiser steps attempted (drives the learning-rate schedule).
    pub optimizer_steps: u64,
    /// Optimiser steps skipped for non-finite gradients.
    pub skipped_steps: u64,
    /// Data position.
    pub cursor: DataCursor,
    /// Run seed.
    pub seed: u64,
}

impl TrainState {
    /// Fresh state for a run seeded with `seed`.
    pub fn new(seed: u64) -> TrainState {
        TrainState {
            step: 0,
            optimizer_steps: 0,
            skipped_steps: 0,
            cursor: DataCursor::default(),
            seed,
        }
    }
}

const POLICY: &str = "policy.bpk";
const OPTIMIZER: &str = "optimizer.bpk";
const STATE: &str = "state.json";
const LATEST: &str = "latest";

fn record_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Record {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Folder name prefix of a checkpoint (EasyR1's `global_step_{}`).
const PREFIX: &str = "global_step_";

/// Writes `dir/global_step_<state.step>` atomically and points `dir/latest` at it.
pub fn save<M: Module>(
    dir: &Path,
    policy: &M,
    optim: &ModuleOptimizer,
    state: &TrainState,
) -> Result<PathBuf> {
    let name = format!("{PREFIX}{}", state.step);
    let final_dir = dir.join(&name);
    let tmp = dir.join(format!(".{name}.tmp"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let p = tmp.join(POLICY);
    policy
        .clone()
        .save_file(&p)
        .map_err(|e| record_err(&p, e))?;
    let o = tmp.join(OPTIMIZER);
    optim.save(&o).map_err(|e| record_err(&o, e))?;
    let s = tmp.join(STATE);
    std::fs::write(
        &s,
        serde_json::to_string_pretty(state).expect("state serialises"),
    )
    .map_err(|e| Error::io(&s, e))?;
    if final_dir.exists() {
        std::fs::remove_dir_all(&final_dir).map_err(|e| Error::io(&final_dir, e))?;
    }
    std::fs::rename(&tmp, &final_dir).map_err(|e| Error::io(&final_dir, e))?;
    let latest_tmp = dir.join(".latest.tmp");
    std::fs::write(&latest_tmp, &name).map_err(|e| Error::io(&latest_tmp, e))?;
    std::fs::rename(&latest_tmp, dir.join(LATEST)).map_err(|e| Error::io(dir.join(LATEST), e))?;
    Ok(final_dir)
}

/// Deletes old checkpoints under `dir` before step `current` is saved, as EasyR1's
/// `remove_obsolete_ckpt`: of the `global_step_<N>` folders with `N < current`, the newest
/// `save_limit - 1` stay (so `save_limit` remain with the new one), and `best` (the step
/// with the best validation score) always stays, counting towards the limit. `save_limit <=
/// 0` keeps everything. Returns the removed folders.
///
/// # Errors
/// [`Error::Io`] when the folder cannot be listed or a checkpoint cannot be removed.
pub fn prune(dir: &Path, current: u64, best: Option<u64>, save_limit: i64) -> Result<Vec<PathBuf>> {
    if save_limit <= 0 || !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut keep = (save_limit - 1) as usize;
    let mut steps: Vec<u64> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix(PREFIX))
                .and_then(|n| n.parse::<u64>().ok())
        })
        .filter(|&n| n < current)
        .collect();
    steps.sort_unstable_by(|a, b| b.cmp(a));
    if let Some(b) = best
        && let Some(i) = steps.iter().position(|&n| n == b)
    {
        steps.remove(i);
        keep = keep.saturating_sub(1);
    }
    let mut removed = Vec::new();
    for n in steps.into_iter().skip(keep) {
        let path = dir.join(format!("{PREFIX}{n}"));
        std::fs::remove_dir_all(&path).map_err(|e| Error::io(&path, e))?;
        removed.push(path);
    }
    Ok(removed)
}

/// Resolves `path` to a checkpoint directory: itself if it holds `state.json`, otherwise the
/// one `path/latest` names.
pub fn resolve(path: &Path) -> Result<PathBuf> {
    if path.join(STATE).exists() {
        return Ok(path.to_path_buf());
    }
    let latest = path.join(LATEST);
    let name = std::fs::read_to_string(&latest).map_err(|e| Error::io(&latest, e))?;
    let dir = path.join(name.trim());
    if dir.join(STATE).exists() {
        Ok(dir)
    } else {
        Err(Error::Checkpoint {
            path: dir,
            reason: "no state.json".into(),
        })
    }
}

/// Loads the weights into `policy`, the state into `optim`, and reads the train state.
pub fn load<M: Module>(
    path: &Path,
    policy: M,
    optim: ModuleOptimizer,
) -> Result<(M, ModuleOptimizer, TrainState)> {
    let dir = resolve(path)?;
    let s = dir.join(STATE);
    let text = std::fs::read_to_string(&s).map_err(|e| Error::io(&s, e))?;
    let state: TrainState = serde_json::from_str(&text).map_err(|source| Error::Json {
        path: s.clone(),
        line: 0,
        source,
    })?;
    let p = dir.join(POLICY);
    let policy = policy.try_load_file(&p).map_err(|e| record_err(&p, e))?;
    let o = dir.join(OPTIMIZER);
    let optim = optim.load(&o).map_err(|e| record_err(&o, e))?;
    Ok((policy, optim, state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_keeps_the_limit_and_the_best() {
        let dir = tempfile::tempdir().unwrap();
        for n in [5, 10, 15, 20] {
            std::fs::create_dir(dir.path().join(format!("{PREFIX}{n}"))).unwrap();
        }
        std::fs::create_dir(dir.path().join("other")).unwrap();
        let left = || {
            let mut v: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        assert!(prune(dir.path(), 25, None, -1).unwrap().is_empty());
        // Limit 3 before saving step 25: 20 and 15 stay, plus the best (5) which uses a slot.
        let removed = prune(dir.path(), 25, Some(5), 3).unwrap();
        assert_eq!(
            removed,
            vec![
                dir.path().join("global_step_15"),
                dir.path().join("global_step_10")
            ]
        );
        assert_eq!(left(), ["global_step_20", "global_step_5", "other"]);
        prune(dir.path(), 25, None, 1).unwrap();
        assert_eq!(left(), ["other"]);
    }
}
