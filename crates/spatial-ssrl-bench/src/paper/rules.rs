//! The paper's scoring rules, reproduced from its evaluation scripts (InternLM/Spatial-SSRL
//! `evaluation/`) including their quirks: Python's `float()`, `re` word boundaries, the
//! `[^}]*` box pattern, VLMEvalKit's judge-free `can_infer` and QSpatial's template parser.
//! Each function says which script it mirrors; none of them is forgiving on purpose.

use crate::matching::Rule;

/// Python's `float(s)`: surrounding whitespace ignored, `_` allowed between digits,
/// `inf`/`infinity`/`nan` in any case, otherwise a decimal literal. `None` where Python raises.
pub fn py_float(s: &str) -> Option<f64> {
    let t = s.trim_matches(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c));
    if t.is_empty() {
        return None;
    }
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    if body.is_empty() {
        return None;
    }
    let special = body.to_ascii_lowercase();
    if !matches!(special.as_str(), "inf" | "infinity" | "nan") {
        // Python's grammar: digits, one '.', an exponent; Rust's parser agrees on those, so
        // only the underscore rule (each `_` between two digits) needs checking here.
        let chars: Vec<char> = body.chars().collect();
        for (i, c) in chars.iter().enumerate() {
            if *c == '_' {
                let before = i.checked_sub(1).map(|j| chars[j]);
                let after = chars.get(i + 1);
                if !(before.is_some_and(|b| b.is_ascii_digit())
                    && after.is_some_and(char::is_ascii_digit))
                {
                    return None;
                }
            } else if !(c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-')) {
                return None;
            }
        }
    }
    t.replace('_', "").parse::<f64>().ok()
}

/// Python `re.findall(pattern + r"\{([^}]*)\}", text)[-1]`, or `None` without a match:
/// the text after the last `{pattern}{` up to the next `}` (nested braces cut the content short).
fn last_braced<'a>(text: &'a str, opener: &str) -> Option<&'a str> {
    let mut pos = 0;
    let mut last = None;
    while let Some(i) = text[pos..].find(opener) {
        let start = pos + i + opener.len();
        match text[start..].find('}') {
            Some(j) => {
                last = Some(&text[start..start + j]);
                pos = start + j + 1;
            }
            // No `}` after this opener means none after any later opener either.
            None => break,
        }
    }
    last
}

/// `extract()` of `ViewSpatial_eval/main.py` and `VSI-bench_eval/check_accuracy.py`:
/// the last `\boxed{...}` (pattern `\\boxed\{([^}]*)\}`), `""` when there is none.
pub fn script_boxed(text: &str) -> &str {
    last_braced(text, "\\boxed{").unwrap_or("")
}

/// `extract()` of `whatsup_eval/main.py`: the same without the backslash (`boxed\{([^}]*)\}`).
pub fn whatsup_boxed(text: &str) -> &str {
    last_braced(text, "boxed{").unwrap_or("")
}

/// Python's `\w` for `str` patterns: letters, digits and `_`.
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `re.search(r"\b([A-D])\b", text, re.IGNORECASE)`, upper-cased: the first standalone
/// letter A-D, as ViewSpatial's `extract_pred`/`extract_option` read answers.
pub fn first_standalone_abcd(text: &str) -> Option<char> {
    let chars: Vec<char> = text.chars().collect();
    chars.iter().enumerate().find_map(|(i, &c)| {
        let up = c.to_ascii_uppercase();
        let boundary_before = i == 0 || !is_word(chars[i - 1]);
        let boundary_after = chars.get(i + 1).is_none_or(|&n| !is_word(n));
        (('A'..='D').contains(&up) && boundary_before && boundary_after).then_some(up)
    })
}

/// ViewSpatial-Bench (`main.py`): with CoT the last box, else the whole response; then the first
/// standalone A-D. A CoT answer without a box reads as `""` and is wrong.
pub fn viewspatial_letter(prediction: &str, cot: bool) -> Option<char> {
    let text = if cot {
        script_boxed(prediction)
    } else {
        prediction
    };
    first_standalone_abcd(text)
}

/// `mra()` of `check_accuracy.py`: for θ = 0.5 + 0.05·i, i in 0..20, count
/// `|pred − truth| / truth < 1 − θ`, divided by 10. Any Python exception (an unparsable
/// prediction, a zero truth) scores 0.
pub fn script_mra(pred: &str, truth: f64) -> f64 {
    let Some(p) = py_float(pred) else { return 0.0 };
    if truth == 0.0 {
        return 0.0; // ZeroDivisionError in the script
    }
    let rel = (p - truth).abs() / truth;
    let hits = (0..20)
        .filter(|&i| rel < 1.0 - (0.5 + f64::from(i) * 0.05))
        .count();
    hits as f64 / 10.0
}

