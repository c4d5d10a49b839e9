//! The `Benchmark` trait: load items, build prompts, score predictions, aggregate a report.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::item::{Answer, Item};
use crate::matching::{self, Rule};
use crate::report::Report;

/// The score of one prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    /// The item's index.
    pub index: i64,
    /// Score in `[0, 1]` (accuracy 0/1, or MRA's fraction).
    pub score: f64,
    /// The answer read from the prediction (`None` when nothing usable was found).
    pub extracted: Option<String>,
    /// The extraction rule that fired.
    pub rule: Rule,
}

/// A spatial benchmark: a file format, a prompt recipe and a metric.
///
/// Object-safe, so benchmarks live in a [`Registry`](crate::Registry) as `Box<dyn Benchmark>`.
/// Only [`name`](Benchmark::name) and [`load`](Benchmark::load) are required; the defaults
/// prompt with the question, lettered options and the training format instruction, score by
/// the item's [`Answer`] kind, and average per category.
pub trait Benchmark: Send + Sync {
    /// The registry name (`"viewspatial"`).
    fn name(&self) -> &str;

    /// Reads every item from a local copy of the benchmark's published files.
    fn load(&self, path: &Path) -> Result<Vec<Item>>;

    /// The user text sent with the item's images.
    fn prompt(&self, item: &Item) -> String {
        mcq_prompt(item, None)
    }

    /// Scores one prediction against the item's ground truth.
    fn score(&self, item: &Item, prediction: &str) -> Scored {
        score_by_answer(item, prediction)
    }

    /// Aggregates per-item scores (`scores[i]` belongs to `items[i]`) into a report.
    fn aggregate(&self, items: &[Item], scores: &[Scored]) -> Report {
        Report::from_scores(self.name(), items, scores)
    }
}

/// The default prompt: question, one `X. option` line per option, an optional answer hint,
/// then [`spatial_ssrl_rewards::FORMAT_INSTRUCTION`].
pub fn mcq_prompt(item: &Item, hint: Option<&str>) -> String {
    let mut p = item.question.trim().to_string();
    if !item.options.is_empty() {
        p.push_str("\nOptions:");
        for (i, o) in item.options.iter().enumerate() {
            p.push_str(&format!("\n{}. {}", Item::letter(i), o.trim()));
        }
        p.push('\n');
        p.push_str(
            hint.unwrap_or("The final answer should be the option letter from the given choices."),
        );
    } else if let Some(h) = hint {
        p.push('\n');
        p.push_str(h);
    }
    spatial_ssrl_rewards::with_format_instruction(&p)
}

/// Scores a prediction by the kind of the item's answer: letter accuracy, Spatial457's text
/// rules, MRA for numbers, the ratio-below-2 criterion for lengths.
pub fn score_by_answer(item: &Item, prediction: &str) -> Scored {
    let (score, extracted, rule) = match &item.answer {
        Answer::Choice(gt) => {
            let (got, rule) = matching::extract_choice(prediction, &item.options);
            (
                f64::from(u8::from(got == Some(*gt))),
                got.map(String::from),
                rule,
            )
        }
        Answer::Text(gt) => {
            let (got, rule) = matching::extract_spatial457(prediction);
            (
                f64::from(u8::from(matching::spatial457_correct(gt, &got))),
                Some(got),
                rule,
            )
        }
        Answer::Number(gt) => {
            let (got, rule) = matching::extract_number(prediction);
            (
                got.map_or(0.0, |v| matching::mean_relative_accuracy(v, *gt)),
                got.map(|v| v.to_string()),
                rule,
            )
        }
        Answer::LengthCm(gt) => {
            let (got, rule) = matching::extract_length_cm(prediction);
            let ok = got.is_some_and(|v| matching::within_ratio(v, *gt, 2.0));
            (
                f64::from(u8::from(ok)),
                got.map(|v| format!("{v} cm")),
                rule,
            )
        }
    };
    Scored {
        index: item.index,
        score,
        extracted,
        rule,
    }
}

/// Mean of `score` per category and overall, in percent, plus item counts.
pub(crate) fn percent_by_category(
    items: &[Item],
    scores: &[f64],
) -> (f64, BTreeMap<String, f64>, BTreeMap<String, usize>) {
    let mut sums: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    for (it, s) in items.iter().zip(scores) {
        let e = sums.entry(it.category.clone()).or_default();
        e.0 += s;
        e.1 += 1;
    }
    let overall = if scores.is_empty() {
        0.0
    } else {
        100.0 * scores.iter().sum::<f64>() / scores.len() as f64
    };
    let per = sums
        .iter()
        .map(|(k, (s, n))| (k.clone(), 100.0 * s / *n as f64))
        .collect();
    let counts = sums.into_iter().map(|(k, (_, n))| (k, n)).collect();
    (overall, per, counts)
}
