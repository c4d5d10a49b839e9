//! Golden parity of the inputs side against transformers 4.57 (`Qwen2_5_VLProcessor`):
//! chat text, input ids, pixel values, grids, 3-D position ids and rope deltas from
//! `tests/fixtures/tiny-qwen2_5-vl/golden.safetensors` (or `$SSRL_TINY_QWEN_DIR`).

use std::path::PathBuf;
use std::sync::Arc;

use proptest::prelude::*;
use safetensors::{Dtype, SafeTensors};
use spatial_ssrl_model::{
    ImageProcessor, Message, PaddingSide, ProcessedInputs, Processor, ProcessorError, load_image,
    smart_resize,
};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn model_dir() -> PathBuf {
    std::env::var_os("SSRL_TINY_QWEN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| fixtures().join("tiny-qwen2_5-vl"))
}

struct Golden {
    json: serde_json::Value,
    bytes: Vec<u8>,
}

impl Golden {
    fn load() -> &'static Self {
        static GOLDEN: std::sync::OnceLock<Golden> = std::sync::OnceLock::new();
        GOLDEN.get_or_init(Self::read)
    }

    fn read() -> Self {
        let dir = model_dir();
        let json = std::fs::read_to_string(dir.join("golden.json")).expect("golden.json");
        Self {
            json: serde_json::from_str(&json).expect("golden.json parses"),
            bytes: std::fs::read(dir.join("golden.safetensors")).expect("golden.safetensors"),
        }
    }

    fn tensor(&self, name: &str) -> (Dtype, Vec<usize>, Vec<u8>) {
        let st = SafeTensors::deserialize(&self.bytes).expect("golden.safetensors parses");
        let t = st
            .tensor(name)
            .unwrap_or_else(|e| panic!("golden tensor {name}: {e}"));
        (t.dtype(), t.shape().to_vec(), t.data().to_vec())
    }

    fn i64s(&self, name: &str) -> Vec<i64> {
        let (dtype, _, data) = self.tensor(name);
        assert_eq!(dtype, Dtype::I64, "{name}");
        data.chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
            .collect()
    }

    fn f32s(&self, name: &str) -> (Vec<usize>, Vec<f32>) {
        let (dtype, shape, data) = self.tensor(name);
        assert_eq!(dtype, Dtype::F32, "{name}");
        let v = data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        (shape, v)
    }

    fn u8s(&self, name: &str) -> Vec<u8> {
        let (dtype, _, data) = self.tensor(name);
        assert_eq!(dtype, Dtype::U8, "{name}");
        data
    }

    fn str(&self, key: &str) -> &str {
        self.json[key]
            .as_str()
            .unwrap_or_else(|| panic!("golden.json {key}"))
    }

    /// An image `golden.json` names (`image`, `rgba_image`): as written when it exists
    /// (absolute, or relative to the folder above the repository, where `shared/` lives),
    /// else the file of that name in the repository's `tests/fixtures/reference_inputs`.
    fn image_path(&self, key: &str) -> PathBuf {
        let recorded = PathBuf::from(self.str(key));
        let beside_repo = fixtures().join("../../..").join(&recorded);
        let name = recorded.file_name().expect("image file name").to_owned();
        [recorded, beside_repo]
            .into_iter()
            .find(|p| p.is_file())
            .unwrap_or_else(|| fixtures().join("reference_inputs").join(name))
    }

    fn usize(&self, path: &[&str]) -> usize {
        let v = path
            .iter()
            .fold(&self.json, |v, k| match k.parse::<usize>() {
                Ok(i) => &v[i],
                Err(_) => &v[*k],
            });
        v.as_u64().unwrap_or_else(|| panic!("golden.json {path:?}")) as usize
    }

    /// `(height, width)` the processor resized the image `key` (`image`, `rgba_image`) to.
    fn resized_hw(&self, key: &str) -> (u32, u32) {
        let r = format!("{key}_resize");
        (
            self.usize(&[r.as_str(), "resized_height"]) as u32,
            self.usize(&[r.as_str(), "resized_width"]) as u32,
        )
    }

    /// The golden image as the prompt saw it: Pillow's decode where the processor fixture has
    /// it (`tests/fixtures/processor/<stem>_pil_rgb.png`), else ours of the file (which
    /// `jpeg_decoding_matches_pillow` holds to Pillow's).
    fn image(&self) -> Arc<image::DynamicImage> {
        let path = self.image_path("image");
        let pil = pil_decoded_path(&path);
        Arc::new(load_image(if pil.is_file() { pil } else { path }).unwrap())
    }

    fn conversation(&self, image: Arc<image::DynamicImage>) -> Vec<Message> {
        vec![Message::user_image(image, self.str("user_text"))]
    }
}

