//! Verifiable rewards for Spatial-SSRL: format, answer extraction, accuracy, MCQ and numeric
//! scoring.
//!
//! - [`ImgScore`]: the Spatial-SSRL training reward, identical to the reference `img_score`
//!   (InternLM/Spatial-SSRL, with `mathruler` 0.1.0) on every input, Python's Unicode
//!   whitespace included, in linear time (no regular expressions, no backtracking).
//! - [`FORMAT_INSTRUCTION`] and [`with_format_instruction`]: the think/boxed instruction a
//!   prompt carries, owned here beside the format check that enforces it.
//! - [`RewardFn`]: the object-safe reward interface with parallel [`RewardFn::score_batch`];
//!   [`WeightedSum`] and [`TaskRouter`] compose rewards.
//! - Evaluation helpers: [`extract_choice`] (option letters, with the [`ExtractRule`] that
//!   matched), [`extract_number`], [`parse_length_cm`], [`mean_relative_accuracy`].
//! - Task-aware answers: [`AnswerKind`], [`validate_answer`], [`answers_match`] with a
//!   [`Strictness`] (strict = the reference's exact match).
//!
//! ```
//! use spatial_ssrl_rewards::{score, extract_choice, ExtractRule, mean_relative_accuracy, parse_length_cm};
//!
//! let r = score("<think>The left patch is darker.</think> \\boxed{B}", "B");
//! assert!(r.overall > 0.9);
//! assert_eq!((r.format, r.accuracy), (1.0, 1.0));
//!
//! let c = extract_choice("The answer is (C).", &["cat", "dog", "cow"]).unwrap();
//! assert_eq!((c.letter, c.rule), ('C', ExtractRule::AnswerPrefix));
//!
//! let cm = parse_length_cm("about 2.5 m").unwrap();
//! assert_eq!(mean_relative_accuracy(cm, 250.0), 1.0);
//! ```
//!
//! The crate has no features and no deep-learning dependency.
#![deny(missing_docs)]

mod answer;
mod boxed;
mod choice;
mod error;
mod format;
mod img_score;
mod numeric;
mod reward;
mod whitespace;

pub use crate::{
    answer::{AnswerKind, Strictness, answers_match, validate_answer},
    boxed::{extract_boxed, extract_boxed_or_none, has_reference_format, normalize_tags},
    choice::{Choice, ExtractRule, extract_choice},
    error::{Error, Result},
    format::{FORMAT_INSTRUCTION, with_format_instruction},
    img_score::{ImgScore, ImgScoreDetail},
    numeric::{extract_number, mean_relative_accuracy, parse_length_cm},
    reward::{RewardBreakdown, RewardFn, TaskRouter, WeightedSum},
    whitespace::{is_python_whitespace, python_strip},
};

/// Scores one response with the reference reward ([`ImgScore::default`]).
///
/// ```
/// let r = spatial_ssrl_rewards::score("<think>..</think> \\boxed{B}", "B");
/// assert_eq!(r.overall, 1.0);
/// ```
pub fn score(response: &str, ground_truth: &str) -> RewardBreakdown {
    ImgScore::default().score(response, ground_truth)
}
