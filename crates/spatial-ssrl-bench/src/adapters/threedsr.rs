//! 3DSRBench as VLMEvalKit packages it: a multiple-choice TSV whose `qid` column ties each
//! question to its circular (option-rotated) and flipped (mirrored-image) variants.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use crate::benchmark::{Benchmark, Scored, mcq_prompt, percent_by_category};
use crate::error::Result;
use crate::item::Item;
use crate::report::Report;

/// 3DSRBench. `overall` is the vanilla accuracy; `metrics` adds VLMEvalKit's three grouped
/// settings, where a group scores only if every member is right:
/// `flip_eval` (a question and its `-flip` twin), `circular_eval` (all option rotations,
/// grouped by the first 8 characters of `qid`, or 13 for flipped ones) and
/// `flip_circular_eval` (both together, grouped by the first 8 characters).
#[derive(Debug, Clone, Copy, Default)]
pub struct ThreeDsrBench;

/// Group keys exactly as VLMEvalKit derives them from `qid`.
fn flip_key(qid: &str) -> String {
    qid.replace("-flip", "")
}
fn circ_key(qid: &str) -> String {
    let n = if qid.contains("-flip") { 13 } else { 8 };
    qid.chars().take(n).collect()
}
fn flip_circ_key(qid: &str) -> String {
    qid.chars().take(8).collect()
}

/// Accuracy over the rows whose `qid` is itself a group key, each row's hit being the
/// product of the hits of its whole group (VLMEvalKit's `_3DSRBench.evaluate`).
fn grouped(items: &[Item], hits: &[f64], key: fn(&str) -> String) -> (f64, BTreeMap<String, f64>) {
    let qids: Vec<&str> = items
        .iter()
        .map(|it| it.extra.get("qid").map_or("", String::as_str))
        .collect();
    let keys: HashSet<String> = qids.iter().map(|q| key(q)).collect();
    let mut group_hit: HashMap<String, f64> = HashMap::new();
    for (q, h) in qids.iter().zip(hits) {
        *group_hit.entry(key(q)).or_insert(1.0) *= h;
    }
    let mut main_items = Vec::new();
    let mut main_hits = Vec::new();
    for (it, q) in items.iter().zip(&qids) {
        if keys.contains(*q) {
            main_items.push(it.clone());
            main_hits.push(group_hit[*q]);
        }
    }
    let (overall, per, _) = percent_by_category(&main_items, &main_hits);
    (overall, per)
}

impl Benchmark for ThreeDsrBench {
    fn name(&self) -> &str {
        super::names::THREEDSR
    }

    fn load(&self, path: &Path) -> Result<Vec<Item>> {
        super::load_mcq_tsv(path, &["qid"])
    }

    fn prompt(&self, item: &Item) -> String {
        super::mcq_tsv::with_hint(item, mcq_prompt(item, None))
    }

    fn aggregate(&self, items: &[Item], scores: &[Scored]) -> Report {
        let mut report = Report::from_scores(self.name(), items, scores);
        let hits: Vec<f64> = scores.iter().map(|s| s.score).collect();
        report.metrics.insert("vanilla".into(), report.overall);
        for (name, key) in [
            ("flip_eval", flip_key as fn(&str) -> String),
            ("circular_eval", circ_key),
            ("flip_circular_eval", flip_circ_key),
        ] {
            let (overall, per) = grouped(items, &hits, key);
            report.metrics.insert(name.into(), overall);
            for (cat, v) in per {
                report.metrics.insert(format!("{name}/{cat}"), v);
            }
        }
        report
    }
}
