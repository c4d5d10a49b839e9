//! Multiple-choice answer extraction for evaluation: which option letter a response picks,
//! and by which rule it was found.

use memchr::{memchr_iter, memmem};

use crate::answer::canonical_text;
use crate::boxed::extract_boxed;
use crate::whitespace::{is_python_whitespace, python_strip};

/// The rule that found a choice, in the order [`extract_choice`] tries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExtractRule {
    /// The content of the last `\boxed{...}` is a letter (`\boxed{B}`, `\boxed{(B)}`,
    /// `\boxed{b}`, `\boxed{Option B}`) or exactly one option's text.
    Boxed,
    /// The whole response is one letter: `B` (a trailing period allowed: `B.`).
    BareLetter,
    /// The whole response is a parenthesised letter, optionally followed by text: `(B)`,
    /// `(B) the red chair`; or the only letter written as `(X)` anywhere in the response.
    Parenthesized,
    /// The response starts with a letter and `.`, `)` or `:`: `B. the red chair`, `B) ...`.
    LetterDot,
    /// The last `answer is X` / `answer: X` (case-insensitive `answer`, upper-case letter,
    /// optionally `(X)`, `X.`, `Option X`): `The correct answer is (B).`
    AnswerPrefix,
    /// The response names exactly one option's text (`The red chair.`), compared case- and
    /// whitespace-insensitively at word boundaries; an option contained in a longer matching
    /// option yields to the longer one.
    OptionText,
}

/// The option a response picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Choice {
    /// The option letter, upper case (`'A'` is option 0).
    pub letter: char,
    /// The zero-based option index (`letter - 'A'`).
    pub index: usize,
    /// The rule that found it.
    pub rule: ExtractRule,
}

/// Finds the option letter a response chooses, trying the rules of [`ExtractRule`] in order:
/// `Boxed`, then the whole response as `BareLetter` / `Parenthesized` / `LetterDot`, then
/// `AnswerPrefix`, then a unique `(X)` anywhere (`Parenthesized`), then `OptionText`.
///
/// `options` are the option texts in letter order (a leading label such as `A.` or `(A)`
/// matching the option's own letter is ignored). Letters beyond `options.len()` are rejected;
/// with no options, any letter `A`..`Z` is accepted and text matching is skipped.
/// Linear in the response length (times the number of options for `OptionText`).
///
/// ```
/// use spatial_ssrl_rewards::{extract_choice, ExtractRule};
/// let opts = ["red chair", "blue table", "green lamp"];
/// let pick = |r| extract_choice(r, &opts).map(|c| (c.letter, c.rule));
/// assert_eq!(pick("<think>…</think> \\boxed{B}"), Some(('B', ExtractRule::Boxed)));
/// assert_eq!(pick("C."), Some(('C', ExtractRule::BareLetter)));
/// assert_eq!(pick("(A) the red chair"), Some(('A', ExtractRule::Parenthesized)));
/// assert_eq!(pick("B. blue table"), Some(('B', ExtractRule::LetterDot)));
/// assert_eq!(pick("So the answer is: C"), Some(('C', ExtractRule::AnswerPrefix)));
/// assert_eq!(pick("It is the Blue  Table."), Some(('B', ExtractRule::OptionText)));
/// assert_eq!(pick("D"), None); // only three options
/// assert_eq!(pick("no idea"), None);
/// ```
pub fn extract_choice(response: &str, options: &[&str]) -> Option<Choice> {
    let n_letters = if options.is_empty() {
        26
    } else {
        options.len().min(26)
    };
    let valid = |c: char| c.is_ascii_uppercase() && ((c as u8 - b'A') as usize) < n_letters;
    let choice = |letter: char, rule| {
        valid(letter).then(|| Choice {
            letter,
            index: (letter as u8 - b'A') as usize,
            rule,
        })
    };

    if let Some(content) = extract_boxed(response) {
        if let Some(c) =
            parse_letter_form(content, true).and_then(|l| choice(l, ExtractRule::Boxed))
        {
            return Some(c);
        }
        if let Some(i) = option_equal(content, options) {
            return choice(letter_of(i), ExtractRule::Boxed);
        }
    }

    let whole = python_strip(response);
    if let Some(c) = whole_response_letter(whole).and_then(|(l, rule)| choice(l, rule)) {
        return Some(c);
    }
    if let Some(c) =
        answer_prefix(response, &valid).and_then(|l| choice(l, ExtractRule::AnswerPrefix))
    {
        return Some(c);
    }
    if let Some(c) =
        unique_parenthesized(response, &valid).and_then(|l| choice(l, ExtractRule::Parenthesized))
    {
        return Some(c);
    }
    option_mentioned(response, options).and_then(|i| choice(letter_of(i), ExtractRule::OptionText))
}

