//! `spatial-ssrl eval`: offline scoring of a predictions file end to end, reports, comparison
//! tables; live evaluation with the tiny Qwen2.5-VL and Qwen3-VL fixtures (behind `ml`).

use std::ffi::OsStr;
use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::util::{cmd, fixtures, run_ok};

/// `spatial-ssrl eval --bench <bench> --data <data..> --predictions <preds> --out <out>`:
/// offline scoring; each test adds its own flags.
fn offline_eval(
    bench: &str,
    data: impl IntoIterator<Item = impl AsRef<OsStr>>,
    preds: &Path,
    out: &Path,
) -> Command {
    let mut c = cmd();
    c.args(["eval", "--bench", bench, "--data"])
        .args(data)
        .arg("--predictions")
        .arg(preds)
        .arg("--out")
        .arg(out);
    c
}

/// `spatial-ssrl eval --bench <bench> <flags> --data <data> --model <model> --out <out>`:
/// live evaluation (generation with the model, then scoring).
fn live_eval(bench: &str, flags: &[&str], data: &Path, model: &Path, out: &Path) -> Command {
    let mut c = cmd();
    c.args(["eval", "--bench", bench])
        .args(flags)
        .arg("--data")
        .arg(data)
        .arg("--model")
        .arg(model)
        .arg("--out")
        .arg(out);
    c
}

fn write_preds(path: &Path, preds: &[(i64, &str)]) {
    let text: String = preds
        .iter()
        .map(|(i, p)| serde_json::json!({"index": i, "prediction": p}).to_string() + "\n")
        .collect();
    fs::write(path, text).unwrap();
}

fn report(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn offline_eval_writes_json_and_markdown_reports() {
    let dir = tempfile::tempdir().unwrap();
    let preds = dir.path().join("ssrl-7b.jsonl");
    write_preds(
        &preds,
        &[
            (0, "<think>..</think> \\boxed{A}"),
            (1, "\\boxed{D}"),
            (2, "\\boxed{B}"),
            (3, "B. left"),
        ],
    );
    let out = dir.path().join("viewspatial.json");
    let scores = dir.path().join("scores.jsonl");
    let stdout = run_ok(
        offline_eval(
            "viewspatial",
            [fixtures().join("bench/viewspatial.json")],
            &preds,
            &out,
        )
        .arg("--scores")
        .arg(&scores),
    );
    let r = report(&out);
    assert_eq!(r["overall"], 75.0);
    assert_eq!(r["n"], 4);
    assert_eq!(
        r["per_category"]["Person perspective - Object View Orientation"],
        100.0
    );
    assert_eq!(r["label"], "ssrl-7b");
    let md = fs::read_to_string(dir.path().join("viewspatial.md")).unwrap();
    assert!(md.contains("| **overall** | 4 | **75.00** |"), "{md}");
    assert_eq!(stdout, md);
    let per_item = json_lines(&scores);
    assert_eq!(per_item.len(), 4);
    assert_eq!(
        (
            per_item[2]["score"].as_f64(),
            per_item[2]["extracted"].as_str()
        ),
        (Some(0.0), Some("B"))
    );
}

#[test]
fn offline_eval_then_compare_in_paper_order() {
    let dir = tempfile::tempdir().unwrap();
    let preds = dir.path().join("p3d.jsonl");
    write_preds(
        &preds,
        &[
            (0, "\\boxed{A}"),
            (1, "B"),
            (2, "\\boxed{A}"),
            (3, "\\boxed{A}"),
            (4, "A"),
            (5, "\\boxed{B}"),
            (6, "front"),
            (7, "\\boxed{C}"),
        ],
    );
    let r3d = dir.path().join("3d.json");
    run_ok(
        offline_eval(
            "3dsrbench",
            [fixtures().join("bench/3dsrbench.tsv")],
            &preds,
            &r3d,
        )
        .args(["--label", "mine"]),
    );
    let r = report(&r3d);
    assert_eq!(r["overall"], 75.0);
    assert_eq!(r["metrics"]["circular_eval"], 50.0);

    let preds = dir.path().join("pqs.jsonl");
    write_preds(
        &preds,
        &[
            (0, "\\boxed{2 m}"),
            (1, "\\boxed{30 cm}"),
            (2, "\\boxed{5 ft}"),
            (3, "It is 3 feet."),
        ],
    );
    let rqs = dir.path().join("qs.json");
    run_ok(
        offline_eval(
            "qspatial",
            [fixtures().join("bench/qspatial.jsonl")],
            &preds,
            &rqs,
        )
        .args(["--label", "mine"]),
    );
    let table_path = dir.path().join("table.md");
    let table = run_ok(
        cmd()
            .args(["eval", "compare", "--reports"])
            .arg(&r3d)
            .arg(&rqs)
            .arg("--out")
            .arg(&table_path),
    );
    assert_eq!(fs::read_to_string(&table_path).unwrap(), table);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0],
        "| Model | Spatial457 | 3DSRBench | SpatialEval | QSpatial+ | What'sUp | ViewSpatial | VSI-Bench | Avg. |"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("| Qwen2.5-VL-7B (paper) | 44.67 | 53.39 |")),
        "{table}"
    );
    assert_eq!(
        *lines.last().unwrap(),
        "| mine | – | 75.00 | – | 75.00 | – | – | – | – |"
    );
    let bare = run_ok(
        cmd()
            .args(["eval", "compare", "--no-reference", "--reports"])
            .arg(&r3d),
    );
    assert_eq!(bare.lines().count(), 3);
}

