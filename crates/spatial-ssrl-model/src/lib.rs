//! Qwen2.5-VL on burn (warm-up placeholder, replaced by the model work).

mod chat;
mod processor;
mod rope_index;
mod tokenizer;

pub use burn;

pub use crate::{
    chat::{ChatTemplate, Content, ContentPart, Message, RenderOptions, Role},
    processor::{
        CLIP_MEAN, CLIP_STD, ImageProcessor, ImageProcessorConfig, MAX_ASPECT_RATIO, PaddingSide,
        PixelValues, ProcessedInputs, Processor, ProcessorError, ResampleFilter, SizeConfig,
        decode_image, expand_image_pads, load_image, smart_resize,
    },
    rope_index::{RopeIndex, RopeIndexConfig, VisionGrids, decode_position_ids, get_rope_index},
    tokenizer::{QwenTokenizer, SpecialTokens},
};
