//! `train` and `plot` on the tiny policy: SFT 2 steps, GRPO 3 steps, checkpoint, resume,
//! finite losses, metrics file and curves written.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::util::{cmd, run_ok};

mod peers;

fn write_inputs(dir: &Path) {
    let prompts: String = ["3 1 4", "2 7 5", "6 6 1", "5 3 2"]
        .iter()
        .enumerate()
        .map(|(i, a)| {
            format!("{{\"problem\":\"{i}\",\"answer\":\"{a}\",\"images\":[],\"task\":\"toy\"}}\n")
        })
        .collect();
    std::fs::write(dir.join("prompts.jsonl"), &prompts).unwrap();
    std::fs::write(
        dir.join("val.jsonl"),
        prompts.lines().take(2).collect::<Vec<_>>().join("\n"),
    )
    .unwrap();
    let sft: String = ["3 1 4", "2 7 5"]
        .iter()
        .enumerate()
        .map(|(i, a)| {
            format!("{{\"messages\":[{{\"role\":\"user\",\"content\":\"{i}\"}},{{\"role\":\"assistant\",\"content\":\"{a}\"}}],\"images\":[]}}\n")
        })
        .collect();
    std::fs::write(dir.join("sft.jsonl"), sft).unwrap();
    let toml = r#"
[model]
kind = "tiny"
[data]
train_files = "prompts.jsonl"
val_files = "val.jsonl"
sft_files = "sft.jsonl"
[sft]
batch_size = 2
grad_accum = 1
lora_rank = 0
[grpo]
rollout_batch_size = 2
n = 4
global_batch_size = 1
micro_batch_size = 4
[grpo.sampling]
max_new_tokens = 4
[grpo.optim]
lr = 1e-2
[trainer]
max_steps = 3
sft_max_steps = 2
save_freq = 2
val_freq = 2
output_dir = "run"
"#;
    std::fs::write(dir.join("train.toml"), toml).unwrap();
}

