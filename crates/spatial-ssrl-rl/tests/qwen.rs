//! `QwenPolicy` on the tiny random-weight Qwen2.5-VL fixture (real tokenizer and template):
//! prompt encoding with images, teacher-forced log-probs against the model's own scorer,
//! padding invariance, temperature, seeded generation, vision-tower freezing and
//! `save_pretrained` round trip; on the tiny Qwen3-VL: HF's prompt and RL log-probs, freezing
//! and LoRA.

use std::path::{Path, PathBuf};

use burn::module::{ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use spatial_ssrl_model::{Family, ModelFamily, VlBatch};
use spatial_ssrl_rl::{
    ImageSource, Policy, PromptRecord, QwenPolicy, SamplingConfig, apply_lora, masked,
};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-qwen2_5-vl")
}

/// The tiny Qwen3-VL folder: `SSRL_TINY_QWEN3_DIR` or the repository copy.
fn qwen3_fixture() -> PathBuf {
    std::env::var_os("SSRL_TINY_QWEN3_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-qwen3-vl"),
        PathBuf::from,
    )
}

fn golden_of(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("golden.json")).unwrap()).unwrap()
}

/// A file `golden.json` names: as recorded (beside the repository) or the repository copy.
fn golden_input(recorded: &str) -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let beside = repo.join("..").join(recorded);
    if beside.is_file() {
        return beside;
    }
    let name = Path::new(recorded).file_name().unwrap();
    repo.join("tests/fixtures/reference_inputs").join(name)
}

fn example(name: &str) -> ImageSource {
    ImageSource::Path(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/data")
            .join(name),
    )
}

fn record(problem: &str, images: Vec<ImageSource>) -> PromptRecord {
    PromptRecord {
        id: 0,
        problem: problem.into(),
        answer: "1".into(),
        images,
        task: "toy".into(),
    }
}

#[test]
fn prompts_place_one_image_run_per_placeholder() {
    let policy = QwenPolicy::from_pretrained(fixture(), &Device::flex()).unwrap();
    let pad = policy.processor().tokenizer().special().image_pad as i64;
    let two = record(
        "First <image> then <image> which is left?",
        vec![example("street.jpg"), example("RGB-D_img3.png")],
    );
    let p = policy.encode_prompt(&two).unwrap();
    assert_eq!(p.images.len(), 2);
    let merged: usize = p
        .images
        .iter()
        .map(|i| i.grid_thw.iter().product::<usize>() / 4)
        .sum();
    assert_eq!(p.input_ids.iter().filter(|&&t| t == pad).count(), merged);
    // The text before the first image survives, in order.
    let text = policy
        .decode(&p.input_ids.iter().map(|&t| t as u32).collect::<Vec<_>>())
        .unwrap();
    let (a, b) = (
        text.find("First").unwrap(),
        text.find("which is left").unwrap(),
    );
    assert!(a < b && text.contains("assistant"), "{text}");
    assert_eq!(policy.prompt_len(&p), p.input_ids.len());

    // Placeholder / image count mismatch is a typed error, not a panic.
    let bad = record("<image> <image>", vec![example("street.jpg")]);
    assert!(matches!(
        policy.encode_prompt(&bad),
        Err(spatial_ssrl_rl::Error::Policy(_))
    ));
    // A missing file too.
    let missing = record("<image>", vec![ImageSource::Path("/no/such.png".into())]);
    assert!(policy.encode_prompt(&missing).is_err());
}