/// `(max abs error, mean abs error)`.
fn abs_err(got: &[f32], want: &[f32]) -> (f32, f64) {
    assert_eq!(got.len(), want.len());
    let mut max = 0f32;
    let mut sum = 0f64;
    for (g, w) in got.iter().zip(want) {
        let d = (g - w).abs();
        max = max.max(d);
        sum += f64::from(d);
    }
    (max, sum / want.len() as f64)
}

/// Loaded once: parsing the 11 MB `tokenizer.json` dominates this file's run time.
fn processor() -> &'static Processor {
    static PROC: std::sync::OnceLock<Processor> = std::sync::OnceLock::new();
    PROC.get_or_init(|| {
        Processor::from_dir(model_dir()).expect("processor loads from the model folder")
    })
}

/// Where `scripts/processor_reference.py` stores an image as Pillow (libjpeg-turbo) decodes
/// it, losslessly: isolates our pipeline from JPEG decoder differences.
fn pil_decoded_path(image: &std::path::Path) -> PathBuf {
    let stem = image
        .file_stem()
        .expect("image file stem")
        .to_string_lossy();
    fixtures().join(format!("processor/{stem}_pil_rgb.png"))
}

fn golden_ids(g: &Golden, name: &str) -> Vec<u32> {
    g.i64s(name).into_iter().map(|v| v as u32).collect()
}

fn assert_matches_golden(g: &Golden, inputs: &ProcessedInputs) {
    assert_eq!(inputs.batch_size, 1);
    assert_eq!(inputs.texts[0], g.str("chat_text"), "chat text");
    assert_eq!(inputs.input_ids, golden_ids(g, "input_ids"), "input_ids");
    assert_eq!(
        inputs.attention_mask,
        g.i64s("attention_mask"),
        "attention_mask"
    );
    let thw: Vec<[u32; 3]> = g
        .i64s("image_grid_thw")
        .chunks_exact(3)
        .map(|c| [c[0] as u32, c[1] as u32, c[2] as u32])
        .collect();
    assert_eq!(inputs.image_grid_thw, thw, "image_grid_thw");
    assert_eq!(
        inputs.position_ids,
        g.i64s("position_ids"),
        "position_ids [3, 1, L]"
    );
    assert_eq!(inputs.rope_deltas, g.i64s("rope_deltas"), "rope_deltas");
    assert_eq!(
        inputs.rope_deltas[0],
        g.json["rope_deltas"].as_i64().unwrap()
    );
}

#[test]
fn chat_template_text_and_ids_match_golden() {
    let g = Golden::load();
    let proc = processor();
    let img = g.image();
    let text = proc.render(&g.conversation(img), true).unwrap();
    assert_eq!(text, g.str("chat_text"));
    let unexpanded = proc.tokenizer().encode(&text).unwrap();
    assert_eq!(unexpanded, golden_ids(g, "prompt_ids_unexpanded"));
    let expanded = spatial_ssrl_model::expand_image_pads(&text, &[g.usize(&["num_image_tokens"])]);
    assert_eq!(expanded, g.str("chat_text_expanded"));
    assert_eq!(
        proc.tokenizer().encode(&expanded).unwrap(),
        golden_ids(g, "input_ids")
    );
    // The special ids the model and generation rely on.
    let sp = proc.tokenizer().special();
    assert_eq!(
        (
            sp.vision_start,
            sp.image_pad,
            sp.im_start,
            sp.im_end,
            sp.think,
            sp.think_end
        ),
        (151652, 151655, 151644, 151645, Some(151667), Some(151668))
    );
    assert_eq!(proc.pad_id(), 151643);
}

