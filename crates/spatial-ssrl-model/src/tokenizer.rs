//! `QwenTokenizer`: the `tokenizers` BPE tokenizer of a model folder plus the special ids the
//! processor and generation rely on.

use std::path::Path;

use crate::processor::{ProcessorError, Result};

/// `<|endoftext|>`: padding and the base model's end of text.
pub const ENDOFTEXT: &str = "<|endoftext|>";
/// `<|im_start|>`: opens a chat turn.
pub const IM_START: &str = "<|im_start|>";
/// `<|im_end|>`: closes a chat turn (the chat models' end of sequence).
pub const IM_END: &str = "<|im_end|>";
/// `<|vision_start|>`: precedes the image pads of one image.
pub const VISION_START: &str = "<|vision_start|>";
/// `<|vision_end|>`: follows the image pads of one image.
pub const VISION_END: &str = "<|vision_end|>";
/// `<|image_pad|>`: one per merged image token after expansion.
pub const IMAGE_PAD: &str = "<|image_pad|>";
/// `<|video_pad|>`: one per merged video token after expansion.
pub const VIDEO_PAD: &str = "<|video_pad|>";
/// `<think>`: opens the reasoning span (in the Qwen vocabulary, a plain added token).
pub const THINK: &str = "<think>";
/// `</think>`: closes the reasoning span.
pub const THINK_END: &str = "</think>";

/// Ids of the special tokens, looked up in the vocabulary (not hard-coded).
///
/// For the released Qwen2.5-VL vocabulary: `<|endoftext|>` 151643, `<|im_start|>` 151644,
/// `<|im_end|>` 151645, `<|vision_start|>` 151652, `<|vision_end|>` 151653,
/// `<|image_pad|>` 151655, `<|video_pad|>` 151656, `<think>` 151667, `</think>` 151668.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialTokens {
    /// `<|endoftext|>` (the padding id).
    pub endoftext: u32,
    /// `<|im_start|>`.
    pub im_start: u32,
    /// `<|im_end|>`.
    pub im_end: u32,
    /// `<|vision_start|>`.
    pub vision_start: u32,
    /// `<|vision_end|>`.
    pub vision_end: u32,
    /// `<|image_pad|>`.
    pub image_pad: u32,
    /// `<|video_pad|>`.
    pub video_pad: u32,
    /// `<think>`, when the vocabulary has it.
    pub think: Option<u32>,
    /// `</think>`, when the vocabulary has it.
    pub think_end: Option<u32>,
}

/// The tokenizer of a Qwen2 / Qwen2.5-VL folder (`tokenizer.json`), via the `tokenizers` crate.
///
/// Encoding adds no BOS/EOS (Qwen's post-processor adds none); special tokens in the text
/// (`<|im_start|>`, `<|image_pad|>`, ...) map to their ids, as in transformers.
///
/// ```no_run
/// use spatial_ssrl_model::QwenTokenizer;
/// let tok = QwenTokenizer::from_file("tests/fixtures/tiny-qwen2_5-vl/tokenizer.json")?;
/// let ids = tok.encode("<|im_start|>user\nHi<|im_end|>")?;
/// assert_eq!(ids[0], tok.special().im_start);
/// assert_eq!(tok.decode(&ids, true)?, "user\nHi");
/// # Ok::<(), spatial_ssrl_model::ProcessorError>(())
/// ```
#[derive(Clone)]
pub struct QwenTokenizer {
    inner: tokenizers::Tokenizer,
    special: SpecialTokens,
}

impl std::fmt::Debug for QwenTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QwenTokenizer")
            .field("vocab_size", &self.vocab_size())
            .field("special", &self.special)
            .finish()
    }
}

fn tok_err(e: impl std::fmt::Display) -> ProcessorError {
    ProcessorError::Tokenizer(e.to_string())
}

impl QwenTokenizer {
    /// Loads `tokenizer.json`.
    ///
    /// # Errors
    /// [`ProcessorError::Io`] when unreadable, [`ProcessorError::Tokenizer`] when it does not
    /// parse, [`ProcessorError::MissingToken`] when a chat/vision special token is absent.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| ProcessorError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(&bytes)
    }

    /// Parses the contents of a `tokenizer.json`.
    ///
    /// # Errors
    /// As [`Self::from_file`], without the I/O case.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let inner = tokenizers::Tokenizer::from_bytes(bytes).map_err(tok_err)?;
        let id = |t: &str| {
            inner
                .token_to_id(t)
                .ok_or_else(|| ProcessorError::MissingToken { token: t.into() })
        };
        let special = SpecialTokens {
            endoftext: id(ENDOFTEXT)?,
            im_start: id(IM_START)?,
            im_end: id(IM_END)?,
            vision_start: id(VISION_START)?,
            vision_end: id(VISION_END)?,
            image_pad: id(IMAGE_PAD)?,
            video_pad: id(VIDEO_PAD)?,
            think: inner.token_to_id(THINK),
            think_end: inner.token_to_id(THINK_END),
        };
        Ok(Self { inner, special })
    }

    /// The special token ids.
    pub fn special(&self) -> &SpecialTokens {
        &self.special
    }

    /// Token ids of `text` (special tokens written in the text are recognised).
    ///
    /// # Errors
    /// [`ProcessorError::Tokenizer`] when the tokenizer fails.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self.inner.encode(text, true).map_err(tok_err)?;
        Ok(enc.get_ids().to_vec())
    }

    /// Text of `ids`; with `skip_special_tokens`, special tokens (`<|im_end|>`, pads, ...) are
    /// left out, as transformers' `decode(..., skip_special_tokens=True)`. Invalid UTF-8 from
    /// partial byte tokens becomes U+FFFD.
    ///
    /// # Errors
    /// [`ProcessorError::Tokenizer`] when the tokenizer fails.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        self.inner.decode(ids, skip_special_tokens).map_err(tok_err)
    }

    /// Id of a token string, if in the vocabulary (added tokens included).
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Token string of an id.
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// Vocabulary size including added tokens (151665 for Qwen2.5-VL; the embedding matrix
    /// is larger: 151936 rows).
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The underlying `tokenizers` tokenizer, for anything not wrapped here.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }
}
