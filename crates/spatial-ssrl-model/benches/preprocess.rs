//! Preprocessing time for a typical photo: resize + normalise + patchify, and the full
//! `Processor::prepare` (chat template, tokenizer, pad expansion, M-RoPE positions).
//!
//! The photo is a deterministic 1280x960 RGB image (smooth gradients plus noise, so the
//! resampler does real work). Compare with `scripts/bench_preprocess.py` (Pillow + numpy,
//! the steps of transformers' `Qwen2VLImageProcessor`).

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use image::{DynamicImage, RgbImage};
use spatial_ssrl_model::{ImageProcessor, ImageProcessorConfig, Message, Processor};

fn photo(w: u32, h: u32) -> DynamicImage {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
        // splitmix64 noise on top of gradients.
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        let n = (z >> 59) as u32;
        image::Rgb([
            ((x * 255 / w + n) % 256) as u8,
            ((y * 255 / h + n) % 256) as u8,
            (((x + y) * 127 / (w + h) + n * 2) % 256) as u8,
        ])
    }))
}

fn processor(max_pixels: u64) -> ImageProcessor {
    ImageProcessor::new(ImageProcessorConfig {
        min_pixels: Some(3136),
        max_pixels: Some(max_pixels),
        ..Default::default()
    })
    .expect("valid config")
}

fn bench(c: &mut Criterion) {
    let img = photo(1280, 960);
    let mut g = c.benchmark_group("preprocess_1280x960");
    // Released Qwen2.5-VL limit (12845056): 1288x952 target, 6256 patches.
    let released = processor(12_845_056);
    g.bench_function("image_released_limits", |b| {
        b.iter(|| released.preprocess(black_box(&img)).unwrap())
    });
    // EasyR1 / Spatial-SSRL style limit (28*28*1280 = 1003520): 840x1148 target, 4920 patches.
    let easyr1 = processor(1_003_520);
    g.bench_function("image_max_1003520", |b| {
        b.iter(|| easyr1.preprocess(black_box(&img)).unwrap())
    });
    // Decoding the photo stored as a baseline JPEG (quality 90) with our libjpeg-turbo
    // compatible decoder.
    let mut jpeg = std::io::Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&img)
        .expect("encode jpeg");
    let jpeg = jpeg.into_inner();
    g.bench_function("decode_jpeg", |b| {
        b.iter(|| spatial_ssrl_model::decode_image(black_box(&jpeg)).unwrap())
    });
    g.bench_function("resize_only_max_1003520", |b| {
        b.iter(|| easyr1.resize(black_box(&img)).unwrap())
    });
    g.finish();

    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-qwen2_5-vl");
    if let Ok(proc) = Processor::from_dir(&dir) {
        let msgs = [Message::user_image(
            Arc::new(img.clone()),
            "Which object has a higher location? A. yellow bear kite B. building",
        )];
        // The fixture's limits (max 50176 pixels): 168x252 target, 54 image tokens.
        c.bench_function("prepare_tiny_fixture_1280x960", |b| {
            b.iter(|| proc.prepare(black_box(&msgs), true).unwrap())
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
