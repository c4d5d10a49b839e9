//! Qwen3-VL parity with HF transformers on the tiny random Qwen3-VL fixture (configuration,
//! position resampling, vision tower, DeepStack, Qwen3 decoder, greedy decoding), plus the released Qwen3-VL-4B-Instruct
//! `config.json`. Every size, input and expected value comes from the fixture folder:
//! `SSRL_TINY_QWEN3_DIR` when set, else the repository copy `tests/fixtures/tiny-qwen3-vl`.

mod common;

use std::path::PathBuf;

use common::{Goldens, assert_close, reference_image, values};

use burn::tensor::{Device, Tensor};
use spatial_ssrl_model::{
    ChatTemplate, Checkpoint, DeepstackInput, Error, ImageProcessor, KvCache, Message,
    PositionResampling, Qwen3TextModel, Qwen3VisionTower, Qwen3VlConfig, QwenTokenizer,
    RenderOptions, RopeIndexConfig, VisionGrids, burn, expand_image_pads, get_rope_index,
    vision_rotary_angles,
};

fn fixture_dir() -> PathBuf {
    common::qwen3_dir()
}

fn goldens() -> Goldens {
    Goldens::load(fixture_dir().join("golden.safetensors"))
}

fn config() -> Qwen3VlConfig {
    Qwen3VlConfig::from_file(fixture_dir()).expect("fixture config.json")
}

#[test]
fn fixture_config_parses_consistently_with_its_weights() {
    let cfg = config();
    let ckpt = Checkpoint::open(fixture_dir()).expect("checkpoint");
    let t = &cfg.text;
    let v = &cfg.vision;
    let shape = |n: &str| ckpt.shape(n).unwrap_or_else(|| panic!("{n} missing"));
    assert_eq!(
        shape("model.language_model.embed_tokens.weight"),
        vec![t.vocab_size, t.hidden_size]
    );
    assert_eq!(
        shape("model.language_model.layers.0.self_attn.q_proj.weight"),
        vec![t.num_attention_heads * t.head_dim, t.hidden_size]
    );
    assert_eq!(
        shape("model.language_model.layers.0.self_attn.k_norm.weight"),
        vec![t.head_dim]
    );
    assert_eq!(
        shape("model.visual.pos_embed.weight"),
        vec![v.num_position_embeddings, v.hidden_size]
    );
    let deepstack = ckpt
        .names()
        .iter()
        .filter(|n| n.ends_with("linear_fc1.weight") && n.contains("deepstack_merger_list"))
        .count();
    assert_eq!(deepstack, v.deepstack_visual_indexes.len());
    assert_eq!(cfg.tie_word_embeddings, !ckpt.contains("lm_head.weight"));
    assert!(t.mrope_interleaved);
    assert_eq!(t.mrope_section.iter().sum::<usize>(), t.head_dim / 2);
}

#[test]
fn released_4b_config_parses() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/hub-configs/qwen3_vl_4b_instruct.config.json");
    let cfg = Qwen3VlConfig::from_file(&path).expect("Qwen3-VL-4B-Instruct config");
    assert_eq!(cfg.vision.deepstack_visual_indexes, vec![5, 11, 17]);
    assert_eq!(cfg.vision.num_position_embeddings, 2304);
    assert_eq!(cfg.vision.position_side(), 48);
    assert!(cfg.tie_word_embeddings);
    assert_eq!(
        (
            cfg.text.hidden_size,
            cfg.text.head_dim,
            cfg.text.num_attention_heads
        ),
        (2560, 128, 32)
    );
    assert_eq!(cfg.text.mrope_section, [24, 20, 20]);
    assert_eq!(cfg.vision.out_hidden_size, cfg.text.hidden_size);
}

