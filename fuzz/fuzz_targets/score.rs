//! Fuzzes every public scorer of spatial-ssrl-rewards: no panic, rewards in [0, 1], and the
//! scores consistent with the weights. The first byte picks the split between response and
//! ground truth, so both are fuzzed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spatial_ssrl_rewards::{
    AnswerKind, ImgScore, RewardFn, Strictness, extract_boxed, extract_choice, extract_number,
    has_reference_format, mean_relative_accuracy, normalize_tags, parse_length_cm,
};

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let cut = (split as usize * text.len() / 255).min(text.len());
    let cut = (0..=cut)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    let (response, truth) = text.split_at(cut);

    let r = ImgScore::default().score(response, truth);
    assert!([0.0, 1.0].contains(&r.format) && [0.0, 1.0].contains(&r.accuracy));
    assert_eq!(r.overall, 0.9 * r.accuracy + 0.1 * r.format);

    let normalized = normalize_tags(response);
    let _ = has_reference_format(&normalized);
    if let Some(answer) = extract_boxed(&normalized) {
        assert!(normalized.contains(answer));
    }
    for kind in [
        AnswerKind::Permutation,
        AnswerKind::Sequence,
        AnswerKind::Letter,
        AnswerKind::Text,
    ] {
        let lenient = ImgScore::default()
            .with_strictness(Strictness::Lenient(kind))
            .score(response, truth);
        assert!((0.0..=1.0).contains(&lenient.overall));
        assert!(
            lenient.accuracy >= r.accuracy,
            "lenient must accept all strict matches"
        );
    }

    if let Some(c) = extract_choice(response, &["left", "upper left", truth]) {
        assert!(c.index < 3);
    }
    if let Some(cm) = parse_length_cm(response) {
        assert!(cm.is_finite());
    }
    if let (Some(p), Some(t)) = (extract_number(response), extract_number(truth)) {
        assert!((0.0..=1.0).contains(&mean_relative_accuracy(p, t)));
    }
});
