//! Video parity with HF transformers on the tiny random Qwen2.5-VL (the fixture's `video/`
//! folder, see its README): processor output, vision tower, M-RoPE positions, hidden states,
//! logits, teacher-forced log-probs and greedy decoding, for a video prompt and an
//! image + video prompt. Every size, file name and expected value comes from the fixture
//! folder: `SSRL_TINY_QWEN_DIR` when set, else the repository copy
//! `tests/fixtures/tiny-qwen2_5-vl`.

mod common;

use common::{Goldens, assert_close, values};
use std::path::PathBuf;
use std::sync::Arc;

use burn::tensor::Device;
use serde_json::Value;
use spatial_ssrl_model::{
    ContentPart, GenerationConfig, ImageInput, Message, Processor, Prompt, Qwen2_5VlForCausalLm,
    VideoInput, VideoPatches, VlBatch, burn, load_image,
};

/// Embeddings and hidden states (README: absolute 1e-4 for an f32 port).
const TOL_HIDDEN: f32 = 1e-4;
/// Logits and log-probs (README: 1e-3).
const TOL_LOGITS: f32 = 1e-3;

fn fixture_dir() -> PathBuf {
    common::qwen2_5_dir()
}

fn video_dir() -> PathBuf {
    fixture_dir().join("video")
}

/// Checks full logit rows `[n, vocab]` against stored top-5 ids/values and logsumexps: the
/// values at the stored ids, the logsumexp, and the top-1 id wherever HF's top-1/top-2 gap
/// exceeds the tolerance (near-ties may swap within float noise).
fn check_rows(what: &str, rows: &[f32], vocab: usize, ids: &[i64], vals: &[f32], lse: &[f32]) {
    let n = rows.len() / vocab;
    assert_eq!(ids.len(), n * 5, "{what}: rows");
    let mut at_ids = Vec::with_capacity(n * 5);
    let mut got_lse = Vec::with_capacity(n);
    for t in 0..n {
        let row = &rows[t * vocab..(t + 1) * vocab];
        at_ids.extend(ids[t * 5..t * 5 + 5].iter().map(|&i| row[i as usize]));
        let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f64 = row.iter().map(|&v| f64::from(v - m).exp()).sum();
        got_lse.push(m + sum.ln() as f32);
        if vals[t * 5] - vals[t * 5 + 1] > TOL_LOGITS {
            let arg = (0..vocab).fold(0, |b, i| if row[i] > row[b] { i } else { b });
            assert_eq!(arg as i64, ids[t * 5], "{what}: top-1 at row {t}");
        }
    }
    assert_close(&format!("{what} top-5 values"), &at_ids, vals, TOL_LOGITS);
    if !lse.is_empty() {
        assert_close(&format!("{what} logsumexp"), &got_lse, lse, TOL_LOGITS);
    }
}

struct Setup {
    device: Device,
    model: Qwen2_5VlForCausalLm,
    g: Goldens,
    meta: Value,
}

fn setup() -> Setup {
    let device = Device::default();
    let model =
        Qwen2_5VlForCausalLm::from_pretrained(fixture_dir(), &device).expect("load tiny model");
    let g = Goldens::load(video_dir().join("video_golden.safetensors"));
    let path = video_dir().join("video_golden.json");
    let meta = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    Setup {
        device,
        model,
        g,
        meta,
    }
}

impl Setup {
    /// The golden video patches (`pixel_values_videos`, grid, seconds per grid).
    fn video(&self, grid: &str, seconds: &str) -> VideoPatches {
        VideoPatches {
            patches: ImageInput {
                pixel_values: self.g.f32("pixel_values_videos").1,
                grid_thw: self.g.grid(grid),
            },
            second_per_grid_t: self.g.f32(seconds).1[0],
        }
    }

    fn video_batch(&self) -> VlBatch {
        VlBatch::single(self.g.i64("input_ids"), vec![])
            .with_videos(vec![self.video("video_grid_thw", "second_per_grid_ts")])
    }

    /// The image + video batch: the image's pixels are the image golden's `pixel_values`.
    fn mixed_batch(&self) -> VlBatch {
        let image_golden = Goldens::load(fixture_dir().join("golden.safetensors"));
        let image = ImageInput {
            pixel_values: image_golden.f32("pixel_values").1,
            grid_thw: self.g.grid("mixed_image_grid_thw"),
        };
        VlBatch::single(self.g.i64("mixed_input_ids"), vec![image]).with_videos(vec![
            self.video("mixed_video_grid_thw", "mixed_second_per_grid_ts"),
        ])
    }