/// Every line carries finite losses under EasyR1's (GRPO) or LLaMA-Factory's (SFT) names.
fn assert_finite_losses(metrics: &[Value]) {
    for m in metrics {
        let keys: &[&str] = if m["phase"] == "sft" {
            &["sft/loss", "sft/grad_norm", "sft/lr"]
        } else {
            &[
                "actor/pg_loss",
                "actor/kl_loss",
                "actor/grad_norm",
                "actor/lr",
                "actor/entropy",
                "critic/score/mean",
                "response_length/mean",
                "response_length/clip_ratio",
                "perf/throughput",
                "timing_s/gen",
            ]
        };
        for k in keys {
            assert!(m[k].as_f64().unwrap().is_finite(), "{k} in {m}");
        }
    }
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `spatial-ssrl train <flags> --config <config>`.
fn train(config: &Path, flags: &[&str]) -> Command {
    let mut c = cmd();
    c.arg("train").args(flags).arg("--config").arg(config);
    c
}

/// The `phase` of each metrics line, in order.
fn phases(metrics: &[Value]) -> Vec<&str> {
    metrics
        .iter()
        .map(|m| m["phase"].as_str().unwrap())
        .collect()
}

/// The steps of the metrics lines that carry `key` (validation lines for a `val/` key).
fn steps_with(metrics: &[Value], key: &str) -> Vec<u64> {
    metrics
        .iter()
        .filter(|m| m.get(key).is_some())
        .map(|m| m["step"].as_u64().unwrap())
        .collect()
}

/// Points the run's GRPO `latest` at `global_step_{step}` and resumes training from it.
fn resume_from(run: &Path, step: u32, config: &Path) {
    std::fs::write(run.join("grpo/latest"), format!("global_step_{step}")).unwrap();
    run_ok(&mut train(config, &["--quiet", "--resume"]));
}

/// `keys` of two metrics lines agree within a relative tolerance `tol`.
fn assert_close(a: &Value, b: &Value, keys: &[&str], tol: f64) {
    for k in keys {
        let (a, b) = (a[k].as_f64().unwrap(), b[k].as_f64().unwrap());
        assert!((a - b).abs() <= tol * (1.0 + a.abs()), "{k}: {a} vs {b}");
    }
}

/// The checkpoints (SFT step 2, GRPO policy at 2 and optimizer at 3) and the curves of the
/// 2-step SFT, 3-step GRPO runs.
fn assert_checkpoints_and_curves(run: &Path) {
    assert!(run.join("grpo/global_step_2/policy.bpk").exists());
    assert!(run.join("grpo/global_step_3/optimizer.bpk").exists());
    assert!(run.join("sft/global_step_2/state.json").exists());
    let png = std::fs::read(run.join("curves.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
}

/// The `[sft]` (LoRA rank 4) and `[grpo]` batch sections of the real-model runs; each test
/// adds its own sampling length, learning rate and `[trainer]` section.
const LORA_SFT_AND_GRPO: &str = "[sft]
batch_size = 2
grad_accum = 1
lora_rank = 4
lora_alpha = 8.0
[grpo]
rollout_batch_size = 2
n = 2
global_batch_size = 2
micro_batch_size = 4
";

#[test]
fn train_sft_then_grpo_checkpoints_resumes_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path());
    let config = dir.path().join("train.toml");
    run_ok(&mut train(&config, &["--quiet"]));
    let run = dir.path().join("run");
    let metrics = lines(&run.join("metrics.jsonl"));
    // Validation before training (step 0), at step 2 (val_freq) and after the last step.
    assert_eq!(
        phases(&metrics),
        ["sft", "sft", "grpo", "grpo", "grpo", "grpo"]
    );
    assert_eq!(steps_with(&metrics, "val/reward_score"), [0, 2, 3]);
    assert!(metrics[2]["val/task/toy/accuracy_reward"].is_number());
    let metrics: Vec<Value> = metrics.into_iter().filter(|m| m["step"] != 0).collect();
    assert_finite_losses(&metrics);
    assert_checkpoints_and_curves(&run);

    // Resume from step 2 and run to step 3 again: the same step-3 metrics.
    resume_from(&run, 2, &config);
    let resumed = lines(&run.join("metrics.jsonl"));
    assert_eq!(resumed.len(), 6);
    let resumed: Vec<Value> = resumed.into_iter().filter(|m| m["step"] != 0).collect();
    assert_eq!(
        metrics[4]["val/reward_score"],
        resumed[4]["val/reward_score"]
    );
    assert_close(
        &metrics[4],
        &resumed[4],
        &["actor/pg_loss", "actor/kl_loss", "actor/grad_norm"],
        1e-6,
    );
    assert_eq!(
        metrics[4]["critic/score/mean"],
        resumed[4]["critic/score/mean"]
    );

    let out = dir.path().join("again.png");
    run_ok(
        cmd()
            .args(["plot", "--metrics"])
            .arg(run.join("metrics.jsonl"))
            .arg("--out")
            .arg(&out),
    );
    assert!(std::fs::metadata(&out).unwrap().len() > 1000);
}

#[test]
fn train_rejects_unknown_config_keys() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.toml"), "[grpo]\nnot_a_key = 1\n").unwrap();
    let out = train(&dir.path().join("bad.toml"), &[]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not_a_key"));
}

#[test]
fn train_rejects_an_unknown_dtype() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[model]\ndtype = \"int8\"\n").unwrap();
    let out = train(&config, &[]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("model.dtype") && err.contains("int8"), "{err}");
    std::fs::write(&config, "").unwrap();
    let out = train(&config, &["--dtype", "int8"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("int8"));
}

/// A model folder for the tiny Qwen2.5-VL fixture whose processor caps images at 56x56
/// pixels (4 merged tokens each), so prompts stay short.
fn small_image_model(dir: &Path) -> std::path::PathBuf {
    small_image_copy(dir, &crate::util::tiny_qwen_dir())
}

/// A copy of the tiny model folder `fixture` in `dir/model` whose processor caps images at
/// its own minimum pixel count (4 merged tokens each), so prompts stay short.
fn small_image_copy(dir: &Path, fixture: &Path) -> std::path::PathBuf {
    let model = dir.join("model");
    std::fs::create_dir_all(&model).unwrap();
    for name in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "chat_template.json",
        "video_preprocessor_config.json",
    ] {
        if fixture.join(name).is_file() {
            std::fs::copy(fixture.join(name), model.join(name)).unwrap();
        }
    }
    let text = std::fs::read_to_string(fixture.join("preprocessor_config.json")).unwrap();
    let mut pre: serde_json::Value = serde_json::from_str(&text).unwrap();
    let min = pre["min_pixels"].clone();
    pre["max_pixels"] = min.clone();
    pre["size"]["longest_edge"] = min;
    std::fs::write(
        model.join("preprocessor_config.json"),
        serde_json::to_string(&pre).unwrap(),
    )
    .unwrap();
    model
}

