//! The task mix: which tasks run on a source, and how often.
//!
//! Without weights every selected task runs `samples_per_image` times on every source it can
//! use. With weights a source gets `samples_per_image` calls in all, each call's task drawn
//! by weight among the tasks the source can take, from a generator fixed by (seed, source
//! id, call index): the plan of a source never depends on the others, on threads or on a
//! resume. Routing decides which sources a task can take.

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::seed::task_rng;
use crate::tasks::grid::pick_weighted;

/// Which sources a task may use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Routing {
    /// RGB tasks on every source, depth tasks on RGB-D sources (the default).
    #[default]
    Any,
    /// RGB tasks only on RGB-only sources, depth tasks on RGB-D sources: how the released
    /// Spatial-SSRL-81k was built (RGB sources feed shuffle, flip and crop; RGB-D sources
    /// feed depth and position).
    ByInput,
}

/// Per-task weights and source routing, the `[mix]` table of a
/// [`TasksConfig`](crate::TasksConfig).
///
/// ```
/// use spatial_ssrl_tasks::TaskMix;
/// let mix: TaskMix = "shuffle=2, flip=1".parse()?;
/// assert_eq!(mix.weights["shuffle"], 2);
/// assert!("shuffle=two".parse::<TaskMix>().is_err());
/// # Ok::<(), spatial_ssrl_tasks::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaskMix {
    /// Relative weight per task name (integers; a task absent or at 0 does not run).
    /// Empty: no draw, every selected task runs `samples_per_image` times per source.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub weights: BTreeMap<String, u32>,
    /// Which sources each task may use.
    pub routing: Routing,
}

impl FromStr for TaskMix {
    type Err = Error;

    /// Parses `name=weight` pairs separated by commas (the `--task-weights` syntax); the
    /// routing stays the default.
    fn from_str(s: &str) -> Result<Self> {
        let bad = |message: String| Error::InvalidOption {
            option: "task-weights",
            message,
        };
        let mut weights = BTreeMap::new();
        for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, w) = pair
                .split_once('=')
                .ok_or_else(|| bad(format!("{pair:?} is not name=weight")))?;
            let w: u32 = w.trim().parse().map_err(|_| {
                bad(format!(
                    "weight {:?} of {name:?} is not a whole number",
                    w.trim()
                ))
            })?;
            if weights.insert(name.trim().to_owned(), w).is_some() {
                return Err(bad(format!("{:?} given twice", name.trim())));
            }
        }
        if weights.is_empty() {
            return Err(bad("no name=weight pair".into()));
        }
        Ok(Self {
            weights,
            routing: Routing::default(),
        })
    }
}

/// One selected task as the planner sees it.
#[derive(Debug, Clone)]
pub(crate) struct PlannedTask {
    pub needs_depth: bool,
    pub weight: u32,
}

/// The generator stream of the mix draws: a name with a leading space, which no task can
/// be selected by (`Registry::select` trims names).
const MIX_STREAM: &str = " mix";

/// The calls one source gets: `(index into tasks, call index)`, in task order then index.
pub(crate) fn plan(
    tasks: &[PlannedTask],
    weighted: bool,
    routing: Routing,
    seed: u64,
    source: &str,
    has_depth: bool,
    calls: u64,
) -> Vec<(usize, u64)> {
    let eligible = |t: &PlannedTask| match (t.needs_depth, routing) {
        (true, _) => has_depth,
        (false, Routing::Any) => true,
        (false, Routing::ByInput) => !has_depth,
    };
    if !weighted {
        return tasks
            .iter()
            .enumerate()
            .filter(|(_, t)| eligible(t))
            .flat_map(|(i, _)| (0..calls).map(move |k| (i, k)))
            .collect();
    }
    let weights: Vec<u32> = tasks
        .iter()
        .map(|t| if eligible(t) { t.weight } else { 0 })
        .collect();
    let mut rng = task_rng(seed, source, MIX_STREAM, 0);
    let mut out: Vec<(usize, u64)> = (0..calls)
        .filter_map(|k| pick_weighted(&weights, &mut rng).map(|i| (i, k)))
        .collect();
    out.sort_unstable();
    out
}