    fn str(&self, path: &[&str]) -> &str {
        let v = path.iter().fold(&self.meta, |v, k| &v[*k]);
        v.as_str()
            .unwrap_or_else(|| panic!("{path:?} is not a string"))
    }

    /// The frames named in `video_golden.json`, at its fps.
    fn frames(&self) -> VideoInput {
        let frames = self.meta["frames"]
            .as_array()
            .expect("frames")
            .iter()
            .map(|f| load_image(video_dir().join(f["file"].as_str().unwrap())).unwrap())
            .collect();
        VideoInput::new(frames, self.meta["fps"].as_f64().unwrap() as f32).unwrap()
    }

    /// Decoding from `batch` fed with HF's greedy ids (so a near-tie cannot derail the
    /// comparison): every step's top-5 values, and our argmax wherever HF's top-1/top-2 gap
    /// exceeds the tolerance.
    fn check_greedy(&self, what: &str, batch: &VlBatch, prefix: &str) {
        let want = self.g.i64(&format!("{prefix}generated_ids"));
        let top_ids = self.g.i64(&format!("{prefix}generated_step_top5_ids"));
        let top_vals = self.g.f32(&format!("{prefix}generated_step_top5_values")).1;
        let mut cache = self.model.new_cache();
        let (mut logits, deltas) = self.model.prefill(batch, &mut cache).unwrap();
        let mut mask = vec![vec![1i64; batch.seq_len]];
        let mut rows = Vec::new();
        for (step, &id) in want.iter().enumerate() {
            let row = values(logits);
            if top_vals[step * 5] - top_vals[step * 5 + 1] > TOL_LOGITS {
                let arg = (0..row.len()).fold(0, |b, i| if row[i] > row[b] { i } else { b });
                assert_eq!(arg as i64, id, "{what}: greedy id at step {step}");
            }
            rows.extend(row);
            mask[0].push(1);
            logits = self
                .model
                .forward_step(&[id], &mask, &deltas, &mut cache)
                .unwrap();
        }
        let vocab = self.model.config().text.vocab_size;
        check_rows(what, &rows, vocab, &top_ids, &top_vals, &[]);
    }

    /// HF's greedy ids up to (excluding) the first step whose top-1/top-2 gap is within the
    /// tolerance: the ids any f32 port must reproduce exactly.
    fn decisive_greedy_ids(&self, prefix: &str) -> Vec<i64> {
        let want = self.g.i64(&format!("{prefix}generated_ids"));
        let vals = self.g.f32(&format!("{prefix}generated_step_top5_values")).1;
        let n = (0..want.len())
            .take_while(|&t| vals[t * 5] - vals[t * 5 + 1] > TOL_LOGITS)
            .count();
        want[..n].to_vec()
    }
}

#[test]
fn processor_builds_hf_video_inputs_from_the_frames() {
    let s = setup();
    let proc = Processor::from_dir(fixture_dir()).unwrap();
    let video = Arc::new(s.frames());
    let user_text = s.str(&["user_text"]).to_owned();
    let inputs = proc
        .prepare(&[Message::user_video(video.clone(), user_text)], true)
        .unwrap();
    assert_eq!(inputs.texts[0], s.str(&["chat_text"]), "rendered prompt");
    let ids: Vec<i64> = inputs.input_ids.iter().map(|&t| i64::from(t)).collect();
    assert_eq!(ids, s.g.i64("input_ids"), "expanded input_ids");
    let grid = s.g.grid("video_grid_thw").map(|v| v as u32);
    assert_eq!(inputs.video_grid_thw, vec![grid]);
    assert_eq!(inputs.second_per_grid_ts, s.g.f32("second_per_grid_ts").1);
    // Same arithmetic as torchvision (fused f32 normalisation): bit-exact in practice.
    assert_close(
        "pixel_values_videos",
        &inputs.pixel_values_videos,
        &s.g.f32("pixel_values_videos").1,
        1e-6,
    );
    assert_eq!(inputs.position_ids, s.g.i64("position_ids"), "M-RoPE ids");
    assert_eq!(inputs.rope_deltas, s.g.i64("rope_deltas"));

    // The folder's image files in name order are the same frames.
    let from_dir = VideoInput::from_dir(video_dir(), video.fps).unwrap();
    assert_eq!(from_dir.frames.len(), video.frames.len());
    assert!(
        from_dir
            .frames
            .iter()
            .zip(&video.frames)
            .all(|(a, b)| a == b)
    );
}