#[test]
fn log_probs_match_the_models_scorer_and_ignore_padding() {
    let policy = QwenPolicy::from_pretrained(fixture(), &Device::flex()).unwrap();
    let short = policy.encode_prompt(&record("Hi", vec![])).unwrap();
    let long = policy
        .encode_prompt(&record(
            "<image> Which patch moved?",
            vec![example("street.jpg")],
        ))
        .unwrap();
    let r_short = policy.encode_response("<answer>2</answer>").unwrap();
    let r_long = policy.encode_response("left, then right: 3").unwrap();
    assert_eq!(
        *r_short.last().unwrap(),
        policy.processor().tokenizer().special().im_end
    );
    let len = r_long.len().max(r_short.len());

    // Row alone, response exactly `len` long: the model's own teacher-forced scorer.
    let alone = policy
        .response_log_probs(
            std::slice::from_ref(&long),
            std::slice::from_ref(&r_long),
            r_long.len(),
            1.0,
        )
        .unwrap();
    let mut ids = long.input_ids.clone();
    ids.extend(r_long.iter().map(|&t| i64::from(t)));
    let batch = VlBatch::single(ids, long.images.clone());
    let reference = masked::to_host(
        policy
            .model()
            .token_log_probs(&batch, r_long.len())
            .unwrap(),
    );
    let ours = masked::to_host(alone.log_probs.clone());
    for (a, b) in ours.iter().zip(&reference) {
        assert!((a - b).abs() < 1e-4, "{ours:?} vs {reference:?}");
        assert!(*a < 0.0);
    }

    // Batched with a shorter prompt and a shorter response: same values for the long row,
    // and the short row equals its own single-row result.
    let both = policy
        .response_log_probs(
            &[short.clone(), long.clone()],
            &[r_short.clone(), r_long.clone()],
            len,
            1.0,
        )
        .unwrap();
    let both_lp = masked::to_host(both.log_probs);
    for (t, b) in reference.iter().enumerate() {
        assert!((both_lp[len + t] - b).abs() < 1e-4, "padding changed row 1");
    }
    let single = masked::to_host(
        policy
            .response_log_probs(
                std::slice::from_ref(&short),
                std::slice::from_ref(&r_short),
                r_short.len(),
                1.0,
            )
            .unwrap()
            .log_probs,
    );
    for (t, s) in single.iter().enumerate() {
        assert!((both_lp[t] - s).abs() < 1e-4, "padding changed row 0");
    }
    let ent = masked::to_host(both.entropy);
    assert!(ent.iter().all(|e| e.is_finite() && *e >= -1e-4));

    // Temperature divides the logits: higher temperature, flatter distribution, larger
    // entropy (random weights are far from uniform over 151k tokens).
    let hot = policy
        .response_log_probs(
            std::slice::from_ref(&long),
            std::slice::from_ref(&r_long),
            r_long.len(),
            2.0,
        )
        .unwrap();
    let (e1, e2) = (
        masked::to_host(alone.entropy).iter().sum::<f32>(),
        masked::to_host(hot.entropy).iter().sum::<f32>(),
    );
    assert!(e2 > e1, "entropy at T=2 {e2} <= T=1 {e1}");
    assert!(
        policy
            .response_log_probs(&[long], &[r_long], len, 0.0)
            .is_err()
    );
}

#[test]
fn generation_is_seeded_and_bounded() {
    let policy = QwenPolicy::from_pretrained(fixture(), &Device::flex()).unwrap();
    let prompts = vec![
        policy
            .encode_prompt(&record("Count to three.", vec![]))
            .unwrap(),
        policy
            .encode_prompt(&record(
                "<image>What is here?",
                vec![example("portrait.jpg")],
            ))
            .unwrap(),
    ];
    let sampling = SamplingConfig {
        temperature: 1.0,
        top_p: 1.0,
        max_new_tokens: 6,
    };
    let draw = |seed: u64| {
        policy
            .generate(&prompts, &sampling, &[seed, seed + 100])
            .unwrap()
    };
    let a = draw(3);
    assert_eq!(a, draw(3));
    assert_ne!(a, draw(4));
    assert_eq!(a.len(), 2);
    let vocab = policy.model().vocab_size() as u32;
    for r in &a {
        assert!(!r.is_empty() && r.len() <= 6);
        assert!(r.iter().all(|&t| t < vocab));
    }
    // Generated tokens score finite log-probs under the same temperature.
    let lp = policy.response_log_probs(&prompts, &a, 6, 1.0).unwrap();
    assert!(masked::to_host(lp.log_probs).iter().all(|v| v.is_finite()));
}

