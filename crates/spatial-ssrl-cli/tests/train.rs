//! `train` and `plot` on the tiny policy: SFT 2 steps, GRPO 3 steps, checkpoint, resume,
//! finite losses, metrics file and curves written.

use std::path::Path;

use crate::util::{cmd, run_ok};

fn write_inputs(dir: &Path) {
    let prompts: String = ["3 1 4", "2 7 5", "6 6 1", "5 3 2"]
        .iter()
        .enumerate()
        .map(|(i, a)| {
            format!("{{\"problem\":\"{i}\",\"answer\":\"{a}\",\"images\":[],\"task\":\"toy\"}}\n")
        })
        .collect();
    std::fs::write(dir.join("prompts.jsonl"), prompts).unwrap();
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
output_dir = "run"
"#;
    std::fs::write(dir.join("train.toml"), toml).unwrap();
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn train_sft_then_grpo_checkpoints_resumes_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path());
    let config = dir.path().join("train.toml");
    run_ok(cmd().args(["train", "--quiet", "--config"]).arg(&config));
    let run = dir.path().join("run");
    let metrics = lines(&run.join("metrics.jsonl"));
    let phases: Vec<&str> = metrics
        .iter()
        .map(|m| m["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["sft", "sft", "grpo", "grpo", "grpo"]);
    for m in &metrics {
        for k in ["pg_loss", "kl", "grad_norm"] {
            assert!(m[k].as_f64().unwrap().is_finite(), "{k} in {m}");
        }
    }
    assert!(run.join("grpo/step_2/policy.bpk").exists());
    assert!(run.join("grpo/step_3/optimizer.bpk").exists());
    assert!(run.join("sft/step_2/state.json").exists());
    let png = std::fs::read(run.join("curves.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");

    // Resume from step 2 and run to step 3 again: the same step-3 metrics.
    std::fs::write(run.join("grpo/latest"), "step_2").unwrap();
    run_ok(
        cmd()
            .args(["train", "--quiet", "--resume", "--config"])
            .arg(&config),
    );
    let resumed = lines(&run.join("metrics.jsonl"));
    assert_eq!(resumed.len(), 5);
    for k in ["pg_loss", "kl", "grad_norm"] {
        let (a, b) = (
            metrics[4][k].as_f64().unwrap(),
            resumed[4][k].as_f64().unwrap(),
        );
        assert!((a - b).abs() <= 1e-6 * (1.0 + a.abs()), "{k}: {a} vs {b}");
    }
    assert_eq!(metrics[4]["reward"], resumed[4]["reward"]);

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
    let out = cmd()
        .args(["train", "--config"])
        .arg(dir.path().join("bad.toml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not_a_key"));
}

/// A model folder for the tiny Qwen2.5-VL fixture whose processor caps images at 56x56
/// pixels (4 merged tokens each), so prompts stay short.
fn small_image_model(dir: &Path) -> std::path::PathBuf {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-qwen2_5-vl");
    let model = dir.join("model");
    std::fs::create_dir_all(&model).unwrap();
    for name in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "chat_template.json",
    ] {
        std::fs::copy(fixture.join(name), model.join(name)).unwrap();
    }
    let text = std::fs::read_to_string(fixture.join("preprocessor_config.json")).unwrap();
    let mut pre: serde_json::Value = serde_json::from_str(&text).unwrap();
    pre["max_pixels"] = 3136.into();
    pre["size"]["longest_edge"] = 3136.into();
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
            .args([
                "--tasks",
                "flip",
                "--format",
                "jsonl",
                "--image-format",
                "jpeg",
            ])
            .args(["--threads", "1"]),
    );
    let rows = lines(&dir.path().join("data/train-00000.jsonl"));
    assert!(rows.len() >= 2, "{} rows", rows.len());
    let image = rows[0]["images"][0].as_str().unwrap();
    let sft = format!(
        "{{\"messages\":[{{\"role\":\"user\",\"content\":\"<image>Which patch was flipped?\"}},\
         {{\"role\":\"assistant\",\"content\":\"<answer>{}</answer>\"}}],\"images\":[\"data/{image}\"]}}\n",
        rows[0]["answer"].as_str().unwrap()
    );
    std::fs::write(dir.path().join("sft.jsonl"), sft.repeat(2)).unwrap();
    let toml = r#"
[model]
kind = "qwen2_5_vl"
path = "model"
[data]
train_files = "data"
sft_files = "sft.jsonl"
[sft]
batch_size = 2
grad_accum = 1
lora_rank = 0
[grpo]
rollout_batch_size = 2
n = 2
global_batch_size = 2
micro_batch_size = 4
[grpo.sampling]
max_new_tokens = 8
[grpo.optim]
lr = 1e-3
[trainer]
max_steps = 3
sft_max_steps = 2
save_freq = 2
output_dir = "run"
"#;
    let config = dir.path().join("train.toml");
    std::fs::write(&config, toml).unwrap();
    run_ok(cmd().args(["train", "--quiet", "--config"]).arg(&config));

    let run = dir.path().join("run");
    let metrics = lines(&run.join("metrics.jsonl"));
    let phases: Vec<&str> = metrics
        .iter()
        .map(|m| m["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["sft", "sft", "grpo", "grpo", "grpo"]);
    for m in &metrics {
        for k in ["pg_loss", "kl", "grad_norm"] {
            assert!(m[k].as_f64().unwrap().is_finite(), "{k} in {m}");
        }
    }
    // SFT on a real tokenizer: a positive cross-entropy and a non-zero gradient.
    assert!(metrics[0]["pg_loss"].as_f64().unwrap() > 0.0);
    assert!(metrics[0]["grad_norm"].as_f64().unwrap() > 0.0);
    assert!(run.join("grpo/step_2/policy.bpk").exists());
    assert!(run.join("grpo/step_3/optimizer.bpk").exists());
    assert!(run.join("sft/step_2/state.json").exists());
    let png = std::fs::read(run.join("curves.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    for name in [
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "preprocessor_config.json",
    ] {
        assert!(run.join("final").join(name).exists(), "final/{name}");
    }

    // Resume from the step-2 checkpoint: step 3 is redone with the same result.
    std::fs::write(run.join("grpo/latest"), "step_2").unwrap();
    run_ok(
        cmd()
            .args(["train", "--quiet", "--resume", "--config"])
            .arg(&config),
    );
    let resumed = lines(&run.join("metrics.jsonl"));
    assert_eq!(resumed.len(), 5);
    assert_eq!(metrics[4]["reward"], resumed[4]["reward"]);
    for k in ["pg_loss", "kl"] {
        let (a, b) = (
            metrics[4][k].as_f64().unwrap(),
            resumed[4][k].as_f64().unwrap(),
        );
        assert!((a - b).abs() <= 1e-4 * (1.0 + a.abs()), "{k}: {a} vs {b}");
    }

    // The saved folder loads back as a model.
    let config_out = dir.path().join("again.toml");
    let toml2 = toml
        .replace("path = \"model\"", "path = \"run/final\"")
        .replace("sft_files = \"sft.jsonl\"\n", "")
        .replace("max_steps = 3", "max_steps = 1")
        .replace("output_dir = \"run\"", "output_dir = \"run2\"");
    std::fs::write(&config_out, toml2).unwrap();
    run_ok(
        cmd()
            .args(["train", "--quiet", "--config"])
            .arg(&config_out),
    );
    assert_eq!(lines(&dir.path().join("run2/metrics.jsonl")).len(), 1);
}
