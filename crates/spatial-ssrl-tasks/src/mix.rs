//! The task mix: which tasks run on a source, and how often.
//!
//! Without weights or counts every selected task runs `samples_per_image` times on every
//! source it can use. With weights a source gets `samples_per_image` calls in all, each
//! call's task drawn by weight among the tasks the source can take, from a generator fixed
//! by (seed, source id, call index): the plan of a source never depends on the others, on
//! threads or on a resume. With counts each task gets exactly its count of calls over the
//! whole source list, spread evenly over the sources it can take, the remainder going to the
//! sources that rank first by a hash of (seed, source id, task): the plan depends on the
//! source list and the seed only, never on threads, shards or a resume. Routing decides
//! which sources a task can take.

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::seed::{sample_seed, task_rng};
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

/// Per-task weights or counts and source routing, the `[mix]` table of a
/// [`TasksConfig`](crate::TasksConfig).
///
/// ```
/// use spatial_ssrl_tasks::TaskMix;
/// let mix: TaskMix = "shuffle=2, flip=1".parse()?;
/// assert_eq!(mix.weights["shuffle"], 2);
/// assert!("shuffle=two".parse::<TaskMix>().is_err());
/// let mix = TaskMix::parse_counts("shuffle=16028,flip=4005")?;
/// assert_eq!(mix.counts["flip"], 4005);
/// assert!(TaskMix::parse_counts("flip=-1").is_err());
/// # Ok::<(), spatial_ssrl_tasks::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaskMix {
    /// Relative weight per task name (integers; a task absent or at 0 does not run).
    /// Empty: no draw, every selected task runs `samples_per_image` times per source.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub weights: BTreeMap<String, u32>,
    /// Calls per task over the whole run (a task absent or at 0 does not run); exclusive
    /// with `weights`. `samples_per_image` does not apply: a source takes as many calls as
    /// its share of the counts.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub counts: BTreeMap<String, u64>,
    /// Which sources each task may use.
    pub routing: Routing,
}

impl FromStr for TaskMix {
    type Err = Error;

    /// Parses `name=weight` pairs separated by commas (the `--task-weights` syntax); the
    /// routing stays the default.
    fn from_str(s: &str) -> Result<Self> {
        Ok(Self {
            weights: parse_pairs(s, "task-weights", "weight")?,
            ..Self::default()
        })
    }
}

impl TaskMix {
    /// Parses `name=count` pairs separated by commas (the `--task-counts` syntax) into a mix
    /// of counts; the routing stays the default.
    pub fn parse_counts(s: &str) -> Result<Self> {
        Ok(Self {
            counts: parse_pairs(s, "task-counts", "count")?,
            ..Self::default()
        })
    }
}

/// `name=number` pairs separated by commas; a number that is not a whole non-negative
/// number, a repeated name or no pair at all is an [`Error::InvalidOption`] of `option`.
fn parse_pairs<T: FromStr>(
    s: &str,
    option: &'static str,
    what: &str,
) -> Result<BTreeMap<String, T>> {
    let bad = |message: String| Error::InvalidOption { option, message };
    let mut out = BTreeMap::new();
    for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, v) = pair
            .split_once('=')
            .ok_or_else(|| bad(format!("{pair:?} is not name={what}")))?;
        let v: T = v.trim().parse().map_err(|_| {
            bad(format!(
                "{what} {:?} of {name:?} is not a whole number",
                v.trim()
            ))
        })?;
        if out.insert(name.trim().to_owned(), v).is_some() {
            return Err(bad(format!("{:?} given twice", name.trim())));
        }
    }
    if out.is_empty() {
        return Err(bad(format!("no name={what} pair")));
    }
    Ok(out)
}

/// How the calls of a source are chosen, per selected task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Draw {
    /// Every eligible task `samples_per_image` times.
    Every,
    /// `samples_per_image` calls drawn by these weights.
    Weights(Vec<u32>),
    /// Exactly these calls over the run's sources ([`allocate`]).
    Counts(Vec<u64>),
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