#[test]
fn bad_configs_are_typed_errors() {
    let text = std::fs::read_to_string(fixture_dir().join("config.json")).unwrap();
    let base: serde_json::Value = serde_json::from_str(&text).unwrap();
    let edits: [(&str, &str, serde_json::Value); 6] = [
        ("vision_config", "num_position_embeddings", 250.into()),
        (
            "vision_config",
            "deepstack_visual_indexes",
            serde_json::json!([0, 99]),
        ),
        ("vision_config", "hidden_act", "relu".into()),
        ("vision_config", "out_hidden_size", 7.into()),
        ("text_config", "num_key_value_heads", 3.into()),
        ("text_config", "attention_bias", true.into()),
    ];
    for (section, key, value) in edits {
        let mut bad = base.clone();
        bad[section][key] = value;
        match Qwen3VlConfig::from_json_str(&bad.to_string()) {
            Err(Error::UnsupportedConfig { .. }) => {}
            other => panic!("{section}.{key}: expected UnsupportedConfig, got {other:?}"),
        }
    }
    // A two-row section, and one whose W share outruns the interleaved pattern.
    let half = base["text_config"]["head_dim"].as_u64().unwrap() / 2;
    for section in [
        serde_json::json!([half - 1, 1]),
        serde_json::json!([0, 0, half]),
    ] {
        let mut bad = base.clone();
        bad["text_config"]["rope_scaling"]["mrope_section"] = section;
        assert!(matches!(
            Qwen3VlConfig::from_json_str(&bad.to_string()),
            Err(Error::UnsupportedConfig { .. })
        ));
    }
    assert!(matches!(
        Qwen3VlConfig::from_json_str("{\"text_config\": 3}"),
        Err(Error::Json { .. })
    ));
}

#[test]
fn position_resampling_matches_hf_exactly() {
    let cfg = config();
    let g = goldens();
    let [_, gh, gw] = g.image("").grid_thw;
    let r = PositionResampling::new(cfg.vision.position_side(), gh, gw);
    assert_eq!(r.h_coords, g.f32("vision_pos_interp_h_coords").1);
    assert_eq!(r.w_coords, g.f32("vision_pos_interp_w_coords").1);
    let idx = g.i64("vision_pos_interp_indices");
    let (_, w) = g.f32("vision_pos_interp_weights");
    let n = gh * gw;
    for k in 0..4 {
        let got: Vec<i64> = r.indices[k].iter().map(|&i| i as i64).collect();
        assert_eq!(got, idx[k * n..(k + 1) * n], "corner {k} indices");
        assert_eq!(r.weights[k], w[k * n..(k + 1) * n], "corner {k} weights");
    }
}

#[test]
fn vision_rotary_angles_match_hf() {
    let cfg = config();
    let g = goldens();
    let (_, want) = g.f32("vision_rotary_pos_emb");
    let got = vision_rotary_angles(
        g.image("").grid_thw,
        cfg.vision.spatial_merge_size,
        cfg.vision.head_dim(),
    );
    assert_close("vision_rotary_pos_emb", &got, &want, 1e-4);
}

#[test]
fn vision_tower_and_deepstack_match_hf() {
    let device = Device::default();
    let cfg = config();
    let g = goldens();
    let ckpt = Checkpoint::open(fixture_dir()).expect("checkpoint");
    let tower = Qwen3VisionTower::from_checkpoint(&ckpt, &cfg.vision, &device).expect("tower");
    let image = g.image("");
    let trace = tower.forward_trace(&image, &device).expect("forward");
    let tol = 1e-4;
    assert_close(
        "vision_patch_embeds",
        &values(trace.patch_embeds.clone()),
        &g.f32("vision_patch_embeds").1,
        tol,
    );
    assert_close(
        "vision_pos_embeds",
        &values(trace.pos_embeds.clone()),
        &g.f32("vision_pos_embeds").1,
        tol,
    );
    assert_close(
        "vision_hidden_after_pos",
        &values(trace.patch_embeds + trace.pos_embeds),
        &g.f32("vision_hidden_after_pos").1,
        tol,
    );
    let (shape, blocks) = g.f32("vision_block_outputs");
    assert_eq!(shape[0], trace.block_outputs.len());
    let per = blocks.len() / shape[0];
    for (i, out) in trace.block_outputs.into_iter().enumerate() {
        let want = &blocks[i * per..(i + 1) * per];
        assert_close(&format!("vision block {i}"), &values(out), want, tol);
    }
    let (shape, deep) = g.f32("deepstack_features");
    assert_eq!(shape[0], trace.deepstack_features.len());
    let per = deep.len() / shape[0];
    for (k, f) in trace.deepstack_features.into_iter().enumerate() {
        let want = &deep[k * per..(k + 1) * per];
        assert_close(&format!("deepstack feature {k}"), &values(f), want, tol);
    }
    let want_embeds = g.f32("image_embeds").1;
    assert_close(
        "image_embeds",
        &values(trace.image_embeds),
        &want_embeds,
        tol,
    );
    // The batched entry point gives the same rows, and bad pixels are a typed error.
    let (embeds, deep) = tower
        .forward(std::slice::from_ref(&image), &device)
        .expect("forward");
    assert_close("forward image_embeds", &values(embeds), &want_embeds, tol);
    assert_eq!(deep.len(), cfg.vision.deepstack_visual_indexes.len());
    let mut short = image;
    short.pixel_values.pop();
    assert!(matches!(
        tower.forward(&[short], &device),
        Err(Error::BadInput(_))
    ));
}

