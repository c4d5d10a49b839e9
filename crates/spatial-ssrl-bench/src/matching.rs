//! Answer extraction and per-item metrics, as the benchmarks score them.
//!
//! Rule order for multiple choice (no LLM judge anywhere): the last `\boxed{}` first, then an
//! option letter (`B`, `(B)`, `B.`, `Answer: B`, a lone letter among the words), then the text
//! of exactly one option. Numbers: boxed first, then the first word (VSI-Bench's own rule),
//! then the last number. Lengths carry a unit and are converted to centimetres.

use serde::{Deserialize, Serialize};

/// Which rule produced an extracted answer (reported per run, so format failures are visible).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Rule {
    /// The content of the last `\boxed{}`.
    Boxed,
    /// An option letter in the response text.
    Letter,
    /// The text of exactly one option.
    OptionText,
    /// A number (and unit) in the response text outside any box.
    Number,
    /// A benchmark-specific pattern (Spatial457's JSON template, QSpatial's `\scalar{}`).
    Template,
    /// The whole response, as Spatial457's robust mode uses it.
    Whole,
    /// Nothing usable: scored 0.
    None,
}

impl Rule {
    /// Stable snake_case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Boxed => "boxed",
            Rule::Letter => "letter",
            Rule::OptionText => "option_text",
            Rule::Number => "number",
            Rule::Template => "template",
            Rule::Whole => "whole",
            Rule::None => "none",
        }
    }
}

/// The content of the last closed `\boxed{...}` (nested braces matched), trimmed.
pub(crate) fn last_boxed(text: &str) -> Option<&str> {
    let start = text.rfind("\\boxed{")? + "\\boxed{".len();
    let mut depth = 0usize;
    for (i, c) in text[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return Some(text[start..start + i].trim()),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// Picks an option letter out of `text`; `n_options` bounds the valid letters.
fn letter_in(text: &str, n_options: usize) -> Option<char> {
    let valid = |c: char| c.is_ascii_uppercase() && ((c as u8 - b'A') as usize) < n_options;
    let t = text.trim();
    // The whole answer is a letter, possibly decorated: "B", "(B)", "B.", "B)", "B:", "**B**", "B. red".
    let core = t.trim_matches(|c: char| matches!(c, '(' | ')' | '[' | ']' | '*' | '.' | ':' | ' ' | '"' | '\''));
    let mut chars = core.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        let c = c.to_ascii_uppercase();
        if valid(c) {
            return Some(c);
        }
    }
    let mut it = t.chars();
    if let (Some(c), Some(sep)) = (it.next(), it.next())
        && valid(c)
        && matches!(sep, '.' | ')' | ':')
    {
        return Some(c);
    }
    // "Answer: B", "answer is (B)", "Option B".
    let lower = t.to_lowercase();
    for key in ["answer is", "answer:", "option"] {
        if let Some(p) = lower.rfind(key) {
            let rest = &t[p + key.len()..];
            let rest = rest.trim_start_matches(|c: char| c.is_whitespace() || matches!(c, '(' | '*' | ':' | '['));
            let mut rc = rest.chars();
            if let Some(c) = rc.next()
                && valid(c)
                && rc.next().is_none_or(|n| !n.is_alphanumeric())
            {
                return Some(c);
            }
        }
    }
    // Exactly one option letter stands alone among the words (VLMEvalKit's `can_infer_option`).
    let mut found = None;
    for w in t.split(|c: char| c.is_whitespace() || ".()[],:;!*#{}".contains(c)) {
        let mut wc = w.chars();
        if let (Some(c), None) = (wc.next(), wc.next())
            && valid(c)
        {
            match found {
                None => found = Some(c),
                Some(f) if f == c => {}
                Some(_) => return None,
            }
        }
    }
    found
}

/// The single option whose text appears in `text` (case-insensitive); `None` when zero or several do.
fn option_text_in(text: &str, options: &[String]) -> Option<char> {
    let lower = text.to_lowercase();
    let mut hits = options
        .iter()
        .enumerate()
        .filter(|(_, o)| !o.trim().is_empty() && lower.contains(&o.trim().to_lowercase()));
    let first = hits.next()?;
    if hits.next().is_some() {
        // "left" inside "back-left": prefer an option that equals the text exactly.
        return options
            .iter()
            .position(|o| o.trim().eq_ignore_ascii_case(text.trim()))
            .map(crate::item::Item::letter);
    }
    Some(crate::item::Item::letter(first.0))
}

/// Extracts a multiple-choice letter: boxed first, then letter, then option text.
pub fn extract_choice(prediction: &str, options: &[String]) -> (Option<char>, Rule) {
    if let Some(b) = last_boxed(prediction) {
        let got = letter_in(b, options.len()).or_else(|| option_text_in(b, options));
        return (got, if got.is_some() { Rule::Boxed } else { Rule::None });
    }
    if let Some(c) = letter_in(prediction, options.len()) {
        return (Some(c), Rule::Letter);
    }
    match option_text_in(prediction, options) {
        Some(c) => (Some(c), Rule::OptionText),
        None => (None, Rule::None),
    }
}

/// Every number in `text` (integers, decimals, a leading sign), in order, with its byte end.
fn numbers(text: &str) -> Vec<(f64, usize, usize)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let starts = b[i].is_ascii_digit() || (b[i] == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit));
        if !starts {
            i += 1;
            continue;
        }
        let neg = i > 0 && b[i - 1] == b'-' && (i < 2 || !b[i - 2].is_ascii_alphanumeric());
        let s = i;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b',' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            i += 1;
        }
        if i < b.len() && b[i] == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        }
        let digits: String = text[s..i].chars().filter(|&c| c != ',').collect();
        if let Ok(v) = digits.parse::<f64>() {
            out.push((if neg { -v } else { v }, if neg { s - 1 } else { s }, i));
        }
    }
    out
}