#[test]
fn prepare_matches_golden_exactly_with_pillow_decoded_pixels() {
    let g = Golden::load();
    let proc = processor();
    let inputs = proc.prepare(&g.conversation(g.image()), true).unwrap();
    assert_matches_golden(g, &inputs);
    let (shape, want) = g.f32s("pixel_values");
    assert_eq!(inputs.pixel_shape.to_vec(), shape);
    let (max, mean) = abs_err(&inputs.pixel_values, &want);
    println!("pixel_values (Pillow-decoded image): max abs {max:e}, mean abs {mean:e}");
    assert_eq!(max, 0.0, "pixel values must be bit-identical");
}

#[test]
fn jpeg_decoding_matches_pillow() {
    // The golden JPEG decoded by us vs by Pillow/libjpeg-turbo, pixel for pixel, where the
    // processor fixture has Pillow's decode of it (eg1.jpg: baseline, 4:2:0).
    let g = Golden::load();
    let path = g.image_path("image");
    let ours = load_image(&path).unwrap();
    assert_eq!(ours.color(), image::ColorType::Rgb8);
    let wh = (
        g.usize(&["image_size_wh", "0"]),
        g.usize(&["image_size_wh", "1"]),
    );
    assert_eq!((ours.width() as usize, ours.height() as usize), wh);
    let pil = pil_decoded_path(&path);
    if pil.is_file() {
        let pil = load_image(pil).unwrap();
        assert!(
            ours.as_bytes() == pil.as_bytes(),
            "decoded pixels differ from Pillow's"
        );
    }
}

#[test]
fn prepare_from_jpeg_file_is_exact() {
    let g = Golden::load();
    let proc = processor();
    let img = Arc::new(load_image(g.image_path("image")).unwrap());
    let inputs = proc.prepare(&g.conversation(img), true).unwrap();
    assert_matches_golden(g, &inputs);
    let (_, want) = g.f32s("pixel_values");
    let (max, mean) = abs_err(&inputs.pixel_values, &want);
    println!("pixel_values (golden image file): max abs {max:e}, mean abs {mean:e}");
    assert_eq!(max, 0.0);
}

#[test]
fn resize_is_pillow_exact() {
    let g = Golden::load();
    let ip = processor().image_processor().clone();
    let img = ip.resize(&g.image()).unwrap();
    assert_eq!((img.height(), img.width()), g.resized_hw("image"));
    assert!(
        img.as_raw() == &g.u8s("resized_image_u8"),
        "golden image resized pixels"
    );
    // RGBA PNG: lossless decode, alpha dropped.
    let rgba = load_image(g.image_path("rgba_image")).unwrap();
    assert!(rgba.color().has_alpha());
    let r = ip.resize(&rgba).unwrap();
    assert_eq!((r.height(), r.width()), g.resized_hw("rgba_image"));
    assert!(
        r.as_raw() == &g.u8s("rgba_resized_image_u8"),
        "RGBA resized pixels"
    );
    // transformers' torchvision "fast" processor (what EasyR1 uses) differs by one level.
    for (ours, fast) in [
        (&img, "resized_image_fast_u8"),
        (&r, "rgba_resized_image_fast_u8"),
    ] {
        let fast = g.u8s(fast);
        let max = ours
            .as_raw()
            .iter()
            .zip(&fast)
            .map(|(a, b)| a.abs_diff(*b))
            .max();
        assert!(
            max <= Some(1),
            "fast processor differs by at most one level"
        );
    }
}

#[test]
fn normalisation_and_patch_layout_are_exact() {
    let g = Golden::load();
    let ip = processor().image_processor().clone();
    for (key, u8s, pv, grid) in [
        (
            "image",
            "resized_image_u8",
            "pixel_values",
            "image_grid_thw",
        ),
        (
            "rgba_image",
            "rgba_resized_image_u8",
            "rgba_pixel_values",
            "rgba_image_grid_thw",
        ),
    ] {
        let (h, w) = g.resized_hw(key);
        let img = image::RgbImage::from_raw(w, h, g.u8s(u8s)).unwrap();
        let got = ip.patchify_resized(&img);
        let (shape, want) = g.f32s(pv);
        assert_eq!(got.shape().to_vec(), shape, "{pv}");
        let thw = g.i64s(grid);
        assert_eq!(
            got.grid_thw,
            vec![[thw[0] as u32, thw[1] as u32, thw[2] as u32]]
        );
        assert!(got.pixel_values == want, "{pv} bit-identical");
    }
}