/// One VSI-Bench item as `check_accuracy.py` scores it. `prediction` is the raw response
/// (`vsi_infer.py` strips it before saving); `truth` is the letter or the number as text.
/// Returns the score and the string the rule read.
pub fn vsi_score(prediction: &str, truth: &str, cot: bool) -> (f64, String) {
    let stripped = prediction.trim();
    let pred = if cot {
        script_boxed(stripped)
    } else {
        stripped
    };
    let mut cs = pred.chars();
    let single_letter = matches!((cs.next(), cs.next()), (Some(c), None) if c.is_alphabetic());
    let score = if single_letter {
        f64::from(u8::from(pred.to_lowercase() == truth.to_lowercase()))
    } else {
        match py_float(truth) {
            Some(t) => script_mra(pred, t),
            None => 0.0,
        }
    };
    (score, pred.to_string())
}

/// What'sUp (`whatsup_eval/main.py`): the correct letter occurs anywhere in the last box (CoT)
/// or anywhere in the response (no CoT), case-sensitively.
pub fn whatsup_hit(prediction: &str, letter: char, cot: bool) -> (bool, String) {
    let ans = if cot {
        whatsup_boxed(prediction)
    } else {
        prediction
    };
    (ans.contains(letter), ans.to_string())
}

/// VLMEvalKit's judge-free multiple-choice matching (`can_infer` in the Spatial-SSRL fork,
/// exact-matching policy): one option letter among the words, else exactly one option text
/// inside the response. `None` covers the fork's `Z` (refusal / no match), which never scores.
/// The rule says which of the two matched ([`Rule::LoneLetter`] or [`Rule::OptionText`]).
pub fn can_infer(answer: &str, options: &[String]) -> Option<(char, Rule)> {
    const REFUSALS: [&str; 4] = [
        "Sorry, I can't help with images of people yet.",
        "I can't process this file.",
        "I'm sorry, but without the image provided",
        "Cannot determine the answer",
    ];
    let letters: Vec<char> = (0..options.len()).map(crate::Item::letter).collect();
    if !answer.contains("Failed to obtain answer via API") {
        if REFUSALS.iter().any(|r| answer.contains(r)) {
            return None;
        }
        let cleaned: String = answer
            .chars()
            .map(|c| if ".()[],:;!*#{}".contains(c) { ' ' } else { c })
            .collect();
        let words: Vec<&str> = cleaned.split_whitespace().collect();
        let present: Vec<char> = letters
            .iter()
            .copied()
            .filter(|l| words.iter().any(|w| w.chars().eq(std::iter::once(*l))))
            .collect();
        match present[..] {
            [one] => return Some((one, Rule::LoneLetter)),
            [] if words.contains(&"Z") => return None,
            _ => {}
        }
    }
    let lower = answer.to_lowercase();
    let hits: Vec<char> = letters
        .iter()
        .zip(options)
        .filter(|(_, o)| lower.contains(&o.to_lowercase()))
        .map(|(l, _)| *l)
        .collect();
    match hits[..] {
        [one] => Some((one, Rule::OptionText)),
        _ => None,
    }
}

/// Spatial457's answer extraction in the fork (`spatial457.py`, `ROBUST = True`): the JSON
/// template `'Answer': '...'`, `"Answer": "..."` or `'Answer': 7`, else the whole response
/// (no box extraction: a CoT response is compared whole).
pub fn spatial457_answer(prediction: &str) -> (String, bool) {
    for (open, close) in [("Answer': '", '\''), ("Answer\": \"", '"')] {
        let mut pos = 0;
        while let Some(i) = prediction[pos..].find(open) {
            let start = pos + i + open.len();
            // `(.*?)` stops at the closing quote and never crosses a newline.
            let rest = &prediction[start..];
            match rest.find([close, '\n']) {
                Some(j) if rest[j..].starts_with(close) => {
                    return (rest[..j].to_string(), true);
                }
                _ => pos = pos + i + 1,
            }
        }
    }
    let mut pos = 0;
    while let Some(i) = prediction[pos..].find("Answer': ") {
        let start = pos + i + "Answer': ".len();
        if let Some(d) = prediction[start..]
            .chars()
            .next()
            .filter(char::is_ascii_digit)
        {
            return (d.to_string(), true);
        }
        pos = pos + i + 1;
    }
    (prediction.to_string(), false)
}

