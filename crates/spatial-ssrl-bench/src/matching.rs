//! Answer extraction and per-item metrics, as the benchmarks score them.
//!
//! The generic rules come from `spatial_ssrl_rewards` (no LLM judge anywhere): for multiple
//! choice the last `\boxed{}` first, then an option letter (`B`, `(B)`, `B.`, `Answer: B`),
//! then the text of exactly one option; numbers and lengths with units (converted to
//! centimetres); Mean Relative Accuracy. This module adds only the benchmark-specific rules
//! the published scorers apply on top: VLMEvalKit's lone-letter fallback, VSI-Bench's
//! first-word number, QSpatial's `\scalar{}` template and Spatial457's answer matching.

use serde::{Deserialize, Serialize};
use spatial_ssrl_rewards::{ExtractRule, extract_boxed};

/// Which rule produced an extracted answer (reported per run, so format failures are visible).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Rule {
    /// The content of the last `\boxed{}`.
    Boxed,
    /// The whole response is a letter (`B`, `B.`).
    BareLetter,
    /// A parenthesised letter (`(B)`).
    Parenthesized,
    /// The response starts with `B.` / `B)` / `B:`.
    LetterDot,
    /// `answer is B` / `Answer: B`.
    AnswerPrefix,
    /// The text of exactly one option.
    OptionText,
    /// Exactly one option letter stands alone among the words (VLMEvalKit's `can_infer_option`).
    LoneLetter,
    /// A number (and unit) in the response text outside any box.
    Number,
    /// A benchmark-specific pattern (Spatial457's JSON template, QSpatial's `\scalar{}`).
    Template,
    /// The whole response (Spatial457's robust mode; the scripts' direct-answer runs).
    Whole,
    /// Nothing usable: scored 0.
    None,
}

impl Rule {
    /// Stable snake_case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Boxed => "boxed",
            Rule::BareLetter => "bare_letter",
            Rule::Parenthesized => "parenthesized",
            Rule::LetterDot => "letter_dot",
            Rule::AnswerPrefix => "answer_prefix",
            Rule::OptionText => "option_text",
            Rule::LoneLetter => "lone_letter",
            Rule::Number => "number",
            Rule::Template => "template",
            Rule::Whole => "whole",
            Rule::None => "none",
        }
    }
}

impl From<ExtractRule> for Rule {
    fn from(r: ExtractRule) -> Self {
        match r {
            ExtractRule::Boxed => Rule::Boxed,
            ExtractRule::BareLetter => Rule::BareLetter,
            ExtractRule::Parenthesized => Rule::Parenthesized,
            ExtractRule::LetterDot => Rule::LetterDot,
            ExtractRule::AnswerPrefix => Rule::AnswerPrefix,
            ExtractRule::OptionText => Rule::OptionText,
            _ => Rule::OptionText,
        }
    }
}

/// VLMEvalKit's last exact-matching resort: after replacing `.()[],:;!*#{}` by spaces, exactly
/// one valid option letter appears as a word, among the last few words (`can_infer_option`).
fn lone_letter(text: &str, n_options: usize) -> Option<char> {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || ".()[],:;!*#{}".contains(c))
        .filter(|w| !w.is_empty())
        .collect();
    let is_letter = |w: &str| {
        let mut cs = w.chars();
        match (cs.next(), cs.next()) {
            (Some(c), None)
                if c.is_ascii_uppercase() && ((c as u8 - b'A') as usize) < n_options =>
            {
                Some(c)
            }
            _ => None,
        }
    };
    let mut distinct: Vec<char> = words.iter().filter_map(|w| is_letter(w)).collect();
    distinct.sort_unstable();
    distinct.dedup();
    let [c] = distinct[..] else { return None };
    // VLMEvalKit only trusts the letter when its first occurrence is among the last 5 words.
    let first = words.iter().position(|w| is_letter(w) == Some(c))?;
    (first + 5 > words.len()).then_some(c)
}

/// Extracts a multiple-choice letter with `spatial_ssrl_rewards::extract_choice` (boxed, then
/// letter forms, then option text), falling back to VLMEvalKit's lone-letter rule.
pub fn extract_choice(prediction: &str, options: &[String]) -> (Option<char>, Rule) {
    let opts: Vec<&str> = options.iter().map(String::as_str).collect();
    if let Some(c) = spatial_ssrl_rewards::extract_choice(prediction, &opts) {
        return (Some(c.letter), c.rule.into());
    }
    match lone_letter(prediction, options.len()) {
        Some(c) => (Some(c), Rule::LoneLetter),
        None => (None, Rule::None),
    }
}

