//! Qwen2.5-VL and Qwen3-VL on burn 0.22: vision towers, M-RoPE decoders, HF weights,
//! preprocessing, tokenizer, chat templates, generation.
//!
//! Data flow (see `docs/model.md`): image -> [`Processor`] (`pixel_values`, `grid_thw`,
//! prompt ids) -> [`VlBatch`] -> the family's vision tower -> one embedding per
//! `<|image_pad|>` token (Qwen3-VL: plus DeepStack features) -> decoder with M-RoPE
//! positions -> logits.
//!
//! ```no_run
//! use spatial_ssrl_model::{GenerationConfig, Prompt, VlModel};
//! let device = burn::tensor::Device::flex();
//! // The family (Qwen2.5-VL or Qwen3-VL) comes from config.json's model_type.
//! let model = VlModel::from_pretrained("tests/fixtures/tiny-qwen3-vl", &device)?;
//! let prompt = Prompt { input_ids: vec![151644, 872, 198], images: vec![], videos: vec![] };
//! let out = model.generate(&[prompt], &GenerationConfig::greedy(8), |_row, _tok| {})?;
//! println!("{:?}", out[0].tokens);
//! # Ok::<(), spatial_ssrl_model::Error>(())
//! ```
//!
//! Contents:
//! - families: [`Family`] (from `model_type`), the [`ModelFamily`] trait and [`VlModel`]
//!   (a burn `Module` holding either); `qwen2_5_vl/` ([`Qwen2_5VlForCausalLm`]) and
//!   `qwen3_vl/` ([`Qwen3VlForCausalLm`]) hold what each family does its own way;
//! - shared layers (`layers/`): decoder layer, attention, fused SDPA, [`KvCache`], rotary,
//!   M-RoPE tables;
//! - written once for both families: decoding and sampling ([`GenerationConfig`],
//!   `generate`, `prefill` + `forward_step`), teacher-forced `token_log_probs`, weight
//!   loading ([`Checkpoint`], bf16/f16/f32 via [`WeightDtype`]) and `save_pretrained`;
//! - the process: [`keep_freed_memory`] (glibc keeps activation buffers for reuse);
//! - inputs: [`Processor`] (images, videos, chat template, tokenizer), [`VlBatch`],
//!   [`get_rope_index`].
//!
//! Features: `flex` (default CPU backend), `ndarray`, `wgpu`, `cuda` select burn backends;
//! the code path is the same for all.
#![deny(missing_docs)]

mod batch;
mod chat;
mod config_file;
mod dtype;
mod error;
#[cfg(feature = "flex")]
mod f32_linear;
mod family;
mod generate;
mod generation_config;
mod half_matmul;
mod heap;
mod layers;
mod processor;
mod qwen2_5_vl;
mod qwen3_vl;
mod rope_index;
mod sampling;
mod shard_writer;
mod tokenizer;
mod vl_model;
mod vl_positions;
mod weights;

#[cfg(test)]
mod testutil;

pub use burn;

pub use crate::{
    batch::{ImageInput, VideoPatches, VlBatch},
    chat::{ChatTemplate, Content, ContentPart, Message, RenderOptions, Role},
    dtype::WeightDtype,
    error::{Error, Result},
    family::{Family, ModelFamily, VisionTokenIds},
    generate::{FinishReason, Generated, GenerationConfig, Prompt},
    generation_config::{EosTokenIds, GENERATION_CONFIG_FILE, HfGenerationConfig},
    heap::keep_freed_memory,
    layers::{cache::KvCache, decoder::TextOutput},
    processor::{
        CLIP_MEAN, CLIP_STD, DEFAULT_VIDEO_FPS, ImageProcessor, ImageProcessorConfig,
        MAX_ASPECT_RATIO, PaddingSide, PixelValues, ProcessedInputs, Processor, ProcessorError,
        RenderedPrompt, ResampleFilter, SizeConfig, VideoInput, VideoPixelValues, VideoProcessor,
        VideoProcessorConfig, decode_image, expand_image_pads, load_image, smart_resize,
    },
    qwen2_5_vl::{
        config::{Qwen2_5VlConfig, TextConfig, VisionConfig},
        model::{Qwen2_5VlForCausalLm, Qwen2_5VlModel},
        text::TextModel,
        vision::{VisionTower, VisionTrace},
    },
    qwen3_vl::{
        DeepstackInput, PositionResampling, Qwen3TextModel, Qwen3TextOutput, Qwen3VisionTower,
        Qwen3VisionTrace, Qwen3VlConfig, Qwen3VlForCausalLm, Qwen3VlTextConfig,
        Qwen3VlVisionConfig, vision_rotary_angles,
    },
    rope_index::{RopeIndex, RopeIndexConfig, VisionGrids, decode_position_ids, get_rope_index},
    tokenizer::{QwenTokenizer, SpecialTokens},
    vl_model::VlModel,
    weights::Checkpoint,
};
