//! VSI-Bench: video questions over indoor scenes. Reads the annotation list as published
//! (JSON array or JSON Lines) in either layout:
//! the official one (`dataset`, `scene_name`, `question_type`, `question`, `ground_truth`,
//! `options` as `["A. ..", ..]`) or the Spatial-SSRL evaluation one (`mp4_path`,
//! `question_type`, `question`, `answer`, `A`..`D`, `null` for numeric questions).
//! Live mode reads frames extracted from each video into `frames/<dataset>/<scene>/` next to
//! the annotation file.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::{answer_letter, base_dir, field, need_field, read_records, truncate};
use crate::benchmark::{Benchmark, Scored, mcq_prompt};
use crate::error::{Error, Result};
use crate::item::{Answer, Item, Visual};
use crate::report::Report;

/// VSI-Bench: multiple-choice accuracy for the six choice question types, Mean Relative
/// Accuracy ([`mean_relative_accuracy`](crate::mean_relative_accuracy)) for the four numeric
/// ones (counting, absolute distance, object size, room size).
///
/// `overall` is the mean over items, as the paper's `check_accuracy.py` computed its numbers;
/// `metrics["official_overall"]` is VSI-Bench's own headline: the mean over question types
/// with the three relative-direction difficulties first averaged into one.
#[derive(Debug, Clone)]
pub struct VsiBench {
    /// Frames per video sent in live mode (uniformly sampled).
    pub max_frames: usize,
}

impl Default for VsiBench {
    fn default() -> Self {
        VsiBench { max_frames: 16 }
    }
}

impl Benchmark for VsiBench {
    fn name(&self) -> &str {
        super::names::VSIBENCH
    }

    fn load(&self, path: &Path) -> Result<Vec<Item>> {
        let frames_root = base_dir(path).join("frames");
        read_records(path)?
            .into_iter()
            .enumerate()
            .map(|(r, rec)| {
                let question = need_field(path, r, &rec, &["question"])?;
                let category = need_field(path, r, &rec, &["question_type"])?;
                let raw = need_field(path, r, &rec, &["ground_truth", "answer"])?;
                let options = super::viewspatial::options_of(&rec);
                let bad = |reason| Error::BadValue {
                    path: path.to_path_buf(),
                    record: r,
                    field: "answer".into(),
                    value: truncate(&raw),
                    reason,
                };
                let answer = if options.is_empty() {
                    let v: f64 = raw
                        .trim()
                        .parse()
                        .map_err(|_| bad("a question without options needs a numeric answer"))?;
                    Answer::Number(v)
                } else {
                    Answer::Choice(
                        answer_letter(&raw, &options)
                            .ok_or_else(|| bad("not one of the option letters"))?,
                    )
                };
                // frames/<dataset>/<scene>: from the official fields, or from the video path.
                let (dataset, scene) = match (field(&rec, "dataset"), field(&rec, "scene_name")) {
                    (Some(d), Some(s)) => (d, s),
                    _ => {
                        let video =
                            need_field(path, r, &rec, &["mp4_path", "video_path", "video"])?;
                        let p = Path::new(&video);
                        let scene = p
                            .file_stem()
                            .and_then(|s| s.to_str())
                            .unwrap_or("")
                            .to_string();
                        let dataset = p
                            .parent()
                            .and_then(|d| d.file_name())
                            .and_then(|s| s.to_str())
                            .unwrap_or("")
                            .to_string();
                        (dataset, scene)
                    }
                };
                let index = r as i64;
                let mut extra = BTreeMap::new();
                extra.insert("scene".to_string(), format!("{dataset}/{scene}"));
                Ok(Item {
                    index,
                    question,
                    options,
                    answer,
                    category,
                    visuals: vec![Visual::Frames(frames_root.join(&dataset).join(&scene))],
                    extra,
                })
            })
            .collect()
    }

    fn prompt(&self, item: &Item) -> String {
        let mut it = item.clone();
        it.question = format!("These are frames of a video.\n{}", item.question.trim());
        match item.answer {
            Answer::Number(_) => mcq_prompt(
                &it,
                Some("The final answer should be a number (integer or decimal)."),
            ),
            _ => mcq_prompt(&it, None),
        }
    }

    fn aggregate(&self, items: &[Item], scores: &[Scored]) -> Report {
        let mut report = Report::from_scores(self.name(), items, scores);
        // Official headline: the three relative-direction levels count as one type.
        let mut types: HashMap<String, Vec<f64>> = HashMap::new();
        for (k, v) in &report.per_category {
            let key = if k.starts_with("object_rel_direction") {
                "object_rel_direction".to_string()
            } else {
                k.clone()
            };
            types.entry(key).or_default().push(*v);
        }
        if !types.is_empty() {
            let means: Vec<f64> = types
                .values()
                .map(|v| v.iter().sum::<f64>() / v.len() as f64)
                .collect();
            report.metrics.insert(
                "official_overall".into(),
                means.iter().sum::<f64>() / means.len() as f64,
            );
        }
        report
    }
}