/// Extracts a plain number: boxed content, else the first word (VSI-Bench), else the last number.
pub fn extract_number(prediction: &str) -> (Option<f64>, Rule) {
    if let Some(b) = last_boxed(prediction) {
        let v = numbers(b).first().map(|n| n.0);
        return (v, if v.is_some() { Rule::Boxed } else { Rule::None });
    }
    let first = prediction.split_whitespace().next().unwrap_or("").trim_end_matches('.');
    if let Ok(v) = first.parse::<f64>()
        && v.is_finite()
    {
        return (Some(v), Rule::Number);
    }
    match numbers(prediction).last() {
        Some(n) => (Some(n.0), Rule::Number),
        None => (None, Rule::None),
    }
}

/// Centimetres per unit; `None` for an unknown unit word.
pub fn unit_to_cm(unit: &str) -> Option<f64> {
    let u = unit.trim().trim_end_matches('.').to_lowercase();
    Some(match u.as_str() {
        "m" | "meter" | "meters" | "metre" | "metres" => 100.0,
        "cm" | "centimeter" | "centimeters" | "centimetre" | "centimetres" => 1.0,
        "mm" | "millimeter" | "millimeters" | "millimetre" | "millimetres" => 0.1,
        "km" | "kilometer" | "kilometers" | "kilometre" | "kilometres" => 100_000.0,
        "in" | "inch" | "inches" | "\"" | "''" => 2.54,
        "ft" | "foot" | "feet" | "'" => 30.48,
        "yd" | "yard" | "yards" => 91.44,
        "mi" | "mile" | "miles" => 160_934.4,
        _ => return None,
    })
}

/// A length in `text`, in centimetres: every `number unit` pair is read; a range `a-b unit`
/// counts as its midpoint; consecutive pairs such as `5 feet 4 inches` add up.
fn length_in(text: &str) -> Option<f64> {
    let nums = numbers(text);
    let mut total: Option<f64> = None;
    let mut last_end = None;
    let mut k = 0;
    while k < nums.len() {
        let (mut v, _, mut end) = nums[k];
        // A range "1.5-2 m" / "1.5 to 2 m": average the two ends.
        if let Some(&(v2, s2, e2)) = nums.get(k + 1) {
            let gap = text[end..s2].trim();
            let gap_is_range = gap.is_empty() && text[end..].starts_with('-') || gap == "to" || gap == "-";
            if gap_is_range && unit_after(text, e2).is_some() {
                v = (v + v2.abs()) / 2.0;
                end = e2;
                k += 1;
            }
        }
        if let Some((cm, unit_end)) = unit_after(text, end) {
            let adjacent = last_end.is_some_and(|e: usize| text[e..nums[k].1].trim().is_empty() || text[e..nums[k].1].trim() == "and");
            let value = v * cm;
            total = Some(match (total, adjacent) {
                (Some(t), true) => t + value,
                _ => value,
            });
            last_end = Some(unit_end);
        }
        k += 1;
    }
    total
}

