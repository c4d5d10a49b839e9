//! Numeric answers: numbers, lengths with units (QSpatial-style questions), and the Mean
//! Relative Accuracy of VSI-Bench-style numeric answers.

use crate::boxed::extract_boxed;
use crate::whitespace::is_python_whitespace;

/// One number found in a text: byte span and value.
#[derive(Debug, Clone, Copy)]
struct Number {
    start: usize,
    end: usize,
    value: f64,
}

/// Scans the numbers of `text` left to right, in one pass.
///
/// A number is an optional sign (only where no letter or digit precedes it), digits with
/// optional `,` thousands groups of exactly three digits, and an optional `.` fraction;
/// `.5` is a number too.
fn numbers(text: &str) -> Vec<Number> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let digit_at = |j: usize| b.get(j).is_some_and(u8::is_ascii_digit);
        let starts_number = digit_at(i) || (b[i] == b'.' && digit_at(i + 1));
        let signed = matches!(b[i], b'-' | b'+')
            && (digit_at(i + 1) || (b.get(i + 1) == Some(&b'.') && digit_at(i + 2)))
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.'));
        if !(starts_number || signed) {
            i += 1;
            continue;
        }
        let start = i;
        let mut clean = String::new();
        if signed {
            clean.push(b[i] as char);
            i += 1;
        }
        while digit_at(i) {
            clean.push(b[i] as char);
            i += 1;
            // A `,` followed by exactly three digits continues the integer part.
            if b.get(i) == Some(&b',') && (1..=3).all(|k| digit_at(i + k)) && !digit_at(i + 4) {
                i += 1;
            }
        }
        if b.get(i) == Some(&b'.') && digit_at(i + 1) {
            clean.push('.');
            i += 1;
            while digit_at(i) {
                clean.push(b[i] as char);
                i += 1;
            }
        }
        // Overlong digit strings parse to infinity: not a usable answer.
        if let Ok(value) = clean.parse::<f64>()
            && value.is_finite()
        {
            out.push(Number {
                start,
                end: i,
                value,
            });
        }
    }
    out
}

/// The numeric answer of a response: the first number inside the last `\boxed{}` when it has
/// one, else the last number of the whole text. `None` when there is no number.
///
/// ```
/// use spatial_ssrl_rewards::extract_number;
/// assert_eq!(extract_number("<think>2 or 3?</think> \\boxed{3.5}"), Some(3.5));
/// assert_eq!(extract_number("There are 4 chairs and 12 cups, so 1,200 items."), Some(1200.0));
/// assert_eq!(extract_number("about -.5 degrees"), Some(-0.5));
/// assert_eq!(extract_number("none"), None);
/// ```
pub fn extract_number(text: &str) -> Option<f64> {
    if let Some(n) = extract_boxed(text).and_then(|c| numbers(c).first().map(|n| n.value)) {
        return Some(n);
    }
    numbers(text).last().map(|n| n.value)
}

/// Centimetres per unit, for the unit words and abbreviations recognised (lower case).
fn unit_cm(unit: &str) -> Option<f64> {
    Some(match unit {
        "mm" | "millimeter" | "millimeters" | "millimetre" | "millimetres" => 0.1,
        "cm" | "centimeter" | "centimeters" | "centimetre" | "centimetres" => 1.0,
        "m" | "meter" | "meters" | "metre" | "metres" => 100.0,
        "km" | "kilometer" | "kilometers" | "kilometre" | "kilometres" => 100_000.0,
        "inch" | "inches" | "\"" | "\u{2033}" => 2.54,
        "ft" | "foot" | "feet" | "'" | "\u{2032}" => 30.48,
        "yd" | "yard" | "yards" => 91.44,
        "mi" | "mile" | "miles" => 160_934.4,
        _ => return None,
    })
}

/// A length found in a text: byte span and value in centimetres.
#[derive(Debug, Clone, Copy)]
struct Length {
    start: usize,
    end: usize,
    cm: f64,
}