#[test]
fn missing_vision_tensor_is_a_typed_error() {
    let cfg = config();
    let ckpt = Checkpoint::open(fixture_dir()).expect("checkpoint");
    let mut vision = cfg.vision.clone();
    vision.depth += 1;
    match Qwen3VisionTower::from_checkpoint(&ckpt, &vision, &Device::default()) {
        Err(Error::MissingTensor { name, .. }) => assert!(name.contains("blocks")),
        other => panic!("expected MissingTensor, got {:?}", other.map(|_| ())),
    }
    let mut vision = cfg.vision;
    vision.hidden_size *= 2;
    vision.num_heads *= 2;
    assert!(matches!(
        Qwen3VisionTower::from_checkpoint(&ckpt, &vision, &Device::default()),
        Err(Error::ShapeMismatch { .. })
    ));
}

/// Rows `[i * per, (i + 1) * per)` of a stacked golden.
fn slab(all: &[f32], count: usize, i: usize) -> &[f32] {
    let per = all.len() / count;
    &all[i * per..(i + 1) * per]
}

/// Log-softmax value of `logits` at `id`.
fn log_prob(logits: &[f32], id: usize) -> f32 {
    let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let lse = max + logits.iter().map(|l| (l - max).exp()).sum::<f32>().ln();
    logits[id] - lse
}

fn argmax(v: &[f32]) -> usize {
    (0..v.len()).fold(0, |best, i| if v[i] > v[best] { i } else { best })
}

#[test]
fn qwen3_decoder_matches_hf_layer_by_layer_and_decodes_greedily() {
    let device = Device::default();
    let cfg = config();
    let g = goldens();
    let ckpt = Checkpoint::open(fixture_dir()).expect("checkpoint");
    let tower = Qwen3VisionTower::from_checkpoint(&ckpt, &cfg.vision, &device).expect("tower");
    let text = Qwen3TextModel::from_checkpoint(&ckpt, &cfg.text, cfg.tie_word_embeddings, &device)
        .expect("decoder");
    let tol = 1e-4;
    let (image_embeds, deep) = tower.forward(&[g.image("")], &device).expect("vision");
    let ids = g.i64("input_ids");
    let l = ids.len();
    let (embeds, rows) = text
        .splice_image_embeds(&ids, cfg.image_token_id, image_embeds)
        .expect("splice");
    assert_close(
        "inputs_embeds",
        &values(embeds.clone()),
        &g.f32("inputs_embeds").1,
        tol,
    );
    let positions = g.i64("position_ids");
    let (cos, sin) = text.rope_tables(&positions, 1, l, &device).unwrap();
    assert_close(
        "text_rope_cos",
        &values(cos),
        &g.f32("text_rope_cos").1,
        tol,
    );
    assert_close(
        "text_rope_sin",
        &values(sin),
        &g.f32("text_rope_sin").1,
        tol,
    );

    let deepstack = DeepstackInput {
        rows,
        features: deep,
    };
    let out = text
        .forward(
            embeds.clone(),
            &positions,
            &[vec![1; l]],
            Some(&deepstack),
            None,
            true,
        )
        .expect("forward");
    let (shape, layers) = g.f32("decoder_layer_outputs");
    assert_eq!(shape[0], out.layer_outputs.len());
    for (i, t) in out.layer_outputs.iter().enumerate() {
        let what = format!("decoder layer {i}");
        assert_close(&what, &values(t.clone()), slab(&layers, shape[0], i), tol);
    }
    let (shape, hidden) = g.f32("hidden_states");
    assert_eq!(shape[0], out.hidden_states.len());
    for (i, t) in out.hidden_states.iter().enumerate() {
        let what = format!("hidden_states[{i}]");
        assert_close(&what, &values(t.clone()), slab(&hidden, shape[0], i), tol);
    }
    assert_close(
        "final_hidden",
        &values(out.last_hidden.clone()),
        &g.f32("final_hidden").1,
        tol,
    );
    let logits = values(text.logits(out.last_hidden));
    let vocab = logits.len() / l;
    let (shape, last) = g.f32("logits_last4");
    let tail = &logits[(l - shape[0]) * vocab..];
    assert_close("logits_last4", tail, &last, 1e-3);
    let want_lp = g.f32("next_token_logprobs").1;
    let got_lp: Vec<f32> = (0..l - 1)
        .map(|t| log_prob(&logits[t * vocab..(t + 1) * vocab], ids[t + 1] as usize))
        .collect();
    assert_close("next_token_logprobs", &got_lp, &want_lp, 1e-3);

    // Greedy decoding with the KV cache: prefill, then one token at a time at text
    // position p + rope_deltas on all three rows.
    let want_ids = g.i64("generated_ids");
    let delta = g.i64("rope_deltas")[0];
    let mut cache = KvCache::new(cfg.text.num_hidden_layers);
    let prefill = text
        .forward(
            embeds,
            &positions,
            &[vec![1; l]],
            Some(&deepstack),
            Some(&mut cache),
            false,
        )
        .expect("prefill");
    let last = text.logits(prefill.last_hidden.narrow(1, l - 1, 1));
    let mut next = argmax(&values(last)) as i64;
    let mut got_ids = vec![next];
    for step in 1..want_ids.len() {
        let p = (l + step - 1) as i64 + delta;
        let tok = Tensor::<2, burn::tensor::Int>::from_data(
            burn::tensor::TensorData::new(vec![next], [1, 1]),
            &device,
        );
        let out = text
            .forward(
                text.embed(tok),
                &[p, p, p],
                &[vec![1; l + step]],
                None,
                Some(&mut cache),
                false,
            )
            .expect("step");
        next = argmax(&values(text.logits(out.last_hidden))) as i64;
        got_ids.push(next);
    }
    assert_eq!(got_ids, want_ids);
}

