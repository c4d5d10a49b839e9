//! Weights held in bf16/f16 against the f32 path, on the tiny fixture (or the folder in
//! `SSRL_TINY_QWEN_DIR`): the inputs come from its `golden.safetensors`.
//!
//! Documented tolerance: with bf16 weights (8-bit mantissa, relative rounding <= 2^-9) and
//! f32 activations, every logit stays within `BF16_TOL` x (1 + max |f32 logit|) of the f32
//! model's; f16 (11-bit mantissa) within `F16_TOL` x the same scale.

use std::path::PathBuf;

use spatial_ssrl_model::burn::tensor::{DType, Device, Tensor};
use spatial_ssrl_model::{Checkpoint, ImageInput, Qwen2_5VlForCausalLm, VlBatch, WeightDtype};

const BF16_TOL: f32 = 2e-2;
const F16_TOL: f32 = 3e-3;

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
        let t = st.tensor(n).unwrap();
        t.data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect()
    };
    let i64s = |n: &str| -> Vec<i64> {
        let t = st.tensor(n).unwrap();
        t.data()
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
            .collect()
    };
    let g = i64s("image_grid_thw");
    let images = g
        .chunks_exact(3)
        .map(|g| [g[0] as usize, g[1] as usize, g[2] as usize])
        .collect::<Vec<_>>();
    let pixels = f32s("pixel_values");
    let per_row = pixels.len()
        / images
            .iter()
            .map(|g| g.iter().product::<usize>())
            .sum::<usize>();
    let mut at = 0;
    let images = images
        .into_iter()
        .map(|grid| {
            let n = grid.iter().product::<usize>() * per_row;
            at += n;
            ImageInput {
                pixel_values: pixels[at - n..at].to_vec(),
                grid_thw: grid,
            }
        })
        .collect();
    let mut batch = VlBatch::single(i64s("input_ids"), images);
    batch.position_ids = Some(i64s("position_ids"));
    batch
}

fn logits(model: &Qwen2_5VlForCausalLm, batch: &VlBatch) -> Vec<f32> {
    let l: Tensor<3> = model.forward_logits(batch).unwrap();
    l.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()
}

#[test]
fn half_precision_weights_stay_within_the_documented_tolerance_of_f32() {
    let device = Device::default();
    let dir = fixture_dir();
    let batch = golden_batch();
    let f32_model = Qwen2_5VlForCausalLm::from_pretrained(&dir, &device).unwrap();
    assert_eq!(f32_model.weight_dtype(), DType::F32);
    let want = logits(&f32_model, &batch);
    let scale = 1.0 + want.iter().fold(0f32, |m, v| m.max(v.abs()));
    for (dtype, held, tol) in [
        (WeightDtype::Bf16, DType::BF16, BF16_TOL),
        (WeightDtype::F16, DType::F16, F16_TOL),
    ] {
        let model = Qwen2_5VlForCausalLm::from_pretrained_dtype(&dir, &device, dtype).unwrap();
        assert_eq!(model.weight_dtype(), held);
        let got = logits(&model, &batch);
        let err = got
            .iter()
            .zip(&want)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        println!("{dtype}: max abs logit error {err} (scale {scale})");
        assert!(err <= tol * scale, "{dtype}: {err} > {tol} x {scale}");
        assert!(err > 0.0, "{dtype} weights must actually be rounded");
    }
}

#[test]
fn auto_holds_the_checkpoint_dtype() {
    let device = Device::default();
    let stored = Checkpoint::open(fixture_dir()).unwrap().stored_dtype();
    let model =
        Qwen2_5VlForCausalLm::from_pretrained_dtype(fixture_dir(), &device, WeightDtype::Auto)
            .unwrap();
    assert_eq!(Some(model.weight_dtype()), stored);
}

#[test]
fn bf16_model_saves_sharded_in_bf16_and_reloads_bit_for_bit() {
    let device = Device::default();
    let batch = golden_batch();
    let model =
        Qwen2_5VlForCausalLm::from_pretrained_dtype(fixture_dir(), &device, WeightDtype::Bf16)
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let total = Checkpoint::open(fixture_dir()).unwrap().data_bytes();
    // f32 file, bf16 matrices: a third of the f32 size forces at least two shards.
    model
        .save_pretrained_sharded(dir.path(), total / 3)
        .unwrap();
    let index = dir.path().join("model.safetensors.index.json");
    assert!(index.is_file() && !dir.path().join("model.safetensors").exists());
    let saved = Checkpoint::open(dir.path()).unwrap();
    assert_eq!(saved.stored_dtype(), Some(DType::BF16));
    let reloaded =
        Qwen2_5VlForCausalLm::from_pretrained_dtype(dir.path(), &device, WeightDtype::Auto)
            .unwrap();
    assert_eq!(reloaded.weight_dtype(), DType::BF16);
    assert_eq!(logits(&reloaded, &batch), logits(&model, &batch));

    // A shard named by the index but absent is a typed error, not a panic.
    let text = std::fs::read_to_string(&index).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let shard = json["weight_map"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    std::fs::remove_file(dir.path().join(&shard)).unwrap();
    let err = Qwen2_5VlForCausalLm::from_pretrained(dir.path(), &device).unwrap_err();
    assert!(err.to_string().contains(&shard), "{err}");
}