/// Whether `routing` lets a task (needing depth or not) run on a source (with depth or not).
fn eligible(needs_depth: bool, routing: Routing, has_depth: bool) -> bool {
    match (needs_depth, routing) {
        (true, _) => has_depth,
        (false, Routing::Any) => true,
        (false, Routing::ByInput) => !has_depth,
    }
}

/// How many calls a source gets, and how they are shared among the tasks.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Calls<'a> {
    /// This many per eligible task.
    Each(u64),
    /// This many in all, each task drawn by weight among the eligible ones.
    Drawn(u64),
    /// The source's share of a [`Draw::Counts`] mix, per task (from [`allocate`]).
    Quota(&'a [u64]),
}

/// The calls one source gets: `(index into tasks, call index)`, in task order then index.
pub(crate) fn plan(
    tasks: &[PlannedTask],
    calls: Calls<'_>,
    routing: Routing,
    seed: u64,
    source: &str,
    has_depth: bool,
) -> Vec<(usize, u64)> {
    let eligible = |t: &PlannedTask| eligible(t.needs_depth, routing, has_depth);
    let per_task = |n: &dyn Fn(usize) -> u64| -> Vec<(usize, u64)> {
        tasks
            .iter()
            .enumerate()
            .filter(|(_, t)| eligible(t))
            .flat_map(|(i, _)| (0..n(i)).map(move |k| (i, k)))
            .collect()
    };
    match calls {
        Calls::Each(n) => per_task(&|_| n),
        Calls::Quota(quota) => per_task(&|i| quota.get(i).copied().unwrap_or(0)),
        Calls::Drawn(n) => {
            let weights: Vec<u32> = tasks
                .iter()
                .map(|t| if eligible(t) { t.weight } else { 0 })
                .collect();
            let mut rng = task_rng(seed, source, MIX_STREAM, 0);
            let mut out: Vec<(usize, u64)> = (0..n)
                .filter_map(|k| pick_weighted(&weights, &mut rng).map(|i| (i, k)))
                .collect();
            out.sort_unstable();
            out
        }
    }
}

/// The calls of each task on each source under a [`Draw::Counts`] mix, by source id:
/// `counts[i]` calls of task `i` (named `names[i]`) over the sources it can take (`sources`:
/// id and whether it has depth), `count / n` each and one more for the `count % n` sources
/// ranking first by a hash of (seed, source id, task name). A task that some source can
/// take meets its count exactly; one that none can take gets nothing ([`check_placeable`]
/// says so as an error).
pub(crate) fn allocate(
    tasks: &[PlannedTask],
    names: &[&str],
    counts: &[u64],
    routing: Routing,
    seed: u64,
    sources: &[(&str, bool)],
) -> BTreeMap<String, Vec<u64>> {
    let mut out: BTreeMap<String, Vec<u64>> = sources
        .iter()
        .map(|(id, _)| ((*id).to_owned(), vec![0; tasks.len()]))
        .collect();
    for (i, (task, &count)) in tasks.iter().zip(counts).enumerate() {
        if count == 0 {
            continue;
        }
        let mut takers: Vec<(u64, &str)> = sources
            .iter()
            .filter(|(_, d)| eligible(task.needs_depth, routing, *d))
            // Index u64::MAX: a stream no generate call draws from.
            .map(|(id, _)| (sample_seed(seed, id, names[i], u64::MAX), *id))
            .collect();
        if takers.is_empty() {
            continue;
        }
        takers.sort_unstable();
        let n = takers.len() as u64;
        for (rank, (_, id)) in takers.iter().enumerate() {
            let extra = u64::from((rank as u64) < count % n);
            if let Some(q) = out.get_mut(*id) {
                q[i] = count / n + extra;
            }
        }
    }
    out
}

