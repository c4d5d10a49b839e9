//! Spatial457 as VLMEvalKit packages it: a TSV of open questions (attribute, count, yes/no)
//! over synthetic scenes, five difficulty levels in seven `category` values.

use std::path::Path;

use crate::benchmark::{Benchmark, Scored};
use crate::error::{Error, Result};
use crate::item::{Answer, Item};
use crate::matching::{Rule, spatial457_correct};
use crate::paper::{self, PromptMode, Request, Scoring};
use crate::tsv::Table;

/// Spatial457, scored with its own answer rules ([`spatial457_correct`](crate::spatial457_correct)):
/// the boxed answer (else Spatial457's JSON template, else the whole response) is compared
/// with the ground truth word; accuracy per level (`L1_single` .. `L5_collision`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Spatial457;

/// What each level asks for, paraphrasing the benchmark's own per-level instruction.
fn level_hint(category: &str) -> &'static str {
    match category {
        "L1_single" => "Identify the attributes of the object to answer.",
        "L2_objects" => "Identify the attributes of the objects to answer.",
        "L3_2d_spatial" => "Consider the objects' attributes and their 2D layout in the picture.",
        "L4_occ" => "Consider the objects' attributes and which objects occlude others.",
        "L4_pose" => "Consider the objects' attributes and the 3D direction each one faces.",
        "L5_6d_spatial" => {
            "Consider the objects' attributes and their 3D relations from the objects' own viewpoints."
        }
        "L5_collision" => {
            "Consider the objects' attributes and whether they would collide when moving in their facing direction."
        }
        _ => "Identify the relevant objects to answer.",
    }
}

impl Benchmark for Spatial457 {
    fn name(&self) -> &str {
        super::names::SPATIAL457
    }

    fn load(&self, path: &Path) -> Result<Vec<Item>> {
        let t = Table::read(path)?;
        t.require(&["index", "question", "answer", "category"])?;
        super::load_tsv_rows(&t, |r, _| {
            let a = t.need(r, "answer")?.trim().to_string();
            Ok((Vec::new(), Answer::Text(a)))
        })
        .and_then(|items| {
            if items.is_empty() {
                Err(Error::Empty {
                    path: path.to_path_buf(),
                })
            } else {
                Ok(items)
            }
        })
    }

    fn prompt(&self, item: &Item) -> String {
        let p = format!(
            "{}\n{} Answer with one word or number: a shape, size (small or large), color, or direction \
             (left, right, front, back); an integer 0-10 for counting questions; Yes or No for 'Is there' questions.",
            item.question.trim(),
            level_hint(&item.category)
        );
        spatial_ssrl_rewards::with_format_instruction(&p)
    }

    fn request(&self, item: &Item, mode: PromptMode) -> Request {
        match mode {
            PromptMode::Paper { cot } => paper::fork_spatial457(item, cot),
            PromptMode::Robust => Request::plain(item, self.prompt(item)),
        }
    }

    fn score_with(&self, item: &Item, prediction: &str, scoring: Scoring) -> Scored {
        let (Scoring::Paper { .. }, Answer::Text(truth)) = (scoring, &item.answer) else {
            return self.score(item, prediction);
        };
        let (pred, templated) = paper::spatial457_answer(prediction);
        Scored {
            index: item.index,
            score: f64::from(u8::from(spatial457_correct(truth, &pred))),
            extracted: Some(pred),
            rule: if templated {
                Rule::Template
            } else {
                Rule::Whole
            },
        }
    }
}
