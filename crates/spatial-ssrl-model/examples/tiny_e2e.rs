//! End to end on the tiny random model: image + question -> processor -> vision tower ->
//! decoder -> greedy tokens -> text, streamed as they come.
//!
//! `cargo run -p spatial-ssrl-model --example tiny_e2e [MODEL_DIR] [IMAGE]`
//! (either family, e.g. `tests/fixtures/tiny-qwen3-vl`; defaults: the tiny Qwen2.5-VL fixture and `tests/fixtures/reference_inputs/eg1.jpg`
//! when present, else a generated gradient image).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use spatial_ssrl_model::burn::tensor::Device;
use spatial_ssrl_model::{
    GenerationConfig, Message, ModelFamily, Processor, VlBatch, VlModel, load_image,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("tiny-qwen2_5-vl"));
    let image_path = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("reference_inputs/eg1.jpg"));
    let image = if image_path.exists() {
        load_image(&image_path)?
    } else {
        image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(168, 252, |x, y| {
            image::Rgb([x as u8, y as u8, 128])
        }))
    };

    let device = Device::flex();
    let processor = Processor::from_dir(&dir)?;
    let model = VlModel::from_pretrained(&dir, &device)?;
    let question = "Which object has a higher location? A. yellow bear kite B. building";
    let inputs = processor.prepare(&[Message::user_image(Arc::new(image), question)], true)?;
    println!(
        "prompt: {} tokens, image grid {:?} -> {} image tokens",
        inputs.seq_len,
        inputs.image_grid_thw,
        inputs.num_image_tokens(model.vision_token_ids().image_pad as u32)
    );
    let batch = VlBatch::from_processed(&inputs)?;
    let t = std::time::Instant::now();
    let out = model.generate_batch(&batch, &GenerationConfig::greedy(12), |_, tok| {
        print!("{tok} ");
        let _ = std::io::stdout().flush();
    })?;
    println!(
        "\n{:.1} ms for {} tokens",
        t.elapsed().as_secs_f64() * 1e3,
        out[0].tokens.len()
    );
    let ids: Vec<u32> = out[0].tokens.iter().map(|&t| t as u32).collect();
    println!("text: {:?}", processor.decode(&ids, false)?);
    Ok(())
}
