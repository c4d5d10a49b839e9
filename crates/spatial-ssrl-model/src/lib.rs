//! Qwen2.5-VL on burn 0.22: vision tower, M-RoPE language model, HF weights, generation.
//!
//! Data flow (see `docs/model.md`): image -> processor (`pixel_values` `[patches, 1176]`,
//! `grid_thw`) -> [`VisionTower`] (patch embed, 2-D rotary, window/full attention, 2x2
//! merger) -> one embedding per `<|image_pad|>` token -> Qwen2 decoder with M-RoPE
//! positions -> logits.
//!
//! ```no_run
//! use spatial_ssrl_model::{GenerationConfig, Prompt, Qwen2_5VlForCausalLm};
//! let device = burn::tensor::Device::flex();
//! let model = Qwen2_5VlForCausalLm::from_pretrained("tests/fixtures/tiny-qwen2_5-vl", &device)?;
//! let prompt = Prompt { input_ids: vec![151644, 872, 198], images: vec![], videos: vec![] };
//! let out = model.generate(&[prompt], &GenerationConfig::greedy(8), |_row, _tok| {})?;
//! println!("{:?}", out[0].tokens);
//! # Ok::<(), spatial_ssrl_model::Error>(())
//! ```
//!
//! Public API for other crates:
//! - loading: [`Qwen2_5VlForCausalLm::from_pretrained`] (single or sharded safetensors,
//!   bf16/f16/f32), [`Qwen2_5VlForCausalLm::save_pretrained`] (HF layout);
//! - training: [`Qwen2_5VlForCausalLm::forward_logits`] over a [`VlBatch`],
//!   [`Qwen2_5VlForCausalLm::token_log_probs`] (teacher forcing, differentiable);
//! - decoding: [`Qwen2_5VlForCausalLm::generate`] with a [`GenerationConfig`], or
//!   [`Qwen2_5VlForCausalLm::prefill`] + [`Qwen2_5VlForCausalLm::forward_step`] with a [`KvCache`].
//! - video: a [`VideoInput`] (frames + fps) as a [`ContentPart::Video`] through the
//!   [`Processor`] (`pixel_values_videos`, video grids, temporal M-RoPE positions) and
//!   [`VlBatch::from_processed`], or [`VideoPatches`] in [`Prompt::videos`] / [`VlBatch::videos`].
//! - Qwen3-VL (first step): [`Qwen3VlConfig`], the [`Qwen3VisionTower`] with its DeepStack
//!   features and the [`Qwen3TextModel`] decoder; not yet behind the generation API.
//!
//! Features: `flex` (default CPU backend), `ndarray`, `wgpu`, `cuda` select burn backends;
//! the code path is the same for all.
#![deny(missing_docs)]

mod chat;
mod config;
mod dtype;
mod error;
mod family;
mod generate;
mod generation_config;
mod half_matmul;
mod processor;
mod qwen3_vl;
mod rope_index;
mod sampling;
mod sdpa;
mod shard_writer;
mod text;
mod tokenizer;
mod vision;
mod vl;
mod vl_model;
mod vl_positions;
mod weights;

#[cfg(test)]
mod testutil;

pub use burn;

pub use crate::{
    chat::{ChatTemplate, Content, ContentPart, Message, RenderOptions, Role},
    config::{Qwen2_5VlConfig, TextConfig, VisionConfig},
    dtype::WeightDtype,
    error::{Error, Result},
    family::{Family, ModelFamily, VisionTokenIds},
    generate::{FinishReason, Generated, GenerationConfig, Prompt},
    generation_config::{EosTokenIds, GENERATION_CONFIG_FILE, HfGenerationConfig},
    processor::{
        CLIP_MEAN, CLIP_STD, DEFAULT_VIDEO_FPS, ImageProcessor, ImageProcessorConfig,
        MAX_ASPECT_RATIO, PaddingSide, PixelValues, ProcessedInputs, Processor, ProcessorError,
        RenderedPrompt, ResampleFilter, SizeConfig, VideoInput, VideoPixelValues, VideoProcessor,
        VideoProcessorConfig, decode_image, expand_image_pads, load_image, smart_resize,
    },
    qwen3_vl::{
        DeepstackInput, PositionResampling, Qwen3TextModel, Qwen3TextOutput, Qwen3VisionTower,
        Qwen3VisionTrace, Qwen3VlConfig, Qwen3VlForCausalLm, Qwen3VlTextConfig,
        Qwen3VlVisionConfig, vision_rotary_angles,
    },
    rope_index::{RopeIndex, RopeIndexConfig, VisionGrids, decode_position_ids, get_rope_index},
    text::{TextModel, TextOutput, cache::KvCache},
    tokenizer::{QwenTokenizer, SpecialTokens},
    vision::{ImageInput, VisionTower, VisionTrace},
    vl::{Qwen2_5VlForCausalLm, Qwen2_5VlModel, VideoPatches, VlBatch},
    vl_model::VlModel,
    weights::Checkpoint,
};