#[test]
fn offline_eval_rejects_incomplete_or_foreign_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let preds = dir.path().join("p.jsonl");
    write_preds(&preds, &[(0, "\\boxed{A}")]);
    let base = || {
        offline_eval(
            "whatsup",
            [fixtures().join("bench/whatsup_controlled.json")],
            &preds,
            &dir.path().join("r.json"),
        )
    };
    let out = base().output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("3 of 4 items have no prediction"), "{err}");

    run_ok(base().arg("--allow-partial"));
    assert_eq!(report(&dir.path().join("r.json"))["n"], 1);

    write_preds(&preds, &[(17, "\\boxed{A}")]);
    let out = base().output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("index 17 is not in the benchmark"));

    let out = cmd()
        .args([
            "eval",
            "--bench",
            "nope",
            "--data",
            "x",
            "--predictions",
            "y",
            "--out",
            "z",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown benchmark `nope`"));
}

/// Live evaluation with the tiny random Qwen2.5-VL (numbers meaningless, pipeline real):
/// batched generation, the predictions file, resuming, scoring.
#[cfg(feature = "ml")]
#[test]
fn live_eval_with_the_tiny_model_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("live.json");
    let preds = dir.path().join("live.predictions.jsonl");
    let run = || {
        run_ok(&mut live_eval(
            "spatialeval",
            &[
                "--batch-size",
                "2",
                "--max-new-tokens",
                "4",
                // The paper's 1280·28² minimum would upscale every image; the pipeline is
                // what is tested here.
                "--prompt",
                "robust",
            ],
            &fixtures().join("bench/spatialeval.tsv"),
            &fixtures().join("tiny-qwen2_5-vl"),
            &out,
        ))
    };
    run();
    let lines = json_lines(&preds);
    let idx: Vec<i64> = lines.iter().map(|l| l["index"].as_i64().unwrap()).collect();
    assert_eq!(idx, vec![10, 11, 12, 13]);
    let r = report(&out);
    assert_eq!(r["n"], 4);
    assert_eq!(r["label"], "tiny-qwen2_5-vl");
    // Resume: drop the last answer and tear the file mid-line; only that item is regenerated.
    let kept: String = fs::read_to_string(&preds)
        .unwrap()
        .lines()
        .take(3)
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(&preds, kept.clone() + "{\"index\": 13, \"predi").unwrap();
    run();
    let again = fs::read_to_string(&preds).unwrap();
    assert!(again.starts_with(&kept));
    assert_eq!(again.lines().count(), 4);
    assert_eq!(report(&out)["n"], 4);
}

