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