#[test]
fn sampled_rollouts_do_not_depend_on_the_micro_batch_size() {
    let policy = QwenPolicy::from_pretrained(fixture(), &Device::flex()).unwrap();
    let texts = [
        policy
            .encode_prompt(&record("Count to three.", vec![]))
            .unwrap(),
        policy
            .encode_prompt(&record(
                "<image>Which side is brighter?",
                vec![example("portrait.jpg")],
            ))
            .unwrap(),
        policy.encode_prompt(&record("Yes or no?", vec![])).unwrap(),
    ];
    // Two samples per prompt, as GRPO repeats a prompt n times with one seed per sample.
    let prompts: Vec<_> = texts.iter().flat_map(|p| [p.clone(), p.clone()]).collect();
    let seeds: Vec<u64> = (0..prompts.len() as u64).map(|i| 1000 + 7 * i).collect();
    let sampling = SamplingConfig {
        temperature: 1.0,
        top_p: 1.0,
        max_new_tokens: 5,
    };
    let rollout = |micro: usize| -> Vec<Vec<u32>> {
        prompts
            .chunks(micro)
            .zip(seeds.chunks(micro))
            .flat_map(|(p, s)| policy.generate(p, &sampling, s).unwrap())
            .collect()
    };
    let all = rollout(prompts.len());
    assert_eq!(all.len(), prompts.len());
    for micro in [1, 2] {
        assert_eq!(rollout(micro), all, "micro-batch size {micro}");
    }
    // Samples of one prompt differ through their seeds.
    assert!(all.chunks(2).any(|pair| pair[0] != pair[1]));
}

/// Counts parameters with a gradient, split by whether they sit under `visual`.
struct GradCount<'a> {
    grads: &'a GradientsParams,
    path: Vec<String>,
    visual: usize,
    text: usize,
}

impl ModuleVisitor for GradCount<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_owned());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if self.grads.get::<D>(param.id).is_some() {
            if self.path.iter().any(|p| p == "visual") {
                self.visual += 1;
            } else {
                self.text += 1;
            }
        }
    }
}

fn grad_counts(policy: &QwenPolicy) -> (usize, usize) {
    use burn::module::Module;
    let prompt = policy
        .encode_prompt(&record("<image>Which?", vec![example("street.jpg")]))
        .unwrap();
    let resp = policy.encode_response("2").unwrap();
    let n = resp.len();
    let lp = policy
        .response_log_probs(&[prompt], &[resp], n, 1.0)
        .unwrap()
        .log_probs;
    let grads = GradientsParams::from_grads(lp.sum().backward(), policy);
    let mut c = GradCount {
        grads: &grads,
        path: Vec::new(),
        visual: 0,
        text: 0,
    };
    policy.visit(&mut c);
    (c.visual, c.text)
}

#[test]
fn freezing_the_vision_tower_stops_its_gradients() {
    let device = Device::flex().autodiff();
    // Qwen3-VL's tower includes the DeepStack mergers, whose outputs enter the decoder.
    for dir in [fixture(), qwen3_fixture()] {
        let policy = QwenPolicy::from_pretrained(&dir, &device).unwrap();
        let (visual, text) = grad_counts(&policy);
        assert!(visual > 0 && text > 0, "visual {visual}, text {text}");
        let frozen = policy.freeze_vision_tower();
        let (visual, text_frozen) = grad_counts(&frozen);
        assert_eq!(visual, 0, "{}", dir.display());
        assert_eq!(text_frozen, text, "{}", dir.display());
    }
}