/// Every `number unit` pair of `text`, compound lengths (`5 feet 3 inches`, `5'10"`,
/// `1 m and 20 cm`) merged into one.
fn lengths(text: &str) -> Vec<Length> {
    let b = text.as_bytes();
    let mut out: Vec<(Length, f64)> = Vec::new(); // (length, factor of its last unit)
    for n in numbers(text) {
        // Foot and inch marks attach directly to the number.
        let mark = text[n.end..]
            .chars()
            .next()
            .filter(|c| matches!(c, '\'' | '"' | '\u{2032}' | '\u{2033}'));
        let (factor, end) = if let Some(m) = mark {
            (unit_cm(m.encode_utf8(&mut [0; 4])), n.end + m.len_utf8())
        } else {
            let word_start = n.end + text[n.end..].len()
                - text[n.end..].trim_start_matches(is_python_whitespace).len();
            let word_len = b[word_start..]
                .iter()
                .take_while(|c| c.is_ascii_alphabetic())
                .count();
            let word = text[word_start..word_start + word_len].to_ascii_lowercase();
            // The unit must end at a word boundary (`3 m.` yes, `3 mangoes` no).
            let boundary = text[word_start + word_len..]
                .chars()
                .next()
                .is_none_or(|c| !c.is_alphanumeric());
            (
                unit_cm(&word).filter(|_| word_len > 0 && boundary),
                word_start + word_len,
            )
        };
        let Some(factor) = factor else { continue };
        let cm = n.value * factor;
        if !cm.is_finite() {
            continue;
        }
        if let Some((prev, prev_factor)) = out.last_mut() {
            let gap =
                text[prev.end..n.start].trim_matches(|c: char| is_python_whitespace(c) || c == ',');
            if factor < *prev_factor && (gap.is_empty() || gap.eq_ignore_ascii_case("and")) {
                prev.end = end;
                prev.cm += cm;
                *prev_factor = factor;
                continue;
            }
        }
        out.push((
            Length {
                start: n.start,
                end,
                cm,
            },
            factor,
        ));
    }
    out.into_iter().map(|(l, _)| l).collect()
}

/// The length a response answers, in centimetres: the last length inside the last `\boxed{}`
/// when it has one, else the last length of the whole text. Units: mm, cm, m, km, inch, ft
/// (and `'`), inch (and `"`), yard, mile, spelled out or abbreviated, singular or plural.
/// A bare number without a unit is not a length (`None`).
///
/// ```
/// use spatial_ssrl_rewards::parse_length_cm;
/// assert_eq!(parse_length_cm("\\boxed{1.5 m}"), Some(150.0));
/// assert_eq!(parse_length_cm("roughly 3 feet"), Some(3.0 * 30.48));
/// assert_eq!(parse_length_cm("5'10\" tall"), Some(5.0 * 30.48 + 10.0 * 2.54));
/// assert_eq!(parse_length_cm("2 km, i.e. 2,000 meters"), Some(200_000.0));
/// assert_eq!(parse_length_cm("3 mangoes"), None);
/// ```
pub fn parse_length_cm(text: &str) -> Option<f64> {
    if let Some(l) = extract_boxed(text).and_then(|c| lengths(c).last().map(|l| l.cm)) {
        return Some(l);
    }
    let found = lengths(text);
    let last = found.last()?;
    debug_assert!(last.start < last.end);
    Some(last.cm)
}

