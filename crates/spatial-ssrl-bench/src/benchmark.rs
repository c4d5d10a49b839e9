//! The `Benchmark` trait: load items, build prompts, score predictions, aggregate a report.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::item::{Answer, Item};
use crate::matching::{self, Rule};
use crate::paper::{self, PromptMode, Request, Scoring};
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

    /// Scores one prediction against the item's ground truth (the robust rules).
    fn score(&self, item: &Item, prediction: &str) -> Scored {
        score_by_answer(item, prediction)
    }

    /// What the item is sent with under `mode`. Robust: [`prompt`](Benchmark::prompt) with
    /// the visuals first and the run's settings. Paper: by default the VLMEvalKit fork's
    /// multiple-choice prompt and settings (3DSRBench, SpatialEval, any `mcq-tsv`).
    fn request(&self, item: &Item, mode: PromptMode) -> Request {
        match mode {
            PromptMode::Robust => Request::plain(item, self.prompt(item)),
            PromptMode::Paper { cot } => paper::fork_mcq(item, cot),
        }
    }

    /// Scores one prediction under `scoring`. Paper: by default the fork's judge-free
    /// multiple-choice matching ([`can_infer`](crate::paper::can_infer)) on the whole response.
    fn score_with(&self, item: &Item, prediction: &str, scoring: Scoring) -> Scored {
        match scoring {
            Scoring::Robust => self.score(item, prediction),
            Scoring::Paper { .. } => score_fork_mcq(item, prediction),
        }
    }

    /// Aggregates per-item scores (`scores[i]` belongs to `items[i]`) into a report.
    fn aggregate(&self, items: &[Item], scores: &[Scored]) -> Report {
        Report::from_scores(self.name(), items, scores)
    }
}

/// Loads several files of one benchmark as one pool (What'sUp's Controlled_Images A + B, as
/// the paper reports them) with unique keys; every item records its
/// file's name in `extra["source"]`.
///
/// A later file whose keys would collide with earlier ones is shifted to start right after
/// the largest key so far; files with disjoint keys keep theirs.
pub fn load_pooled(bench: &dyn Benchmark, paths: &[&Path]) -> Result<Vec<Item>> {
    let mut all: Vec<Item> = Vec::new();
    for path in paths {
        let mut items = bench.load(path)?;
        let prev = all.iter().map(|it| it.index).max();
        let offset = match (prev, items.iter().map(|it| it.index).min()) {
            (Some(prev), Some(min)) if min <= prev => prev + 1 - min,
            _ => 0,
        };
        let source = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for it in &mut items {
            it.index += offset;
            it.extra
                .entry("source".into())
                .or_insert_with(|| source.clone());
        }
        all.extend(items);
    }
    Ok(all)
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

/// A letter answer's [`Scored`]: right when `got` is the item's letter.
pub(crate) fn scored_letter(item: &Item, got: Option<char>, rule: Rule) -> Scored {
    let right = matches!(item.answer, Answer::Choice(gt) if got == Some(gt));
    Scored {
        index: item.index,
        score: f64::from(u8::from(right)),
        extracted: got.map(String::from),
        rule: if got.is_some() { rule } else { Rule::None },
    }
}

/// The fork's multiple-choice scoring: `can_infer` on the whole response against the item's
/// letter; items without a letter answer fall back to [`score_by_answer`].
pub(crate) fn score_fork_mcq(item: &Item, prediction: &str) -> Scored {
    if !matches!(item.answer, Answer::Choice(_)) {
        return score_by_answer(item, prediction);
    }
    match paper::can_infer(prediction, &item.options) {
        Some((c, rule)) => scored_letter(item, Some(c), rule),
        None => scored_letter(item, None, Rule::None),
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
