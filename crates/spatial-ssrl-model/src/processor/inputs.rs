//! `Processor`: conversation + images and videos to token ids, masks, pixel values and M-RoPE
//! positions.

use std::path::Path;

use image::DynamicImage;

use super::config::ImageProcessorConfig;
use super::error::{ProcessorError, Result};
use super::image::{ImageProcessor, PixelValues};
use super::video::{VideoInput, VideoPixelValues, VideoProcessor};
use crate::chat::{ChatTemplate, Message, RenderOptions};
use crate::family::Family;
use crate::rope_index::{RopeIndexConfig, VisionGrids, get_rope_index};
use crate::tokenizer::{IMAGE_PAD, QwenTokenizer, VIDEO_PAD};

/// Which side of a shorter prompt receives padding in a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PaddingSide {
    /// Pad before the prompt (what generation needs: every row ends at the last column).
    #[default]
    Left,
    /// Pad after the prompt.
    Right,
}

/// Model inputs for a batch of prompts as plain vectors; convert to tensors with the shapes
/// given per field.
///
/// A single prompt is a batch of one. Images (and videos) of all rows are concatenated in row
/// order.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessedInputs {
    /// Number of prompts.
    pub batch_size: usize,
    /// Padded sequence length.
    pub seq_len: usize,
    /// `[batch, seq]` token ids, each `<|image_pad|>` expanded to the image's merged token count.
    pub input_ids: Vec<u32>,
    /// `[batch, seq]`: 1 for tokens, 0 for padding.
    pub attention_mask: Vec<i64>,
    /// `[num_patches, patch_dim]` normalised patch rows of all images (see [`ImageProcessor`]).
    pub pixel_values: Vec<f32>,
    /// `[num_patches, patch_dim]` (`[0, 1176]` without images).
    pub pixel_shape: [usize; 2],
    /// `[t, h, w]` patch grid per image, in order of appearance.
    pub image_grid_thw: Vec<[u32; 3]>,
    /// `[num_video_patches, patch_dim]` normalised patch rows of all videos
    /// (`pixel_values_videos`, see [`VideoProcessor`]).
    pub pixel_values_videos: Vec<f32>,
    /// `[num_video_patches, patch_dim]` (`[0, 1176]` without videos).
    pub video_pixel_shape: [usize; 2],
    /// `[t, h, w]` patch grid per video, in order of appearance.
    pub video_grid_thw: Vec<[u32; 3]>,
    /// Seconds per temporal patch per video (`temporal_patch_size / fps`).
    pub second_per_grid_ts: Vec<f32>,
    /// `[3, batch, seq]` M-RoPE position ids (temporal, height, width); 1 at padding.
    pub position_ids: Vec<i64>,
    /// `[batch]`: decode position of cache index `k` is `k + rope_deltas[row]`.
    pub rope_deltas: Vec<i64>,
    /// The rendered prompts before pad expansion, one per row.
    pub texts: Vec<String>,
}

impl ProcessedInputs {
    /// Token ids of row `row` (padding included).
    pub fn row_ids(&self, row: usize) -> &[u32] {
        &self.input_ids[row * self.seq_len..(row + 1) * self.seq_len]
    }

    /// Number of image tokens (`<|image_pad|>` positions) the vision tower must fill:
    /// `sum(t * h * w) / merge_size^2`.
    pub fn num_image_tokens(&self, image_pad_id: u32) -> usize {
        self.input_ids
            .iter()
            .filter(|&&t| t == image_pad_id)
            .count()
    }
}

