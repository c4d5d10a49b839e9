//! QSpatial-plus (Liao et al. 2024): metric distance questions whose answers carry units.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::{base_dir, extension, field, need_field, read_records, resolve, truncate};
use crate::benchmark::{Benchmark, Scored};
use crate::error::{Error, Result};
use crate::item::{Answer, Item, Visual};
use crate::matching::Rule;
use crate::matching::{length_cm, within_ratio};
use crate::paper::{self, PromptMode, Request, Scoring};
use crate::report::Report;
use crate::tsv::Table;

/// QSpatial-plus. A prediction succeeds when `max(pred/truth, truth/pred) < 2` after both are
/// converted to centimetres (`overall`, VLMEvalKit's `delta_2`); `metrics["delta_1.5"]` uses 1.5.
///
/// Reads the Hugging Face release exported to JSON / JSON Lines (`question`, `answer_value`,
/// `answer_unit`, `question_type`, and `image` as base64 or `{"bytes": base64}`, or
/// `image_path`), or a TSV with the same columns (or an `answer` cell such as `(1.5, 'm')`).
/// Items are keyed by their `index` column where present, else by position.
#[derive(Debug, Clone, Copy, Default)]
pub struct QSpatial;

fn truth_cm(value: &str, unit: &str) -> Option<f64> {
    let v = value.trim().parse::<f64>().ok()?;
    length_cm(&format!("{v} {}", unit.trim()))
}

/// `(1.5, 'm')` or `(1.5, m)` as VLMEvalKit stores the answer tuple.
fn parse_tuple(raw: &str) -> Option<f64> {
    let inner = raw.trim().strip_prefix('(')?.strip_suffix(')')?;
    let (v, u) = inner.split_once(',')?;
    truth_cm(v, u.trim().trim_matches(['\'', '"']))
}

impl Benchmark for QSpatial {
    fn name(&self) -> &str {
        super::names::QSPATIAL
    }

    fn load(&self, path: &Path) -> Result<Vec<Item>> {
        let base = base_dir(path);
        if extension(path) == "tsv" {
            let t = Table::read(path)?;
            t.require(&["question"])?;
            if !t.has("answer") {
                t.require(&["answer_value", "answer_unit"])?;
            }
            return super::load_tsv_rows(&t, |r, _| {
                let (raw, cm) = match (t.get(r, "answer_value"), t.get(r, "answer_unit")) {
                    (Some(v), Some(u)) => (format!("{v} {u}"), truth_cm(v, u)),
                    _ => {
                        let a = t.need(r, "answer")?;
                        (a.to_string(), parse_tuple(a))
                    }
                };
                let cm = cm.ok_or_else(|| Error::BadValue {
                    path: t.path.clone(),
                    record: r,
                    field: "answer".into(),
                    value: truncate(&raw),
                    reason: "not a number with a known length unit",
                })?;
                Ok((Vec::new(), Answer::LengthCm(cm)))
            });
        }
        let mut seen = std::collections::HashSet::new();
        read_records(path)?
            .into_iter()
            .enumerate()
            .map(|(r, rec)| {
                let question = need_field(path, r, &rec, &["question"])?;
                let value = need_field(path, r, &rec, &["answer_value"])?;
                let unit = need_field(path, r, &rec, &["answer_unit"])?;
                let cm = truth_cm(&value, &unit).ok_or_else(|| Error::BadValue {
                    path: path.to_path_buf(),
                    record: r,
                    field: "answer_unit".into(),
                    value: format!("{value} {unit}"),
                    reason: "not a number with a known length unit",
                })?;
                let index = match field(&rec, "index") {
                    Some(i) => i.parse::<i64>().map_err(|_| Error::BadValue {
                        path: path.to_path_buf(),
                        record: r,
                        field: "index".into(),
                        value: truncate(&i),
                        reason: "not an integer",
                    })?,
                    None => r as i64,
                };
                if !seen.insert(index) {
                    return Err(Error::DuplicateIndex {
                        path: path.to_path_buf(),
                        index,
                    });
                }
                let visuals = match rec.get("image") {
                    Some(Value::String(b64)) => vec![Visual::Base64(b64.clone())],
                    Some(Value::Object(o)) => match o.get("bytes") {
                        Some(Value::String(b64)) => vec![Visual::Base64(b64.clone())],
                        _ => Vec::new(),
                    },
                    _ => field(&rec, "image_path")
                        .map(|p| vec![Visual::File(resolve(&base, &p))])
                        .unwrap_or_default(),
                };
                Ok(Item {
                    index,
                    question,
                    options: Vec::new(),
                    answer: Answer::LengthCm(cm),
                    category: field(&rec, "question_type").unwrap_or_else(|| "all".into()),
                    visuals,
                    video: None,
                    extra: BTreeMap::new(),
                })
            })
            .collect()
    }

    fn prompt(&self, item: &Item) -> String {
        let p = format!(
            "{}\nThe final answer should be a number followed by its unit (for example 1.5 m or 30 cm).",
            item.question.trim()
        );
        spatial_ssrl_rewards::with_format_instruction(&p)
    }

    fn request(&self, item: &Item, mode: PromptMode) -> Request {
        match mode {
            PromptMode::Paper { cot } => paper::fork_qspatial(item, cot),
            PromptMode::Robust => Request::plain(item, self.prompt(item)),
        }
    }

    fn score_with(&self, item: &Item, prediction: &str, scoring: Scoring) -> Scored {
        let (Scoring::Paper { .. }, Answer::LengthCm(truth)) = (scoring, &item.answer) else {
            return self.score(item, prediction);
        };
        // The fork scores an unparsable answer as 1e-8 cm (its `IndexError` path).
        let (cm, rule) = match paper::qspatial_cm(prediction) {
            Some(v) => (v, Rule::Template),
            None => (1e-8, Rule::None),
        };
        Scored {
            index: item.index,
            score: f64::from(u8::from(paper::qspatial_within(cm, *truth, 2.0))),
            extracted: Some(format!("{cm} cm")),
            rule,
        }
    }

    fn aggregate(&self, items: &[Item], scores: &[Scored]) -> Report {
        let mut report = Report::from_scores(self.name(), items, scores);
        report.metrics.insert("delta_2".into(), report.overall);
        // delta_1.5 needs the extracted value again: re-read it from the scored answer.
        let hits: Vec<f64> = items
            .iter()
            .zip(scores)
            .map(|(it, s)| {
                let pred = s
                    .extracted
                    .as_deref()
                    .and_then(|e| e.strip_suffix(" cm"))
                    .and_then(|v| v.parse::<f64>().ok());
                match (pred, &it.answer) {
                    (Some(p), Answer::LengthCm(t)) => f64::from(u8::from(within_ratio(p, *t, 1.5))),
                    _ => 0.0,
                }
            })
            .collect();
        let n = hits.len().max(1) as f64;
        report
            .metrics
            .insert("delta_1.5".into(), 100.0 * hits.iter().sum::<f64>() / n);
        report
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn answer_tuples() {
        assert_eq!(super::parse_tuple("(1.5, 'm')"), Some(150.0));
        assert_eq!(super::parse_tuple("(30, cm)"), Some(30.0));
        assert_eq!(super::parse_tuple("(2, \"feet\")"), Some(60.96));
        assert_eq!(super::parse_tuple("(2, parsecs)"), None);
    }
}
