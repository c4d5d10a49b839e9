//! `spatial-ssrl infer`: answer one question about an image, a video (a folder of frames) or
//! both with a Qwen2.5-VL model folder, streaming the generated text to stdout (and nothing
//! else).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use spatial_ssrl_model::burn::tensor::Device;
use spatial_ssrl_model::{
    ContentPart, DEFAULT_VIDEO_FPS, Message, Processor, Qwen2_5VlForCausalLm, VideoInput, VlBatch,
    WeightDtype, load_image,
};

use super::generation_args::GenerationArgs;

/// Generation length when neither `--max-new-tokens` nor `generation_config.json` sets one.
const DEFAULT_MAX_NEW_TOKENS: usize = 512;

/// Answer a question about an image and/or a video with a Qwen2.5-VL model folder, streaming
/// the text.
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
    /// Append the training format instruction (reason in `<think>`, answer in `\boxed{}`).
    #[arg(long)]
    think: bool,
    /// Dtype the weights are held in: `auto` (as stored, bf16 for the released models),
    /// `bf16`, `f16` or `f32` (fastest on CPU, twice the memory of bf16).
    #[arg(long, default_value_t = WeightDtype::Auto)]
    dtype: WeightDtype,
    #[command(flatten)]
    generation: GenerationArgs,
}

/// The enabled backend's default device (the cli's `flex`/`ndarray`/`wgpu`/`cuda` feature).
fn device() -> Device {
    Device::default()
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let processor = Processor::from_dir(&args.model)
        .with_context(|| format!("cannot load the processor of {}", args.model.display()))?;
    let device = device();
    let model = Qwen2_5VlForCausalLm::from_pretrained_dtype(&args.model, &device, args.dtype)
        .with_context(|| format!("cannot load the model in {}", args.model.display()))?;
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
        spatial_ssrl_rewards::with_format_instruction(&args.question)
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