/// The complete inputs side of Qwen2.5-VL, built from a model folder: image processor
/// (`preprocessor_config.json`), video processor (`video_preprocessor_config.json`, else the
/// image config), tokenizer (`tokenizer.json`), chat template
/// (`chat_template.json` > `chat_template.jinja` > `tokenizer_config.json`) and the token ids
/// and merge size of `config.json`.
///
/// ```no_run
/// use std::sync::Arc;
/// use spatial_ssrl_model::{Message, Processor, load_image};
/// let proc = Processor::from_dir("tests/fixtures/tiny-qwen2_5-vl")?;
/// let img = Arc::new(load_image("tests/fixtures/reference_inputs/eg1.jpg")?);
/// let inputs = proc.prepare(&[Message::user_image(img, "Which object is higher?")], true)?;
/// assert_eq!(inputs.image_grid_thw, vec![[1, 18, 12]]);
/// assert_eq!(inputs.pixel_shape, [216, 1176]);
/// assert_eq!(inputs.position_ids.len(), 3 * inputs.seq_len);
/// # Ok::<(), spatial_ssrl_model::ProcessorError>(())
/// ```
#[derive(Debug)]
pub struct Processor {
    image: ImageProcessor,
    video: VideoProcessor,
    tokenizer: QwenTokenizer,
    template: ChatTemplate,
    rope: RopeIndexConfig,
    pad_id: u32,
    padding_side: PaddingSide,
    /// The model family the prompts are for (how videos are written into the text).
    family: Family,
}

impl Processor {
    /// Assembles a processor from its parts (the rope config's token ids should be the
    /// tokenizer's). Videos use the image settings until [`Self::with_video_processor`].
    pub fn new(
        image: ImageProcessor,
        tokenizer: QwenTokenizer,
        template: ChatTemplate,
        rope: RopeIndexConfig,
    ) -> Self {
        let pad_id = tokenizer.special().endoftext;
        let video = VideoProcessor::from_image_processor(&image);
        Self {
            image,
            video,
            tokenizer,
            template,
            rope,
            pad_id,
            padding_side: PaddingSide::Left,
            family: Family::Qwen2_5Vl,
        }
    }