/// Errors ([`Error::InvalidOption`]) when a task with a positive count has no source in
/// `sources` it can take, so [`allocate`] could not meet the count.
pub(crate) fn check_placeable(
    tasks: &[PlannedTask],
    names: &[&str],
    counts: &[u64],
    routing: Routing,
    sources: &[(&str, bool)],
) -> Result<()> {
    for ((task, name), &count) in tasks.iter().zip(names).zip(counts) {
        if count > 0
            && !sources
                .iter()
                .any(|(_, d)| eligible(task.needs_depth, routing, *d))
        {
            return Err(Error::InvalidOption {
                option: "task-counts",
                message: format!(
                    "{name:?} has a count of {count} but none of the {} sources can take it ({})",
                    sources.len(),
                    if task.needs_depth {
                        "it needs depth"
                    } else {
                        "the routing keeps it off RGB-D sources"
                    }
                ),
            });
        }
    }
    Ok(())
}

/// How the selected tasks' calls are drawn: checks that every weighted or counted name is a
/// registered task (`known`), that weights and counts are not both given, and that some
/// selected task has a positive weight or count.
pub(crate) fn resolve(mix: &TaskMix, selected: &[&str], known: &[&str]) -> Result<Draw> {
    let option = match (mix.weights.is_empty(), mix.counts.is_empty()) {
        (true, true) => return Ok(Draw::Every),
        (false, false) => {
            return Err(Error::InvalidOption {
                option: "task-counts",
                message: "task weights and task counts given together; give one of them".into(),
            });
        }
        (false, true) => "task-weights",
        (true, false) => "task-counts",
    };
    let names = mix.weights.keys().chain(mix.counts.keys());
    for name in names {
        if !known.contains(&name.as_str()) {
            return Err(Error::UnknownTask {
                name: name.clone(),
                known: known.join(", "),
            });
        }
    }
    let values: Vec<u64> = selected
        .iter()
        .map(|t| match option {
            "task-weights" => mix.weights.get(*t).map_or(0, |&w| u64::from(w)),
            _ => mix.counts.get(*t).copied().unwrap_or(0),
        })
        .collect();
    if values.iter().all(|&v| v == 0) {
        return Err(Error::InvalidOption {
            option,
            message: format!(
                "no selected task ({}) has a positive {}",
                selected.join(", "),
                if option == "task-weights" {
                    "weight"
                } else {
                    "count"
                }
            ),
        });
    }
    Ok(if option == "task-weights" {
        Draw::Weights(values.into_iter().map(|v| v as u32).collect())
    } else {
        Draw::Counts(values)
    })
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
        let p = plan(&t, Calls::Each(2), Routing::Any, 1, "s", false);
        assert_eq!(p, [(0, 0), (0, 1), (1, 0), (1, 1)]);
        let p = plan(&t, Calls::Each(1), Routing::ByInput, 1, "s", true);
        assert_eq!(p, [(2, 0)]);
        let p = plan(&t, Calls::Each(1), Routing::Any, 1, "s", true);
        assert_eq!(p, [(0, 0), (1, 0), (2, 0)]);
    }

    #[test]
    fn weighted_plan_follows_weights_and_routing() {
        let t = tasks([3, 1, 5]);
        let mut counts = [0u64; 3];
        for s in 0..2000 {
            let id = format!("src{s}");
            let p = plan(&t, Calls::Drawn(1), Routing::ByInput, 9, &id, false);
            assert_eq!(p.len(), 1);
            assert_ne!(p[0].0, 2, "depth task on an RGB source");
            counts[p[0].0] += 1;
            // Same inputs, same plan.
            assert_eq!(
                p,
                plan(&t, Calls::Drawn(1), Routing::ByInput, 9, &id, false)
            );
        }
        // 3:1 between shuffle and crop, within sampling noise.
        let ratio = counts[0] as f64 / counts[1] as f64;
        assert!((2.5..3.6).contains(&ratio), "{counts:?}");
        let p = plan(&t, Calls::Drawn(4), Routing::ByInput, 9, "x", true);
        assert!(p.iter().all(|&(i, _)| i == 2), "{p:?}");
    }

    #[test]
    fn counts_are_met_exactly_and_routed() {
        let t = tasks([0, 0, 0]);
        let names = ["shuffle", "crop", "depth"];
        let sources: Vec<(String, bool)> = (0..7).map(|i| (format!("s{i}"), i < 2)).collect();
        let sources: Vec<(&str, bool)> = sources.iter().map(|(s, d)| (s.as_str(), *d)).collect();
        let counts = [11, 4, 5];
        let q = allocate(&t, &names, &counts, Routing::ByInput, 3, &sources);
        assert!(check_placeable(&t, &names, &counts, Routing::ByInput, &sources).is_ok());
        for (i, &c) in counts.iter().enumerate() {
            assert_eq!(q.values().map(|v| v[i]).sum::<u64>(), c, "{q:?}");
        }
        // Depth only on the two RGB-D sources, RGB tasks only on the five others, evenly.
        for (id, d) in &sources {
            let v = &q[*id];
            if *d {
                assert_eq!((v[0], v[1]), (0, 0));
                assert!((2..=3).contains(&v[2]), "{v:?}");
            } else {
                assert_eq!(v[2], 0);
                assert!((2..=3).contains(&v[0]) && v[1] <= 1, "{v:?}");
            }
        }
        // The source list's order does not matter; the seed does.
        let mut rev = sources.clone();
        rev.reverse();
        assert_eq!(allocate(&t, &names, &counts, Routing::ByInput, 3, &rev), q);
        assert_ne!(allocate(&t, &names, &counts, Routing::ByInput, 4, &rev), q);
        // No source can take depth: an error naming it.
        let rgb: Vec<(&str, bool)> = sources.iter().filter(|s| !s.1).copied().collect();
        let e = check_placeable(&t, &names, &counts, Routing::Any, &rgb).unwrap_err();
        assert!(e.to_string().contains("depth"), "{e}");
    }

    #[test]
    fn weights_and_counts_are_checked() {
        let known = ["shuffle", "flip", "crop"];
        let mix: TaskMix = "shuffle=2,crop=1".parse().unwrap();
        assert_eq!(
            resolve(&mix, &["shuffle", "flip"], &known).unwrap(),
            Draw::Weights(vec![2, 0])
        );
        let counts = TaskMix::parse_counts("shuffle=10, flip=5").unwrap();
        assert_eq!(
            resolve(&counts, &["shuffle", "flip", "crop"], &known).unwrap(),
            Draw::Counts(vec![10, 5, 0])
        );
        assert_eq!(
            resolve(&TaskMix::default(), &["flip"], &known).unwrap(),
            Draw::Every
        );
        let both = TaskMix {
            counts: counts.counts.clone(),
            ..mix.clone()
        };
        assert!(matches!(
            resolve(&both, &["shuffle"], &known),
            Err(Error::InvalidOption {
                option: "task-counts",
                ..
            })
        ));
        let typo = TaskMix::parse_counts("shufle=2").unwrap();
        assert!(matches!(
            resolve(&typo, &["shuffle"], &known),
            Err(Error::UnknownTask { .. })
        ));
        assert!(resolve(&counts, &["crop"], &known).is_err());
        assert!(TaskMix::parse_counts("flip=-5").is_err());
        assert!(TaskMix::parse_counts("flip=5,flip=6").is_err());
        let typo: TaskMix = "shufle=2".parse().unwrap();
        assert!(matches!(
            resolve(&typo, &["shuffle"], &known),
            Err(Error::UnknownTask { .. })
        ));
        assert!(resolve(&mix, &["flip"], &known).is_err());
        assert!("shuffle=1,shuffle=2".parse::<TaskMix>().is_err());
        assert!("shuffle".parse::<TaskMix>().is_err());
        assert!("".parse::<TaskMix>().is_err());
    }
}
