//! `spatial-ssrl infer`: answer one question about an image, a video (a folder of frames) or
//! both with a Qwen2.5-VL model folder, streaming the generated text to stdout (and nothing
//! else).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use spatial_ssrl_model::burn::tensor::Device;
use spatial_ssrl_model::{
    ContentPart, DEFAULT_VIDEO_FPS, GenerationConfig, Message, Processor, Qwen2_5VlForCausalLm,
    VideoInput, VlBatch, load_image,
};

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
    /// Upper bound on generated tokens.
    #[arg(long, default_value_t = 512)]
    max_new_tokens: usize,
    /// Append the training format instruction (reason in `<think>`, answer in `\boxed{}`).
    #[arg(long)]
    think: bool,
    /// Sampling temperature (sampling is used when any sampling flag is given).
    #[arg(long)]
    temperature: Option<f32>,
    /// Keep only the k most likely tokens when sampling.
    #[arg(long)]
    top_k: Option<usize>,
    /// Nucleus sampling threshold.
    #[arg(long)]
    top_p: Option<f32>,
    /// Seed of the sampler.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// The enabled backend's default device (the cli's `flex`/`ndarray`/`wgpu`/`cuda` feature).
fn device() -> Device {
    Device::default()
}

/// Stop tokens from `generation_config.json` (`eos_token_id`, number or list), else Qwen's.
fn stop_tokens(dir: &Path) -> anyhow::Result<Vec<i64>> {
    let path = dir.join("generation_config.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(GenerationConfig::greedy(1).stop_tokens);
    };
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("cannot parse {}", path.display()))?;
    Ok(match &v["eos_token_id"] {
        serde_json::Value::Number(n) => n.as_i64().into_iter().collect(),
        serde_json::Value::Array(a) => a.iter().filter_map(|x| x.as_i64()).collect(),
        _ => GenerationConfig::greedy(1).stop_tokens,
    })
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let processor = Processor::from_dir(&args.model)
        .with_context(|| format!("cannot load the processor of {}", args.model.display()))?;
    let device = device();
    let model = Qwen2_5VlForCausalLm::from_pretrained(&args.model, &device)
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
    let sampling = args.temperature.is_some() || args.top_k.is_some() || args.top_p.is_some();
    let mut cfg = if sampling {
        GenerationConfig::sampling(
            args.max_new_tokens,
            args.temperature.unwrap_or(1.0),
            args.seed,
        )
    } else {
        GenerationConfig::greedy(args.max_new_tokens)
    };
    cfg.top_k = args.top_k;
    cfg.top_p = args.top_p;
    cfg.stop_tokens = stop_tokens(&args.model)?;
    cfg.pad_token_id = i64::from(processor.pad_id());

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