/// Live evaluation with the tiny random Qwen3-VL: the family comes from the folder's
/// config.json, and it gets the paper scripts' own prompts and pixel limits (the default
/// `--prompt paper`), exactly as a Qwen2.5-VL folder does.
#[cfg(feature = "ml")]
#[test]
fn live_eval_with_the_tiny_qwen3_vl_uses_the_paper_prompts() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("qwen3.json");
    let model = crate::util::tiny_qwen3_dir();
    run_ok(&mut live_eval(
        "spatialeval",
        &["--batch-size", "2", "--max-new-tokens", "2"],
        &fixtures().join("bench/spatialeval.tsv"),
        &model,
        &out,
    ));
    let r = report(&out);
    assert_eq!(r["n"], 4);
    let name = model.file_name().unwrap().to_str().unwrap();
    assert_eq!(r["label"], name);
    let preds = dir.path().join("qwen3.predictions.jsonl");
    assert_eq!(fs::read_to_string(preds).unwrap().lines().count(), 4);
}

/// VSI-Bench live, the paper's way: each item's sampled frames go to the tiny model as one
/// video clip (pixel_values_videos and temporal positions), not as separate images.
#[cfg(feature = "ml")]
#[test]
fn live_vsibench_sends_one_video_per_item() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("vsi.json");
    let data = fixtures().join("bench/vsibench.json");
    run_ok(&mut live_eval(
        "vsibench",
        &["--max-new-tokens", "2"],
        &data,
        &fixtures().join("tiny-qwen2_5-vl"),
        &out,
    ));
    let items: Vec<Value> = serde_json::from_str(&fs::read_to_string(&data).unwrap()).unwrap();
    assert_eq!(report(&out)["n"].as_u64(), Some(items.len() as u64));
}

/// Without the `ml` feature the binary still scores offline and says how to get live mode.
#[cfg(not(feature = "ml"))]
#[test]
fn live_mode_needs_the_ml_feature() {
    let dir = tempfile::tempdir().unwrap();
    let out = live_eval(
        "spatialeval",
        &[],
        &fixtures().join("bench/spatialeval.tsv"),
        &fixtures().join("tiny-qwen2_5-vl"),
        &dir.path().join("r.json"),
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("live evaluation needs the `ml` feature")
    );
}

/// The paper scripts' reasoning prompt (appended in their CoT runs).
const COT: &str = "You FIRST think about the reasoning process as an internal monologue and then provide the final answer. The reasoning process MUST BE enclosed within <think> </think> tags. The final answer MUST BE put in \\boxed{}.";

fn json_lines(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `--dump-prompts` needs no model and reads no media: the annotation file is copied where
/// none of its images or frames exist.
#[test]
fn dump_prompts_writes_the_paper_requests_without_media() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("viewspatial.json");
    fs::copy(fixtures().join("bench/viewspatial.json"), &data).unwrap();
    let records: Vec<Value> = serde_json::from_str(&fs::read_to_string(&data).unwrap()).unwrap();
    for (flags, tail) in [
        (
            &[][..],
            format!(
                "\nThe final answer should be the option letter from the given choices.\n{COT}"
            ),
        ),
        (
            &["--no-think"][..],
            "\nReply only to the corresponding option.\nAnswer:".to_string(),
        ),
    ] {
        let dump = dir.path().join("prompts.jsonl");
        run_ok(
            cmd()
                .args(["eval", "--bench", "viewspatial", "--dump-prompts"])
                .arg(&dump)
                .args(flags)
                .arg("--data")
                .arg(&data),
        );
        let lines = json_lines(&dump);
        assert_eq!(lines.len(), records.len());
        for (i, (line, rec)) in lines.iter().zip(&records).enumerate() {
            let text = format!(
                "{}\n{}{tail}",
                rec["question"].as_str().unwrap(),
                rec["choices"].as_str().unwrap()
            );
            let want = serde_json::json!({
                "id": i,
                "text": text,
                "n_images": rec["image_path"].as_array().unwrap().len(),
                "n_frames": 0,
                "min_pixels": 256 * 28 * 28,
                "max_pixels": 1280 * 28 * 28,
                "max_new_tokens": 4096,
            });
            assert_eq!(line, &want);
        }
    }

    // VSI-Bench: one video per item, 128 frames unless told otherwise, no frames on disk.
    let data = dir.path().join("vsibench.json");
    fs::copy(fixtures().join("bench/vsibench.json"), &data).unwrap();
    let dump = dir.path().join("vsi.jsonl");
    for (flags, frames) in [(&[][..], 128), (&["--max-frames", "8"][..], 8)] {
        run_ok(
            cmd()
                .args(["eval", "--bench", "vsibench", "--dump-prompts"])
                .arg(&dump)
                .args(flags)
                .arg("--data")
                .arg(&data),
        );
        for line in json_lines(&dump) {
            assert_eq!(
                (line["n_frames"].as_u64(), line["n_images"].as_u64()),
                (Some(frames), Some(0))
            );
            let text = line["text"].as_str().unwrap();
            assert!(
                text.starts_with("Watch the given video and anser the following question.\n\n")
            );
            assert!(text.ends_with(COT));
            assert_eq!(line["max_new_tokens"], 4096);
        }
    }
}