/// M-RoPE positions of one unpadded row with the fixture's image (images place
/// positions the same way in Qwen2.5-VL and Qwen3-VL).
fn rope_positions(cfg: &Qwen3VlConfig, ids: &[i64], grid: [usize; 3]) -> (Vec<i64>, i64) {
    let rcfg = RopeIndexConfig {
        spatial_merge_size: cfg.vision.spatial_merge_size as u32,
        image_token_id: cfg.image_token_id as u32,
        video_token_id: cfg.video_token_id as u32,
        vision_start_token_id: cfg.vision_start_token_id as u32,
        ..RopeIndexConfig::default()
    };
    let ids: Vec<u32> = ids.iter().map(|&i| i as u32).collect();
    let grids = [grid.map(|v| v as u32)];
    let r = get_rope_index(
        &rcfg,
        &ids,
        1,
        ids.len(),
        None,
        VisionGrids {
            image_grid_thw: &grids,
            video_grid_thw: &[],
            second_per_grid_ts: &[],
        },
    )
    .expect("rope index");
    (r.position_ids, r.rope_deltas[0])
}

#[test]
fn rope_index_and_teacher_forced_log_probs_match_hf() {
    let device = Device::default();
    let cfg = config();
    let g = goldens();
    let image = g.image("");
    let prompt = g.i64("input_ids");
    let (positions, delta) = rope_positions(&cfg, &prompt, image.grid_thw);
    assert_eq!(positions, g.i64("position_ids"));
    assert_eq!(delta, g.i64("rope_deltas")[0]);

    // One forward over prompt + continuation, as an RL actor scores a response.
    let cont = g.i64("rl_continuation_ids");
    let ids: Vec<i64> = prompt.iter().chain(&cont).copied().collect();
    let (positions, _) = rope_positions(&cfg, &ids, image.grid_thw);
    assert_eq!(positions, g.i64("rl_position_ids"));
    let ckpt = Checkpoint::open(fixture_dir()).expect("checkpoint");
    let tower = Qwen3VisionTower::from_checkpoint(&ckpt, &cfg.vision, &device).expect("tower");
    let text = Qwen3TextModel::from_checkpoint(&ckpt, &cfg.text, cfg.tie_word_embeddings, &device)
        .expect("decoder");
    let (image_embeds, features) = tower.forward(&[image], &device).expect("vision");
    let (embeds, rows) = text
        .splice_image_embeds(&ids, cfg.image_token_id, image_embeds)
        .expect("splice");
    let deepstack = DeepstackInput { rows, features };
    let l = ids.len();
    let out = text
        .forward(
            embeds,
            &positions,
            &[vec![1; l]],
            Some(&deepstack),
            None,
            false,
        )
        .expect("forward");
    let logits = values(text.logits(out.last_hidden));
    let vocab = logits.len() / l;
    let (mut lp, mut ent, mut top) = (Vec::new(), Vec::new(), Vec::new());
    for (j, &tok) in cont.iter().enumerate() {
        let row = &logits[(prompt.len() + j - 1) * vocab..(prompt.len() + j) * vocab];
        lp.push(log_prob(row, tok as usize));
        let logz = log_prob(row, 0) - row[0];
        ent.push(
            -row.iter()
                .map(|&x| (x + logz).exp() * (x + logz))
                .sum::<f32>(),
        );
        top.push(argmax(row) as i64);
    }
    assert_close(
        "rl_token_logprobs",
        &lp,
        &g.f32("rl_token_logprobs").1,
        1e-3,
    );
    assert_close("rl_token_entropy", &ent, &g.f32("rl_token_entropy").1, 1e-3);
    assert_eq!(top, g.i64("rl_top1_ids"));
}

