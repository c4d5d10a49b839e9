//! `ImageProcessorConfig`: the `preprocessor_config.json` of a Qwen2-VL / Qwen2.5-VL folder.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::family::Family;

use super::error::{ProcessorError, Result};
use super::resize::ResampleFilter;

/// CLIP's per-channel mean, the Qwen2-VL default.
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// CLIP's per-channel standard deviation, the Qwen2-VL default.
#[allow(clippy::excessive_precision)] // the published digits, as in preprocessor_config.json
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

/// `size` as newer transformers write it: `shortest_edge` = min pixels, `longest_edge` = max pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub struct SizeConfig {
    /// Minimum pixel count (despite the name).
    pub shortest_edge: Option<u64>,
    /// Maximum pixel count (despite the name).
    pub longest_edge: Option<u64>,
}

/// Mirror of `preprocessor_config.json` (`Qwen2VLImageProcessor`), key for key.
///
/// Missing keys take transformers' defaults, so trimmed files load. Unknown keys are ignored.
/// `min_pixels` / `max_pixels` win over `size`, as in transformers (use
/// [`ImageProcessorConfig::pixel_limits`]).
///
/// ```
/// use spatial_ssrl_model::ImageProcessorConfig;
/// let cfg: ImageProcessorConfig =
///     serde_json::from_str(r#"{"min_pixels": 3136, "max_pixels": 50176}"#).unwrap();
/// assert_eq!(cfg.pixel_limits(), (3136, 50176));
/// assert_eq!(cfg.patch_size * cfg.merge_size, 28);
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct ImageProcessorConfig {
    /// Convert to RGB first (alpha dropped, grey replicated). Default true.
    pub do_convert_rgb: bool,
    /// Resize with `smart_resize`. Default true.
    pub do_resize: bool,
    /// Multiply by `rescale_factor`. Default true.
    pub do_rescale: bool,
    /// Subtract `image_mean`, divide by `image_std`. Default true.
    pub do_normalize: bool,
    /// Per-channel mean (CLIP's by default).
    pub image_mean: [f32; 3],
    /// Per-channel standard deviation (CLIP's by default).
    pub image_std: [f32; 3],
    /// Scale applied to the `u8` values. Default 1/255.
    pub rescale_factor: f64,
    /// Pillow resampling code. Default 3 (bicubic).
    pub resample: u32,
    /// Minimum pixel count after resizing (overrides `size.shortest_edge`).
    pub min_pixels: Option<u64>,
    /// Maximum pixel count after resizing (overrides `size.longest_edge`).
    pub max_pixels: Option<u64>,
    /// Pixel limits in the newer spelling.
    pub size: Option<SizeConfig>,
    /// Side of a square patch in pixels. Default 14.
    pub patch_size: usize,
    /// Frames per temporal patch; a still image is repeated this many times. Default 2.
    pub temporal_patch_size: usize,
    /// Side of the patch block the vision merger joins into one token. Default 2.
    pub merge_size: usize,
    /// The processor class transformers would instantiate.
    pub image_processor_type: Option<String>,
}

impl Default for ImageProcessorConfig {
    fn default() -> Self {
        Self {
            do_convert_rgb: true,
            do_resize: true,
            do_rescale: true,
            do_normalize: true,
            image_mean: CLIP_MEAN,
            image_std: CLIP_STD,
            rescale_factor: 1.0 / 255.0,
            resample: 3,
            min_pixels: None,
            max_pixels: None,
            size: None,
            patch_size: 14,
            temporal_patch_size: 2,
            merge_size: 2,
            image_processor_type: None,
        }
    }
}

/// transformers' defaults when neither `min_pixels` nor `size` is given.
const DEFAULT_MIN_PIXELS: u64 = 56 * 56;
const DEFAULT_MAX_PIXELS: u64 = 28 * 28 * 1280;