/// What'sUp A + B pooled from two files, scored by the script's rule and by the robust one;
/// the reports say which, and `eval compare` shows both rows.
#[test]
fn whatsup_pooled_paper_and_robust_scoring_compare() {
    let dir = tempfile::tempdir().unwrap();
    let pooled = fixtures().join("bench/whatsup_pooled");
    let files: Vec<std::path::PathBuf> = [
        "controlled_images_dataset.json",
        "controlled_clevr_dataset.json",
    ]
    .iter()
    .map(|f| pooled.join(f))
    .collect();
    let count = |p: &Path| {
        serde_json::from_str::<Vec<Value>>(&fs::read_to_string(p).unwrap())
            .unwrap()
            .len()
    };
    let n = count(&files[0]) + count(&files[1]);
    // Every item answered with the right caption's text but no box: robust reads the option
    // text, the script (CoT: "A" in the last box) finds no box.
    let answers: Vec<(i64, String)> = (0..n as i64)
        .map(|i| {
            (
                i,
                format!(
                    "It is option A{}",
                    if i % 2 == 0 { "" } else { " \\boxed{A}" }
                ),
            )
        })
        .collect();
    let refs: Vec<(i64, &str)> = answers.iter().map(|(i, a)| (*i, a.as_str())).collect();
    let preds = dir.path().join("m.jsonl");
    write_preds(&preds, &refs);
    let mut reports = Vec::new();
    for scoring in ["paper", "robust"] {
        let out = dir.path().join(format!("{scoring}.json"));
        run_ok(offline_eval("whatsup", &files, &preds, &out).args(["--scoring", scoring]));
        let r = report(&out);
        assert_eq!(r["scoring"], scoring);
        assert_eq!(r["n"].as_u64(), Some(n as u64));
        reports.push((out, r));
    }
    let boxed = (n / 2) as f64; // odd keys carry the box
    let paper = reports[0].1["overall"].as_f64().unwrap();
    assert!((paper - 100.0 * boxed / n as f64).abs() < 1e-9, "{paper}");
    assert_eq!(reports[1].1["overall"], 100.0);
    // The folder pools the same two files in the same order.
    let out = dir.path().join("folder.json");
    run_ok(offline_eval("whatsup", [&pooled], &preds, &out).args(["--scoring", "paper"]));
    assert_eq!(report(&out)["overall"], reports[0].1["overall"]);
    let table = run_ok(
        cmd()
            .args(["eval", "compare", "--no-reference", "--reports"])
            .arg(&reports[0].0)
            .arg(&reports[1].0),
    );
    assert!(table.contains("| m [paper rules] |"), "{table}");
    assert!(table.contains("\n| m |"), "{table}");
}