/// Weight of each selected task: checks that every weighted name is a registered task
/// (`known`) and that some selected task has a positive weight.
pub(crate) fn resolve_weights(
    mix: &TaskMix,
    selected: &[&str],
    known: &[&str],
) -> Result<Vec<u32>> {
    for name in mix.weights.keys() {
        if !known.contains(&name.as_str()) {
            return Err(Error::UnknownTask {
                name: name.clone(),
                known: known.join(", "),
            });
        }
    }
    let weights: Vec<u32> = selected
        .iter()
        .map(|t| mix.weights.get(*t).copied().unwrap_or(0))
        .collect();
    if weights.iter().all(|&w| w == 0) {
        return Err(Error::InvalidOption {
            option: "task-weights",
            message: format!(
                "no selected task ({}) has a positive weight",
                selected.join(", ")
            ),
        });
    }
    Ok(weights)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tasks(weights: [u32; 3]) -> Vec<PlannedTask> {
        // shuffle, crop (RGB), depth (RGB-D)
        [false, false, true]
            .into_iter()
            .zip(weights)
            .map(|(needs_depth, weight)| PlannedTask {
                needs_depth,
                weight,
            })
            .collect()
    }

    #[test]
    fn unweighted_plan_runs_every_eligible_task() {
        let t = tasks([0, 0, 0]);
        let p = plan(&t, false, Routing::Any, 1, "s", false, 2);
        assert_eq!(p, [(0, 0), (0, 1), (1, 0), (1, 1)]);
        let p = plan(&t, false, Routing::ByInput, 1, "s", true, 1);
        assert_eq!(p, [(2, 0)]);
        let p = plan(&t, false, Routing::Any, 1, "s", true, 1);
        assert_eq!(p, [(0, 0), (1, 0), (2, 0)]);
    }

    #[test]
    fn weighted_plan_follows_weights_and_routing() {
        let t = tasks([3, 1, 5]);
        let mut counts = [0u64; 3];
        for s in 0..2000 {
            let id = format!("src{s}");
            let p = plan(&t, true, Routing::ByInput, 9, &id, false, 1);
            assert_eq!(p.len(), 1);
            assert_ne!(p[0].0, 2, "depth task on an RGB source");
            counts[p[0].0] += 1;
            // Same inputs, same plan.
            assert_eq!(p, plan(&t, true, Routing::ByInput, 9, &id, false, 1));
        }
        // 3:1 between shuffle and crop, within sampling noise.
        let ratio = counts[0] as f64 / counts[1] as f64;
        assert!((2.5..3.6).contains(&ratio), "{counts:?}");
        let p = plan(&t, true, Routing::ByInput, 9, "x", true, 4);
        assert!(p.iter().all(|&(i, _)| i == 2), "{p:?}");
    }

    #[test]
    fn weights_are_checked() {
        let known = ["shuffle", "flip", "crop"];
        let mix: TaskMix = "shuffle=2,crop=1".parse().unwrap();
        assert_eq!(
            resolve_weights(&mix, &["shuffle", "flip"], &known).unwrap(),
            [2, 0]
        );
        let typo: TaskMix = "shufle=2".parse().unwrap();
        assert!(matches!(
            resolve_weights(&typo, &["shuffle"], &known),
            Err(Error::UnknownTask { .. })
        ));
        assert!(resolve_weights(&mix, &["flip"], &known).is_err());
        assert!("shuffle=1,shuffle=2".parse::<TaskMix>().is_err());
        assert!("shuffle".parse::<TaskMix>().is_err());
        assert!("".parse::<TaskMix>().is_err());
    }
}
