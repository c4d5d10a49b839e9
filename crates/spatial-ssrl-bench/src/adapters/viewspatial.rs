//! ViewSpatial-Bench: its published JSON, a list of objects with `question_type`,
//! `image_path` (a list), `question`, `answer` (`"A. right"`) and `choices`
//! (`"A. right\nB. front-up\n..."`; `A`..`D` fields are accepted too).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::{
    answer_letter, base_dir, field, need_field, read_records, resolve, strip_label, truncate,
};
use crate::benchmark::{Benchmark, Scored, mcq_prompt, scored_letter};
use crate::error::{Error, Result};
use crate::item::{Answer, Item, Visual};
use crate::matching::Rule;
use crate::paper::{self, PromptMode, Request, Scoring};

/// ViewSpatial-Bench, accuracy per `question_type` (camera vs. person perspective tasks).
/// Items are keyed by their 0-based position in the JSON file.
#[derive(Debug, Clone, Copy, Default)]
pub struct ViewSpatial;

/// Options from a `choices` string (one `X. text` per line) or from `A`..`Z` fields.
pub(crate) fn options_of(rec: &serde_json::Map<String, Value>) -> Vec<String> {
    if let Some(Value::Array(list)) = rec.get("options").or_else(|| rec.get("choices")) {
        return list
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.as_str().map(|s| strip_label(s, i)))
            .collect();
    }
    if let Some(choices) = field(rec, "choices") {
        return choices
            .lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(i, l)| strip_label(l, i))
            .collect();
    }
    (0..26)
        .map(Item::letter)
        .map_while(|l| field(rec, &l.to_string()))
        .enumerate()
        .map(|(i, s)| strip_label(&s, i))
        .collect()
}

impl Benchmark for ViewSpatial {
    fn name(&self) -> &str {
        super::names::VIEWSPATIAL
    }

    fn load(&self, path: &Path) -> Result<Vec<Item>> {
        let base = base_dir(path);
        read_records(path)?
            .into_iter()
            .enumerate()
            .map(|(r, rec)| {
                let question = need_field(path, r, &rec, &["question"])?;
                let category = need_field(path, r, &rec, &["question_type"])?;
                let options = options_of(&rec);
                if options.is_empty() {
                    return Err(Error::MissingField {
                        path: path.to_path_buf(),
                        record: r,
                        field: "choices".into(),
                    });
                }
                let raw = need_field(path, r, &rec, &["answer"])?;
                let letter = answer_letter(&raw, &options).ok_or_else(|| Error::BadValue {
                    path: path.to_path_buf(),
                    record: r,
                    field: "answer".into(),
                    value: truncate(&raw),
                    reason: "not one of the option letters",
                })?;
                let visuals = match rec.get("image_path") {
                    Some(Value::Array(list)) => list
                        .iter()
                        .filter_map(Value::as_str)
                        .map(|p| Visual::File(resolve(&base, p)))
                        .collect(),
                    Some(Value::String(p)) => vec![Visual::File(resolve(&base, p))],
                    _ => {
                        return Err(Error::MissingField {
                            path: path.to_path_buf(),
                            record: r,
                            field: "image_path".into(),
                        });
                    }
                };
                // The paper's prompt quotes the published `choices` text verbatim.
                let mut extra = BTreeMap::new();
                if let Some(Value::String(c)) = rec.get("choices") {
                    extra.insert("choices".to_string(), c.clone());
                }
                Ok(Item {
                    index: r as i64,
                    question,
                    options,
                    answer: Answer::Choice(letter),
                    category,
                    visuals,
                    video: None,
                    extra,
                })
            })
            .collect()
    }

    fn prompt(&self, item: &Item) -> String {
        mcq_prompt(item, None)
    }

    fn request(&self, item: &Item, mode: PromptMode) -> Request {
        match mode {
            PromptMode::Paper { cot } => paper::viewspatial(item, cot),
            PromptMode::Robust => Request::plain(item, self.prompt(item)),
        }
    }

    fn score_with(&self, item: &Item, prediction: &str, scoring: Scoring) -> Scored {
        match scoring {
            Scoring::Paper { cot } => {
                let rule = if cot { Rule::Boxed } else { Rule::Whole };
                scored_letter(item, paper::viewspatial_letter(prediction, cot), rule)
            }
            Scoring::Robust => self.score(item, prediction),
        }
    }
}
