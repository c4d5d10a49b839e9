//! Image and video preprocessing and the `Processor` that turns conversations into model inputs.
//!
//! Everything here is plain Rust over `Vec`s (no tensors), so it is tested without weights.
//! The reference is transformers 4.57's `Qwen2VLImageProcessor` + `Qwen2_5_VLProcessor`.

mod config;
mod error;
mod image;
mod inputs;
mod jpeg;
mod patches;
mod resize;
mod smart_resize;
mod video;

pub use config::{CLIP_MEAN, CLIP_STD, ImageProcessorConfig, SizeConfig};
pub use error::ProcessorError;
pub(crate) use error::Result;
pub use image::{ImageProcessor, PixelValues, decode_image, load_image};
pub use inputs::{PaddingSide, ProcessedInputs, Processor, RenderedPrompt, expand_image_pads};
pub use resize::ResampleFilter;
pub use smart_resize::{MAX_ASPECT_RATIO, smart_resize};
pub use video::{
    DEFAULT_VIDEO_FPS, VideoInput, VideoPixelValues, VideoProcessor, VideoProcessorConfig,
};