/// The unit word right after byte `end` (spaces and a comma allowed before it).
fn unit_after(text: &str, end: usize) -> Option<(f64, usize)> {
    let rest = &text[end..];
    let skip = rest.len() - rest.trim_start_matches([' ', ',', '\u{a0}']).len();
    let rest = &rest[skip..];
    let word_len = rest
        .char_indices()
        .find(|&(_, c)| !(c.is_alphabetic() || c == '"' || c == '\''))
        .map_or(rest.len(), |(i, _)| i);
    let word = rest[..word_len].trim_matches('\'').trim_end_matches('"');
    // A quote right after a number is a foot/inch mark, not the start of quoted text.
    let word = if word.is_empty() { &rest[..word_len] } else { word };
    if word.is_empty() {
        return None;
    }
    unit_to_cm(word).map(|cm| (cm, end + skip + word_len))
}

/// QSpatial's own answer template: `\scalar{1.5} \distance_unit{m}` (mean of the numbers in the box).
fn qspatial_template(text: &str) -> Option<f64> {
    let inner = |key: &str| -> Option<&str> {
        let s = text.rfind(key)? + key.len();
        let e = text[s..].find('}')?;
        Some(&text[s..s + e])
    };
    let nums = numbers(inner("scalar{")?);
    if nums.is_empty() {
        return None;
    }
    let mean = nums.iter().map(|n| n.0.abs()).sum::<f64>() / nums.len() as f64;
    Some(mean * unit_to_cm(inner("distance_unit{")?)?)
}

/// Extracts a length in centimetres: boxed content, then QSpatial's `\scalar{}` template,
/// then the last `number unit` phrase of the response.
pub fn extract_length_cm(prediction: &str) -> (Option<f64>, Rule) {
    if let Some(b) = last_boxed(prediction) {
        let v = length_in(b);
        return (v, if v.is_some() { Rule::Boxed } else { Rule::None });
    }
    if let Some(v) = qspatial_template(prediction) {
        return (Some(v), Rule::Template);
    }
    // The final answer is normally stated last; read sentences from the end.
    for sentence in prediction.rsplit(['\n', ';']) {
        if let Some(v) = length_in(sentence) {
            return (Some(v), Rule::Number);
        }
    }
    (None, Rule::None)
}

/// VSI-Bench's Mean Relative Accuracy: the fraction of confidence thresholds
/// θ ∈ {0.50, 0.55, …, 0.95} with `|pred − truth| / truth <= 1 − θ`.
///
/// Thresholds are computed as numpy's `linspace(0.5, 0.95, 10)`, so boundary cases fall
/// exactly where VSI-Bench's own scorer puts them.
pub fn mean_relative_accuracy(pred: f64, truth: f64) -> f64 {
    if !pred.is_finite() || !truth.is_finite() || truth == 0.0 {
        return 0.0;
    }
    let rel = (pred - truth).abs() / truth.abs();
    let step = (0.95 - 0.5) / 9.0;
    let hits = (0..10).filter(|&i| rel <= 1.0 - (0.5 + i as f64 * step)).count();
    hits as f64 / 10.0
}

/// QSpatial's success criterion: `max(pred/truth, truth/pred) < threshold` (2 for the headline
/// `delta_2`, 1.5 for `delta_1.5`), with VLMEvalKit's `1e-8` added to both sides.
pub fn within_ratio(pred_cm: f64, truth_cm: f64, threshold: f64) -> bool {
    let (p, t) = (pred_cm + 1e-8, truth_cm + 1e-8);
    (p / t).max(t / p) < threshold
}

/// Spatial457's answer rules (VLMEvalKit `Spatial457_utils.is_correct`): case-insensitive
/// equality, `none` means `no`, number words, `0` for `No`, any digit 1-9 for `Yes`, and a
/// sub-shape of the same super-category (e.g. `sedan` for `suv`, both cars).
pub fn spatial457_correct(truth: &str, pred: &str) -> bool {
    let pred = if pred.eq_ignore_ascii_case("none") { "no" } else { pred };
    if pred.to_lowercase() == truth.to_lowercase() {
        return true;
    }
    if pred == "0" && truth == "No" {
        return true;
    }
    const WORDS: [&str; 11] = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"];
    if let Some(n) = WORDS.iter().position(|w| pred.eq_ignore_ascii_case(w))
        && n.to_string() == truth
    {
        return true;
    }
    if truth.eq_ignore_ascii_case("yes") && matches!(pred, "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9") {
        return true;
    }
    let first = |s: &str| s.to_lowercase().split(' ').next().unwrap_or("").to_string();
    match (super_shape(&first(pred)), super_shape(&first(truth))) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

fn super_shape(word: &str) -> Option<&'static str> {
    const GROUPS: [(&str, &[&str]); 5] = [
        ("car", &["suv", "wagon", "minivan", "sedan", "truck", "addi", "car"]),
        ("bus", &["articulated", "regular", "double", "school", "bus"]),
        ("motorbike", &["chopper", "dirtbike", "scooter", "cruiser", "motorbike"]),
        ("aeroplane", &["jet", "fighter", "biplane", "airliner", "aeroplane"]),
        ("bicycle", &["road", "utility", "mountain", "tandem", "bicycle"]),
    ];
    GROUPS.iter().find(|(_, members)| members.contains(&word)).map(|(g, _)| *g)
}

