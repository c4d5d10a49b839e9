//! VSI-Bench: video questions over indoor scenes. Reads the annotation list as published
//! (JSON array or JSON Lines) in either layout:
//! the official one (`dataset`, `scene_name`, `question_type`, `question`, `ground_truth`,
//! `options` as `["A. ..", ..]`) or the Spatial-SSRL evaluation one (`mp4_path`,
//! `question_type`, `question`, `answer`, `A`..`D`, `null` for numeric questions).
//! Each item shows one video: the frames extracted into `frames/<dataset>/<scene>/` next to
//! the annotation file, 128 of them sampled uniformly at 2 fps (as the paper's script).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::{answer_letter, base_dir, field, need_field, read_records, truncate};
use serde_json::Value;

use crate::benchmark::{Benchmark, Scored, mcq_prompt};
use crate::error::{Error, Result};
use crate::item::{Answer, Item, Video};
use crate::matching::Rule;
use crate::paper::{self, PromptMode, Request, Scoring};
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
    /// Frames sampled uniformly from each video (the paper's script: 128).
    pub max_frames: usize,
    /// Frame rate the model is told (qwen_vl_utils' default for a frame list: 2).
    pub fps: f64,
}

impl Default for VsiBench {
    fn default() -> Self {
        VsiBench {
            max_frames: paper::VSI_FRAMES,
            fps: paper::VSI_FPS,
        }
    }
}

/// The published option strings, verbatim (`"A. front-left"`), keyed `A`..`D` in `extra`:
/// the paper's prompt appends them as they are.
fn raw_options(rec: &serde_json::Map<String, Value>) -> Vec<(String, String)> {
    let letters = ['A', 'B', 'C', 'D'];
    if let Some(Value::Array(list)) = rec.get("options") {
        return letters
            .iter()
            .zip(list)
            .filter_map(|(l, v)| v.as_str().map(|s| (l.to_string(), s.to_string())))
            .collect();
    }
    letters
        .iter()
        .map_while(|l| field(rec, &l.to_string()).map(|s| (l.to_string(), s)))
        .collect()
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
                let mut extra: BTreeMap<String, String> = raw_options(&rec).into_iter().collect();
                extra.insert("scene".to_string(), format!("{dataset}/{scene}"));
                Ok(Item {
                    index,
                    question,
                    options,
                    answer,
                    category,
                    visuals: Vec::new(),
                    video: Some(Video {
                        dir: frames_root.join(&dataset).join(&scene),
                        max_frames: self.max_frames,
                        fps: self.fps,
                    }),
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

    fn request(&self, item: &Item, mode: PromptMode) -> Request {
        match mode {
            PromptMode::Paper { cot } => paper::vsibench(item, cot),
            PromptMode::Robust => Request::plain(item, self.prompt(item)),
        }
    }

    fn score_with(&self, item: &Item, prediction: &str, scoring: Scoring) -> Scored {
        let Scoring::Paper { cot } = scoring else {
            return self.score(item, prediction);
        };
        let truth = match &item.answer {
            Answer::Choice(c) => c.to_string(),
            other => other.to_string(),
        };
        let (score, read) = paper::vsi_score(prediction, &truth, cot);
        let rule = match (cot, read.is_empty()) {
            (_, true) => Rule::None,
            (true, false) => Rule::Boxed,
            (false, false) => Rule::Whole,
        };
        Scored {
            index: item.index,
            score,
            extracted: Some(read),
            rule,
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