    /// Loads everything from an HF model folder.
    ///
    /// `config.json` is optional here: its `image_token_id`, `video_token_id`,
    /// `vision_start_token_id`, `vision_config.spatial_merge_size` and
    /// `vision_config.tokens_per_second` override the tokenizer's ids and the defaults. The
    /// pad id is `tokenizer_config.json`'s `pad_token` (else `<|endoftext|>`).
    ///
    /// # Errors
    /// Any file that is missing (except `config.json`), unreadable or invalid.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let cfg_path = dir.join("config.json");
        let cfg = if cfg_path.is_file() {
            Some(read_json(&cfg_path)?)
        } else {
            None
        };
        let family = match cfg
            .as_ref()
            .and_then(|c| c.get("model_type"))
            .and_then(serde_json::Value::as_str)
        {
            Some(t) if t == Family::Qwen3Vl.model_type() => Family::Qwen3Vl,
            _ => Family::Qwen2_5Vl,
        };
        let image = ImageProcessor::new(ImageProcessorConfig::from_file_over(
            dir.join("preprocessor_config.json"),
            &ImageProcessorConfig::family_defaults(family),
        )?)?;
        let tokenizer = QwenTokenizer::from_file(dir.join("tokenizer.json"))?;
        let template = ChatTemplate::from_dir(dir)?;
        let sp = *tokenizer.special();
        let mut rope = RopeIndexConfig {
            spatial_merge_size: image.config().merge_size as u32,
            image_token_id: sp.image_pad,
            video_token_id: sp.video_pad,
            vision_start_token_id: sp.vision_start,
            ..RopeIndexConfig::default()
        };
        if let Some(cfg) = &cfg {
            let int = |v: Option<&serde_json::Value>| v.and_then(serde_json::Value::as_u64);
            let vision = cfg.get("vision_config");
            if let Some(v) = int(cfg.get("image_token_id")) {
                rope.image_token_id = v as u32;
            }
            if let Some(v) = int(cfg.get("video_token_id")) {
                rope.video_token_id = v as u32;
            }
            if let Some(v) = int(cfg.get("vision_start_token_id")) {
                rope.vision_start_token_id = v as u32;
            }
            if let Some(v) = int(vision.and_then(|v| v.get("spatial_merge_size"))) {
                rope.spatial_merge_size = v as u32;
            }
            if let Some(v) = int(vision.and_then(|v| v.get("tokens_per_second"))) {
                rope.tokens_per_second = v as i64;
            }
        }
        let video = VideoProcessor::from_dir(dir)?;
        let mut proc = Self::new(image, tokenizer, template, rope).with_video_processor(video);
        proc.family = family;
        let tc = dir.join("tokenizer_config.json");
        if tc.is_file() {
            let cfg = read_json(&tc)?;
            let pad = match cfg.get("pad_token") {
                Some(serde_json::Value::String(s)) => Some(s.as_str()),
                Some(serde_json::Value::Object(o)) => o.get("content").and_then(|c| c.as_str()),
                _ => None,
            };
            if let Some(id) = pad.and_then(|p| proc.tokenizer.token_to_id(p)) {
                proc.pad_id = id;
            }
        }
        Ok(proc)
    }

    /// The model family the prompts are built for (from `config.json`'s `model_type` in
    /// [`Self::from_dir`]; Qwen2.5-VL otherwise).
    pub fn family(&self) -> Family {
        self.family
    }

    /// Sets the side padding goes to in batches (left by default).
    pub fn with_padding_side(mut self, side: PaddingSide) -> Self {
        self.padding_side = side;
        self
    }

    /// Replaces the video processor (e.g. with other pixel limits per frame).
    pub fn with_video_processor(mut self, video: VideoProcessor) -> Self {
        self.video = video;
        self
    }

    /// The image processor.
    pub fn image_processor(&self) -> &ImageProcessor {
        &self.image
    }

    /// The video processor.
    pub fn video_processor(&self) -> &VideoProcessor {
        &self.video
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &QwenTokenizer {
        &self.tokenizer
    }

    /// The chat template.
    pub fn chat_template(&self) -> &ChatTemplate {
        &self.template
    }

    /// Token ids and merge size used for position ids.
    pub fn rope_config(&self) -> &RopeIndexConfig {
        &self.rope
    }

    /// The padding token id.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// Renders a conversation with the chat template (one `<|image_pad|>` per image, one
    /// `<|video_pad|>` per video).
    ///
    /// # Errors
    /// [`ProcessorError::Template`] when rendering fails.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        let opts = RenderOptions {
            add_generation_prompt,
            ..Default::default()
        };
        self.template.render(messages, &opts)
    }

    /// Inputs for one conversation (a batch of one).
    ///
    /// # Errors
    /// Template, image, tokenizer and consistency errors.
    pub fn prepare(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
    ) -> Result<ProcessedInputs> {
        self.prepare_batch(&[messages], add_generation_prompt)
    }

    /// Inputs for a batch of conversations, padded to the longest on [`PaddingSide`].
    ///
    /// # Errors
    /// Template, image, tokenizer and consistency errors.
    pub fn prepare_batch(
        &self,
        conversations: &[&[Message]],
        add_generation_prompt: bool,
    ) -> Result<ProcessedInputs> {
        let mut texts = Vec::with_capacity(conversations.len());
        let mut images: Vec<Vec<&DynamicImage>> = Vec::with_capacity(conversations.len());
        let mut videos: Vec<Vec<&VideoInput>> = Vec::with_capacity(conversations.len());
        for conv in conversations {
            texts.push(self.render(conv, add_generation_prompt)?);
            images.push(
                conv.iter()
                    .flat_map(Message::images)
                    .map(|a| &**a)
                    .collect(),
            );
            videos.push(
                conv.iter()
                    .flat_map(Message::videos)
                    .map(|a| &**a)
                    .collect(),
            );
        }
        let prompts: Vec<RenderedPrompt<'_>> = texts
            .iter()
            .zip(&images)
            .zip(&videos)
            .map(|((text, images), videos)| RenderedPrompt {
                text,
                images,
                videos,
            })
            .collect();
        self.prepare_rendered(&prompts)
    }

    /// Inputs for already rendered prompts: each text holds one `<|image_pad|>` per image of
    /// its slice, in order (as the chat template writes them).
    ///
    /// # Errors
    /// [`ProcessorError::ImageCountMismatch`] when pads and images disagree; image,
    /// tokenizer and consistency errors.
    pub fn prepare_prompts(&self, prompts: &[(&str, &[&DynamicImage])]) -> Result<ProcessedInputs> {
        let prompts: Vec<RenderedPrompt<'_>> = prompts
            .iter()
            .map(|&(text, images)| RenderedPrompt {
                text,
                images,
                videos: &[],
            })
            .collect();
        self.prepare_rendered(&prompts)
    }

    /// Inputs for already rendered prompts with images and videos: each text holds one
    /// `<|image_pad|>` per image and one `<|video_pad|>` per video, in order.
    ///
    /// # Errors
    /// [`ProcessorError::ImageCountMismatch`] when pads and media disagree; image, video,
    /// tokenizer and consistency errors.
    pub fn prepare_rendered(&self, prompts: &[RenderedPrompt<'_>]) -> Result<ProcessedInputs> {
        let merge = self.image.config().merge_size as u32;
        let merged = |g: &[u32; 3]| (g[0] * g[1] * g[2] / (merge * merge)) as usize;
        let mut pixels = PixelValues {
            patch_dim: self.image.patch_dim(),
            ..Default::default()
        };
        let mut video_pixels = VideoPixelValues {
            pixels: PixelValues {
                patch_dim: self.video.patch_dim(),
                ..Default::default()
            },
            ..Default::default()
        };
        if self.family == Family::Qwen3Vl && prompts.iter().any(|p| !p.videos.is_empty()) {
            // Qwen3-VL writes a timestamp and its own vision_start/end around every
            // temporal patch; this processor writes Qwen2.5-VL's single pad run.
            return Err(ProcessorError::BadVideo(
                "Qwen3-VL video prompts (a timestamp before each frame) are not implemented; \
                 pass the frames as images"
                    .into(),
            ));
        }
        let mut rows = Vec::with_capacity(prompts.len());
        for p in prompts {
            let count = |pad: &str, what, expected| {
                let found = p.text.matches(pad).count();
                if found == expected {
                    Ok(())
                } else {
                    Err(ProcessorError::ImageCountMismatch {
                        what,
                        expected,
                        found,
                    })
                }
            };
            count(
                IMAGE_PAD,
                "<|image_pad|> placeholders for the given images",
                p.images.len(),
            )?;
            count(
                VIDEO_PAD,
                "<|video_pad|> placeholders for the given videos",
                p.videos.len(),
            )?;
            let pv = self.image.preprocess_all(p.images.iter().copied())?;
            let vv = self.video.preprocess_all(p.videos.iter().copied())?;
            let image_counts: Vec<usize> = pv.grid_thw.iter().map(merged).collect();
            let video_counts: Vec<usize> = vv.pixels.grid_thw.iter().map(merged).collect();
            let text = expand_pads(
                &expand_pads(p.text, IMAGE_PAD, &image_counts),
                VIDEO_PAD,
                &video_counts,
            );
            rows.push(self.tokenizer.encode(&text)?);
            pixels.extend(pv);
            video_pixels.extend(vv);
        }
        self.assemble(
            rows,
            pixels,
            video_pixels,
            prompts.iter().map(|p| p.text.to_owned()).collect(),
        )
    }

    /// Pads rows, builds the mask and computes position ids.
    fn assemble(
        &self,
        rows: Vec<Vec<u32>>,
        pixels: PixelValues,
        videos: VideoPixelValues,
        texts: Vec<String>,
    ) -> Result<ProcessedInputs> {
        let batch = rows.len();
        let seq = rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut input_ids = Vec::with_capacity(batch * seq);
        let mut attention_mask = Vec::with_capacity(batch * seq);
        for row in &rows {
            let pad = seq - row.len();
            let (ids_pad, mask_pad) = (
                std::iter::repeat_n(self.pad_id, pad),
                std::iter::repeat_n(0, pad),
            );
            match self.padding_side {
                PaddingSide::Left => {
                    input_ids.extend(ids_pad);
                    input_ids.extend_from_slice(row);
                    attention_mask.extend(mask_pad);
                    attention_mask.extend(std::iter::repeat_n(1, row.len()));
                }
                PaddingSide::Right => {
                    input_ids.extend_from_slice(row);
                    input_ids.extend(ids_pad);
                    attention_mask.extend(std::iter::repeat_n(1, row.len()));
                    attention_mask.extend(mask_pad);
                }
            }
        }
        let grids = VisionGrids {
            image_grid_thw: &pixels.grid_thw,
            video_grid_thw: &videos.pixels.grid_thw,
            second_per_grid_ts: &videos.second_per_grid_ts,
        };
        let rope = get_rope_index(
            &self.rope,
            &input_ids,
            batch,
            seq,
            Some(&attention_mask),
            grids,
        )?;
        let pixel_shape = pixels.shape();
        let video_pixel_shape = videos.pixels.shape();
        Ok(ProcessedInputs {
            batch_size: batch,
            seq_len: seq,
            input_ids,
            attention_mask,
            pixel_values: pixels.pixel_values,
            pixel_shape,
            image_grid_thw: pixels.grid_thw,
            pixel_values_videos: videos.pixels.pixel_values,
            video_pixel_shape,
            video_grid_thw: videos.pixels.grid_thw,
            second_per_grid_ts: videos.second_per_grid_ts,
            position_ids: rope.position_ids,
            rope_deltas: rope.rope_deltas,
            texts,
        })
    }

    /// Decodes generated ids to text (see [`QwenTokenizer::decode`]).
    ///
    /// # Errors
    /// [`ProcessorError::Tokenizer`] when the tokenizer fails.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        self.tokenizer.decode(ids, skip_special_tokens)
    }
}