#[test]
fn processor_builds_hf_mixed_image_and_video_ids() {
    let s = setup();
    let proc = Processor::from_dir(fixture_dir()).unwrap();
    // Token ids and positions depend on the image only through its grid: an image already
    // at the grid's size gives that grid.
    let [_, gh, gw] = s.g.grid("mixed_image_grid_thw");
    let patch = proc.image_processor().config().patch_size as u32;
    let image = image::DynamicImage::new_rgb8(gw as u32 * patch, gh as u32 * patch);
    let msg = Message::user(vec![
        ContentPart::Image(Arc::new(image)),
        ContentPart::Video(Arc::new(s.frames())),
        ContentPart::Text(s.str(&["mixed", "user_text"]).to_owned()),
    ]);
    let inputs = proc.prepare(&[msg], true).unwrap();
    assert_eq!(inputs.texts[0], s.str(&["mixed", "chat_text"]));
    let ids: Vec<i64> = inputs.input_ids.iter().map(|&t| i64::from(t)).collect();
    assert_eq!(ids, s.g.i64("mixed_input_ids"), "expanded input_ids");
    assert_eq!(inputs.position_ids, s.g.i64("mixed_position_ids"));
    assert_eq!(inputs.rope_deltas, s.g.i64("mixed_rope_deltas"));
}

#[test]
fn vision_tower_on_video_patches_matches_hf() {
    let s = setup();
    let video = s.video("video_grid_thw", "second_per_grid_ts");
    let trace = s
        .model
        .vision()
        .forward_trace(std::slice::from_ref(&video.patches), &s.device)
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
        TOL_HIDDEN,
    );
    let blocks = s.g.f32("vision_block_outputs").1;
    let per = blocks.len() / trace.block_outputs.len();
    for (i, out) in trace.block_outputs.into_iter().enumerate() {
        assert_close(
            &format!("vision_block_outputs[{i}]"),
            &values(out),
            &blocks[i * per..(i + 1) * per],
            TOL_HIDDEN,
        );
    }
    assert_close(
        "video_embeds",
        &values(trace.embeds),
        &s.g.f32("video_embeds").1,
        TOL_HIDDEN,
    );
}

#[test]
fn video_prompt_positions_hidden_states_and_logits_match_hf() {
    let s = setup();
    let batch = s.video_batch();
    let (pos, deltas) = s.model.positions(&batch).unwrap();
    assert_eq!(pos, s.g.i64("position_ids"), "M-RoPE position ids");
    assert_eq!(deltas, s.g.i64("rope_deltas"));

    let out = s.model.forward_hidden(&batch, true).unwrap();
    let hs = s.g.f32("hidden_states").1;
    let per = hs.len() / 3;
    let layers = &out.layer_outputs;
    assert_close(
        "inputs_embeds (video spliced)",
        &values(layers[0].clone()),
        &hs[..per],
        TOL_HIDDEN,
    );
    assert_close(
        "hidden_states[1]",
        &values(layers[1].clone()),
        &hs[per..2 * per],
        TOL_HIDDEN,
    );
    assert_close(
        "final_norm_input",
        &values(layers[layers.len() - 1].clone()),
        &s.g.f32("final_norm_input").1,
        TOL_HIDDEN,
    );
    assert_close(
        "final_hidden",
        &values(out.last_hidden.clone()),
        &s.g.f32("final_hidden").1,
        TOL_HIDDEN,
    );
    let logits = s.model.logits(out.last_hidden);
    let [_, seq, vocab] = logits.dims();
    let all = values(logits);
    let last4 = s.g.f32("logits_last4").1;
    let n_last = last4.len() / vocab;
    assert_close(
        "logits_last4",
        &all[(seq - n_last) * vocab..],
        &last4,
        TOL_LOGITS,
    );
    check_rows(
        "prompt logits",
        &all,
        vocab,
        &s.g.i64("logits_top5_ids"),
        &s.g.f32("logits_top5_values").1,
        &s.g.f32("logits_logsumexp").1,
    );
}