/// Extracts a plain number: the first number in the last box (`spatial_ssrl_rewards`), else
/// VSI-Bench's own rule (the first word, trailing `.` removed), else the last number.
pub fn extract_number(prediction: &str) -> (Option<f64>, Rule) {
    let boxed = extract_boxed(prediction)
        .is_some_and(|b| spatial_ssrl_rewards::extract_number(b).is_some());
    if !boxed {
        let first = prediction
            .split_whitespace()
            .next()
            .unwrap_or("")
            .trim_end_matches('.');
        if let Ok(v) = first.parse::<f64>()
            && v.is_finite()
        {
            return (Some(v), Rule::Number);
        }
    }
    match spatial_ssrl_rewards::extract_number(prediction) {
        Some(v) => (Some(v), if boxed { Rule::Boxed } else { Rule::Number }),
        None => (None, Rule::None),
    }
}

/// A length phrase (`"1.5 m"`, `"2 feet 3 inches"`) in centimetres; `None` without a known unit.
pub fn length_cm(text: &str) -> Option<f64> {
    spatial_ssrl_rewards::parse_length_cm(text)
}

/// QSpatial's own answer template: `\scalar{1.5} \distance_unit{m}` (mean of the numbers in the box).
fn qspatial_template(text: &str) -> Option<f64> {
    let inner = |key: &str| -> Option<&str> {
        let s = text.rfind(key)? + key.len();
        let e = text[s..].find('}')?;
        Some(&text[s..s + e])
    };
    let scalar = inner("scalar{")?;
    let nums: Vec<f64> = scalar
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter_map(|t| t.parse::<f64>().ok())
        .collect();
    if nums.is_empty() {
        return None;
    }
    let mean = nums.iter().sum::<f64>() / nums.len() as f64;
    let unit = inner("distance_unit{")?.trim();
    // The template names its unit alone, so the fork's unit table applies first: it knows
    // `in`, which a free-text parser must not read as a unit.
    match crate::paper::qspatial_multiplier(unit) {
        m if m > 0.0 => Some(mean * m),
        _ => length_cm(&format!("{mean} {unit}")),
    }
}

/// Extracts a length in centimetres: a length in the last box, then QSpatial's `\scalar{}`
/// template, then the last `number unit` phrase of the response.
pub fn extract_length_cm(prediction: &str) -> (Option<f64>, Rule) {
    if let Some(v) = extract_boxed(prediction).and_then(length_cm) {
        return (Some(v), Rule::Boxed);
    }
    if let Some(v) = qspatial_template(prediction) {
        return (Some(v), Rule::Template);
    }
    match length_cm(prediction) {
        Some(v) => (Some(v), Rule::Number),
        None => (None, Rule::None),
    }
}

/// VSI-Bench's Mean Relative Accuracy (`spatial_ssrl_rewards::mean_relative_accuracy`): the
/// fraction of thresholds θ ∈ {0.50, 0.55, …, 0.95} with `|pred − truth| / truth <= 1 − θ`.
pub fn mean_relative_accuracy(pred: f64, truth: f64) -> f64 {
    spatial_ssrl_rewards::mean_relative_accuracy(pred, truth)
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
    let pred = if pred.eq_ignore_ascii_case("none") {
        "no"
    } else {
        pred
    };
    if pred.to_lowercase() == truth.to_lowercase() {
        return true;
    }
    if pred == "0" && truth == "No" {
        return true;
    }
    const WORDS: [&str; 11] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    ];
    if let Some(n) = WORDS.iter().position(|w| pred.eq_ignore_ascii_case(w))
        && n.to_string() == truth
    {
        return true;
    }
    if truth.eq_ignore_ascii_case("yes")
        && matches!(pred, "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9")
    {
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
        (
            "car",
            &["suv", "wagon", "minivan", "sedan", "truck", "addi", "car"],
        ),
        (
            "bus",
            &["articulated", "regular", "double", "school", "bus"],
        ),
        (
            "motorbike",
            &["chopper", "dirtbike", "scooter", "cruiser", "motorbike"],
        ),
        (
            "aeroplane",
            &["jet", "fighter", "biplane", "airliner", "aeroplane"],
        ),
        (
            "bicycle",
            &["road", "utility", "mountain", "tandem", "bicycle"],
        ),
    ];
    GROUPS
        .iter()
        .find(|(_, members)| members.contains(&word))
        .map(|(g, _)| *g)
}

