//! The reference reward's text rules, as linear-time scanners.
//!
//! Follows `img_score` in InternLM/Spatial-SSRL `training/GRPO/examples/reward_function/math.py`
//! and `extract_boxed_content` in `mathruler` 0.1.0. The Python code uses three regular
//! expressions whose backtracking is quadratic on long whitespace runs; each is replaced here
//! by a single forward (or backward) pass with the same result on every input.

use std::borrow::Cow;
use std::sync::LazyLock;

use memchr::{memchr, memchr3, memmem};

use crate::whitespace::{is_python_whitespace, python_strip};

const BOXED_OPEN: &str = "\\boxed{";
const THINK_OPEN: &str = "<think>";
const THINK_CLOSE: &str = "</think>";

// Searchers built once: building one per call costs as much as scanning a short response.
static FIND_THINK_CLOSE: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(THINK_CLOSE));
static FIND_BOXED: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(BOXED_OPEN));
static RFIND_BOXED: LazyLock<memmem::FinderRev<'static>> =
    LazyLock::new(|| memmem::FinderRev::new(BOXED_OPEN));

/// Removes every whitespace run that touches a `<`, `>` or `/`, as the reference does first.
///
/// Equivalent to Python's `re.sub(r"\s*(<|>|/)\s*", r"\1", text)` with Python's Unicode `\s`
/// ([`is_python_whitespace`](crate::is_python_whitespace)): a maximal whitespace run is
/// deleted when the character right before it or right after it is one of `<`, `>`, `/`;
/// any other run is kept as is. Returns the input borrowed when nothing changes.
///
/// ```
/// use spatial_ssrl_rewards::normalize_tags;
/// assert_eq!(normalize_tags("< think >a b</ think >"), "<think>a b</think>");
/// assert_eq!(normalize_tags("1 / 2\u{3000}<x"), "1/2<x");
/// assert_eq!(normalize_tags("no tags here"), "no tags here");
/// ```
pub fn normalize_tags(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    // Fast path: most responses have no whitespace next to any tag character.
    let mut first = None;
    let mut at = 0;
    while let Some(i) = memchr3(b'<', b'>', b'/', &bytes[at..]) {
        let p = at + i;
        if touches_space(text, p) {
            first = Some(p);
            break;
        }
        at = p + 1;
    }
    let Some(first) = first else {
        return Cow::Borrowed(text);
    };

    let mut out = String::with_capacity(text.len());
    // `cursor`: start of the input not yet copied; never inside a whitespace run that a
    // previous tag character already consumed.
    let mut cursor = 0;
    let mut p = first;
    loop {
        // Walk back over the run before the tag character (it starts at or after `cursor`,
        // because the previous tag character consumed its whole trailing run).
        let run_start = text[cursor..p]
            .char_indices()
            .rev()
            .take_while(|&(_, c)| is_python_whitespace(c))
            .last()
            .map_or(p, |(i, _)| cursor + i);
        out.push_str(&text[cursor..run_start]);
        out.push(bytes[p] as char);
        let after = p + 1;
        let run_end = text[after..]
            .char_indices()
            .find(|&(_, c)| !is_python_whitespace(c))
            .map_or(text.len(), |(i, _)| after + i);
        cursor = run_end;
        match memchr3(b'<', b'>', b'/', &bytes[cursor..]) {
            Some(i) => p = cursor + i,
            None => break,
        }
    }
    out.push_str(&text[cursor..]);
    Cow::Owned(out)
}

/// Whether the tag character at byte `p` has whitespace right before or right after it.
#[inline]
fn touches_space(text: &str, p: usize) -> bool {
    text[..p]
        .chars()
        .next_back()
        .is_some_and(is_python_whitespace)
        || text[p + 1..]
            .chars()
            .next()
            .is_some_and(is_python_whitespace)
}

/// The reference format check, applied to a [`normalize_tags`]-normalised response.
///
/// Equivalent to Python's `re.fullmatch(r"<think>.*</think>.*\\boxed\{.*\}.*", text, re.DOTALL)`:
/// the text starts with `<think>`, a later `</think>` follows, then a `\boxed{`, then a `}`.
/// Anything (newlines included) may sit between and after them.
///
/// ```
/// use spatial_ssrl_rewards::has_reference_format;
/// assert!(has_reference_format("<think>x</think> so \\boxed{B}."));
/// assert!(has_reference_format("<think></think>\\boxed{}"));
/// assert!(!has_reference_format(" <think>x</think>\\boxed{B}")); // must start the text
/// assert!(!has_reference_format("<think>x</think>\\boxed{B"));   // no closing brace
/// ```
pub fn has_reference_format(normalized: &str) -> bool {
    let Some(rest) = normalized.strip_prefix(THINK_OPEN) else {
        return false;
    };
    // Taking the earliest occurrence of each piece is always optimal for `.*` gaps.
    let Some(close) = FIND_THINK_CLOSE.find(rest.as_bytes()) else {
        return false;
    };
    let rest = &rest.as_bytes()[close + THINK_CLOSE.len()..];
    let Some(open) = FIND_BOXED.find(rest) else {
        return false;
    };
    memchr(b'}', &rest[open + BOXED_OPEN.len()..]).is_some()
}

