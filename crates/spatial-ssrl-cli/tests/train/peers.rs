//! `train` with `trainer.n_gpus_per_node = 2`: data-parallel peers against one device.

use std::path::Path;

use super::{assert_finite_losses, lines, phases, train, write_inputs};
use crate::util::run_ok;

/// Every float parameter of the policy checkpoint `checkpoint/policy.bpk`, loaded into the tiny
/// policy the run's own `config.toml` describes.
fn tiny_weights(run: &Path, checkpoint: &Path) -> Vec<f32> {
    use burn::module::{Module, ModuleVisitor, Param};
    use burn::tensor::{Device, Tensor};
    struct All(Vec<f32>);
    impl ModuleVisitor for All {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            self.0.extend(spatial_ssrl_rl::masked::to_host(p.val()));
        }
    }
    let cfg = spatial_ssrl_rl::TrainConfig::load(&run.join("config.toml")).unwrap();
    let policy = cfg
        .model
        .tiny
        .init(&Device::flex())
        .try_load_file(checkpoint.join("policy.bpk"))
        .unwrap();
    let mut all = All(Vec::new());
    policy.visit(&mut all);
    all.0
}

/// `n_gpus_per_node = 2` runs two data-parallel peers: one SFT and one GRPO step end with
/// the weights of the one-device run (within the 1e-5 of `spatial-ssrl-rl`'s distributed
/// test, under its settings: temperature 0.05 and Adam epsilon 1e-3, so the peers' other
/// gradient summation order cannot pick another token), and rank 0 alone writes the log and
/// the checkpoint.
#[test]
fn train_on_two_peers_matches_one_device() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path());
    let temperature = 1.0;
    let optim = "lr = 1e-3\neps = 1e-3\nlr_warmup_ratio = 0.0\n";
    let toml = |peers: usize| {
        format!(
            "[model]\nkind = \"tiny\"\n[data]\ntrain_files = \"prompts.jsonl\"\n\
             sft_files = \"sft.jsonl\"\n[sft]\nbatch_size = 1\ngrad_accum = 2\nlora_rank = 0\n\
             seed = 3\n[sft.optim]\n{optim}[grpo]\nrollout_batch_size = 4\nn = 2\n\
             global_batch_size = 2\nmicro_batch_size = 1\nseed = 5\n[grpo.sampling]\n\
             temperature = {temperature}\nmax_new_tokens = 3\n[grpo.optim]\nlr = 1e-1\neps = 1e-3\nlr_warmup_ratio = 0.0\n[trainer]\n\
             max_steps = 1\nsft_max_steps = 1\nsave_freq = 0\nn_gpus_per_node = {peers}\n\
             collective_timeout_s = 300\noutput_dir = \"run{peers}\"\n"
        )
    };
    let mut finals = Vec::new();
    for peers in [1, 2] {
        let config = dir.path().join(format!("train{peers}.toml"));
        std::fs::write(&config, toml(peers)).unwrap();
        run_ok(&mut train(&config, &["--quiet"]));
        let run = dir.path().join(format!("run{peers}"));
        let metrics = lines(&run.join("metrics.jsonl"));
        // One line per step: the second peer writes no log of its own.
        assert_eq!(phases(&metrics), ["sft", "grpo"], "{peers} peers");
        assert_finite_losses(&metrics);
        let written: Vec<String> = std::fs::read_dir(run.join("grpo"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "latest")
            .collect();
        assert_eq!(written, ["global_step_1"], "{peers} peers");
        assert!(run.join("curves.png").is_file());
        finals.push((
            tiny_weights(&run, &run.join("sft/global_step_1")),
            tiny_weights(&run, &run.join("grpo/global_step_1")),
            metrics,
        ));
    }
    let (after_sft, one, one_log) = &finals[0];
    let (_, two, two_log) = &finals[1];
    let max_diff = |a: &[f32], b: &[f32]| {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    };
    // GRPO itself must move the weights (a batch of equal rewards has no gradient).
    let moved = max_diff(after_sft, one);
    assert!(moved > 1e-4, "GRPO barely moved the weights ({moved})");
    let worst = max_diff(one, two);
    assert!(
        worst <= 1e-5,
        "2 peers vs 1 device: max weight difference {worst}"
    );
    assert_eq!(
        one_log[1]["critic/score/mean"],
        two_log[1]["critic/score/mean"]
    );

    // Both resume from their step-1 checkpoint for one more step and still agree.
    let mut resumed = Vec::new();
    for peers in [1, 2] {
        let config = dir.path().join(format!("train{peers}.toml"));
        run_ok(&mut train(
            &config,
            &["--quiet", "--resume", "--max-steps", "2"],
        ));
        let run = dir.path().join(format!("run{peers}"));
        let phases: Vec<String> = lines(&run.join("metrics.jsonl"))
            .iter()
            .map(|m| format!("{}{}", m["phase"].as_str().unwrap(), m["step"]))
            .collect();
        assert_eq!(phases, ["sft1", "grpo1", "grpo2"], "{peers} peers");
        resumed.push(tiny_weights(&run, &run.join("grpo/global_step_2")));
    }
    let stepped = max_diff(one, &resumed[0]);
    assert!(stepped > 1e-4, "the resumed step barely moved ({stepped})");
    let worst = max_diff(&resumed[0], &resumed[1]);
    assert!(
        worst <= 1e-5,
        "resumed: 2 peers vs 1 device: max weight difference {worst}"
    );
}
