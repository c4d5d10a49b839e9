//! Parity with HF transformers on the tiny random Qwen2.5-VL fixture (golden tensors from
//! `golden.safetensors`, see the fixture's README). The folder is `SSRL_TINY_QWEN_DIR` when
//! set, else the repository copy `tests/fixtures/tiny-qwen2_5-vl`.

mod common;

use common::{Goldens, assert_close, values};
use std::path::PathBuf;

use burn::tensor::Device;
use spatial_ssrl_model::{
    GenerationConfig, ImageInput, Prompt, Qwen2_5VlForCausalLm, VlBatch, burn,
};

/// The backend under test: the default device of the enabled backend feature (`flex` by
/// default; e.g. `--no-default-features --features wgpu` runs the same parity checks on wgpu).
fn test_device() -> Device {
    Device::default()
}

fn fixture_dir() -> PathBuf {
    common::qwen2_5_dir()
}

fn goldens() -> Goldens {
    Goldens::load(fixture_dir().join("golden.safetensors"))
}

struct Setup {
    device: Device,
    model: Qwen2_5VlForCausalLm,
    g: Goldens,
    image: ImageInput,
    ids: Vec<i64>,
}

fn setup() -> Setup {
    let device = test_device();
    let model =
        Qwen2_5VlForCausalLm::from_pretrained(fixture_dir(), &device).expect("load tiny model");
    let g = goldens();
    let (_, pixels) = g.f32("pixel_values");
    let grid = g.i64("image_grid_thw");
    let image = ImageInput {
        pixel_values: pixels,
        grid_thw: [grid[0] as usize, grid[1] as usize, grid[2] as usize],
    };
    let ids = g.i64("input_ids");
    Setup {
        device,
        model,
        g,
        image,
        ids,
    }
}

impl Setup {
    fn batch(&self) -> VlBatch {
        let mut b = VlBatch::single(self.ids.clone(), vec![self.image.clone()]);
        b.position_ids = Some(self.g.i64("position_ids"));
        b
    }
}

#[test]
fn vision_tower_matches_hf() {
    let s = setup();
    let trace = s
        .model
        .vision()
        .forward_trace(std::slice::from_ref(&s.image), &s.device)
        .unwrap();
    let want_index: Vec<usize> =
        s.g.i64("vision_window_index")
            .iter()
            .map(|&i| i as usize)
            .collect();
    assert_eq!(trace.window_index, want_index, "window index");
    assert_close(
        "vision_patch_embeds",
        &values(trace.patch_embeds),
        &s.g.f32("vision_patch_embeds").1,
        1e-4,
    );
    let (shape, blocks) = s.g.f32("vision_block_outputs");
    let per = shape[1] * shape[2];
    assert_eq!(
        trace.block_outputs.len(),
        shape[0],
        "one output per vision block"
    );
    for (i, out) in trace.block_outputs.into_iter().enumerate() {
        assert_close(
            &format!("vision_block_outputs[{i}]"),
            &values(out),
            &blocks[i * per..(i + 1) * per],
            1e-4,
        );
    }
    assert_close(
        "image_embeds",
        &values(trace.embeds),
        &s.g.f32("image_embeds").1,
        1e-4,
    );
}

#[test]
fn hidden_states_and_logits_match_hf() {
    let s = setup();
    let batch = s.batch();
    let out = s.model.forward_hidden(&batch, true).unwrap();
    // HF `hidden_states`: [0] = inputs_embeds, [i] = output of layer i - 1, and the last one
    // after the final norm; ours: [0] = inputs_embeds, [i] = output of layer i - 1.
    let (shape, hs) = s.g.f32("hidden_states");
    let per = shape[1] * shape[2];
    let layers = shape[0] - 1;
    assert_eq!(out.layer_outputs.len(), layers + 1, "decoder layer count");
    assert_close(
        "inputs_embeds",
        &values(out.layer_outputs.first().expect("inputs_embeds").clone()),
        &s.g.f32("inputs_embeds").1,
        1e-4,
    );
    for i in 1..layers {
        assert_close(
            &format!("hidden_states[{i}]"),
            &values(out.layer_outputs[i].clone()),
            &hs[i * per..(i + 1) * per],
            1e-4,
        );
    }
    assert_close(
        "final_norm_input",
        &values(out.layer_outputs[layers].clone()),
        &s.g.f32("final_norm_input").1,
        1e-4,
    );
    assert_close(
        "final_hidden",
        &values(out.last_hidden.clone()),
        &s.g.f32("final_hidden").1,
        1e-4,
    );
    assert_close(
        "hidden_states[last]",
        &values(out.last_hidden.clone()),
        &hs[layers * per..],
        1e-4,
    );

    let logits = s.model.logits(out.last_hidden);
    let [_, seq, vocab] = logits.dims();
    let all = values(logits);
    let (last_shape, _) = s.g.f32("logits_last4");
    assert_close(
        "logits_last4",
        &all[(seq - last_shape[0]) * vocab..],
        &s.g.f32("logits_last4").1,
        1e-4,
    );
    let lse: Vec<f32> = (0..seq)
        .map(|t| {
            let row = &all[t * vocab..(t + 1) * vocab];
            let m = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            m + row.iter().map(|v| ((v - m) as f64).exp()).sum::<f64>().ln() as f32
        })
        .collect();
    assert_close(
        "logits_logsumexp",
        &lse,
        &s.g.f32("logits_logsumexp").1,
        1e-4,
    );
    // Top-1 at every prompt position.
    let top5 = s.g.i64("logits_top5_ids");
    let k = top5.len() / seq;
    for t in 0..seq {
        let row = &all[t * vocab..(t + 1) * vocab];
        let arg = (0..vocab).fold(0, |b, i| if row[i] > row[b] { i } else { b });
        assert_eq!(arg as i64, top5[t * k], "argmax at position {t}");
    }
}