#[test]
fn train_qwen2_5_vl_on_generated_pretext_data() {
    let dir = tempfile::tempdir().unwrap();
    small_image_model(dir.path());
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data");
    run_ok(
        cmd()
            .args(["generate", "--input"])
            .arg(&examples)
            .arg("--out")
            .arg(dir.path().join("data"))
            .args(["--tasks", "flip", "--image-format", "jpeg"])
            .args(["--val-fraction", "0.5", "--threads", "1"]),
    );
    // generate's default output: parquet shards, train-* and val-*.
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("data/manifest.json")).unwrap(),
    )
    .unwrap();
    let rows_of = |split: &str| -> u64 {
        manifest["shards"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["split"] == split && s["file"].as_str().unwrap().ends_with(".parquet"))
            .map(|s| s["rows"].as_u64().unwrap())
            .sum()
    };
    let (train_rows, val_rows) = (rows_of("train"), rows_of("val"));
    assert!(
        train_rows >= 2 && val_rows >= 1,
        "{train_rows} / {val_rows}"
    );
    let image = examples.join("street.jpg");
    let sft = format!(
        "{{\"messages\":[{{\"role\":\"user\",\"content\":\"<image>Which patch was flipped?\"}},\
         {{\"role\":\"assistant\",\"content\":\"<answer>A</answer>\"}}],\"images\":[{:?}]}}\n",
        image.display().to_string()
    );
    std::fs::write(dir.path().join("sft.jsonl"), sft.repeat(2)).unwrap();
    let toml = format!(
        r#"
[model]
kind = "qwen2_5_vl"
path = "model"
[data]
train_files = "data"
val_files = "data"
sft_files = "sft.jsonl"
{LORA_SFT_AND_GRPO}[grpo.sampling]
max_new_tokens = 8
[grpo.optim]
lr = 1e-3
[trainer]
max_steps = 3
sft_max_steps = 2
save_freq = 1
save_limit = 2
save_hf = true
val_freq = 2
val_generations_to_log = 1
output_dir = "run"
"#
    );
    let config = dir.path().join("train.toml");
    std::fs::write(&config, &toml).unwrap();
    let stdout = run_ok(&mut train(&config, &["--quiet"]));
    // Only the train shards are trained on.
    assert!(
        stdout.contains(&format!("data: {train_rows} train prompts")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("data: {val_rows} val prompts")),
        "{stdout}"
    );

    let run = dir.path().join("run");
    let metrics = lines(&run.join("metrics.jsonl"));
    // LoRA SFT, validation before GRPO (step 0), GRPO with validation at step 2 and the end.
    assert_eq!(
        phases(&metrics),
        ["sft", "sft", "grpo", "grpo", "grpo", "grpo"]
    );
    let val_steps = steps_with(&metrics, "val/accuracy_reward");
    assert_eq!(val_steps, [0, 2, 3]);
    // One validation generation logged per validation (EasyR1's val_generations_to_log).
    let logged: Vec<u64> = lines(&run.join("val_generations.jsonl"))
        .iter()
        .map(|g| g["step"].as_u64().unwrap())
        .collect();
    assert_eq!(logged, val_steps);
    let metrics: Vec<Value> = metrics.into_iter().filter(|m| m["step"] != 0).collect();
    assert_finite_losses(&metrics);
    // save_limit = 2: the step-1 checkpoint was pruned when step 3 was saved.
    assert!(!run.join("grpo/global_step_1").exists());
    // SFT on a real tokenizer: a positive cross-entropy and a non-zero gradient.
    assert!(metrics[0]["sft/loss"].as_f64().unwrap() > 0.0);
    assert!(metrics[0]["sft/grad_norm"].as_f64().unwrap() > 0.0);
    assert_checkpoints_and_curves(&run);
    for name in [
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "preprocessor_config.json",
    ] {
        assert!(run.join("final").join(name).exists(), "final/{name}");
        // Every GRPO checkpoint also exports an HF folder (`trainer.save_hf`).
        let hf = run.join("grpo/global_step_2/huggingface").join(name);
        assert!(hf.exists(), "{}", hf.display());
    }

    // Resume from the step-2 checkpoint: step 3 is redone with the same result.
    resume_from(&run, 2, &config);
    let resumed: Vec<Value> = lines(&run.join("metrics.jsonl"))
        .into_iter()
        .filter(|m| m["step"] != 0)
        .collect();
    assert_eq!(resumed.len(), 5);
    assert_eq!(
        metrics[4]["critic/score/mean"],
        resumed[4]["critic/score/mean"]
    );
    assert_eq!(
        metrics[4]["val/accuracy_reward"],
        resumed[4]["val/accuracy_reward"]
    );
    assert_close(
        &metrics[4],
        &resumed[4],
        &["actor/pg_loss", "actor/kl_loss"],
        1e-4,
    );

    // The saved folder loads back as a model.
    let config_out = dir.path().join("again.toml");
    let toml2 = toml
        .replace("path = \"model\"", "path = \"run/final\"")
        .replace("sft_files = \"sft.jsonl\"\n", "")
        .replace("val_files = \"data\"\n", "")
        .replace("max_steps = 3", "max_steps = 1")
        .replace("output_dir = \"run\"", "output_dir = \"run2\"")
        .replace(
            "path = \"run/final\"\n",
            "path = \"run/final\"\nenable_gradient_checkpointing = true\n",
        );
    std::fs::write(&config_out, toml2).unwrap();
    // `--dtype` overrides `model.dtype`: bf16 weights train with f32 master weights, here
    // with gradient checkpointing too.
    run_ok(&mut train(&config_out, &["--quiet", "--dtype", "bf16"]));
    let m2 = lines(&dir.path().join("run2/metrics.jsonl"));
    assert_eq!(m2.len(), 1);
    assert_finite_losses(&m2);
    let used = std::fs::read_to_string(dir.path().join("run2/config.toml")).unwrap();
    assert!(used.contains("dtype = \"bf16\""), "{used}");
    assert!(dir.path().join("run2/final/config.json").is_file());
}

