//! The model-family API on both tiny fixtures: `Family` detection, `VlModel` loading either
//! family, Qwen3-VL greedy generation and teacher-forced log-probs through the shared
//! decoding code against transformers' goldens, batching, and save/load round trips. Every
//! size, id and expected value comes from the fixture folders (`SSRL_TINY_QWEN3_DIR`,
//! `SSRL_TINY_QWEN_DIR`).

mod common;

use common::{Goldens, assert_close, golden_text, qwen2_5_dir, qwen3_dir, reference_image, values};
use spatial_ssrl_model::burn::tensor::Device;
use spatial_ssrl_model::{
    Checkpoint, Error, Family, GenerationConfig, Message, ModelFamily, Processor, Prompt, VlBatch,
    VlModel, load_image,
};

fn qwen3() -> (VlModel, Goldens) {
    let model = VlModel::from_pretrained(qwen3_dir(), &Device::default()).expect("load qwen3");
    (model, Goldens::load(qwen3_dir().join("golden.safetensors")))
}

/// Greedy decoding of exactly `n` tokens (no stop token, so HF's count is reproduced).
fn greedy(n: usize) -> GenerationConfig {
    GenerationConfig {
        stop_tokens: Vec::new(),
        ..GenerationConfig::greedy(n)
    }
}

#[test]
fn family_comes_from_config_model_type() {
    assert_eq!(Family::detect(qwen3_dir()).unwrap(), Family::Qwen3Vl);
    assert_eq!(Family::detect(qwen2_5_dir()).unwrap(), Family::Qwen2_5Vl);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"model_type": "gemma3"}"#,
    )
    .unwrap();
    let err = VlModel::from_pretrained(dir.path(), &Device::default()).unwrap_err();
    assert!(
        matches!(&err, Error::UnsupportedConfig { field: "model_type", value, .. } if value.contains("gemma3")),
        "{err}"
    );
    std::fs::write(dir.path().join("config.json"), "{}").unwrap();
    assert!(matches!(
        Family::detect(dir.path()),
        Err(Error::UnsupportedConfig { .. })
    ));
    let missing = dir.path().join("absent");
    assert!(matches!(Family::detect(missing), Err(Error::Io { .. })));
}

#[test]
fn qwen3_generate_reproduces_hf_greedy_ids() {
    let (model, g) = qwen3();
    assert_eq!(model.family(), Family::Qwen3Vl);
    let want = g.i64("generated_ids");
    let prompt = Prompt {
        input_ids: g.i64("input_ids"),
        images: vec![g.image("")],
        videos: vec![],
    };
    let mut streamed = Vec::new();
    let out = model
        .generate(&[prompt], &greedy(want.len()), |_, t| streamed.push(t))
        .expect("generate");
    assert_eq!(out[0].tokens, want);
    assert_eq!(streamed, want);
}

#[test]
fn qwen3_token_log_probs_and_positions_match_hf() {
    let (model, g) = qwen3();
    let cont = g.i64("rl_continuation_ids");
    let ids: Vec<i64> = g.i64("input_ids").into_iter().chain(cont.clone()).collect();
    let batch = VlBatch::single(ids, vec![g.image("")]);
    let (positions, _) = model.positions(&batch).expect("positions");
    assert_eq!(positions, g.i64("rl_position_ids"));
    let lp = model
        .token_log_probs(&batch, cont.len())
        .expect("log-probs");
    assert_close(
        "rl_token_logprobs",
        &values(lp),
        &g.f32("rl_token_logprobs").1,
        1e-4,
    );
}

#[test]
fn qwen3_rows_decode_the_same_alone_and_left_padded_together() {
    let (model, g) = qwen3();
    let with_image = Prompt {
        input_ids: g.i64("input_ids"),
        images: vec![g.image("")],
        videos: vec![],
    };
    // A shorter text-only row: the prompt's last tokens.
    let ids = g.i64("input_ids");
    let text_only = Prompt {
        input_ids: ids[ids.len() - ids.len() / 4..].to_vec(),
        images: vec![],
        videos: vec![],
    };
    let n = g.i64("generated_ids").len() / 2;
    let together = model
        .generate(
            &[text_only.clone(), with_image.clone()],
            &greedy(n),
            |_, _| {},
        )
        .unwrap();
    let alone_text = model.generate(&[text_only], &greedy(n), |_, _| {}).unwrap();
    let alone_image = model
        .generate(&[with_image], &greedy(n), |_, _| {})
        .unwrap();
    assert_eq!(together[0], alone_text[0]);
    assert_eq!(together[1], alone_image[0]);
}

#[test]
fn qwen3_saved_folder_has_hf_names_and_reloads_to_the_same_logits() {
    let (model, g) = qwen3();
    let dir = tempfile::tempdir().unwrap();
    model.save_pretrained(dir.path()).expect("save");
    let mut saved = Checkpoint::open(dir.path()).unwrap().names();
    let mut original = Checkpoint::open(qwen3_dir()).unwrap().names();
    saved.sort();
    original.sort();
    assert_eq!(saved, original);
    let reloaded = VlModel::from_pretrained(dir.path(), &Device::default()).expect("reload");
    assert_eq!(reloaded.family(), Family::Qwen3Vl);
    let batch = VlBatch::single(g.i64("input_ids"), vec![g.image("")]);
    let logits = |m: &VlModel| {
        let mut cache = m.new_cache();
        values(m.prefill(&batch, &mut cache).unwrap().0)
    };
    assert_eq!(logits(&model), logits(&reloaded));
}