/// `QSpatial.get_multiplier` of the fork: centimetres per unit; 0 for a unit it does not know.
pub fn qspatial_multiplier(unit: &str) -> f64 {
    match unit.trim().to_lowercase().as_str() {
        "meters" | "meter" | "m" | "metre" | "metres" => 100.0,
        "centimeters" | "centimeter" | "cm" => 1.0,
        "feet" | "foot" | "ft" => 30.48,
        "inch" | "inches" | "in" => 2.54,
        "mm" => 0.1,
        _ => 0.0,
    }
}

/// All `key{...}` contents (`re.findall(key + r"{([^}]*)}")`).
fn all_braced<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(i) = text[pos..].find(key) {
        let start = pos + i + key.len();
        match text[start..].find('}') {
            Some(j) => {
                out.push(&text[start..start + j]);
                pos = start + j + 1;
            }
            None => break,
        }
    }
    out
}

/// `QSpatial.parse_prediction` of the fork: a `boxed{` is rewritten into the `\scalar{}`
/// template, the numbers in the last `scalar{}` are averaged, the unit is the last
/// `distance_unit{}` (else `unit{}`, else any `{}`). `None` where the script raises
/// `IndexError` (scored as 1e-8 cm); NaN where numpy averages nothing.
pub fn qspatial_cm(response: &str) -> Option<f64> {
    let mut s = response.to_string();
    if s.contains("boxed{") {
        s = s.replace("boxed{", "scalar{");
        let from = s.find("scalar{").unwrap_or(0);
        if let Some(sp) = s[from..].find(' ') {
            s.insert(from + sp, '}');
        }
        if let Some(last) = s.rfind('}') {
            s.remove(last);
        }
    }
    let scalar = *all_braced(&s, "scalar{").last()?;
    let mut nums = Vec::new();
    let b = scalar.as_bytes();
    let mut i = 0;
    while i < b.len() {
        // \d+\.?\d*
        if b[i].is_ascii_digit() {
            let st = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i < b.len() && b[i] == b'.' {
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            }
            nums.push(scalar[st..i].parse::<f64>().unwrap_or(f64::NAN));
        } else {
            i += 1;
        }
    }
    let mean = if nums.is_empty() {
        f64::NAN
    } else {
        nums.iter().sum::<f64>() / nums.len() as f64
    };
    let mut units = all_braced(&s, "distance_unit{");
    if units.is_empty() {
        units = all_braced(&s, "unit{");
    }
    if units.is_empty() {
        units = all_braced(&s, "{");
    }
    let mut unit = units.last()?.to_string();
    if py_float(&unit).is_some() {
        // The fork's fallback for a number in the unit box: letters after the last backslash.
        let tail = s.rsplit_once('\\').map_or("", |(_, t)| t);
        unit = tail.chars().take_while(char::is_ascii_alphabetic).collect();
    }
    Some(mean * qspatial_multiplier(&unit))
}

/// The fork's QSpatial success test: `max(p/t, t/p) < threshold` with 1e-8 added to both
/// sides; NaN (numpy's mean of nothing) never succeeds.
pub fn qspatial_within(pred_cm: f64, truth_cm: f64, threshold: f64) -> bool {
    let (p, t) = (pred_cm + 1e-8, truth_cm + 1e-8);
    let (a, b) = (p / t, t / p);
    !(a.is_nan() || b.is_nan()) && a.max(b) < threshold
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_float() {
        for (s, v) in [
            (" 3.5\n", Some(3.5)),
            ("1_000", Some(1000.0)),
            ("+.5", Some(0.5)),
            ("1e3", Some(1000.0)),
            ("-InFinity", Some(f64::NEG_INFINITY)),
            ("1__0", None),
            ("_1", None),
            ("3 m", None),
            ("", None),
            ("0x10", None),
        ] {
            assert_eq!(py_float(s), v, "{s:?}");
        }
        assert!(py_float("nan").unwrap().is_nan());
    }

    #[test]
    fn box_pattern_is_the_scripts() {
        assert_eq!(script_boxed("\\boxed{A} then \\boxed{B}"), "B");
        assert_eq!(script_boxed("\\boxed{\\text{B}}"), "\\text{B");
        assert_eq!(script_boxed("no box"), "");
        assert_eq!(script_boxed("\\boxed{open"), "");
        assert_eq!(whatsup_boxed("boxed{A}"), "A");
    }
}
