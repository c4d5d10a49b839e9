//! Times a real-sized Qwen2.5-VL or Qwen3-VL checkpoint end to end (the family comes from its
//! `config.json`): load (peak resident memory against the
//! file size), vision tower + prefill of one image and question (time to the first token),
//! and greedy decoding (time per further token).
//!
//! Make a random checkpoint with the real shapes first (7.5 GB of disk for the 3B):
//! `python scripts/make_real_shaped_checkpoint.py 3b /tmp/qwen-3b` (or `qwen3vl-4b`), then
//! `cargo run --release -p spatial-ssrl-model --example real_checkpoint -- /tmp/qwen-3b
//! [IMAGE] [NEW_TOKENS] [DTYPE]` (IMAGE: `tests/fixtures/reference_inputs/eg1.jpg`;
//! NEW_TOKENS: 8; DTYPE: auto, bf16, f16 or f32). Linux: memory from `/proc/self/status`.

use std::sync::Arc;
use std::time::Instant;

use spatial_ssrl_model::burn::tensor::Device;
use spatial_ssrl_model::{
    GenerationConfig, Message, Processor, VlBatch, VlModel, WeightDtype, load_image,
};

fn status_gb(field: &str) -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: u64 = s
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    kib as f64 * 1024.0 / 1e9
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().ok_or("usage: real_checkpoint MODEL_DIR")?);
    let image = args.next().unwrap_or_else(|| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/reference_inputs/eg1.jpg"
        )
        .into()
    });
    let new_tokens: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(8);
    let dtype: WeightDtype = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or_default();
    let device = Device::default();

    let mut file_bytes = 0;
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "safetensors") {
            file_bytes += std::fs::metadata(&path)?.len();
        }
    }
    let t = Instant::now();
    let model = VlModel::from_pretrained_dtype(&dir, &device, dtype)?;
    let processor = Processor::from_dir(&dir)?;
    let load_s = t.elapsed().as_secs_f64();
    let load_peak = status_gb("VmHWM:");
    println!(
        "load ({}, {dtype}): {load_s:.1} s, peak RSS {load_peak:.2} GB for {:.2} GB of safetensors",
        model.family(),
        file_bytes as f64 / 1e9
    );

    let img = Arc::new(load_image(&image)?);
    let inputs = processor.prepare(&[Message::user_image(img, "Describe the image.")], true)?;
    let batch = VlBatch::from_processed(&inputs)?;
    let mut cfg = GenerationConfig::greedy(new_tokens);
    cfg.stop_tokens.clear();
    let t = Instant::now();
    let mut stamps = Vec::with_capacity(new_tokens);
    model.generate_batch(&batch, &cfg, |_, _| stamps.push(t.elapsed().as_secs_f64()))?;
    let first = stamps.first().copied().unwrap_or(0.0);
    let per_token = match stamps.len() {
        0 | 1 => 0.0,
        n => (stamps[n - 1] - first) / (n - 1) as f64,
    };
    println!(
        "prompt {} tokens ({} image patches): first token {first:.2} s, then {:.3} s per token \
         over {} tokens; peak RSS {:.2} GB",
        batch.seq_len,
        inputs.pixel_shape[0],
        per_token,
        stamps.len().saturating_sub(1),
        status_gb("VmHWM:")
    );
    Ok(())
}
