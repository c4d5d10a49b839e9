//! The error type of the inputs side: image preprocessing, chat template, tokenizer, rope index.

use std::path::PathBuf;

/// Everything that can go wrong while turning a conversation and its images into model inputs.
///
/// Variants keep the offending input (path, sizes, token counts) so callers can report it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessorError {
    /// A file of the model folder could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file of the model folder could not be parsed.
    #[error("cannot parse {path}: {message}")]
    Json {
        /// The file involved.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// An image could not be decoded.
    #[error("cannot decode image {path}: {message}")]
    Image {
        /// The image file (empty for in-memory images).
        path: PathBuf,
        /// What the decoder said.
        message: String,
    },
    /// An image with a zero side or an extreme aspect ratio, which `smart_resize` rejects.
    #[error("cannot resize a {height}x{width} image: {reason}")]
    BadImageSize {
        /// Height in pixels.
        height: u32,
        /// Width in pixels.
        width: u32,
        /// Why it was rejected (for the aspect ratio, the same wording as transformers).
        reason: String,
    },
    /// A setting of `preprocessor_config.json` is out of range or unsupported.
    #[error("unsupported image processor setting {field}: {message}")]
    BadConfig {
        /// The JSON key.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The tokenizer could not be loaded or failed on its input.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A token the processor relies on is missing from the vocabulary.
    #[error("token {token} is not in the tokenizer's vocabulary")]
    MissingToken {
        /// The token's text.
        token: String,
    },
    /// The model folder has no usable chat template.
    #[error("no chat template in {dir} (looked for chat_template.json and tokenizer_config.json)")]
    NoChatTemplate {
        /// The model folder.
        dir: PathBuf,
    },
    /// The chat template failed to compile or render.
    #[error("chat template: {0}")]
    Template(String),
    /// The number of images does not match the image placeholders or grids.
    #[error("{what}: expected {expected}, found {found}")]
    ImageCountMismatch {
        /// What was counted.
        what: &'static str,
        /// How many were expected.
        expected: usize,
        /// How many were found.
        found: usize,
    },
    /// A video that cannot be processed (no frames, frames of different sizes, a bad fps,
    /// an impossible frame sampling).
    #[error("bad video: {0}")]
    BadVideo(String),
    /// Token ids, masks or grids that do not fit together.
    #[error("inconsistent inputs: {0}")]
    Inconsistent(String),
}

/// `Result` with [`ProcessorError`] as the default error.
pub type Result<T, E = ProcessorError> = std::result::Result<T, E>;
