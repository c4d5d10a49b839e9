//! `ImgScore`: the Spatial-SSRL training reward.
//!
//! Ports `img_score` in InternLM/Spatial-SSRL `training/GRPO/examples/reward_function/math.py`
//! (with `mathruler` 0.1.0's `extract_boxed_content`), bit for bit on its golden file:
//! 1. whitespace runs touching `<`, `>`, `/` are removed ([`normalize_tags`]);
//! 2. `format` is 1 when the normalised response has the `<think>…</think>…\boxed{…}` shape
//!    ([`has_reference_format`]);
//! 3. `accuracy` is 1 when the stripped content of the last `\boxed{` (or `"None"`) equals the
//!    ground truth exactly ([`extract_boxed_or_none`]);
//! 4. `overall = (1 - w) * accuracy + w * format`, `w = 0.1` by default.

use crate::answer::{Strictness, answers_match};
use crate::boxed::{extract_boxed_or_none, has_reference_format, normalize_tags};
use crate::error::{Error, Result};
use crate::reward::{RewardBreakdown, RewardFn};

/// The Spatial-SSRL training reward (see the module docs for the exact rules).
///
/// ```
/// use spatial_ssrl_rewards::{ImgScore, RewardFn};
/// let reward = ImgScore::default();
/// let r = reward.score("< think >The red patch is left.</ think >\n\\boxed{ B }", "B");
/// assert_eq!((r.overall, r.format, r.accuracy), (1.0, 1.0, 1.0));
/// let r = reward.score("\\boxed{B}", "B"); // right answer, no <think> block
/// assert_eq!((r.overall, r.format, r.accuracy), (0.9, 0.0, 1.0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImgScore {
    format_weight: f64,
    strictness: Strictness,
}

impl Default for ImgScore {
    /// The reference configuration: format weight 0.1, strict (exact) answer matching.
    fn default() -> Self {
        Self {
            format_weight: Self::DEFAULT_FORMAT_WEIGHT,
            strictness: Strictness::Strict,
        }
    }
}

/// What [`ImgScore::explain`] saw while scoring.
#[derive(Debug, Clone, PartialEq)]
pub struct ImgScoreDetail {
    /// The score itself.
    pub breakdown: RewardBreakdown,
    /// The answer compared with the ground truth (`"None"` when there was no closed last box).
    pub extracted: String,
}

impl ImgScore {
    /// The reference's `format_weight`.
    pub const DEFAULT_FORMAT_WEIGHT: f64 = 0.1;

    /// A reward with the given format weight (`overall = (1 - w) * accuracy + w * format`),
    /// which must lie in `[0, 1]`.
    pub fn new(format_weight: f64) -> Result<Self> {
        if !(0.0..=1.0).contains(&format_weight) {
            return Err(Error::BadWeight {
                what: "format weight",
                weight: format_weight,
            });
        }
        Ok(Self {
            format_weight,
            strictness: Strictness::Strict,
        })
    }

    /// The same reward comparing answers with `strictness` (default: `Strict`, the reference).
    pub fn with_strictness(self, strictness: Strictness) -> Self {
        Self { strictness, ..self }
    }

    /// The format weight.
    pub fn format_weight(&self) -> f64 {
        self.format_weight
    }

    /// The answer comparison in use.
    pub fn strictness(&self) -> Strictness {
        self.strictness
    }

    /// Scores and also returns the extracted answer (for debugging and reports).
    ///
    /// ```
    /// use spatial_ssrl_rewards::ImgScore;
    /// let d = ImgScore::default().explain("<think>a</think>\\boxed{x} \\boxed{y", "x");
    /// assert_eq!(d.extracted, "None"); // the last box is unclosed
    /// assert_eq!(d.breakdown.accuracy, 0.0);
    /// ```
    pub fn explain(&self, response: &str, ground_truth: &str) -> ImgScoreDetail {
        let normalized = normalize_tags(response);
        let extracted = extract_boxed_or_none(&normalized);
        ImgScoreDetail {
            breakdown: self.combine(&normalized, extracted, ground_truth),
            extracted: extracted.to_owned(),
        }
    }

    fn combine(&self, normalized: &str, extracted: &str, ground_truth: &str) -> RewardBreakdown {
        let format = if has_reference_format(normalized) {
            1.0
        } else {
            0.0
        };
        let accuracy = if answers_match(extracted, ground_truth, self.strictness) {
            1.0
        } else {
            0.0
        };
        // Same expression and operation order as the reference, so floats agree bit for bit.
        let overall = (1.0 - self.format_weight) * accuracy + self.format_weight * format;
        RewardBreakdown {
            overall,
            format,
            accuracy,
        }
    }
}

impl RewardFn for ImgScore {
    fn score(&self, response: &str, ground_truth: &str) -> RewardBreakdown {
        let normalized = normalize_tags(response);
        self.combine(
            &normalized,
            extract_boxed_or_none(&normalized),
            ground_truth,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::AnswerKind;

    #[test]
    fn weights_are_validated() {
        assert!(ImgScore::new(-0.1).is_err());
        assert!(ImgScore::new(1.5).is_err());
        assert!(ImgScore::new(f64::NAN).is_err());
        let r = ImgScore::new(0.5)
            .unwrap()
            .score("<think>x</think>\\boxed{A}", "B");
        assert_eq!(r.overall, 0.5);
    }

    #[test]
    fn reference_edge_cases() {
        let s = ImgScore::default();
        // No answer at all: the reference compares the string "None".
        assert_eq!(s.score("nothing", "None").accuracy, 1.0);
        // Whitespace around '/' inside the answer is removed before comparing.
        assert_eq!(s.score("\\boxed{1 / 2}", "1/2").accuracy, 1.0);
        // The ground truth itself is not normalised.
        assert_eq!(s.score("\\boxed{1/2}", "1 / 2").accuracy, 0.0);
        // Python whitespace (U+001F) is stripped from the answer, U+200B is not.
        assert_eq!(s.score("\\boxed{B\u{1f}}", "B").accuracy, 1.0);
        assert_eq!(s.score("\\boxed{B\u{200b}}", "B").accuracy, 0.0);
        assert_eq!(
            s.score("<think>\u{2028}x\u{3000}</think>\\boxed{B}", "B")
                .format,
            1.0
        );
    }

    #[test]
    fn lenient_mode_accepts_other_spellings() {
        let s = ImgScore::default().with_strictness(Strictness::Lenient(AnswerKind::Permutation));
        assert_eq!(
            s.score("<think>x</think>\\boxed{0 2 3 1}", "0-2-3-1")
                .overall,
            1.0
        );
        assert_eq!(
            ImgScore::default()
                .score("<think>x</think>\\boxed{0 2 3 1}", "0-2-3-1")
                .overall,
            0.1
        );
    }
}
