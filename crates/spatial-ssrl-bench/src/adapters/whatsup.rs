//! What'sUp (Kamath et al. 2023): the controlled-images JSON (`image_path`, four
//! `caption_options`, the first one true), or the same benchmark as a VLMEvalKit-style TSV.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{base_dir, extension, need_field, read_records, resolve, truncate};
use crate::benchmark::{Benchmark, Scored, mcq_prompt};
use crate::error::{Error, Result};
use crate::item::{Answer, Item, Visual};
use crate::matching::Rule;
use crate::paper::{self, PromptMode, Request, Scoring};
use crate::report::Report;

/// What'sUp. A folder pools Controlled_Images A and B as the paper reports them
/// (`controlled_images_dataset.json` then `controlled_clevr_dataset.json`, 412 + 408 = 820 items
/// in the release; keys continue across the two, see [`load_pooled`](crate::load_pooled)),
/// with `metrics["subset/<file>"]` per file.
/// A `.json` file is read in the controlled-images format (Controlled_Images_A / B):
/// the options keep their published order, so the answer is always `A`, as the paper's
/// evaluation presented them; the category is the preposition in the image name
/// (`left_of`, `right_of`, `on`, `under`, `in-front_of`, `behind`). A `.tsv` file is read as
/// a VLMEvalKit multiple-choice TSV.
#[derive(Debug, Clone, Copy, Default)]
pub struct WhatsUp;

/// The annotation files of Controlled_Images A and B, in the order they are pooled.
const POOLED_FILES: [&str; 2] = [
    "controlled_images_dataset.json",
    "controlled_clevr_dataset.json",
];

fn preposition(image_path: &str) -> &'static str {
    let name = image_path.rsplit(['/', '\\']).next().unwrap_or(image_path);
    for (needle, cat) in [
        ("left_of", "left_of"),
        ("right_of", "right_of"),
        ("in-front_of", "in-front_of"),
        ("behind", "behind"),
        ("_on_", "on"),
        ("under", "under"),
    ] {
        if name.contains(needle) {
            return cat;
        }
    }
    "other"
}

impl Benchmark for WhatsUp {
    fn name(&self) -> &str {
        super::names::WHATSUP
    }

    fn load(&self, path: &Path) -> Result<Vec<Item>> {
        if path.is_dir() {
            let files: Vec<PathBuf> = POOLED_FILES
                .iter()
                .map(|f| path.join(f))
                .filter(|p| p.is_file())
                .collect();
            if files.is_empty() {
                return Err(Error::UnknownFormat {
                    path: path.to_path_buf(),
                    bench: self.name().into(),
                    expected: "a folder holding controlled_images_dataset.json and/or controlled_clevr_dataset.json",
                });
            }
            let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
            return crate::benchmark::load_pooled(self, &refs);
        }
        match extension(path).as_str() {
            "tsv" => super::load_mcq_tsv(path, &[]),
            "json" | "jsonl" => {
                let base = base_dir(path);
                read_records(path)?
                    .into_iter()
                    .enumerate()
                    .map(|(r, rec)| {
                        let image = need_field(path, r, &rec, &["image_path"])?;
                        let options: Vec<String> = match rec.get("caption_options") {
                            Some(Value::Array(a)) => a
                                .iter()
                                .filter_map(Value::as_str)
                                .map(str::to_string)
                                .collect(),
                            _ => Vec::new(),
                        };
                        if options.len() < 2 {
                            return Err(Error::MissingField {
                                path: path.to_path_buf(),
                                record: r,
                                field: "caption_options".into(),
                            });
                        }
                        Ok(Item {
                            index: r as i64,
                            question: "Which caption describes the image correctly?".into(),
                            options,
                            answer: Answer::Choice('A'),
                            category: preposition(&image).to_string(),
                            visuals: vec![Visual::File(resolve(&base, &image))],
                            video: None,
                            extra: BTreeMap::new(),
                        })
                    })
                    .collect()
            }
            _ => Err(Error::UnknownFormat {
                path: path.to_path_buf(),
                bench: self.name().into(),
                expected: "controlled-images .json or VLMEvalKit .tsv",
            }),
        }
    }

    fn prompt(&self, item: &Item) -> String {
        mcq_prompt(item, None)
    }

    fn aggregate(&self, items: &[Item], scores: &[Scored]) -> Report {
        let mut report = Report::from_scores(self.name(), items, scores);
        let mut by_source: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
        for (it, s) in items.iter().zip(scores) {
            if let Some(src) = it.extra.get("source") {
                let e = by_source.entry(src).or_default();
                e.0 += s.score;
                e.1 += 1;
            }
        }
        if by_source.len() > 1 {
            for (src, (sum, n)) in by_source {
                report
                    .metrics
                    .insert(format!("subset/{src}"), 100.0 * sum / n as f64);
            }
        }
        report
    }

    fn request(&self, item: &Item, mode: PromptMode) -> Request {
        match mode {
            PromptMode::Paper { cot } => paper::whatsup(item, cot),
            PromptMode::Robust => Request::plain(item, self.prompt(item)),
        }
    }

    fn score_with(&self, item: &Item, prediction: &str, scoring: Scoring) -> Scored {
        let (Scoring::Paper { cot }, Answer::Choice(letter)) = (scoring, &item.answer) else {
            return self.score(item, prediction);
        };
        let (hit, read) = paper::whatsup_hit(prediction, *letter, cot);
        Scored {
            index: item.index,
            score: f64::from(u8::from(hit)),
            extracted: Some(truncate(&read)),
            rule: match (cot, read.is_empty()) {
                (true, true) => Rule::None,
                (true, false) => Rule::Boxed,
                (false, _) => Rule::Whole,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn prepositions_from_file_names() {
        assert_eq!(
            super::preposition("data/controlled_images/mug_left_of_plate.jpeg"),
            "left_of"
        );
        assert_eq!(
            super::preposition("data/controlled_images/mug_on_plate.jpeg"),
            "on"
        );
        assert_eq!(
            super::preposition("controlled_clevr/cube_in-front_of_sphere.jpeg"),
            "in-front_of"
        );
        assert_eq!(super::preposition("x/can_under_table.jpeg"), "under");
    }
}