#[test]
fn image_processor_with_qwen3_settings_matches_hf() {
    let g = goldens();
    let proc = ImageProcessor::from_file(fixture_dir().join("preprocessor_config.json"))
        .expect("preprocessor_config.json");
    for (key, prefix) in [("image", ""), ("rgba_image", "rgba_")] {
        let img =
            spatial_ssrl_model::load_image(reference_image(&fixture_dir(), key)).expect("image");
        let (shape, want_u8) = g.u8(&format!("{prefix}resized_image_u8"));
        let resized = proc.resize(&img).expect("resize");
        assert_eq!(
            [resized.height() as usize, resized.width() as usize, 3],
            shape[..]
        );
        assert_eq!(resized.as_raw(), &want_u8, "{key}: PIL bicubic resize");
        let px = proc.preprocess(&img).expect("preprocess");
        let grid = g.i64(&format!("{prefix}image_grid_thw"));
        let grid: Vec<u32> = grid.iter().map(|&v| v as u32).collect();
        assert_eq!(px.grid_thw, vec![[grid[0], grid[1], grid[2]]]);
        let (_, want) = g.f32(&format!("{prefix}pixel_values"));
        assert_close(
            &format!("{key} pixel_values"),
            &px.pixel_values,
            &want,
            1e-6,
        );
    }
}

#[test]
fn chat_template_and_tokenizer_give_hf_prompt_ids() {
    let g = goldens();
    let text = std::fs::read_to_string(fixture_dir().join("golden.json")).expect("golden.json");
    let meta: serde_json::Value = serde_json::from_str(&text).expect("golden.json");
    let field = |k: &str| {
        meta[k]
            .as_str()
            .unwrap_or_else(|| panic!("{k}"))
            .to_string()
    };
    let template = ChatTemplate::from_dir(fixture_dir()).expect("chat template");
    let img =
        spatial_ssrl_model::load_image(reference_image(&fixture_dir(), "image")).expect("image");
    let messages = [Message::user_image(
        std::sync::Arc::new(img),
        field("user_text"),
    )];
    let opts = RenderOptions {
        add_generation_prompt: true,
        ..RenderOptions::default()
    };
    let rendered = template.render(&messages, &opts).expect("render");
    assert_eq!(rendered, field("chat_text"));
    let pads = meta["num_image_tokens"].as_u64().expect("num_image_tokens") as usize;
    let expanded = expand_image_pads(&rendered, &[pads]);
    assert_eq!(expanded, field("chat_text_expanded"));
    let tok = QwenTokenizer::from_file(fixture_dir().join("tokenizer.json")).expect("tokenizer");
    let ids = |t: &str| -> Vec<i64> {
        tok.encode(t)
            .expect("encode")
            .into_iter()
            .map(i64::from)
            .collect()
    };
    assert_eq!(ids(&rendered), g.i64("prompt_ids_unexpanded"));
    assert_eq!(ids(&expanded), g.i64("input_ids"));
}
