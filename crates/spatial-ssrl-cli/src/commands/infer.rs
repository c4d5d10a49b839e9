//! `spatial-ssrl infer`: answer one question about an image, a video (a folder of frames) or
//! both with a Qwen2.5-VL or Qwen3-VL model folder (the family is read from its
//! `config.json`), streaming the generated text to stdout (and nothing else).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use spatial_ssrl_model::burn::tensor::Device;
use spatial_ssrl_model::{
    ContentPart, DEFAULT_VIDEO_FPS, Family, Message, Processor, VideoInput, VlBatch, VlModel,
    WeightDtype, load_image,
};
use spatial_ssrl_rewards::FORMAT_INSTRUCTION;

use super::generation_args::GenerationArgs;

/// Generation length when neither `--max-new-tokens` nor `generation_config.json` sets one.
const DEFAULT_MAX_NEW_TOKENS: usize = 512;

/// Answer a question about an image and/or a video with a Qwen2.5-VL or Qwen3-VL model
/// folder, streaming the text.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// HF model folder (config.json, safetensors, tokenizer, preprocessor config).
    #[arg(long)]
    model: PathBuf,
    /// Image file (PNG or JPEG); placed before the video when both are given.
    #[arg(long, required_unless_present = "video")]
    image: Option<PathBuf>,
    /// Folder of video frames: its image files in file-name order, sent as one video
    /// (frame size and pixel limits from `video_preprocessor_config.json`).
    #[arg(long)]
    video: Option<PathBuf>,
    /// Frame rate of the `--video` frames (sets the temporal positions; the paper's VSI-Bench
    /// script gets the default 2).
    #[arg(long, default_value_t = DEFAULT_VIDEO_FPS, requires = "video")]
    fps: f32,
    /// Question, sent verbatim as the user text after the image.
    #[arg(long)]
    question: String,
    /// Upper bound on generated tokens (default: `max_new_tokens` of
    /// `generation_config.json`, else 512).
    #[arg(long)]
    max_new_tokens: Option<usize>,
    /// Append the training format instruction (reason in `<think>`, answer in `\boxed{}`) the
    /// way the released model's card does: after a newline and a space for Qwen2.5-VL
    /// (Spatial-SSRL-7B), directly for Qwen3-VL (Spatial-SSRL-Qwen3VL-4B, whose card asks
    /// `...\nOptions:\nA. ...\nPlease select the correct answer from the options above. \n`).
    #[arg(long)]
    think: bool,
    /// Dtype the weights are held in: `auto` (as stored, bf16 for the released models),
    /// `bf16`, `f16` or `f32` (twice the memory of bf16; on CPU bf16 decodes faster).
    #[arg(long, default_value_t = WeightDtype::Auto)]
    dtype: WeightDtype,
    #[command(flatten)]
    generation: GenerationArgs,
}

/// `question` with the format instruction appended as the released model of `family` shows
/// it on its card: Spatial-SSRL-7B sends `question + "\n " + instruction`; Spatial-SSRL-
/// Qwen3VL-4B sends `question + instruction`, its multiple-choice questions ending in `" \n"`.
/// (Training prompts use EasyR1's spelling, [`spatial_ssrl_rewards::with_format_instruction`].)
fn with_card_instruction(family: Family, question: &str) -> String {
    match family {
        Family::Qwen2_5Vl => format!("{question}\n {FORMAT_INSTRUCTION}"),
        Family::Qwen3Vl => format!("{question}{FORMAT_INSTRUCTION}"),
    }
}

/// The enabled backend's default device (the cli's `flex`/`ndarray`/`wgpu`/`cuda` feature).
fn device() -> Device {
    Device::default()
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let processor = Processor::from_dir(&args.model)
        .with_context(|| format!("cannot load the processor of {}", args.model.display()))?;
    let device = device();
    let model = VlModel::from_pretrained_dtype(&args.model, &device, args.dtype)
        .with_context(|| format!("cannot load the model in {}", args.model.display()))?;
    // From here on, activation buffers are reused instead of faulted in afresh on every
    // forward (the weights above keep their own mappings).
    spatial_ssrl_model::keep_freed_memory();
    let mut parts = Vec::new();
    if let Some(path) = &args.image {
        let image = load_image(path).with_context(|| format!("cannot read {}", path.display()))?;
        parts.push(ContentPart::Image(Arc::new(image)));
    }
    if let Some(dir) = &args.video {
        let video = VideoInput::from_dir(dir, args.fps)
            .with_context(|| format!("cannot read the video frames in {}", dir.display()))?;
        parts.push(ContentPart::Video(Arc::new(video)));
    }
    let text = if args.think {
        with_card_instruction(model.family(), &args.question)
    } else {
        args.question.clone()
    };
    parts.push(ContentPart::Text(text));
    let inputs = processor.prepare(&[Message::user(parts)], true)?;
    let batch = VlBatch::from_processed(&inputs)?;
    let cfg = args.generation.resolve(
        &args.model,
        args.max_new_tokens,
        DEFAULT_MAX_NEW_TOKENS,
        i64::from(processor.pad_id()),
    )?;

    // Stream: decode everything so far and print the new suffix once it is complete UTF-8
    // (a character may span several byte-level tokens).
    let mut tokens: Vec<u32> = Vec::new();
    let mut printed = 0usize;
    let mut out = std::io::stdout().lock();
    let mut failure: Option<anyhow::Error> = None;
    model.generate_batch(&batch, &cfg, |_, tok| {
        if failure.is_some() {
            return;
        }
        tokens.push(tok as u32);
        match processor.decode(&tokens, true) {
            Ok(s) if !s.ends_with('\u{FFFD}') && s.len() >= printed => {
                let _ = out.write_all(&s.as_bytes()[printed..]);
                let _ = out.flush();
                printed = s.len();
            }
            Ok(_) => {}
            Err(e) => failure = Some(e.into()),
        }
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    let full = processor.decode(&tokens, true)?;
    if full.len() > printed {
        out.write_all(&full.as_bytes()[printed..])?;
    }
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tiny fixtures were prompted as each family's card prompts (`golden.json`:
    /// `question`, `user_text` = what the model saw), so `--think` must rebuild `user_text`.
    #[test]
    fn think_rebuilds_each_fixtures_card_prompt() {
        let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
        let dirs = [
            ("SSRL_TINY_QWEN_DIR", "tiny-qwen2_5-vl"),
            ("SSRL_TINY_QWEN3_DIR", "tiny-qwen3-vl"),
        ]
        .map(|(var, name)| std::env::var_os(var).map_or(fixtures.join(name), PathBuf::from));
        let mut families = Vec::new();
        for dir in dirs {
            let text = std::fs::read_to_string(dir.join("golden.json")).unwrap();
            let g: serde_json::Value = serde_json::from_str(&text).unwrap();
            let family = Family::detect(&dir).unwrap();
            let question = g["question"].as_str().unwrap();
            assert_eq!(
                with_card_instruction(family, question),
                g["user_text"].as_str().unwrap(),
                "{}",
                dir.display()
            );
            families.push(family);
        }
        assert_eq!(families, [Family::Qwen2_5Vl, Family::Qwen3Vl]);
    }
}