/// Spatial457's answer extraction: the boxed answer, else its JSON template
/// (`'Answer': '...'`), else the whole response (VLMEvalKit's robust mode).
pub fn extract_spatial457(prediction: &str) -> (String, Rule) {
    if let Some(b) = extract_boxed(prediction) {
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
        && let Some(d) = prediction[s + 9..]
            .chars()
            .next()
            .filter(char::is_ascii_digit)
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
        assert_eq!(
            extract_choice("<think>A seems wrong</think> \\boxed{C}", &o),
            (Some('C'), Rule::Boxed)
        );
        assert_eq!(extract_choice("\\boxed{(B)}", &o), (Some('B'), Rule::Boxed));
        assert_eq!(
            extract_choice("\\boxed{right}", &o),
            (Some('B'), Rule::Boxed)
        );
        assert_eq!(
            extract_choice("<think>..</think>\\boxed{Option D}", &o),
            (Some('D'), Rule::Boxed)
        );
    }

    #[test]
    fn letter_patterns() {
        let o = opts(&["a cat", "a dog", "a bird", "a fish"]);
        for (t, want, rule) in [
            ("B", 'B', Rule::BareLetter),
            ("D.", 'D', Rule::BareLetter),
            ("(C)", 'C', Rule::Parenthesized),
            ("A) a cat", 'A', Rule::LetterDot),
            ("B. a dog", 'B', Rule::LetterDot),
            ("Answer: C", 'C', Rule::AnswerPrefix),
            ("The correct answer is (B).", 'B', Rule::AnswerPrefix),
            ("I think it is a bird.", 'C', Rule::OptionText),
            // VLMEvalKit's fallback: one lone option letter among the last words.
            ("Looking closely, it must be D", 'D', Rule::LoneLetter),
        ] {
            assert_eq!(extract_choice(t, &o), (Some(want), rule), "{t}");
        }
        // Letters outside the option range are not answers.
        assert_eq!(extract_choice("E", &o), (None, Rule::None));
        // Two different lone letters: ambiguous.
        assert_eq!(extract_choice("between B and C", &o), (None, Rule::None));
        // A lone letter too far from the end is not trusted.
        assert_eq!(
            extract_choice("D could be the one but I am not sure at all", &o),
            (None, Rule::None)
        );
    }

    #[test]
    fn option_text_fallback() {
        let o = opts(&["left", "back-left", "front", "back"]);
        assert_eq!(
            extract_choice("it is on the front side", &o),
            (Some('C'), Rule::OptionText)
        );
        assert_eq!(extract_choice("somewhere else", &o), (None, Rule::None));
    }

    #[test]
    fn numbers_and_units() {
        assert_eq!(extract_number("\\boxed{3}"), (Some(3.0), Rule::Boxed));
        // VSI-Bench reads the first word when there is no box.
        assert_eq!(
            extract_number("4. There are 5 chairs"),
            (Some(4.0), Rule::Number)
        );
        assert_eq!(
            extract_number("I count 2 or maybe 5"),
            (Some(5.0), Rule::Number)
        );
        assert_eq!(
            extract_number("\\boxed{1,250.5 sq m}"),
            (Some(1250.5), Rule::Boxed)
        );
        assert_eq!(extract_number("no idea"), (None, Rule::None));

        let cm = |t: &str| {
            extract_length_cm(t)
                .0
                .map(|v| (v * 1000.0).round() / 1000.0)
        };
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
        assert_eq!(
            extract_length_cm("\\scalar{3} \\distance_unit{meters}"),
            (Some(300.0), Rule::Template)
        );
        assert_eq!(
            extract_length_cm("\\scalar{10} \\distance_unit{in}"),
            (Some(25.4), Rule::Template)
        );
        assert_eq!(
            extract_length_cm("\\scalar{1-2} \\distance_unit{m}"),
            (Some(150.0), Rule::Template)
        );
        assert_eq!(
            extract_length_cm("It is about 2 m wide, so 80 cm."),
            (Some(80.0), Rule::Number)
        );
        // A number without a unit is not a length.
        assert_eq!(extract_length_cm("\\boxed{42}"), (None, Rule::None));
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
        for (p, t, want) in [
            (5.5, 5.0, 0.9),
            (11.0, 10.0, 0.9),
            (12.0, 10.0, 0.6),
            (10.5, 10.0, 1.0),
        ] {
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
        assert!(!within_ratio(151.0, 100.0, 1.5));
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
        assert_eq!(
            extract_spatial457("{'Reasoning': 'x', 'Answer': 'red'}"),
            ("red".into(), Rule::Template)
        );
        assert_eq!(
            extract_spatial457("{\"Answer\": \"Yes\"}"),
            ("Yes".into(), Rule::Template)
        );
        assert_eq!(
            extract_spatial457("{'Answer': 3}"),
            ("3".into(), Rule::Template)
        );
        assert_eq!(
            extract_spatial457("<think>..</think>\\boxed{ blue }"),
            ("blue".into(), Rule::Boxed)
        );
        assert_eq!(extract_spatial457("blue"), ("blue".into(), Rule::Whole));
    }
}