/// The content of the **last** `\boxed{` with brace matching, stripped (Python whitespace).
///
/// Follows `mathruler.grader.extract_boxed_content`: only the last `\boxed{` counts; its
/// content runs to the `}` that brings the brace depth below zero. `None` when there is no
/// `\boxed{` or the last one is never closed (the reference then returns the string `"None"`,
/// see [`extract_boxed_or_none`]). `\boxed {x}` (with a space) is not a box.
///
/// ```
/// use spatial_ssrl_rewards::extract_boxed;
/// assert_eq!(extract_boxed("\\boxed{A} then \\boxed{ {B} }"), Some("{B}"));
/// assert_eq!(extract_boxed("\\boxed{A} then \\boxed{B"), None); // last one unclosed
/// assert_eq!(extract_boxed("\\boxed {A}"), None);
/// ```
pub fn extract_boxed(text: &str) -> Option<&str> {
    let start = RFIND_BOXED.rfind(text.as_bytes())? + BOXED_OPEN.len();
    let content = &text.as_bytes()[start..];
    // A plain byte loop: braces after the last box are often dense (nested `{{{`), where
    // a memchr-style skip would pay its setup cost on every byte.
    let mut depth: usize = 0;
    for (p, &b) in content.iter().enumerate() {
        match b {
            b'{' => depth += 1,
            b'}' if depth == 0 => return Some(python_strip(&text[start..start + p])),
            b'}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// [`extract_boxed`] with the reference's fallback: the literal string `"None"` when no
/// closed last box exists. This is the string the reference compares with the ground truth,
/// so a ground truth of `"None"` matches a response without an answer.
///
/// ```
/// use spatial_ssrl_rewards::extract_boxed_or_none;
/// assert_eq!(extract_boxed_or_none("no box"), "None");
/// assert_eq!(extract_boxed_or_none("\\boxed{ 3-0 }"), "3-0");
/// ```
pub fn extract_boxed_or_none(text: &str) -> &str {
    extract_boxed(text).unwrap_or("None")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_removes_runs_on_either_side() {
        assert_eq!(normalize_tags("a  <  >  b"), "a<>b");
        assert_eq!(normalize_tags("a \u{1c}/\u{85} b c"), "a/b c");
        assert_eq!(normalize_tags(" / "), "/");
        assert_eq!(normalize_tags("x\u{200b}/\u{feff}y"), "x\u{200b}/\u{feff}y");
        assert_eq!(normalize_tags("<<  <"), "<<<");
        assert_eq!(
            normalize_tags("a\n\n</think>\n\n\\boxed{ A / B }"),
            "a</think>\\boxed{ A/B }"
        );
    }

    #[test]
    fn normalize_borrows_when_unchanged() {
        assert!(matches!(
            normalize_tags("<think>a</think>"),
            Cow::Borrowed(_)
        ));
        assert!(matches!(normalize_tags("<think> a</think>"), Cow::Owned(_)));
    }

    #[test]
    fn format_needs_all_pieces_in_order() {
        assert!(has_reference_format("<think>\n</think>\n\\boxed{\n}\n"));
        assert!(!has_reference_format("<think>x\\boxed{A}</think>"));
        assert!(!has_reference_format("<think></think>}\\boxed{"));
        assert!(!has_reference_format("<think>\\boxed{A}"));
        assert!(!has_reference_format(""));
        // `</think>` may not reuse the opening tag's characters.
        assert!(!has_reference_format("<think>\\boxed{A}"));
    }

    #[test]
    fn extraction_matches_mathruler() {
        assert_eq!(extract_boxed("\\boxed{a{b}c}d}"), Some("a{b}c"));
        assert_eq!(extract_boxed("\\boxed{}"), Some(""));
        assert_eq!(extract_boxed("\\boxed{{{"), None);
        assert_eq!(extract_boxed("\\\\boxed{B}"), Some("B"));
        assert_eq!(extract_boxed("\\boxed{\u{3000}B\u{1f}}"), Some("B"));
        assert_eq!(extract_boxed("\\boxed{\\boxed{A}}"), Some("A"));
    }
}