fn letter_of(index: usize) -> char {
    (b'A' + index as u8) as char
}

/// Reads a letter answer at the start of `text` (after Python-stripping): optional `Option`,
/// optional `(`, one ASCII letter (upper case unless `any_case`), `)` if `(` was opened, and
/// then the end or a character that is not alphanumeric. Returns the letter upper-cased.
pub(crate) fn parse_letter_form(text: &str, any_case: bool) -> Option<char> {
    let mut s = python_strip(text);
    if s.len() >= 6 && s.as_bytes()[..6].eq_ignore_ascii_case(b"option") {
        let rest = s[6..].trim_start_matches(is_python_whitespace);
        if rest.len() < s.len() - 6 || rest.starts_with('(') {
            s = rest;
        }
    }
    let (open, s) = match s.strip_prefix('(') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let mut chars = s.chars();
    let letter = chars.next().filter(|c| c.is_ascii_alphabetic())?;
    if !any_case && !letter.is_ascii_uppercase() {
        return None;
    }
    let mut rest = chars.as_str();
    if open {
        rest = rest.strip_prefix(')')?;
    }
    match rest.chars().next() {
        Some(c) if c.is_alphanumeric() => None,
        _ => Some(letter.to_ascii_uppercase()),
    }
}

/// The whole (stripped) response as `B`, `B.`, `(B)...`, or `B.`/`B)`/`B:` followed by text.
fn whole_response_letter(whole: &str) -> Option<(char, ExtractRule)> {
    let bytes = whole.as_bytes();
    match bytes {
        [l] | [l, b'.'] if l.is_ascii_uppercase() => Some((*l as char, ExtractRule::BareLetter)),
        [b'(', l, b')', ..]
            if l.is_ascii_uppercase() && !bytes.get(3).is_some_and(u8::is_ascii_alphanumeric) =>
        {
            Some((*l as char, ExtractRule::Parenthesized))
        }
        [l, b'.' | b')' | b':', rest @ ..]
            if l.is_ascii_uppercase()
                && rest.first().is_none_or(|b| !b.is_ascii_alphanumeric()) =>
        {
            Some((*l as char, ExtractRule::LetterDot))
        }
        _ => None,
    }
}

/// The letter after the last `answer is` / `answer:` that has one.
fn answer_prefix(response: &str, valid: &dyn Fn(char) -> bool) -> Option<char> {
    let lower = response.to_ascii_lowercase();
    let hits: Vec<usize> = memmem::find_iter(lower.as_bytes(), b"answer").collect();
    hits.into_iter().rev().find_map(|at| {
        let mut rest = response[at + 6..].trim_start_matches(is_python_whitespace);
        let mut connected = false;
        if rest.len() >= 2 && rest.as_bytes()[..2].eq_ignore_ascii_case(b"is") {
            rest = rest[2..].trim_start_matches(is_python_whitespace);
            connected = true;
        }
        for colon in [":", "\u{ff1a}"] {
            if let Some(r) = rest.strip_prefix(colon) {
                rest = r;
                connected = true;
            }
        }
        if !connected {
            return None;
        }
        parse_letter_form(rest, false).filter(|&l| valid(l))
    })
}

/// The letter of `(X)` when exactly one distinct valid letter appears in that form.
fn unique_parenthesized(response: &str, valid: &dyn Fn(char) -> bool) -> Option<char> {
    let bytes = response.as_bytes();
    let mut found: Option<u8> = None;
    for at in memchr_iter(b'(', bytes) {
        if let [b'(', l, b')', ..] = &bytes[at..]
            && valid(*l as char)
        {
            match found {
                Some(prev) if prev != *l => return None,
                _ => found = Some(*l),
            }
        }
    }
    found.map(char::from)
}

/// The canonical text of each option, its own letter label removed.
fn option_texts(options: &[&str]) -> Vec<String> {
    options
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let o = python_strip(o);
            let l = letter_of(i);
            let unlabeled = match whole_response_letter(o) {
                Some((got, rule)) if got == l && rule != ExtractRule::BareLetter => {
                    let skip = if o.starts_with('(') { 3 } else { 2 };
                    o.get(skip..).unwrap_or("")
                }
                _ => o,
            };
            canonical_text(unlabeled)
        })
        .collect()
}

