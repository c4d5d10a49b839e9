//! Invariants on arbitrary input: scoring never panics or hangs, rewards stay in [0, 1], and
//! the linear-time scanners agree with straightforward models of the Python rules.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use spatial_ssrl_rewards::{
    ImgScore, RewardFn, extract_boxed, extract_choice, extract_number, has_reference_format,
    is_python_whitespace, mean_relative_accuracy, normalize_tags, parse_length_cm, python_strip,
};

/// Text built from the pieces that matter to the rules, plus arbitrary characters.
fn soup() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("<think>".to_owned()),
        Just("</think>".to_owned()),
        Just("\\boxed{".to_owned()),
        Just("\\boxed {".to_owned()),
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("<".to_owned()),
        Just(">".to_owned()),
        Just("/".to_owned()),
        Just("\0".to_owned()),
        Just("\u{202e}\u{5d0}\u{5d1}".to_owned()), // RTL override + Hebrew
        Just("\u{200b}".to_owned()),
        Just("\u{feff}".to_owned()),
        Just("(B)".to_owned()),
        Just("answer: C".to_owned()),
        Just("3.5 ft".to_owned()),
        prop::sample::select(vec![
            " ", "\t", "\n", "\u{1c}", "\u{1f}", "\u{85}", "\u{a0}", "\u{2028}", "\u{3000}"
        ])
        .prop_map(str::to_owned),
        any::<char>().prop_map(String::from),
        "[A-Da-d0-9 -]{0,6}",
    ];
    prop::collection::vec(piece, 0..60).prop_map(|v| v.concat())
}

/// Python's `re.sub(r"\s*(<|>|/)\s*", r"\1", s)`, modelled run by run.
fn model_normalize(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let tag = |c: Option<&char>| c.is_some_and(|c| matches!(c, '<' | '>' | '/'));
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if is_python_whitespace(chars[i]) {
            let start = i;
            while i < chars.len() && is_python_whitespace(chars[i]) {
                i += 1;
            }
            let before = start.checked_sub(1).map(|j| &chars[j]);
            if !(tag(before) || tag(chars.get(i))) {
                out.extend(&chars[start..i]);
            }
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// `re.fullmatch(r"<think>.*</think>.*\\boxed\{.*\}.*", s, re.DOTALL)` by exhaustive search.
fn model_format(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("<think>") else {
        return false;
    };
    rest.match_indices("</think>").any(|(i, _)| {
        rest[i + 8..]
            .match_indices("\\boxed{")
            .any(|(j, _)| rest[i + 8 + j + 7..].contains('}'))
    })
}

/// mathruler's `extract_boxed_content`, character by character.
fn model_extract(s: &str) -> Option<String> {
    let start = s.rfind("\\boxed{")? + 7;
    let mut depth = 0i64;
    for (i, c) in s[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        if depth == -1 {
            return Some(python_strip(&s[start..start + i]).to_owned());
        }
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn scanners_agree_with_models(s in soup()) {
        let n = normalize_tags(&s);
        let want = model_normalize(&s);
        prop_assert_eq!(n.as_ref(), want.as_str());
        prop_assert_eq!(has_reference_format(&n), model_format(&n));
        prop_assert_eq!(extract_boxed(&n).map(str::to_owned), model_extract(&n));
    }

    #[test]
    fn reward_in_unit_interval(s in soup(), truth in "[AB0-3-]{0,4}", w in 0.0f64..=1.0) {
        let r = ImgScore::new(w).unwrap().score(&s, &truth);
        for (_, v) in r.components() {
            prop_assert!((0.0..=1.0).contains(&v), "{:?}", r);
        }
        prop_assert_eq!(r.overall, (1.0 - w) * r.accuracy + w * r.format);
    }

    #[test]
    fn arbitrary_unicode_never_panics(s in any::<String>(), t in any::<String>()) {
        let r = ImgScore::default().score(&s, &t);
        prop_assert!((0.0..=1.0).contains(&r.overall));
        let _ = extract_choice(&s, &["left", "right", &t]);
        let _ = extract_number(&s);
        let _ = parse_length_cm(&s);
    }

    #[test]
    fn evaluation_helpers_never_panic(s in soup()) {
        if let Some(c) = extract_choice(&s, &["red chair", "blue", "upper left", "left"]) {
            prop_assert!(c.index < 4);
            prop_assert_eq!(c.letter as usize - 'A' as usize, c.index);
        }
        if let Some(cm) = parse_length_cm(&s) {
            prop_assert!(cm.is_finite());
        }
        let _ = extract_number(&s);
    }

    #[test]
    fn mra_in_unit_interval(p in any::<f64>(), t in any::<f64>()) {
        let m = mean_relative_accuracy(p, t);
        prop_assert!((0.0..=1.0).contains(&m));
    }
}

/// Scores `text`, failing when it takes longer than `limit` (a generous bound: linear scans
/// take milliseconds; a quadratic one would take minutes on 1 MB).
fn score_within(name: &str, text: &str, limit: Duration) {
    let t = Instant::now();
    let r = ImgScore::default().score(text, "B");
    let _ = extract_choice(text, &["left", "right"]);
    let _ = parse_length_cm(text);
    let took = t.elapsed();
    assert!((0.0..=1.0).contains(&r.overall));
    assert!(took < limit, "{name}: {} bytes took {took:?}", text.len());
}

#[test]
fn one_megabyte_adversarial_inputs_are_fast() {
    const MB: usize = 1 << 20;
    let limit = Duration::from_secs(3);
    score_within(
        "nested boxes",
        &format!("<think></think>\\boxed{}", "{".repeat(MB)),
        limit,
    );
    score_within("many boxes", &"\\boxed{".repeat(MB / 7), limit);
    score_within(
        "whitespace run",
        &format!("<think>{}x", " ".repeat(MB)),
        limit,
    );
    score_within(
        "unicode whitespace",
        &"\u{3000}\u{2028}a".repeat(MB / 7),
        limit,
    );
    score_within("spaced tags", &" < / > ".repeat(MB / 7), limit);
    score_within("lone braces", &"}{".repeat(MB / 2), limit);
    score_within("nul and rtl", &"\0\u{202e}\u{5d0}".repeat(MB / 6), limit);
    score_within("think tags", &"<think></think>".repeat(MB / 15), limit);
    score_within("answers", &"answer: (B) ".repeat(MB / 12), limit);
    score_within("numbers", &"1,234.5 ft ".repeat(MB / 11), limit);
}
