//! Predictions files (`{"index": i, "prediction": "..."}` per line) and offline scoring.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::benchmark::{Benchmark, Scored};
use crate::error::{Error, Result};
use crate::item::Item;
use crate::paper::Scoring;
use crate::report::Report;

/// One model answer, keyed by the item's index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// [`Item::index`] of the item answered.
    pub index: i64,
    /// The raw generated text.
    pub prediction: String,
}

/// Reads a predictions JSON Lines file. With `tolerate_torn_tail`, an unparseable **last**
/// line (a write cut short by a crash) is dropped instead of failing, so runs can resume.
/// Returns the predictions and whether a torn tail was dropped.
pub fn read_predictions(path: &Path, tolerate_torn_tail: bool) -> Result<(Vec<Prediction>, bool)> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .collect();
    let mut out = Vec::with_capacity(lines.len());
    for (k, (i, line)) in lines.iter().enumerate() {
        match serde_json::from_str::<Prediction>(line) {
            Ok(p) => out.push(p),
            Err(_) if tolerate_torn_tail && k + 1 == lines.len() && !text.ends_with('\n') => {
                return Ok((out, true));
            }
            Err(source) => {
                return Err(Error::JsonLine {
                    path: path.to_path_buf(),
                    line: i + 1,
                    source,
                });
            }
        }
    }
    Ok((out, false))
}

/// Appends predictions to a JSON Lines file, one flushed line each.
pub fn append_predictions(path: &Path, preds: &[Prediction]) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    let mut buf = String::new();
    for p in preds {
        buf.push_str(&serde_json::to_string(p).expect("a prediction always serialises"));
        buf.push('\n');
    }
    f.write_all(buf.as_bytes())
        .and_then(|()| f.flush())
        .map_err(|e| Error::io(path, e))
}

/// A scored run: the report and each item's score (in benchmark order).
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// Aggregated scores.
    pub report: Report,
    /// Per-item scores, for inspection or a per-item dump.
    pub scored: Vec<Scored>,
}

/// Scores predictions against items with `scoring`'s rules (recorded in the report). Every
/// prediction must name a known index, at most once (`source` names the predictions file in
/// errors). Items without a prediction are an error unless `allow_partial`, which scores only
/// the answered items (as VLMEvalKit accepts a subset).
pub fn evaluate(
    bench: &dyn Benchmark,
    items: &[Item],
    preds: &[Prediction],
    allow_partial: bool,
    scoring: Scoring,
    source: &Path,
) -> Result<Evaluation> {
    let known: HashMap<i64, usize> = items
        .iter()
        .enumerate()
        .map(|(i, it)| (it.index, i))
        .collect();
    let mut by_item: Vec<Option<&str>> = vec![None; items.len()];
    for (line, p) in preds.iter().enumerate() {
        let &i = known.get(&p.index).ok_or(Error::UnknownIndex {
            path: source.to_path_buf(),
            line: line + 1,
            index: p.index,
        })?;
        if by_item[i].replace(&p.prediction).is_some() {
            return Err(Error::DuplicateIndex {
                path: source.to_path_buf(),
                index: p.index,
            });
        }
    }
    let missing: Vec<i64> = items
        .iter()
        .zip(&by_item)
        .filter(|(_, p)| p.is_none())
        .map(|(it, _)| it.index)
        .collect();
    if !missing.is_empty() && !allow_partial {
        return Err(Error::MissingPredictions {
            missing: missing.len(),
            total: items.len(),
            first: missing[0],
        });
    }
    let mut answered = Vec::new();
    let mut scored = Vec::new();
    for (it, p) in items.iter().zip(&by_item) {
        if let Some(p) = p {
            scored.push(bench.score_with(it, p, scoring));
            answered.push(it.clone());
        }
    }
    let mut report = bench.aggregate(&answered, &scored);
    report.scoring = scoring.name().to_string();
    Ok(Evaluation { report, scored })
}

/// Loads the benchmark at `data` and scores the predictions file at `predictions`.
pub fn evaluate_files(
    bench: &dyn Benchmark,
    data: &Path,
    predictions: &Path,
    allow_partial: bool,
    scoring: Scoring,
) -> Result<Evaluation> {
    let items = bench.load(data)?;
    let (preds, _) = read_predictions(predictions, false)?;
    evaluate(bench, &items, &preds, allow_partial, scoring, predictions)
}