/// Qwen3-VL through the same trainer: one LoRA SFT step and one GRPO step on the tiny fixture,
/// then an HF folder of the same family that `infer` loads back (`scripts/check_hf_load.py`
/// checks that transformers loads such a folder and generates the same greedy text). A
/// `model.kind` naming the other family is refused before any work.
#[test]
fn train_qwen3_vl_sft_and_grpo_write_an_hf_folder() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = crate::util::tiny_qwen3_dir();
    small_image_copy(dir.path(), &fixture);
    let image = crate::util::fixtures().join("reference_inputs/eg1.jpg");
    let image = format!("{:?}", image.display().to_string());
    let prompts: String = ["A", "B"]
        .iter()
        .enumerate()
        .map(|(i, a)| {
            format!(
                "{{\"problem\":\"<image>Which side, {i}? A. left B. right\",\"answer\":\"{a}\",\
                 \"images\":[{image}],\"task\":\"toy\"}}\n"
            )
        })
        .collect();
    std::fs::write(dir.path().join("prompts.jsonl"), prompts).unwrap();
    let sft = format!(
        "{{\"messages\":[{{\"role\":\"user\",\"content\":\"<image>Which side?\"}},\
         {{\"role\":\"assistant\",\"content\":\"<think>left</think> \\\\boxed{{A}}\"}}],\
         \"images\":[{image}]}}\n"
    );
    std::fs::write(dir.path().join("sft.jsonl"), sft.repeat(2)).unwrap();
    let toml = format!(
        r#"
[model]
kind = "qwen3_vl"
path = "model"
[data]
train_files = "prompts.jsonl"
sft_files = "sft.jsonl"
{LORA_SFT_AND_GRPO}[grpo.sampling]
max_new_tokens = 4
[grpo.optim]
lr = 1e-3
[trainer]
max_steps = 1
sft_max_steps = 1
save_freq = 1
output_dir = "run"
"#
    );
    let config = dir.path().join("train.toml");
    std::fs::write(&config, toml.replace("qwen3_vl", "qwen2_5_vl")).unwrap();
    let wrong = train(&config, &["--quiet"]).output().unwrap();
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(!wrong.status.success() && err.contains("qwen3_vl"), "{err}");

    std::fs::write(&config, &toml).unwrap();
    run_ok(&mut train(&config, &["--quiet"]));
    let run = dir.path().join("run");
    let metrics = lines(&run.join("metrics.jsonl"));
    assert_eq!(phases(&metrics), ["sft", "grpo"]);
    assert_finite_losses(&metrics);
    assert!(metrics[0]["sft/grad_norm"].as_f64().unwrap() > 0.0);
    let final_dir = run.join("final");
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(final_dir.join("config.json")).unwrap())
            .unwrap();
    assert_eq!(saved["model_type"], "qwen3_vl");
    for name in [
        "model.safetensors",
        "chat_template.json",
        "preprocessor_config.json",
    ] {
        assert!(final_dir.join(name).is_file(), "final/{name}");
    }
    let text = run_ok(
        cmd()
            .args(["infer", "--greedy", "--max-new-tokens", "2", "--model"])
            .arg(&final_dir)
            .args(["--image"])
            .arg(crate::util::fixtures().join("reference_inputs/eg1.jpg"))
            .args(["--question", "Which side?"]),
    );
    assert!(text.ends_with('\n'), "{text:?}");
}
