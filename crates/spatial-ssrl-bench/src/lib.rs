//! Spatial benchmark adapters and scoring for Spatial-SSRL: Spatial457, 3DSRBench,
//! SpatialEval, QSpatial-plus, What'sUp, ViewSpatial-Bench and VSI-Bench, read from their
//! published files and scored the way the published numbers were scored.
//!
//! A [`Benchmark`] loads [`Item`]s, builds each prompt (question, options and
//! [`spatial_ssrl_rewards::FORMAT_INSTRUCTION`]), scores one prediction and aggregates a
//! [`Report`] (`overall` and `per_category` in percent). Answers are extracted by fixed
//! rules, never by an LLM judge: the last `\boxed{}` first, then an option letter, then an
//! option's text; numbers and lengths (converted to centimetres) for numeric questions.
//!
//! Two prompt modes and two scorings ([`paper`]): by default each benchmark is prompted exactly
//! as the paper's evaluation scripts prompted it ([`PromptMode::Paper`], with their image
//! limits, frame counts and generation lengths, see [`Request`]); answers are scored either by
//! this crate's forgiving rules ([`Scoring::Robust`], the default) or by the scripts' own
//! ([`Scoring::Paper`]), and the report records which.
//!
//! Two ways to evaluate: offline, scoring a predictions file (`{"index": i, "prediction": ".."}`
//! per line) made by any model ([`evaluate_files`]); or live, sending prompts to a
//! [`Responder`] with [`run_live`] (the `spatial-ssrl eval` command plugs in Qwen2.5-VL).
//!
//! ```
//! use spatial_ssrl_bench::{evaluate, Prediction, PromptMode, Registry, Scoring};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::env::temp_dir().join(format!("ssrl-bench-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let data = dir.join("mini.tsv");
//! std::fs::write(&data, "index\tquestion\tA\tB\tanswer\tcategory\n\
//!                        7\tIs the cup left of the plate?\tyes\tno\tA\tleft\n\
//!                        9\tIs the cup on the plate?\tyes\tno\tB\ton\n")?;
//! let reg = Registry::builtin();
//! let bench = reg.get("mcq-tsv")?;
//! let items = bench.load(&data)?;
//! assert!(bench.prompt(&items[0]).ends_with(spatial_ssrl_rewards::FORMAT_INSTRUCTION));
//! let preds = vec![
//!     Prediction { index: 7, prediction: "<think>..</think> \\boxed{A}".into() },
//!     Prediction { index: 9, prediction: "The answer is A".into() },
//! ];
//! let eval = evaluate(bench, &items, &preds, false, Scoring::Robust, &dir.join("preds.jsonl"))?;
//! assert_eq!(eval.report.overall, 50.0);
//! assert_eq!(eval.report.per_category["left"], 100.0);
//! // The paper's prompt for a VLMEvalKit multiple-choice TSV, and its judge-free matching,
//! // which reads the lone "A" of the second answer as well.
//! let req = bench.request(&items[0], PromptMode::Paper { cot: false });
//! assert!(req.text.starts_with("Question: Is the cup left of the plate?\nOptions:\nA. yes\n"));
//! let eval = evaluate(bench, &items, &preds, false, Scoring::Paper { cot: true }, &dir.join("p"))?;
//! assert_eq!((eval.report.overall, eval.report.scoring.as_str()), (50.0, "paper"));
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod adapters;
mod benchmark;
mod error;
mod item;
mod live;
mod matching;
pub mod paper;
mod predictions;
mod registry;
mod report;
mod tsv;

pub use crate::{
    adapters::{
        McqTsv, QSpatial, Spatial457, ThreeDsrBench, ViewSpatial, VsiBench, WhatsUp, names,
    },
    benchmark::{Benchmark, Scored, load_pooled, mcq_prompt, score_by_answer},
    error::{Error, Result},
    item::{Answer, Item, Video, Visual},
    live::{LiveConfig, Prompt, Responder, VideoFrames, run_live},
    matching::{
        Rule, extract_choice, extract_length_cm, extract_number, extract_spatial457, length_cm,
        mean_relative_accuracy, spatial457_correct, within_ratio,
    },
    paper::{PromptMode, Request, Scoring},
    predictions::{
        Evaluation, Prediction, append_predictions, evaluate, evaluate_files, read_predictions,
    },
    registry::Registry,
    report::{PAPER_COLUMNS, PAPER_REFERENCE, ReferenceRow, Report, compare},
};