impl ImageProcessorConfig {
    /// Reads `preprocessor_config.json`.
    ///
    /// # Errors
    /// [`ProcessorError::Io`] / [`ProcessorError::Json`] when the file cannot be read or
    /// parsed, [`ProcessorError::BadConfig`] when a value is unusable (see [`Self::validate`]).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_file_over(path, &Self::default())
    }

    /// The settings a family's released checkpoints use where a file leaves a key out:
    /// Qwen2.5-VL transformers' defaults (CLIP mean/std, 14 px patches); Qwen3-VL mean = std
    /// = 0.5 and 16 px patches (merge 2, temporal 2).
    ///
    /// ```
    /// use spatial_ssrl_model::{Family, ImageProcessorConfig};
    /// let cfg = ImageProcessorConfig::family_defaults(Family::Qwen3Vl);
    /// assert_eq!((cfg.patch_size, cfg.image_mean), (16, [0.5; 3]));
    /// ```
    pub fn family_defaults(family: Family) -> Self {
        match family {
            Family::Qwen2_5Vl => Self::default(),
            Family::Qwen3Vl => Self {
                image_mean: [0.5; 3],
                image_std: [0.5; 3],
                patch_size: 16,
                ..Self::default()
            },
        }
    }

    /// Reads `preprocessor_config.json` with `defaults` for the keys it does not have.
    ///
    /// # Errors
    /// As [`Self::from_file`].
    pub fn from_file_over(path: impl AsRef<Path>, defaults: &Self) -> Result<Self> {
        let path = path.as_ref();
        let json_err = |e: serde_json::Error| ProcessorError::Json {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let text = std::fs::read_to_string(path).map_err(|source| ProcessorError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let file: serde_json::Value = serde_json::from_str(&text).map_err(json_err)?;
        let mut merged = serde_json::to_value(defaults).map_err(json_err)?;
        if let (Some(base), Some(over)) = (merged.as_object_mut(), file.as_object()) {
            base.extend(over.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let cfg: Self = serde_json::from_value(merged).map_err(json_err)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// `(min_pixels, max_pixels)` with transformers' precedence: `min_pixels`/`max_pixels`,
    /// then `size.shortest_edge`/`size.longest_edge`, then 3136 / 1003520.
    pub fn pixel_limits(&self) -> (u64, u64) {
        let size = self.size.unwrap_or(SizeConfig {
            shortest_edge: None,
            longest_edge: None,
        });
        (
            self.min_pixels
                .or(size.shortest_edge)
                .unwrap_or(DEFAULT_MIN_PIXELS),
            self.max_pixels
                .or(size.longest_edge)
                .unwrap_or(DEFAULT_MAX_PIXELS),
        )
    }

    /// The resampling filter named by `resample`.
    ///
    /// # Errors
    /// [`ProcessorError::BadConfig`] for a code Pillow does not define.
    pub fn filter(&self) -> Result<ResampleFilter> {
        ResampleFilter::from_pil_code(self.resample).ok_or_else(|| ProcessorError::BadConfig {
            field: "resample",
            message: format!("unknown Pillow filter code {}", self.resample),
        })
    }

    /// Checks the values the pipeline divides by or loops over.
    ///
    /// # Errors
    /// [`ProcessorError::BadConfig`] naming the first bad key.
    pub fn validate(&self) -> Result<()> {
        let bad = |field, message: &str| {
            Err(ProcessorError::BadConfig {
                field,
                message: message.into(),
            })
        };
        if self.patch_size == 0 {
            return bad("patch_size", "must be positive");
        }
        if self.temporal_patch_size == 0 {
            return bad("temporal_patch_size", "must be positive");
        }
        if self.merge_size == 0 {
            return bad("merge_size", "must be positive");
        }
        if self.image_std.iter().any(|&s| s == 0.0 || !s.is_finite()) {
            return bad("image_std", "must be finite and non-zero");
        }
        let (min, max) = self.pixel_limits();
        if min > max {
            return bad("min_pixels", "exceeds max_pixels");
        }
        if max == 0 {
            return bad("max_pixels", "must be positive");
        }
        self.filter()?;
        Ok(())
    }
}