#[test]
fn teacher_forced_log_probs_match_hf() {
    let s = setup();
    let batch = s.batch();
    let lp = s.model.token_log_probs(&batch, s.ids.len() - 1).unwrap();
    assert_eq!(lp.dims(), [1, s.ids.len() - 1]);
    assert_close(
        "next_token_logprobs",
        &values(lp),
        &s.g.f32("next_token_logprobs").1,
        1e-4,
    );
}

#[test]
fn greedy_decoding_matches_hf() {
    let s = setup();
    let batch = s.batch();
    let want = s.g.i64("generated_ids");
    let (_, want_top) = s.g.f32("generated_step_top5_values");
    let mut cache = s.model.new_cache();
    let (mut logits, deltas) = s.model.prefill(&batch, &mut cache).unwrap();
    assert_eq!(deltas, s.g.i64("rope_deltas"));
    let mut mask = vec![vec![1i64; s.ids.len()]];
    let mut got = Vec::new();
    let mut top = Vec::new();
    for _ in 0..want.len() {
        let row = values(logits);
        let arg = (0..row.len()).fold(0, |b, i| if row[i] > row[b] { i } else { b });
        top.push(row[arg]);
        got.push(arg as i64);
        mask[0].push(1);
        logits = s
            .model
            .forward_step(&[arg as i64], &mask, &deltas, &mut cache)
            .unwrap();
    }
    assert_eq!(got, want, "greedy tokens");
    let k = want_top.len() / want.len();
    let want_top1: Vec<f32> = want_top.chunks(k).map(|c| c[0]).collect();
    assert_close("generated_step_top1_values", &top, &want_top1, 1e-4);
}

#[test]
fn computed_positions_match_hf() {
    let s = setup();
    let batch = VlBatch::single(s.ids.clone(), vec![s.image.clone()]);
    let (pos, deltas) = s.model.positions(&batch).unwrap();
    assert_eq!(pos, s.g.i64("position_ids"), "3-D position ids");
    assert_eq!(deltas, s.g.i64("rope_deltas"));
}

#[test]
fn generate_matches_hf_greedy_and_batches_consistently() {
    let s = setup();
    let want = s.g.i64("generated_ids");
    let prompt = Prompt {
        input_ids: s.ids.clone(),
        images: vec![s.image.clone()],
        videos: vec![],
    };
    let mut streamed = Vec::new();
    let out = s
        .model
        .generate(
            std::slice::from_ref(&prompt),
            &GenerationConfig::greedy(want.len()),
            |r, t| streamed.push((r, t)),
        )
        .unwrap();
    assert_eq!(out[0].tokens, want, "greedy tokens through generate()");
    assert_eq!(streamed.iter().map(|p| p.1).collect::<Vec<_>>(), want);

    // Batched with a shorter text-only prompt (left padding): the image row is unchanged.
    // The short prompt is the golden's text before its first image.
    let vision_start = s.model.config().vision_start_token_id;
    let cut = s.ids.iter().position(|&t| t == vision_start).unwrap();
    let n = want.len().min(4);
    let short = Prompt {
        input_ids: s.ids[..cut].to_vec(),
        images: vec![],
        videos: vec![],
    };
    let alone = s
        .model
        .generate(
            std::slice::from_ref(&short),
            &GenerationConfig::greedy(n),
            |_, _| {},
        )
        .unwrap();
    let both = s
        .model
        .generate(&[prompt, short], &GenerationConfig::greedy(n), |_, _| {})
        .unwrap();
    assert_eq!(
        both[0].tokens,
        want[..n].to_vec(),
        "padded batch, image row"
    );
    assert_eq!(both[1].tokens, alone[0].tokens, "padded batch, text row");
}
