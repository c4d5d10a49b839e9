//! Greedy decoding with transformers' repetition penalty, against the ids
//! `model.generate(do_sample=False, repetition_penalty=p)` returned
//! (`scripts/make_generation_golden.py`). The golden folder is `SSRL_GENERATION_GOLDEN_DIR`
//! when set, else `tests/fixtures/generation-golden`; it names the model folder it was made
//! with, whose `golden.safetensors` holds the prompt.

use std::path::PathBuf;

use serde_json::Value;
use spatial_ssrl_model::burn::tensor::Device;
use spatial_ssrl_model::{GenerationConfig, ImageInput, Qwen2_5VlForCausalLm, VlBatch};

fn golden_dir() -> PathBuf {
    std::env::var_os("SSRL_GENERATION_GOLDEN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/generation-golden")
        })
}

fn i64s(v: &Value) -> Vec<i64> {
    serde_json::from_value(v.clone()).expect("list of ids")
}

/// The prompt of the model folder's `golden.safetensors`: ids and one image.
fn prompt(model_dir: &std::path::Path) -> VlBatch {
    let bytes = std::fs::read(model_dir.join("golden.safetensors")).expect("golden tensors");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("golden safetensors");
    let ints = |name: &str| -> Vec<i64> {
        let d = st.tensor(name).expect(name).data().to_vec();
        d.chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
            .collect()
    };
    let pixel_values = st
        .tensor("pixel_values")
        .expect("pixel_values")
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let grid = ints("image_grid_thw");
    let image = ImageInput {
        pixel_values,
        grid_thw: [grid[0] as usize, grid[1] as usize, grid[2] as usize],
    };
    VlBatch::single(ints("input_ids"), vec![image])
}

#[test]
fn greedy_with_repetition_penalty_matches_transformers() {
    let dir = golden_dir();
    let golden: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("golden.json")).unwrap()).unwrap();
    let model_dir = dir.join(golden["model_dir"].as_str().expect("model_dir"));
    let device = Device::default();
    let model = Qwen2_5VlForCausalLm::from_pretrained(&model_dir, &device).expect("load model");
    let batch = prompt(&model_dir);
    let cases = golden["cases"].as_array().expect("cases");
    let plain = cases
        .iter()
        .find(|c| c["repetition_penalty"] == 1.0)
        .map(|c| i64s(&c["generated_ids"]));
    let mut bites = false;
    for case in cases {
        let penalty = case["repetition_penalty"].as_f64().unwrap() as f32;
        let want = i64s(&case["generated_ids"]);
        let mut cfg = GenerationConfig::greedy(golden["max_new_tokens"].as_u64().unwrap() as usize);
        cfg.stop_tokens = i64s(&golden["stop_tokens"]);
        cfg.repetition_penalty = penalty;
        let out = model.generate_batch(&batch, &cfg, |_, _| {}).unwrap();
        assert_eq!(out[0].tokens, want, "repetition_penalty {penalty}");
        bites |= plain.as_ref().is_some_and(|p| *p != want);
    }
    // Without a case the penalty changes, this test could not tell it is applied at all.
    assert!(
        bites,
        "the golden has no case where the penalty changes the output"
    );
}