/// Replaces the `i`-th `<|image_pad|>` of `text` by `counts[i]` copies (what
/// `Qwen2_5_VLProcessor` does before tokenising). The caller guarantees the counts match.
///
/// ```
/// let t = spatial_ssrl_model::expand_image_pads("a<|image_pad|>b<|image_pad|>", &[2, 1]);
/// assert_eq!(t, "a<|image_pad|><|image_pad|>b<|image_pad|>");
/// ```
pub fn expand_image_pads(text: &str, counts: &[usize]) -> String {
    expand_pads(text, IMAGE_PAD, counts)
}

/// Replaces the `i`-th `pad` of `text` by `counts[i]` copies (one left where a count is
/// missing).
fn expand_pads(text: &str, pad: &str, counts: &[usize]) -> String {
    let mut out = String::with_capacity(text.len() + counts.iter().sum::<usize>() * pad.len());
    let mut pieces = text.split(pad);
    if let Some(first) = pieces.next() {
        out.push_str(first);
    }
    for (i, piece) in pieces.enumerate() {
        let n = counts.get(i).copied().unwrap_or(1);
        for _ in 0..n {
            out.push_str(pad);
        }
        out.push_str(piece);
    }
    out
}

/// One rendered prompt and its media, for [`Processor::prepare_rendered`].
#[derive(Debug, Clone, Copy)]
pub struct RenderedPrompt<'a> {
    /// The chat-template output, one pad per image and per video.
    pub text: &'a str,
    /// The images, in the order of their `<|image_pad|>`.
    pub images: &'a [&'a DynamicImage],
    /// The videos, in the order of their `<|video_pad|>`.
    pub videos: &'a [&'a VideoInput],
}

fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).map_err(|source| ProcessorError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| ProcessorError::Json {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}
