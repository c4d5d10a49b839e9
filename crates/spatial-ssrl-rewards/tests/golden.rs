//! Parity with the reference reward: every line of the golden file (scored by the real
//! `img_score` + `mathruler` 0.1.0 under CPython 3.11.7) must agree exactly.
//!
//! The file is `$SSRL_REWARD_GOLDEN` when set, else the repository copy
//! `tests/fixtures/reward-golden/img_score_golden.jsonl`.

use std::path::PathBuf;

use serde::Deserialize;
use spatial_ssrl_rewards::{ImgScore, RewardFn};

#[derive(Deserialize)]
struct Case {
    id: String,
    case: String,
    response: String,
    ground_truth: String,
    overall: f64,
    format: f64,
    accuracy: f64,
    #[serde(rename = "_extracted")]
    extracted: Option<String>,
}

fn golden_path() -> PathBuf {
    std::env::var_os("SSRL_REWARD_GOLDEN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../tests/fixtures/reward-golden/img_score_golden.jsonl")
        })
}

fn cases() -> Vec<Case> {
    let path = golden_path();
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{} line {}: {e}", path.display(), i + 1))
        })
        .collect()
}

#[test]
fn img_score_agrees_with_reference_on_every_case() {
    let cases = cases();
    assert!(!cases.is_empty(), "golden file is empty");
    let reward = ImgScore::default();
    let mut failures = Vec::new();
    for c in &cases {
        let got = reward.explain(&c.response, &c.ground_truth);
        let b = got.breakdown;
        // Exact float equality: the reference formula is reproduced operation by operation.
        let same = b.overall == c.overall
            && b.format == c.format
            && b.accuracy == c.accuracy
            && c.extracted.as_ref().is_none_or(|e| *e == got.extracted);
        if !same {
            failures.push(format!(
                "{} ({}): expected overall={} format={} accuracy={} extracted={:?}; got overall={} format={} accuracy={} extracted={:?}",
                c.id, c.case, c.overall, c.format, c.accuracy, c.extracted, b.overall, b.format, b.accuracy, got.extracted
            ));
        }
    }
    let agree = 100.0 * (cases.len() - failures.len()) as f64 / cases.len() as f64;
    assert!(
        failures.is_empty(),
        "{agree:.1}% agreement ({} of {} differ):\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn batch_scoring_preserves_order_and_values() {
    let cases = cases();
    let pairs: Vec<(&str, &str)> = cases
        .iter()
        .map(|c| (c.response.as_str(), c.ground_truth.as_str()))
        .collect();
    let batch = ImgScore::default().score_batch(&pairs);
    assert_eq!(batch.len(), cases.len());
    for (c, b) in cases.iter().zip(&batch) {
        assert_eq!(
            (b.overall, b.format, b.accuracy),
            (c.overall, c.format, c.accuracy),
            "{}",
            c.id
        );
    }
}
