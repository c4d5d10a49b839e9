//! Shows that loading a checkpoint costs about its size in RAM (memory-mapped, one copy in
//! the held dtype): writes a ~1 GB random f32 checkpoint (3B-shaped layers), and for
//! `DTYPE` bf16/f16 a copy of it saved in that dtype, then loads that checkpoint holding
//! `DTYPE` and reports the peak resident memory of the load against the file size.
//!
//! `cargo run --release -p spatial-ssrl-model --example load_memory [DIR] [DTYPE]` (DTYPE:
//! f32 by default; Linux: reads `/proc/self/status`).

use spatial_ssrl_model::burn::tensor::Device;
use spatial_ssrl_model::{Qwen2_5VlConfig, Qwen2_5VlForCausalLm, WeightDtype};

fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("ssrl-1gb-checkpoint"));
    let mut cfg = Qwen2_5VlConfig::tiny();
    cfg.text.hidden_size = 2048;
    cfg.text.intermediate_size = 11008;
    cfg.text.num_attention_heads = 16;
    cfg.text.num_key_value_heads = 2;
    cfg.text.num_hidden_layers = 2;
    cfg.text.vocab_size = 48_000;
    cfg.text.mrope_section = [16, 24, 24];
    cfg.vision.out_hidden_size = 2048;
    let device = Device::flex();
    if !dir.join("model.safetensors").exists() {
        eprintln!("writing a random checkpoint to {}", dir.display());
        let model = Qwen2_5VlForCausalLm::random(cfg, 0, 0.02, &device)?;
        model.save_pretrained(&dir)?;
    }
    let dtype: WeightDtype = match std::env::args().nth(2) {
        Some(d) => d.parse()?,
        None => WeightDtype::F32,
    };
    let dir = if matches!(dtype, WeightDtype::Bf16 | WeightDtype::F16) {
        let narrow = dir.with_extension(dtype.to_string());
        if !narrow.exists() {
            eprintln!("writing its {dtype} copy to {}", narrow.display());
            Qwen2_5VlForCausalLm::from_pretrained_dtype(&dir, &device, dtype)?
                .save_pretrained(&narrow)?;
        }
        narrow
    } else {
        dir
    };
    let mut file = 0;
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "safetensors") {
            file += std::fs::metadata(&path)?.len();
        }
    }
    // Reset the peak-RSS counter so only the load below is measured.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = status_kib("VmRSS:");
    let t = std::time::Instant::now();
    let model = Qwen2_5VlForCausalLm::from_pretrained_dtype(&dir, &device, dtype)?;
    let secs = t.elapsed().as_secs_f64();
    let peak = status_kib("VmHWM:");
    let after = status_kib("VmRSS:");
    let gib = |kib: u64| kib as f64 / (1024.0 * 1024.0);
    println!(
        "{dtype} checkpoint {:.3} GiB; RSS before {:.3} GiB, after load {:.3} GiB, peak {:.3} GiB; \
         load peak / file = {:.3}; load took {secs:.1} s",
        file as f64 / (1u64 << 30) as f64,
        gib(before),
        gib(after),
        gib(peak),
        (peak.saturating_sub(before)) as f64 * 1024.0 / file as f64,
    );
    drop(model);
    Ok(())
}