/// Qwen3-VL as a policy: the fixture's user text (its question with the card's format
/// prompt) and image encode to HF's prompt, and the teacher-forced log-probs of the fixture's
/// RL continuation sum to HF's (`rl_sum_logprob`).
#[test]
fn qwen3_vl_policy_matches_hf_prompt_and_log_probs() {
    let dir = qwen3_fixture();
    let g = golden_of(&dir);
    let policy = QwenPolicy::from_pretrained(&dir, &Device::flex()).unwrap();
    assert_eq!(policy.model().family(), Family::Qwen3Vl);
    let image = ImageSource::Path(golden_input(g["image"].as_str().unwrap()));
    let prompt = policy
        .encode_prompt(&record(g["user_text"].as_str().unwrap(), vec![image]))
        .unwrap();
    assert_eq!(
        prompt.input_ids.len() as u64,
        g["seq_len"].as_u64().unwrap()
    );
    let ids: Vec<u32> = prompt.input_ids.iter().map(|&t| t as u32).collect();
    let text = policy.processor().tokenizer().decode(&ids, false).unwrap();
    assert_eq!(text, g["chat_text_expanded"].as_str().unwrap());

    // The continuation ends in `<|im_end|>`, which encode_response appends itself.
    let continuation = g["rl_continuation"].as_str().unwrap();
    let body = continuation.strip_suffix("<|im_end|>").unwrap();
    let response = policy.encode_response(body).unwrap();
    assert_eq!(
        response.len() as u64,
        g["rl_continuation_len"].as_u64().unwrap()
    );
    let n = response.len();
    let lp = policy
        .response_log_probs(&[prompt], &[response], n, 1.0)
        .unwrap();
    let sum: f64 = masked::to_host(lp.log_probs)
        .iter()
        .map(|&v| f64::from(v))
        .sum();
    let want = g["rl_sum_logprob"].as_f64().unwrap();
    // 1e-4 per token (f32, summed over the continuation).
    assert!((sum - want).abs() < 1e-4 * n as f64, "{sum} vs {want}");
}

/// Counts float parameters that require gradients, split by whether they sit under
/// `visual`.
struct Trainable {
    path: Vec<String>,
    visual: usize,
    text: usize,
}

impl ModuleVisitor for Trainable {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_owned());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if param.val().is_require_grad() {
            if self.path.iter().any(|p| p == "visual") {
                self.visual += 1;
            } else {
                self.text += 1;
            }
        }
    }
}

/// LoRA on Qwen3-VL reaches the same decoder projections as on Qwen2.5-VL: every
/// q/k/v/o/gate/up/down projection of every layer gets two trainable factors, the rest
/// (vision tower included) is frozen.
#[test]
fn lora_adapts_every_decoder_projection_of_both_families() {
    use burn::module::Module;
    let device = Device::flex().autodiff();
    for dir in [fixture(), qwen3_fixture()] {
        let policy = QwenPolicy::from_pretrained(&dir, &device).unwrap();
        let layers = policy.model().num_hidden_layers();
        let (adapted, _) = apply_lora(policy, 2, 4.0, "all").unwrap();
        let mut t = Trainable {
            path: Vec::new(),
            visual: 0,
            text: 0,
        };
        adapted.visit(&mut t);
        assert_eq!((t.visual, t.text), (0, 2 * 7 * layers), "{}", dir.display());
    }
}

#[test]
fn save_pretrained_round_trips() {
    let device = Device::flex();
    let policy = QwenPolicy::from_pretrained(fixture(), &device).unwrap();
    let dir = tempfile::tempdir().unwrap();
    policy.save_pretrained(dir.path()).unwrap();
    let back = QwenPolicy::from_pretrained(dir.path(), &device).unwrap();
    let prompt = policy
        .encode_prompt(&record("Hello there", vec![]))
        .unwrap();
    assert_eq!(
        back.encode_prompt(&record("Hello there", vec![])).unwrap(),
        prompt
    );
    let resp = policy.encode_response("yes").unwrap();
    let n = resp.len();
    let a = masked::to_host(
        policy
            .response_log_probs(
                std::slice::from_ref(&prompt),
                std::slice::from_ref(&resp),
                n,
                1.0,
            )
            .unwrap()
            .log_probs,
    );
    let b = masked::to_host(
        back.response_log_probs(&[prompt], &[resp], n, 1.0)
            .unwrap()
            .log_probs,
    );
    assert_eq!(a, b);
}