#[test]
fn qwen3_config_disagreeing_with_the_weights_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let src = qwen3_dir();
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    let width = cfg["text_config"]["intermediate_size"].as_u64().unwrap();
    cfg["text_config"]["intermediate_size"] = (width * 2).into();
    std::fs::write(dir.path().join("config.json"), cfg.to_string()).unwrap();
    std::fs::copy(
        src.join("model.safetensors"),
        dir.path().join("model.safetensors"),
    )
    .unwrap();
    let err = VlModel::from_pretrained(dir.path(), &Device::default()).unwrap_err();
    assert!(matches!(err, Error::ShapeMismatch { .. }), "{err}");
}

#[test]
fn qwen2_5_loads_through_the_family_api() {
    let device = Device::default();
    let model = VlModel::from_pretrained(qwen2_5_dir(), &device).expect("load qwen2.5");
    assert_eq!(model.family(), Family::Qwen2_5Vl);
    let direct = model.as_qwen2_5_vl().expect("qwen2.5 variant");
    assert_eq!(model.vocab_size(), direct.config().text.vocab_size);
    let g = Goldens::load(qwen2_5_dir().join("golden.safetensors"));
    let want = g.i64("generated_ids");
    let prompt = Prompt {
        input_ids: g.i64("input_ids"),
        images: vec![g.image("")],
        videos: vec![],
    };
    let out = model
        .generate(&[prompt], &greedy(want.len()), |_, _| {})
        .unwrap();
    assert_eq!(out[0].tokens, want);
}

#[test]
fn qwen3_processor_from_the_folder_feeds_generation_like_hf() {
    let dir = qwen3_dir();
    let g = Goldens::load(dir.join("golden.safetensors"));
    let proc = Processor::from_dir(&dir).expect("processor");
    assert_eq!(proc.family(), Family::Qwen3Vl);
    let img = load_image(reference_image(&dir, "image")).expect("image");
    let messages = [Message::user_image(
        std::sync::Arc::new(img),
        golden_text(&dir, "user_text"),
    )];
    let inputs = proc.prepare(&messages, true).expect("prepare");
    let ids: Vec<i64> = inputs.input_ids.iter().map(|&t| i64::from(t)).collect();
    assert_eq!(ids, g.i64("input_ids"));
    assert_close(
        "pixel_values",
        &inputs.pixel_values,
        &g.f32("pixel_values").1,
        1e-6,
    );
    let batch = VlBatch::from_processed(&inputs).expect("batch");
    let (model, _) = qwen3();
    let want = g.i64("generated_ids");
    let out = model
        .generate_batch(&batch, &greedy(want.len()), |_, _| {})
        .expect("generate");
    assert_eq!(out[0].tokens, want);
}

#[test]
fn qwen3_processor_fills_keys_the_preprocessor_file_omits_with_qwen3_values() {
    let src = qwen3_dir();
    let dir = tempfile::tempdir().unwrap();
    for f in [
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "chat_template.json",
        "video_preprocessor_config.json",
    ] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    // Only the pixel limits: mean, std and patch size must come from the family.
    let full: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(src.join("preprocessor_config.json")).unwrap(),
    )
    .unwrap();
    let trimmed = serde_json::json!({
        "min_pixels": full["min_pixels"],
        "max_pixels": full["max_pixels"],
    });
    std::fs::write(
        dir.path().join("preprocessor_config.json"),
        trimmed.to_string(),
    )
    .unwrap();
    let proc = Processor::from_dir(dir.path()).expect("processor");
    let (model, _) = qwen3();
    assert_eq!(
        proc.image_processor().config().image_mean,
        model.image_processor_defaults().image_mean
    );
    let img = load_image(reference_image(&src, "image")).expect("image");
    let px = proc.image_processor().preprocess(&img).expect("preprocess");
    let g = Goldens::load(src.join("golden.safetensors"));
    assert_close(
        "pixel_values",
        &px.pixel_values,
        &g.f32("pixel_values").1,
        1e-6,
    );
}

#[test]
fn vl_model_is_a_trainable_module_one_sgd_step_raises_the_response_log_probs() {
    use spatial_ssrl_model::burn::optim::{GradientsParams, SgdConfig};
    let device = Device::default().autodiff();
    let model = VlModel::from_pretrained(qwen3_dir(), &device).expect("load on autodiff");
    let g = Goldens::load(qwen3_dir().join("golden.safetensors"));
    let cont = g.i64("rl_continuation_ids");
    let ids: Vec<i64> = g.i64("input_ids").into_iter().chain(cont.clone()).collect();
    let batch = VlBatch::single(ids, vec![g.image("")]);
    let mean_lp = |m: &VlModel| {
        m.token_log_probs(&batch, cont.len())
            .expect("log-probs")
            .mean()
    };
    let before = mean_lp(&model);
    let start = before.clone().into_scalar::<f32>();
    let grads = GradientsParams::from_grads(before.neg().backward(), &model);
    let mut optim = SgdConfig::new().init();
    let model = optim.step(1e-2, model, grads);
    let after = mean_lp(&model).into_scalar::<f32>();
    assert!(after > start, "mean log-prob {start} -> {after}");
}