/// The option whose canonical text equals the canonical `text`, if exactly one does.
fn option_equal(text: &str, options: &[&str]) -> Option<usize> {
    let text = canonical_text(text);
    let texts = option_texts(options);
    let mut hits = texts
        .iter()
        .enumerate()
        .filter(|(_, o)| !o.is_empty() && **o == text);
    let first = hits.next()?.0;
    hits.next().is_none().then_some(first)
}

/// The option named in `response` (equal, or the only non-dominated mention).
fn option_mentioned(response: &str, options: &[&str]) -> Option<usize> {
    if options.is_empty() {
        return None;
    }
    if let Some(i) = option_equal(response, options) {
        return Some(i);
    }
    let text = canonical_text(response);
    let texts = option_texts(options);
    let hits: Vec<usize> = (0..texts.len())
        .filter(|&i| !texts[i].is_empty() && mentions(&text, &texts[i]))
        .collect();
    // A shorter option inside a longer mentioned one ("left" in "upper left") is not a hit.
    let kept: Vec<usize> = hits
        .iter()
        .copied()
        .filter(|&i| {
            !hits.iter().any(|&j| {
                j != i && texts[j].len() > texts[i].len() && texts[j].contains(texts[i].as_str())
            })
        })
        .collect();
    match kept.as_slice() {
        [only] => Some(*only),
        _ => None,
    }
}

/// `needle` occurs in `hay` with no alphanumeric character right before or after it.
fn mentions(hay: &str, needle: &str) -> bool {
    memmem::find_iter(hay.as_bytes(), needle.as_bytes()).any(|at| {
        let before = hay[..at].chars().next_back();
        let after = hay[at + needle.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(r: &str, opts: &[&str]) -> Option<(char, ExtractRule)> {
        extract_choice(r, opts).map(|c| (c.letter, c.rule))
    }

    #[test]
    fn letter_forms() {
        assert_eq!(parse_letter_form(" (b) ", true), Some('B'));
        assert_eq!(parse_letter_form("Option C", true), Some('C'));
        assert_eq!(parse_letter_form("option(C)", true), Some('C'));
        assert_eq!(parse_letter_form("Options", true), None);
        assert_eq!(parse_letter_form("b", false), None);
        assert_eq!(parse_letter_form("(B", true), None);
        assert_eq!(parse_letter_form("", true), None);
        assert_eq!(parse_letter_form("B2", true), None);
    }

    #[test]
    fn rule_order_and_fallthrough() {
        let opts = ["left", "upper left", "right", "below"];
        // Box content that is no letter nor option falls through to the text.
        assert_eq!(
            pick("\\boxed{maybe} answer: D", &opts),
            Some(('D', ExtractRule::AnswerPrefix))
        );
        assert_eq!(
            pick("\\boxed{Upper Left}", &opts),
            Some(('B', ExtractRule::Boxed))
        );
        // The last "answer" wins.
        assert_eq!(
            pick("answer: A ... final answer is (C).", &opts),
            Some(('C', ExtractRule::AnswerPrefix))
        );
        // "answer" without is/: is not a prefix; lower-case article is not a letter.
        assert_eq!(pick("the answer is a mystery", &opts), None);
        // Two different parenthesised letters are ambiguous.
        assert_eq!(pick("maybe (A) or (B)", &opts), None);
        assert_eq!(
            pick("I pick (B), yes (B)", &opts),
            Some(('B', ExtractRule::Parenthesized))
        );
        // "upper left" dominates "left"; "left" alone is option A.
        assert_eq!(
            pick("It is in the upper left corner", &opts),
            Some(('B', ExtractRule::OptionText))
        );
        assert_eq!(
            pick("to the left", &opts),
            Some(('A', ExtractRule::OptionText))
        );
        assert_eq!(pick("left or right", &opts), None);
        assert_eq!(pick("leftover", &opts), None);
    }

    #[test]
    fn labeled_options_and_no_options() {
        let opts = ["A. red", "(B) blue", "C: green"];
        assert_eq!(pick("Blue.", &opts), Some(('B', ExtractRule::OptionText)));
        assert_eq!(pick("green", &opts), Some(('C', ExtractRule::OptionText)));
        assert_eq!(pick("Z", &[]), Some(('Z', ExtractRule::BareLetter)));
        assert_eq!(pick("blue", &[]), None);
        let c = extract_choice("\\boxed{c}", &opts).unwrap();
        assert_eq!((c.letter, c.index), ('C', 2));
    }
}
