//! Task-aware answer validation: what a well-formed answer of each pretext task looks like,
//! and a strict or lenient comparison of an extracted answer with the ground truth.

use std::fmt;

use crate::choice::parse_letter_form;
use crate::error::{Error, Result};
use crate::whitespace::{is_python_whitespace, python_strip};

/// The shape of a task's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AnswerKind {
    /// Integers joined by `-` whose values are distinct and consecutive: the shuffled-patch
    /// order (`0-2-3-1`) or the regional depth order (`3-1-2`).
    Permutation,
    /// Integers joined by `-` with no other constraint: e.g. the flipped patch and its
    /// flip direction (`3-0`).
    Sequence,
    /// One option letter `A`..`Z` (multiple-choice tasks such as cropped-patch inpainting).
    Letter,
    /// Free text compared as words (e.g. `left-front`).
    Text,
}

impl AnswerKind {
    /// The answer kind of a pretext task id of `spatial-ssrl-tasks`, if known.
    ///
    /// ```
    /// use spatial_ssrl_rewards::AnswerKind;
    /// assert_eq!(AnswerKind::for_task("shuffle"), Some(AnswerKind::Permutation));
    /// assert_eq!(AnswerKind::for_task("flip"), Some(AnswerKind::Sequence));
    /// assert_eq!(AnswerKind::for_task("crop"), Some(AnswerKind::Letter));
    /// assert_eq!(AnswerKind::for_task("position"), Some(AnswerKind::Letter));
    /// assert_eq!(AnswerKind::for_task("unknown"), None);
    /// ```
    pub fn for_task(task: &str) -> Option<Self> {
        match task {
            "shuffle" | "jigsaw" | "depth" | "depth_order" => Some(Self::Permutation),
            "flip" => Some(Self::Sequence),
            "crop" | "inpaint" | "position" | "relative_position" => Some(Self::Letter),
            _ => None,
        }
    }
}

impl fmt::Display for AnswerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Permutation => "permutation",
            Self::Sequence => "sequence",
            Self::Letter => "letter",
            Self::Text => "text",
        })
    }
}

/// How an extracted answer is compared with the ground truth.
///
/// `Strict` is the reference's judgement (exact string equality after the reference's
/// extraction) and the default everywhere: training parity comes first.
/// `Lenient(kind)` accepts a different spelling of the same answer:
///
/// | kind | ground truth | accepted in lenient mode (rejected in strict mode) |
/// |---|---|---|
/// | `Permutation`, `Sequence` | `0-2-3-1` | `0 2 3 1`, `0, 2, 3, 1`, `[0,2,3,1]`, `0–2–3–1`, `0231` |
/// | `Letter` | `B` | `b`, `(B)`, `B.`, `Option B`, `B) the red one` |
/// | `Text` | `Left-Front` | `left-front`, `Left-Front.`, `left-front` with inner whitespace runs |
///
/// ```
/// use spatial_ssrl_rewards::{answers_match, AnswerKind, Strictness};
/// assert!(!answers_match("0 2 3 1", "0-2-3-1", Strictness::Strict));
/// assert!(answers_match("0 2 3 1", "0-2-3-1", Strictness::Lenient(AnswerKind::Permutation)));
/// assert!(!answers_match("0 2 1 3", "0-2-3-1", Strictness::Lenient(AnswerKind::Permutation)));
/// assert!(answers_match("(b)", "B", Strictness::Lenient(AnswerKind::Letter)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Strictness {
    /// Exact string equality, as the reference reward judges.
    #[default]
    Strict,
    /// Equality of the canonical form for the given answer kind.
    Lenient(AnswerKind),
}

/// Whether `extracted` counts as `ground_truth` under `strictness` (see [`Strictness`]).
pub fn answers_match(extracted: &str, ground_truth: &str, strictness: Strictness) -> bool {
    match strictness {
        Strictness::Strict => extracted == ground_truth,
        Strictness::Lenient(kind) => {
            extracted == ground_truth
                || match kind {
                    AnswerKind::Permutation | AnswerKind::Sequence => {
                        let truth = integers(ground_truth);
                        !truth.is_empty() && lenient_integers(extracted, &truth) == truth
                    }
                    AnswerKind::Letter => match (
                        parse_letter_form(extracted, true),
                        parse_letter_form(ground_truth, true),
                    ) {
                        (Some(a), Some(b)) => a == b,
                        _ => false,
                    },
                    AnswerKind::Text => {
                        let truth = canonical_text(ground_truth);
                        !truth.is_empty() && canonical_text(extracted) == truth
                    }
                }
        }
    }
}