/// Spatial457's answer extraction: the boxed answer, else its JSON template
/// (`'Answer': '...'`), else the whole response (VLMEvalKit's robust mode).
pub fn extract_spatial457(prediction: &str) -> (String, Rule) {
    if let Some(b) = last_boxed(prediction) {
        return (b.to_string(), Rule::Boxed);
    }
    for (open, close) in [("Answer': '", "'"), ("Answer\": \"", "\"")] {
        if let Some(s) = prediction.find(open) {
            let rest = &prediction[s + open.len()..];
            if let Some(e) = rest.find(close) {
                return (rest[..e].to_string(), Rule::Template);
            }
        }
    }
    if let Some(s) = prediction.find("Answer': ")
        && let Some(d) = prediction[s + 9..].chars().next().filter(char::is_ascii_digit)
    {
        return (d.to_string(), Rule::Template);
    }
    (prediction.to_string(), Rule::Whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn boxed_wins_over_letters_in_text() {
        let o = opts(&["left", "right", "front", "back"]);
        assert_eq!(extract_choice("<think>A seems wrong</think> \\boxed{C}", &o), (Some('C'), Rule::Boxed));
        assert_eq!(extract_choice("\\boxed{B. right}", &o), (Some('B'), Rule::Boxed));
        assert_eq!(extract_choice("\\boxed{right}", &o), (Some('B'), Rule::Boxed));
        assert_eq!(extract_choice("\\boxed{\\text{D}}", &o), (Some('D'), Rule::Boxed));
        // A box with no usable answer is a failure, not a fall-through to the text.
        assert_eq!(extract_choice("A is likely. \\boxed{maybe}", &o), (None, Rule::None));
    }

    #[test]
    fn letter_patterns() {
        let o = opts(&["a cat", "a dog", "a bird", "a fish"]);
        for (t, want) in [
            ("B", 'B'),
            ("(C)", 'C'),
            ("D.", 'D'),
            ("A) a cat", 'A'),
            ("Answer: C", 'C'),
            ("The correct answer is (B).", 'B'),
            ("I pick option D because", 'D'),
            ("It must be C", 'C'),
        ] {
            assert_eq!(extract_choice(t, &o), (Some(want), Rule::Letter), "{t}");
        }
        // Letters outside the option range are not answers.
        assert_eq!(extract_choice("E", &o).0, None);
        // Two different lone letters: ambiguous.
        assert_eq!(extract_choice("between B and C", &o), (None, Rule::None));
    }

    #[test]
    fn option_text_fallback() {
        let o = opts(&["left", "back-left", "front", "back"]);
        assert_eq!(extract_choice("it is on the front side", &o), (Some('C'), Rule::OptionText));
        // "back-left" contains "left" and "back": only an exact match disambiguates.
        assert_eq!(extract_choice("back-left", &o), (Some('B'), Rule::OptionText));
        assert_eq!(extract_choice("somewhere else", &o), (None, Rule::None));
    }

    #[test]
    fn numbers_and_units() {
        assert_eq!(extract_number("\\boxed{3}"), (Some(3.0), Rule::Boxed));
        assert_eq!(extract_number("4. There are four chairs"), (Some(4.0), Rule::Number));
        assert_eq!(extract_number("I count 2 or maybe 5"), (Some(5.0), Rule::Number));
        assert_eq!(extract_number("\\boxed{1,250.5 sq m}"), (Some(1250.5), Rule::Boxed));
        assert_eq!(extract_number("no idea"), (None, Rule::None));

        let cm = |t: &str| extract_length_cm(t).0.map(|v| (v * 1000.0).round() / 1000.0);
        assert_eq!(cm("\\boxed{1.5 m}"), Some(150.0));
        assert_eq!(cm("\\boxed{30 cm}"), Some(30.0));
        assert_eq!(cm("\\boxed{25mm}"), Some(2.5));
        assert_eq!(cm("\\boxed{2 feet}"), Some(60.96));
        assert_eq!(cm("\\boxed{3 ft}"), Some(91.44));
        assert_eq!(cm("\\boxed{10 inches}"), Some(25.4));
        assert_eq!(cm("\\boxed{1 yard}"), Some(91.44));
        assert_eq!(cm("\\boxed{0.5 km}"), Some(50_000.0));
        assert_eq!(cm("\\boxed{1 mile}"), Some(160_934.4));
        assert_eq!(cm("\\boxed{5 feet 4 inches}"), Some(162.56));
        assert_eq!(cm("\\boxed{1-2 m}"), Some(150.0));
        assert_eq!(cm("\\boxed{(1.7, feet)}"), Some(51.816));
        assert_eq!(cm("\\scalar{3} \\distance_unit{meters}"), Some(300.0));
        assert_eq!(cm("It is about 2 m wide.\nSo the answer is 80 cm."), Some(80.0));
        // A number without a unit is not a length.
        assert_eq!(cm("\\boxed{42}"), None);
    }

    #[test]
    fn mra_thresholds() {
        // rel error 0 -> all 10 thresholds; 0.3 -> θ in {0.5..0.7} (1-θ >= 0.3): 5 of 10.
        assert_eq!(mean_relative_accuracy(10.0, 10.0), 1.0);
        assert_eq!(mean_relative_accuracy(13.0, 10.0), 0.5);
        assert_eq!(mean_relative_accuracy(7.0, 10.0), 0.5);
        // rel 0.5 passes only θ=0.5 (<=); rel 0.51 passes none.
        assert_eq!(mean_relative_accuracy(15.0, 10.0), 0.1);
        assert_eq!(mean_relative_accuracy(15.1, 10.0), 0.0);
        // rel 0.04 passes every θ up to 0.95 (1-0.95 = 0.05).
        assert_eq!(mean_relative_accuracy(10.4, 10.0), 1.0);
        // Values pinned against VSI-Bench's numpy scorer (boundary cases included).
        for (p, t, want) in [(5.5, 5.0, 0.9), (11.0, 10.0, 0.9), (12.0, 10.0, 0.6), (10.5, 10.0, 1.0)] {
            assert_eq!(mean_relative_accuracy(p, t), want, "{p} vs {t}");
        }
        assert_eq!(mean_relative_accuracy(3.0, 0.0), 0.0);
    }

    #[test]
    fn qspatial_ratio() {
        assert!(within_ratio(150.0, 100.0, 2.0));
        assert!(within_ratio(51.0, 100.0, 2.0));
        // Exactly double passes: VLMEvalKit adds 1e-8 to both sides, so the ratio is just below 2.
        assert!(within_ratio(200.0, 100.0, 2.0));
        assert!(!within_ratio(201.0, 100.0, 2.0));
        assert!(!within_ratio(49.0, 100.0, 2.0));
        assert!(!within_ratio(0.0, 100.0, 2.0));
        assert!(within_ratio(149.0, 100.0, 1.5));
        assert!(!within_ratio(150.0, 100.0, 1.5));
    }

    #[test]
    fn spatial457_rules() {
        assert!(spatial457_correct("Yes", "yes"));
        assert!(spatial457_correct("no", "None"));
        assert!(spatial457_correct("3", "three"));
        assert!(spatial457_correct("No", "0"));
        assert!(spatial457_correct("Yes", "2"));
        assert!(spatial457_correct("suv", "sedan"));
        assert!(spatial457_correct("school bus", "double bus"));
        assert!(!spatial457_correct("suv", "jet"));
        assert!(!spatial457_correct("2", "3"));
        assert!(!spatial457_correct("no", "1"));
        assert_eq!(extract_spatial457("{'Reasoning': 'x', 'Answer': 'red'}"), ("red".into(), Rule::Template));
        assert_eq!(extract_spatial457("{\"Answer\": \"Yes\"}"), ("Yes".into(), Rule::Template));
        assert_eq!(extract_spatial457("{'Answer': 3}"), ("3".into(), Rule::Template));
        assert_eq!(extract_spatial457("<think>..</think>\\boxed{ blue }"), ("blue".into(), Rule::Boxed));
        assert_eq!(extract_spatial457("blue"), ("blue".into(), Rule::Whole));
    }
}