#[test]
fn video_teacher_forced_log_probs_match_hf() {
    let s = setup();
    let batch = s.video_batch();
    let seq = batch.seq_len;
    let lp = s.model.token_log_probs(&batch, seq - 1).unwrap();
    assert_close(
        "next_token_logprobs",
        &values(lp),
        &s.g.f32("next_token_logprobs").1,
        TOL_LOGITS,
    );

    // Prompt + the fixed continuation: positions continue at index + rope_deltas.
    let cont = s.g.i64("continuation_ids");
    let mut ids = s.g.i64("input_ids");
    ids.extend(&cont);
    let videos = batch.videos.clone();
    let tf = VlBatch::single(ids, vec![]).with_videos(videos);
    let (pos, _) = s.model.positions(&tf).unwrap();
    assert_eq!(pos, s.g.i64("teacher_forced_position_ids"));
    let lp = values(s.model.token_log_probs(&tf, cont.len()).unwrap());
    assert_close(
        "continuation_logprobs",
        &lp,
        &s.g.f32("continuation_logprobs").1,
        TOL_LOGITS,
    );
    let hidden = s.model.forward_hidden(&tf, false).unwrap().last_hidden;
    let rows = hidden.narrow(1, seq - 1, cont.len());
    let vocab = s.model.config().text.vocab_size;
    check_rows(
        "continuation logits",
        &values(s.model.logits(rows)),
        vocab,
        &s.g.i64("continuation_top5_ids"),
        &s.g.f32("continuation_top5_values").1,
        &[],
    );
}

#[test]
fn video_greedy_decoding_matches_hf() {
    let s = setup();
    let batch = s.video_batch();
    s.check_greedy("video prompt", &batch, "");

    // Through `generate` with a `Prompt` carrying the video.
    let prompt = Prompt {
        input_ids: batch.input_ids.clone(),
        images: vec![],
        videos: batch.videos.clone(),
    };
    let want = s.decisive_greedy_ids("");
    let out = s
        .model
        .generate(&[prompt], &GenerationConfig::greedy(want.len()), |_, _| {})
        .unwrap();
    assert_eq!(out[0].tokens, want, "generate()");
}

#[test]
fn video_row_in_a_left_padded_batch_decodes_as_alone() {
    let s = setup();
    let batch = s.video_batch();
    let want = s.decisive_greedy_ids("");
    let video = Prompt {
        input_ids: batch.input_ids.clone(),
        images: vec![],
        videos: batch.videos.clone(),
    };
    // A shorter text-only row (the text before <|vision_start|>): the video row keeps its
    // positions under left padding.
    let pad = s.model.config().video_token_id;
    let first_pad = batch.input_ids.iter().position(|&t| t == pad).unwrap();
    let text = Prompt {
        input_ids: batch.input_ids[..first_pad - 1].to_vec(),
        images: vec![],
        videos: vec![],
    };
    let cfg = GenerationConfig::greedy(want.len());
    let alone = s
        .model
        .generate(std::slice::from_ref(&text), &cfg, |_, _| {})
        .unwrap();
    let both = s.model.generate(&[text, video], &cfg, |_, _| {}).unwrap();
    assert_eq!(both[1].tokens, want, "video row of a padded batch");
    assert_eq!(
        both[0].tokens, alone[0].tokens,
        "text row of a padded batch"
    );
}

#[test]
fn mixed_image_and_video_prompt_matches_hf() {
    let s = setup();
    let batch = s.mixed_batch();
    let (pos, deltas) = s.model.positions(&batch).unwrap();
    assert_eq!(pos, s.g.i64("mixed_position_ids"), "M-RoPE position ids");
    assert_eq!(deltas, s.g.i64("mixed_rope_deltas"));
    let hidden = s.model.forward_hidden(&batch, false).unwrap().last_hidden;
    assert_close(
        "mixed_final_hidden",
        &values(hidden.clone()),
        &s.g.f32("mixed_final_hidden").1,
        TOL_HIDDEN,
    );
    let logits = s.model.logits(hidden);
    let [_, seq, vocab] = logits.dims();
    let all = values(logits);
    assert_close(
        "mixed_logits_last1",
        &all[(seq - 1) * vocab..],
        &s.g.f32("mixed_logits_last1").1,
        TOL_LOGITS,
    );
    check_rows(
        "mixed prompt logits",
        &all,
        vocab,
        &s.g.i64("mixed_logits_top5_ids"),
        &s.g.f32("mixed_logits_top5_values").1,
        &s.g.f32("mixed_logits_logsumexp").1,
    );
    s.check_greedy("mixed prompt", &batch, "mixed_");
}

#[test]
fn video_pad_count_mismatch_is_an_error() {
    let s = setup();
    let mut batch = s.video_batch();
    // Drop one <|video_pad|>: the video gives one embedding too many.
    let pad = s.model.config().video_token_id;
    let at = batch.input_ids.iter().position(|&t| t == pad).unwrap();
    batch.input_ids.remove(at);
    batch.seq_len -= 1;
    let err = s.model.forward_hidden(&batch, false).unwrap_err();
    assert!(err.to_string().contains("<|video_pad|>"), "{err}");
}
