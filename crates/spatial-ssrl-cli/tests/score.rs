//! `spatial-ssrl score`: scores a JSONL file, keeps every original field, prints a summary.

use std::fs;

use serde_json::Value;

use crate::util::{cmd, fixtures, run_ok};

#[test]
fn score_golden_file_matches_reference_and_keeps_fields() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixtures().join("reward-golden/img_score_golden.jsonl");
    let out = dir.path().join("scores.jsonl");
    // The golden lines already carry reference scores: rename them so the command adds its own.
    let renamed: String = fs::read_to_string(&input)
        .unwrap()
        .lines()
        .map(|l| {
            l.replace("\"overall\":", "\"want_overall\":")
                .replace("\"format\":", "\"want_format\":")
                .replace("\"accuracy\":", "\"want_accuracy\":")
                + "\n"
        })
        .collect();
    let renamed_path = dir.path().join("in.jsonl");
    fs::write(&renamed_path, &renamed).unwrap();

    let stdout = run_ok(
        cmd()
            .args(["score", "--input"])
            .arg(&renamed_path)
            .arg("--out")
            .arg(&out),
    );
    assert!(stdout.contains("scored 200 responses"), "{stdout}");

    let lines: Vec<String> = fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), 200);
    for (src, got) in renamed.lines().zip(&lines) {
        // Original text kept byte for byte, scores appended.
        assert!(got.starts_with(&src[..src.len() - 1]), "{got}");
        let v: Value = serde_json::from_str(got).unwrap();
        for k in ["overall", "format", "accuracy"] {
            assert_eq!(v[k], v[format!("want_{k}")], "{} field {k}", v["id"]);
        }
    }
    // The mean line: the golden file's means, computed here from the expected scores.
    let rows: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mean =
        |k: &str| rows.iter().map(|v| v[k].as_f64().unwrap()).sum::<f64>() / rows.len() as f64;
    let all = stdout
        .lines()
        .find(|l| l.starts_with("all "))
        .expect("summary row");
    let want = format!(
        "{:>8.4} {:>8.4} {:>8.4}",
        mean("overall"),
        mean("format"),
        mean("accuracy")
    );
    assert!(all.ends_with(&want), "{all:?} vs {want:?}");
}

#[test]
fn score_custom_fields_tasks_and_lenient() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("r.jsonl");
    fs::write(
        &input,
        concat!(
            r#"{"kind": "shuffle", "out": "<think>x</think>\\boxed{0 2 3 1}", "gt": "0-2-3-1"}"#,
            "\n",
            r#"{"kind": "crop", "out": "<think>x</think>\\boxed{B}", "gt": "B"}"#,
            "\n",
            "\n",
            r#"{"out": "\\boxed{A}", "gt": "B", "overall": 5}"#,
            "\n",
        ),
    )
    .unwrap();
    let out = dir.path().join("s.jsonl");
    let base = |extra: &[&str]| {
        let mut c = cmd();
        c.args([
            "score",
            "--response-field",
            "out",
            "--truth-field",
            "gt",
            "--task-field",
            "kind",
            "--input",
        ])
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .args(extra);
        c
    };
    let stdout = run_ok(&mut base(&[]));
    let rows: Vec<Value> = fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let overall: Vec<f64> = rows
        .iter()
        .map(|v| v["overall"].as_f64().unwrap())
        .collect();
    assert_eq!(overall, [0.1, 1.0, 0.0]); // strict: "0 2 3 1" != "0-2-3-1"; stale "overall" replaced
    assert_eq!(rows[0]["kind"], "shuffle");
    assert!(stdout.contains("shuffle"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("crop ") && l.contains("1.0000")),
        "{stdout}"
    );

    run_ok(&mut base(&["--lenient"]));
    let rows: Vec<Value> = fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows[0]["overall"].as_f64(), Some(1.0));
}

#[test]
fn score_reports_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bad.jsonl");
    fs::write(&input, "{\"response\": \"x\", \"ground_truth\": \"B\"}\n{\"response\": 3, \"ground_truth\": \"B\"}\n").unwrap();
    let o = cmd()
        .args(["score", "--input"])
        .arg(&input)
        .arg("--out")
        .arg(dir.path().join("o.jsonl"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("line 2") && err.contains("response"), "{err}");
}
