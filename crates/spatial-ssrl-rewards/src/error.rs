//! Errors of the rewards crate.
//!
//! Scoring itself never fails (an unparseable answer is an outcome with zero accuracy);
//! errors come from configuration (weights) and from validating ground-truth answers.

use crate::answer::AnswerKind;

/// Everything that can go wrong configuring a reward or validating an answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A weight is NaN, infinite, negative, or (for a format weight) above 1.
    #[error("{what}: weight {weight} is not allowed")]
    BadWeight {
        /// Which weight (`"format weight"`, `"weighted sum"`).
        what: &'static str,
        /// The rejected value.
        weight: f64,
    },
    /// A [`WeightedSum`](crate::WeightedSum) needs at least one reward.
    #[error("a weighted sum needs at least one reward")]
    EmptyWeightedSum,
    /// An answer string is not a well-formed answer of its kind.
    #[error("answer {answer:?} is not a valid {kind} answer: {why}")]
    BadAnswer {
        /// The kind the answer was checked as.
        kind: AnswerKind,
        /// The offending answer text.
        answer: String,
        /// What is wrong with it.
        why: &'static str,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