#[test]
fn rgba_image_end_to_end_is_exact() {
    let g = Golden::load();
    let ip = processor().image_processor().clone();
    let rgba = load_image(g.image_path("rgba_image")).unwrap();
    let got = ip.preprocess(&rgba).unwrap();
    let (_, want) = g.f32s("rgba_pixel_values");
    let (max, mean) = abs_err(&got.pixel_values, &want);
    println!("rgba_pixel_values: max abs {max:e}, mean abs {mean:e}");
    assert_eq!(max, 0.0);
    let thw = g.i64s("rgba_image_grid_thw");
    assert_eq!(
        got.grid_thw,
        vec![[thw[0] as u32, thw[1] as u32, thw[2] as u32]]
    );
}

#[test]
fn left_padded_batch_keeps_golden_row_and_pads_the_short_one() {
    let g = Golden::load();
    let proc = processor();
    let long = g.conversation(g.image());
    let short = vec![Message::user_text("hi")];
    let inputs = proc.prepare_batch(&[&short, &long], true).unwrap();
    let golden = golden_ids(g, "input_ids");
    let seq = golden.len();
    assert_eq!((inputs.batch_size, inputs.seq_len), (2, seq));
    assert_eq!(inputs.row_ids(1), golden.as_slice());
    let short_ids = proc.tokenizer().encode(&inputs.texts[0]).unwrap();
    let pad = seq - short_ids.len();
    assert!(inputs.row_ids(0)[..pad].iter().all(|&t| t == proc.pad_id()));
    assert_eq!(&inputs.row_ids(0)[pad..], short_ids.as_slice());
    assert!(inputs.attention_mask[..pad].iter().all(|&m| m == 0));
    // Row 1 of [3, 2, L] equals the golden [3, 1, L]; row 0: 1 at padding, then 0, 1, ...
    let gp = g.i64s("position_ids");
    for axis in 0..3 {
        let row1 = &inputs.position_ids[(axis * 2 + 1) * seq..(axis * 2 + 2) * seq];
        assert_eq!(row1, &gp[axis * seq..(axis + 1) * seq], "axis {axis}");
        let row0 = &inputs.position_ids[axis * 2 * seq..(axis * 2 + 1) * seq];
        assert!(row0[..pad].iter().all(|&p| p == 1));
        assert!(row0[pad..].iter().copied().eq(0..short_ids.len() as i64));
    }
    let deltas = g.json["rope_deltas"].as_i64().unwrap();
    assert_eq!(inputs.rope_deltas, vec![-(pad as i64), deltas]);
    let (shape, _) = g.f32s("pixel_values");
    assert_eq!(inputs.pixel_shape.to_vec(), shape);

    let right = Processor::from_dir(model_dir())
        .unwrap()
        .with_padding_side(PaddingSide::Right);
    let r = right.prepare_batch(&[&short, &long], true).unwrap();
    assert_eq!(&r.row_ids(0)[..short_ids.len()], short_ids.as_slice());
}

#[test]
fn decode_round_trips_golden_generation() {
    let g = Golden::load();
    let proc = processor();
    let ids = golden_ids(g, "generated_ids");
    assert_eq!(proc.decode(&ids, false).unwrap(), g.str("generated_text"));
    assert_eq!(
        proc.decode(&ids, true).unwrap(),
        g.str("generated_text_skip_special")
    );
    let prompt = golden_ids(g, "input_ids");
    let text = proc.decode(&prompt, true).unwrap();
    let user = g.str("user_text");
    assert!(
        text.starts_with("system\nYou are a helpful assistant.\nuser\n"),
        "{text}"
    );
    assert!(text.contains(user.trim()), "{text}");
}

