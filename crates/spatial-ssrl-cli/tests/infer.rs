//! `spatial-ssrl infer` on the tiny Qwen2.5-VL and Qwen3-VL fixtures: greedy output equals
//! HF's golden text.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{
    cmd, fixtures, golden_input, golden_of, run_ok, tiny_qwen_dir, tiny_qwen_golden, tiny_qwen3_dir,
};

fn golden() -> serde_json::Value {
    tiny_qwen_golden()
}

/// `spatial-ssrl infer --model <model>`; each test adds its inputs and flags.
fn infer(model: &Path) -> Command {
    let mut c = cmd();
    c.arg("infer").arg("--model").arg(model);
    c
}

/// What `infer` printed, without the closing newline: the decoded text.
fn printed(stdout: &str) -> &str {
    stdout.strip_suffix('\n').unwrap_or(stdout)
}

/// The tiny Qwen2.5-VL video fixture: its frames folder holds the golden's frames (the only
/// image files there), in name order.
fn video_frames() -> PathBuf {
    fixtures().join("tiny-qwen2_5-vl/video")
}

/// The image the golden prompt was made from.
fn golden_image(g: &serde_json::Value) -> PathBuf {
    golden_input(g["image"].as_str().expect("golden.json names its image"))
}

/// `infer` on `model` with the golden's image, asked `question` for `max_new_tokens` tokens;
/// each test adds its own flags.
fn infer_golden_image(
    model: &Path,
    g: &serde_json::Value,
    question: &str,
    max_new_tokens: impl ToString,
) -> Command {
    let mut c = infer(model);
    c.arg("--image")
        .arg(golden_image(g))
        .arg("--question")
        .arg(question)
        .arg("--max-new-tokens")
        .arg(max_new_tokens.to_string());
    c
}

#[test]
fn greedy_infer_prints_hf_golden_text() {
    let g = golden();
    // The golden prompt is the user text verbatim (question + format prompt, as HF rendered it);
    // `--question` is sent verbatim, so the 12 greedy tokens must decode to HF's text.
    let out = run_ok(&mut infer_golden_image(
        &tiny_qwen_dir(),
        &g,
        g["user_text"].as_str().unwrap(),
        &g["max_new_tokens"],
    ));
    let want = g["generated_text_skip_special"].as_str().unwrap();
    assert_eq!(printed(&out), want);
}

/// Both families from the fixture's bare question: `--think` appends the format instruction as
/// each released model's card does, which is how HF's golden prompt was written, so the greedy
/// tokens decode to HF's text (Qwen3-VL: its template, processor, DeepStack and positions).
#[test]
fn think_infer_on_both_families_prints_hf_golden_text() {
    for dir in [tiny_qwen_dir(), tiny_qwen3_dir()] {
        let g = golden_of(&dir);
        let out = run_ok(
            infer_golden_image(
                &dir,
                &g,
                g["question"].as_str().unwrap(),
                &g["max_new_tokens"],
            )
            .arg("--think"),
        );
        let want = g["generated_text_skip_special"].as_str().unwrap();
        assert_eq!(printed(&out), want, "{}", dir.display());
    }
}

#[test]
fn infer_reports_a_missing_image() {
    let out = infer(&tiny_qwen_dir())
        .arg("--image")
        .arg(fixtures().join("no-such-image.jpg"))
        .arg("--question")
        .arg("Where?")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-such-image.jpg"), "stderr: {err}");
}

fn video_golden() -> serde_json::Value {
    let path = fixtures().join("tiny-qwen2_5-vl/video/video_golden.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Greedy `infer` on the tiny Qwen2.5-VL with the video fixture's frames at `fps` (after
/// `image` when given), asked `case["user_text"]` for as many tokens as `case` generated,
/// must print `case["generated_text"]`.
fn assert_video_case(case: &serde_json::Value, fps: &serde_json::Value, image: Option<PathBuf>) {
    let n_new = case["generated_ids"].as_array().unwrap().len();
    let mut c = infer(&fixtures().join("tiny-qwen2_5-vl"));
    if let Some(image) = image {
        c.arg("--image").arg(image);
    }
    c.arg("--video")
        .arg(video_frames())
        .arg("--fps")
        .arg(fps.to_string())
        .arg("--question")
        .arg(case["user_text"].as_str().unwrap())
        .arg("--max-new-tokens")
        .arg(n_new.to_string());
    let want = case["generated_text"].as_str().unwrap();
    assert_eq!(printed(&run_ok(&mut c)), want);
}

#[test]
fn greedy_video_infer_prints_hf_golden_text() {
    let g = video_golden();
    assert_video_case(&g, &g["fps"], None);
}

#[test]
fn greedy_image_and_video_infer_prints_hf_golden_text() {
    let g = video_golden();
    let m = &g["mixed"];
    // The mixed prompt's image is named by the golden; the repository keeps it in
    // reference_inputs.
    let image = Path::new(m["image"].as_str().unwrap());
    let image = fixtures()
        .join("reference_inputs")
        .join(image.file_name().unwrap());
    assert_video_case(m, &g["fps"], Some(image));
}

#[test]
fn infer_rejects_bad_video_input() {
    let model = fixtures().join("tiny-qwen2_5-vl");
    // Neither --image nor --video.
    let out = infer(&model)
        .arg("--question")
        .arg("Where?")
        .output()
        .unwrap();
    assert!(!out.status.success());
    // A folder without frames is named in the error.
    let empty = tempfile::tempdir().unwrap();
    let out = infer(&model)
        .arg("--video")
        .arg(empty.path())
        .arg("--question")
        .arg("Where?")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no image files"), "stderr: {err}");
    // fps must be positive.
    let out = infer(&model)
        .arg("--video")
        .arg(video_frames())
        .arg("--fps")
        .arg("0")
        .arg("--question")
        .arg("Where?")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fps"), "stderr: {err}");
}

/// `--repetition-penalty` decodes as transformers' greedy `generate` with that penalty
/// (`tests/fixtures/generation-golden`, made on the repository's tiny model).
#[test]
fn repetition_penalty_flag_matches_transformers() {
    let dir = fixtures().join("generation-golden");
    let rp = golden_of(&dir);
    let model = dir.join(rp["model_dir"].as_str().unwrap());
    let g = golden_of(&model);
    let stops = [151645, 151643];
    for case in rp["cases"].as_array().unwrap() {
        let ids = case["generated_ids"].as_array().unwrap();
        // infer stops at generation_config.json's EOS ids; the golden ran without stops.
        assert!(ids.iter().all(|t| !stops.contains(&t.as_i64().unwrap())));
        let out = run_ok(
            infer_golden_image(&model, &g, g["user_text"].as_str().unwrap(), ids.len())
                .arg("--repetition-penalty")
                .arg(case["repetition_penalty"].to_string()),
        );
        let want = case["generated_text"].as_str().unwrap();
        assert_eq!(printed(&out), want, "{case}");
    }
}
