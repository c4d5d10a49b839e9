//! Evaluation the way the paper ran it (InternLM/Spatial-SSRL `evaluation/`): each
//! benchmark's user text, image limits, frame settings and generation length from its script
//! ([`PromptMode::Paper`]), and each script's own answer rules ([`Scoring::Paper`]), next to
//! this crate's reworded prompts and forgiving extraction ([`PromptMode::Robust`],
//! [`Scoring::Robust`]).

use serde::Serialize;

use crate::item::{Item, Video};

mod prompts;
mod rules;

pub(crate) use prompts::{
    VSI_FPS, VSI_FRAMES, fork_mcq, fork_qspatial, fork_spatial457, viewspatial, vsibench, whatsup,
};
pub use rules::{
    can_infer, first_standalone_abcd, py_float, qspatial_cm, qspatial_multiplier, qspatial_within,
    script_boxed, script_mra, spatial457_answer, viewspatial_letter, vsi_score, whatsup_boxed,
    whatsup_hit,
};

/// Which user text (and settings) each item is sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum PromptMode {
    /// The paper's scripts, byte for byte; `cot` selects their think/boxed run (the default)
    /// over their direct-answer run.
    Paper {
        /// The scripts' CoT variant (`--CoT`, `--cot True`, the fork's reasoning prompt).
        cot: bool,
    },
    /// This crate's prompts: question, `Options:` lines, an answer hint and the training
    /// format instruction.
    Robust,
}

/// Which answer rules score a prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "rule")]
pub enum Scoring {
    /// The scripts' own rules (strict: e.g. a CoT answer without a box is wrong). `cot` must
    /// match the run, as the scripts read the box only in their CoT mode.
    Paper {
        /// Score as the scripts' CoT mode does.
        cot: bool,
    },
    /// This crate's extraction: box, letter forms, option text, numbers with units.
    Robust,
}

impl Scoring {
    /// `"paper"` or `"robust"`, as reports record it.
    pub fn name(self) -> &'static str {
        match self {
            Scoring::Paper { .. } => "paper",
            Scoring::Robust => "robust",
        }
    }
}

/// Everything one item is sent with: the user text exactly as the model receives it, where
/// the visuals sit in it, the image limits and the generation length. `None` settings mean
/// "the model folder's defaults" (pixels) or "the run's `--max-new-tokens`".
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The user text; several text parts (Spatial457) are concatenated in order.
    pub text: String,
    /// Byte offset in `text` where the images (or the video) are placed; 0 = before the text.
    pub visuals_at: usize,
    /// Images shown.
    pub n_images: usize,
    /// The video shown, as one clip.
    pub video: Option<Video>,
    /// Smallest image area in pixels the processor resizes to.
    pub min_pixels: Option<u64>,
    /// Largest image area in pixels the processor resizes to.
    pub max_pixels: Option<u64>,
    /// A fixed `(height, width)` every image is first resized to (ViewSpatial's script sets
    /// `resized_height`/`resized_width`); the pixel limits apply after it.
    pub resize: Option<(u32, u32)>,
    /// Upper bound on generated tokens.
    pub max_new_tokens: Option<usize>,
}

impl Request {
    /// A request with the item's images (and video) before `text` and no setting of its own.
    pub fn plain(item: &Item, text: String) -> Self {
        Request {
            text,
            visuals_at: 0,
            n_images: item.visuals.len(),
            video: item.video.clone(),
            min_pixels: None,
            max_pixels: None,
            resize: None,
            max_new_tokens: None,
        }
    }

    /// The `--dump-prompts` line: `{"id", "text", "n_images", "n_frames", "min_pixels",
    /// "max_pixels", "max_new_tokens"}`. Reads no media: `n_frames` is the frame count the
    /// video would be given (0 without a video).
    pub fn dump_line(&self, id: i64, default_max_new_tokens: usize) -> serde_json::Value {
        serde_json::json!({
            "id": id,
            "text": self.text,
            "n_images": self.n_images,
            "n_frames": self.video.as_ref().map_or(0, Video::frame_count),
            "min_pixels": self.min_pixels,
            "max_pixels": self.max_pixels,
            "max_new_tokens": self.max_new_tokens.unwrap_or(default_max_new_tokens),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_line_has_the_documented_keys() {
        let item = Item {
            index: 3,
            question: "q".into(),
            options: Vec::new(),
            answer: crate::Answer::Number(1.0),
            category: "c".into(),
            visuals: Vec::new(),
            video: Some(Video {
                dir: "/nonexistent/frames".into(),
                max_frames: 128,
                fps: 2.0,
            }),
            extra: Default::default(),
        };
        let line = Request::plain(&item, "t".into()).dump_line(3, 77);
        let mut keys: Vec<&str> = line
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "id",
                "max_new_tokens",
                "max_pixels",
                "min_pixels",
                "n_frames",
                "n_images",
                "text"
            ]
        );
        assert_eq!(line["n_frames"], 128);
        assert_eq!(line["max_new_tokens"], 77);
        assert!(line["min_pixels"].is_null());
    }
}
