//! Forward-pass speed on the default CPU backend (flex):
//! - `tiny_prefill`: the tiny fixture model over its 133-token prompt with one image
//!   (vision tower + decoder + last-position logits);
//! - `tiny_decode_token`: one KV-cached decoding step after that prefill;
//! - `decoder_layer_3b/seq{N}`: one Qwen2.5-VL-3B-shaped decoder layer (hidden 2048,
//!   16 heads, 2 kv heads, intermediate 11008) over N tokens;
//! - `decoder_layer_3b/decode_after{N}`: one KV-cached step of that layer after an N-token
//!   prefill (the cache is cropped back after each step, as `DynamicCache.crop`).
//!
//! - `decoder_layer_3b_bf16/*`: the same layer with its weights held in bf16 (f32
//!   activations and accumulation: the `--dtype bf16` path).
//!
//! `cargo bench -p spatial-ssrl-model --bench forward -- decoder_layer_3b` runs only the 3B
//! layer (criterion's name filter).
//!
//! `scripts/bench_pytorch.py` times the same configurations with transformers on CPU.

use std::path::PathBuf;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use spatial_ssrl_model::burn::tensor::Device;
use spatial_ssrl_model::{ImageInput, Qwen2_5VlConfig, Qwen2_5VlForCausalLm, VlBatch, WeightDtype};

fn fixture_dir() -> PathBuf {
    std::env::var_os("SSRL_TINY_QWEN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-qwen2_5-vl")
        })
}

fn golden_batch() -> VlBatch {
    let bytes = std::fs::read(fixture_dir().join("golden.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let f32s = |n: &str| -> Vec<f32> {
        st.tensor(n)
            .unwrap()
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect()
    };
    let i64s = |n: &str| -> Vec<i64> {
        st.tensor(n)
            .unwrap()
            .data()
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
            .collect()
    };
    let g = i64s("image_grid_thw");
    let image = ImageInput {
        pixel_values: f32s("pixel_values"),
        grid_thw: [g[0] as usize, g[1] as usize, g[2] as usize],
    };
    let mut batch = VlBatch::single(i64s("input_ids"), vec![image]);
    batch.position_ids = Some(i64s("position_ids"));
    batch
}

/// A 3B-shaped model with a single decoder layer, a small vocabulary and a minimal vision
/// tower: its text forward is one full-size layer (plus embedding lookup and final norm).
pub fn one_layer_3b() -> Qwen2_5VlConfig {
    let mut cfg = Qwen2_5VlConfig::tiny();
    cfg.text.hidden_size = 2048;
    cfg.text.intermediate_size = 11008;
    cfg.text.num_attention_heads = 16;
    cfg.text.num_key_value_heads = 2;
    cfg.text.num_hidden_layers = 1;
    cfg.text.vocab_size = 1024;
    cfg.text.mrope_section = [16, 24, 24];
    cfg.vision.depth = 1;
    cfg.vision.fullatt_block_indexes = vec![0];
    cfg.vision.out_hidden_size = 2048;
    cfg
}

fn benches(c: &mut Criterion) {
    // As the `spatial-ssrl` binary does before running a model.
    spatial_ssrl_model::keep_freed_memory();
    let device = Device::flex();
    tiny(c, &device);
    layer_3b(c, &device);
}

fn tiny(c: &mut Criterion, device: &Device) {
    let model = Qwen2_5VlForCausalLm::from_pretrained(fixture_dir(), device).unwrap();
    let batch = golden_batch();
    c.bench_function("tiny_prefill", |b| {
        b.iter(|| {
            let mut cache = model.new_cache();
            model.prefill(&batch, &mut cache).unwrap()
        })
    });
    let mut cache = model.new_cache();
    let (_, deltas) = model.prefill(&batch, &mut cache).unwrap();
    let mask = vec![vec![1i64; batch.seq_len + 1]];
    c.bench_function("tiny_decode_token", |b| {
        b.iter_batched(
            || cache.clone(),
            |mut c| {
                model
                    .forward_step(&[13057], &mask, &deltas, &mut c)
                    .unwrap()
            },
            BatchSize::SmallInput,
        )
    });
}

fn layer_3b(c: &mut Criterion, device: &Device) {
    let big = Qwen2_5VlForCausalLm::random(one_layer_3b(), 0, 0.02, device).unwrap();
    layer(c, "decoder_layer_3b", &big, &[1, 128, 1024], &[128, 1024]);
    // The same weights held in bf16 (saved, then reloaded narrow): f32 activations with
    // bf16 storage, the `--dtype bf16` path on CPU.
    let dir = tempfile::tempdir().unwrap();
    big.save_pretrained(dir.path()).unwrap();
    drop(big);
    let narrow =
        Qwen2_5VlForCausalLm::from_pretrained_dtype(dir.path(), device, WeightDtype::Bf16).unwrap();
    layer(c, "decoder_layer_3b_bf16", &narrow, &[1, 128, 1024], &[128]);
}

/// Full forwards over `seqs` tokens and single cached steps after `pasts` tokens.
fn layer(
    c: &mut Criterion,
    name: &str,
    model: &Qwen2_5VlForCausalLm,
    seqs: &[usize],
    pasts: &[usize],
) {
    let mut group = c.benchmark_group(name);
    group.sample_size(10);
    for &seq in seqs {
        let ids: Vec<i64> = (0..seq as i64).map(|i| (i * 7) % 1000).collect();
        let b3 = VlBatch::single(ids, vec![]);
        group.bench_function(format!("seq{seq}"), |b| {
            b.iter(|| {
                let out = model.forward_hidden(&b3, false).unwrap().last_hidden;
                out.into_data()
            })
        });
    }
    for &past in pasts {
        let ids: Vec<i64> = (0..past as i64).map(|i| (i * 7) % 1000).collect();
        let mut cache = model.new_cache();
        let (_, deltas) = model
            .prefill(&VlBatch::single(ids, vec![]), &mut cache)
            .unwrap();
        let mask = vec![vec![1i64; past + 1]];
        group.bench_function(format!("decode_after{past}"), |b| {
            b.iter(|| {
                let logits = model
                    .forward_step(&[42], &mask, &deltas, &mut cache)
                    .unwrap();
                cache.truncate(past);
                logits.into_data()
            })
        });
    }
    group.finish();
}

criterion_group!(forward, benches);
criterion_main!(forward);