/// VSI-Bench's Mean Relative Accuracy of a numeric prediction.
///
/// The fraction of the ten confidence thresholds θ ∈ {0.50, 0.55, …, 0.95} for which the
/// relative error `|pred - truth| / |truth|` is at most `1 - θ` (thresholds as NumPy's
/// `linspace(0.5, 0.95, 10)`). A NaN input, or `truth == 0`, scores 0 (the relative error is
/// then undefined or infinite), as with NumPy floats. Always in `[0, 1]`.
///
/// ```
/// use spatial_ssrl_rewards::mean_relative_accuracy;
/// assert_eq!(mean_relative_accuracy(10.0, 10.0), 1.0);
/// assert_eq!(mean_relative_accuracy(10.6, 10.0), 0.9); // rel. error 0.06: all θ but 0.95
/// assert_eq!(mean_relative_accuracy(12.0, 10.0), 0.6); // 0.2 > 1 - 0.8 in floating point
/// assert_eq!(mean_relative_accuracy(16.0, 10.0), 0.0);
/// assert_eq!(mean_relative_accuracy(1.0, 0.0), 0.0);
/// ```
pub fn mean_relative_accuracy(pred: f64, truth: f64) -> f64 {
    const START: f64 = 0.5;
    const END: f64 = 0.95;
    const N: usize = 10;
    let rel = (pred - truth).abs() / truth.abs();
    let step = (END - START) / (N - 1) as f64;
    let hits = (0..N)
        .filter(|&i| {
            let theta = if i == N - 1 {
                END
            } else {
                START + i as f64 * step
            };
            rel <= 1.0 - theta
        })
        .count();
    hits as f64 / N as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(t: &str) -> Vec<f64> {
        numbers(t).iter().map(|n| n.value).collect()
    }

    #[test]
    fn number_grammar() {
        assert_eq!(values("0-2-3-1"), [0.0, 2.0, 3.0, 1.0]);
        assert_eq!(
            values("x-1 -1 +2.5 1,234,567 1,23 3."),
            [1.0, -1.0, 2.5, 1_234_567.0, 1.0, 23.0, 3.0]
        );
        assert_eq!(values("v2.0.1"), [2.0, 0.1]);
        assert!(values("no digits").is_empty());
        assert!(values(&"9".repeat(400)).is_empty());
    }

    #[test]
    fn lengths_and_units() {
        let close = |t: &str, want: f64| {
            let got = parse_length_cm(t).unwrap_or(f64::NAN);
            assert!(
                (got - want).abs() < 1e-9 * want.abs().max(1.0),
                "{t}: {got} vs {want}"
            );
        };
        close("12 mm", 1.2);
        close("12mm", 1.2);
        close("0.5 Miles", 80_467.2);
        assert_eq!(parse_length_cm("1 m and 20 cm"), Some(120.0));
        assert_eq!(
            parse_length_cm("5 feet 3 inches"),
            Some(5.0 * 30.48 + 3.0 * 2.54)
        );
        assert_eq!(parse_length_cm("2 yards"), Some(182.88));
        // Increasing units are separate lengths: the last one is the answer.
        assert_eq!(parse_length_cm("3 cm then 2 m"), Some(200.0));
        assert_eq!(parse_length_cm("3 in the box"), None);
        assert_eq!(parse_length_cm("1.2 meters \\boxed{40 cm}"), Some(40.0));
        assert_eq!(parse_length_cm("1.2 meters \\boxed{40}"), Some(120.0));
        assert_eq!(parse_length_cm(""), None);
    }

    #[test]
    fn mra_matches_vsibench() {
        // Expected values computed with NumPy
        // `((abs(p - t) / t) <= 1 - np.linspace(0.5, 0.95, 10)).mean()`.
        let numpy = [
            (10.5, 10.0, 1.0),
            (9.5, 10.0, 1.0),
            (15.0, 10.0, 0.1),
            (5.0, 10.0, 0.1),
            (12.0, 10.0, 0.6),
            (16.0, 10.0, 0.0),
            (10.6, 10.0, 0.9),
            (14.5, 10.0, 0.1),
            (3.3, 3.0, 0.9),
            (1.55, 1.0, 0.0),
        ];
        for (p, t, want) in numpy {
            assert_eq!(mean_relative_accuracy(p, t), want, "pred {p} truth {t}");
        }
        assert_eq!(mean_relative_accuracy(f64::NAN, 10.0), 0.0);
        assert_eq!(mean_relative_accuracy(0.0, 0.0), 0.0);
        assert_eq!(mean_relative_accuracy(-10.0, -10.0), 1.0);
    }
}