#[test]
fn mismatched_images_and_pads_are_errors() {
    let proc = processor();
    let img = Golden::load().image();
    let err = proc
        .prepare_prompts(&[("no pad here", &[&*img])])
        .unwrap_err();
    assert!(matches!(
        err,
        ProcessorError::ImageCountMismatch {
            expected: 1,
            found: 0,
            ..
        }
    ));
    // A tokenizer-config template (text-only, Qwen3 style) is not used: the folder's
    // chat_template.json wins, so image parts render.
    assert!(proc.chat_template().source().contains("image_pad"));
}

#[test]
fn smart_resize_matches_transformers_cases() {
    let path = fixtures().join("processor/smart_resize_cases.json");
    let cases: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(cases.len() > 500);
    for c in &cases {
        let n = |k: &str| c[k].as_u64().unwrap();
        let got = smart_resize(n("h") as u32, n("w") as u32, 28, n("min"), n("max"));
        match c["out"].as_array() {
            Some(o) => {
                let want = (o[0].as_u64().unwrap() as u32, o[1].as_u64().unwrap() as u32);
                assert_eq!(got.as_ref().ok(), Some(&want), "case {c}");
            }
            None => assert!(
                matches!(got, Err(ProcessorError::BadImageSize { ref reason, .. })
                    if reason.contains("aspect ratio must be smaller than 200")),
                "case {c}: {got:?}"
            ),
        }
    }
    // The golden images' own sizes, under the golden's pixel limits.
    let g = Golden::load();
    let (min, max) = (
        g.usize(&["min_pixels"]) as u64,
        g.usize(&["max_pixels"]) as u64,
    );
    for key in ["image", "rgba_image"] {
        let wh = format!("{key}_size_wh");
        let (w, h) = (g.usize(&[wh.as_str(), "0"]), g.usize(&[wh.as_str(), "1"]));
        let got = smart_resize(h as u32, w as u32, 28, min, max).unwrap();
        assert_eq!(got, g.resized_hw(key), "{key}");
    }
}

#[test]
fn grey_images_are_replicated_to_rgb() {
    let ip = ImageProcessor::new(Default::default()).unwrap();
    let grey = image::DynamicImage::ImageLuma8(image::GrayImage::from_fn(60, 40, |x, y| {
        image::Luma([(x * 3 + y) as u8])
    }));
    let rgb = image::DynamicImage::ImageRgb8(grey.to_rgb8());
    assert_eq!(ip.preprocess(&grey).unwrap(), ip.preprocess(&rgb).unwrap());
}

proptest! {
    #[test]
    fn smart_resize_gives_factor_multiples_within_limits(
        h in 1u32..6000, w in 1u32..6000, min_side in 1u64..40, extra in 0u64..2000,
    ) {
        let (min_px, max_px) = (min_side * min_side * 28, (min_side * min_side + extra) * 28 * 28);
        match smart_resize(h, w, 28, min_px, max_px) {
            Ok((rh, rw)) => {
                prop_assert!(rh % 28 == 0 && rw % 28 == 0 && rh >= 28 && rw >= 28);
                let area = u64::from(rh) * u64::from(rw);
                // Above max only when a side was clamped to one factor (very elongated input).
                prop_assert!(area <= max_px || rh == 28 || rw == 28, "{rh}x{rw} > {max_px}");
                // Scaling up (ceil) always reaches min_pixels; rounding keeps the area in range.
                let rounded = ((f64::from(h) / 28.0).round_ties_even() * 28.0)
                    * ((f64::from(w) / 28.0).round_ties_even() * 28.0);
                if rounded <= max_px as f64 {
                    prop_assert!(area >= min_px, "{rh}x{rw} < {min_px}");
                }
                // The aspect ratio survives up to the rounding to multiples of 28.
                let (r_in, r_out) = (f64::from(h) / f64::from(w), f64::from(rh) / f64::from(rw));
                if rh > 56 && rw > 56 {
                    prop_assert!((r_out / r_in).ln().abs() < 0.7, "{h}x{w} -> {rh}x{rw}");
                }
            }
            Err(ProcessorError::BadImageSize { .. }) => {
                prop_assert!(f64::from(h.max(w)) / f64::from(h.min(w)) > 200.0);
            }
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }
}