/// Checks that `answer` is a well-formed ground truth of `kind` (the strict task format).
///
/// ```
/// use spatial_ssrl_rewards::{validate_answer, AnswerKind};
/// assert!(validate_answer("0-2-3-1", AnswerKind::Permutation).is_ok());
/// assert!(validate_answer("3-1-2", AnswerKind::Permutation).is_ok());
/// assert!(validate_answer("0-2-2-1", AnswerKind::Permutation).is_err()); // repeated value
/// assert!(validate_answer("0 2 3 1", AnswerKind::Permutation).is_err()); // wrong separator
/// assert!(validate_answer("3-0", AnswerKind::Sequence).is_ok());
/// assert!(validate_answer("B", AnswerKind::Letter).is_ok());
/// assert!(validate_answer("(B)", AnswerKind::Letter).is_err());
/// ```
pub fn validate_answer(answer: &str, kind: AnswerKind) -> Result<()> {
    let bad = |why| {
        Err(Error::BadAnswer {
            kind,
            answer: answer.to_owned(),
            why,
        })
    };
    match kind {
        AnswerKind::Permutation | AnswerKind::Sequence => {
            let mut values = Vec::new();
            for part in answer.split('-') {
                if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                    return bad("expected integers joined by '-'");
                }
                match part.parse::<u64>() {
                    Ok(v) => values.push(v),
                    Err(_) => return bad("integer too large"),
                }
            }
            if kind == AnswerKind::Permutation {
                let mut sorted = values.clone();
                sorted.sort_unstable();
                if sorted.windows(2).any(|w| w[1] != w[0] + 1) {
                    return bad("values are not distinct consecutive integers");
                }
            }
            Ok(())
        }
        AnswerKind::Letter => {
            let mut chars = answer.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_ascii_uppercase() => Ok(()),
                _ => bad("expected one letter A-Z"),
            }
        }
        AnswerKind::Text => {
            if python_strip(answer).is_empty() {
                bad("empty answer")
            } else {
                Ok(())
            }
        }
    }
}

/// The maximal ASCII digit runs of `text` as integers (saturating on overflow).
fn integers(text: &str) -> Vec<u64> {
    let mut out = Vec::new();
    let mut cur: Option<u64> = None;
    for b in text.bytes() {
        if b.is_ascii_digit() {
            let d = u64::from(b - b'0');
            cur = Some(cur.unwrap_or(0).saturating_mul(10).saturating_add(d));
        } else if let Some(v) = cur.take() {
            out.push(v);
        }
    }
    out.extend(cur);
    out
}

/// [`integers`], but a single run of single digits (`0231`) is read digit by digit when the
/// truth has that many single-digit items.
fn lenient_integers(text: &str, truth: &[u64]) -> Vec<u64> {
    let got = integers(text);
    if got.len() == 1 && truth.len() > 1 && truth.iter().all(|&v| v < 10) {
        let digits: Vec<u64> = text
            .bytes()
            .filter(u8::is_ascii_digit)
            .map(|b| u64::from(b - b'0'))
            .collect();
        if digits.len() == truth.len() {
            return digits;
        }
    }
    got
}

/// Lower case, whitespace runs collapsed to one space, trimmed, trailing periods dropped.
pub(crate) fn canonical_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split(is_python_whitespace).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    while out.ends_with('.') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_sequences() {
        let l = Strictness::Lenient(AnswerKind::Permutation);
        for ok in [
            "0 2 3 1",
            "0, 2, 3, 1",
            "[0,2,3,1]",
            "0\u{2013}2\u{2013}3\u{2013}1",
            "0231",
            "0-2-3-1",
        ] {
            assert!(answers_match(ok, "0-2-3-1", l), "{ok}");
        }
        for bad in ["0-2-3", "0-2-3-1-4", "023", "", "none", "1-2-3-0"] {
            assert!(!answers_match(bad, "0-2-3-1", l), "{bad}");
        }
        assert!(answers_match(
            "10 2",
            "10-2",
            Strictness::Lenient(AnswerKind::Sequence)
        ));
        assert!(!answers_match(
            "102",
            "10-2",
            Strictness::Lenient(AnswerKind::Sequence)
        ));
    }

    #[test]
    fn lenient_letters_and_text() {
        let l = Strictness::Lenient(AnswerKind::Letter);
        for ok in ["b", "(B)", "B.", "Option B", "B) the red one", "B"] {
            assert!(answers_match(ok, "B", l), "{ok}");
        }
        for bad in ["C", "", "Both", "AB"] {
            assert!(!answers_match(bad, "B", l), "{bad}");
        }
        let t = Strictness::Lenient(AnswerKind::Text);
        assert!(answers_match("left-front.", "Left-Front", t));
        assert!(answers_match("upper  \u{3000}left", "Upper left", t));
        assert!(!answers_match("left", "Left-Front", t));
    }

    #[test]
    fn strict_is_exact() {
        assert!(!answers_match("b", "B", Strictness::Strict));
        assert!(answers_match("B", "B", Strictness::Strict));
    }

    #[test]
    fn validation_errors_carry_the_answer() {
        let e = validate_answer("1-x", AnswerKind::Sequence).unwrap_err();
        assert!(matches!(e, Error::BadAnswer { ref answer, .. } if answer == "1-x"));
        assert!(validate_answer("", AnswerKind::Sequence).is_err());
        assert!(validate_answer("1--2", AnswerKind::Sequence).is_err());
        assert!(validate_answer("1-3", AnswerKind::Permutation).is_err());
        assert!(validate_answer(" ", AnswerKind::Text).is_err());
    }
}
