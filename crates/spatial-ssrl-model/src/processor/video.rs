//! Video input: a list of frames at a frame rate to `pixel_values_videos`, `video_grid_thw`
//! and `second_per_grid_ts`.
//!
//! The reference is transformers 4.57's `Qwen2VLVideoProcessor` (torchvision based) and the
//! video branch of `Qwen2_5_VLProcessor`:
//! - every frame of a video is resized to one `smart_resize` size (factor `patch * merge`,
//!   the video config's min/max pixels);
//! - rescale and normalise are fused in `f32` (see [`Normalization::torchvision`]);
//! - a frame count that is not a multiple of `temporal_patch_size` is padded by repeating the
//!   last frame; consecutive frames are paired into one temporal patch;
//! - `second_per_grid_t = temporal_patch_size / fps`, the time one temporal patch spans, which
//!   the M-RoPE index turns into temporal positions (see [`crate::get_rope_index`]).
//!
//! Frames are taken as given (`do_sample_frames` is false for Qwen2.5-VL); a config with
//! `do_sample_frames` picks frames with transformers' `sample_frames` indices.

use std::path::Path;

use image::DynamicImage;
use serde::Deserialize;

use super::config::ImageProcessorConfig;
use super::error::{ProcessorError, Result};
use super::image::{ImageProcessor, PixelValues, load_image};
use super::patches::{Normalization, NormalizedFrame, patchify};
use super::resize::{FixedPoint, resize_u8_fixed};

/// Frame rate assumed when none is given: the processor's default (`fps=2.0`), which the
/// paper's VSI-Bench script gets because it passes frames without an fps.
pub const DEFAULT_VIDEO_FPS: f32 = 2.0;

/// One video: its frames in time order and the rate they were sampled at.
///
/// ```
/// use spatial_ssrl_model::VideoInput;
/// let frames = vec![image::DynamicImage::new_rgb8(56, 56); 4];
/// let video = VideoInput::new(frames, 2.0).unwrap();
/// assert_eq!(video.frames.len(), 4);
/// assert!(VideoInput::new(vec![], 2.0).is_err());
/// ```
#[derive(Debug, Clone)]
pub struct VideoInput {
    /// The frames, oldest first; all of one size.
    pub frames: Vec<DynamicImage>,
    /// Frames per second of `frames` (transformers' `fps` argument).
    pub fps: f32,
}

impl VideoInput {
    /// A video from decoded frames.
    ///
    /// # Errors
    /// [`ProcessorError::BadVideo`] for no frames, frames of different sizes, or an `fps`
    /// that is not finite and positive.
    pub fn new(frames: Vec<DynamicImage>, fps: f32) -> Result<Self> {
        let video = Self { frames, fps };
        video.validate()?;
        Ok(video)
    }

    /// Reads every image file (PNG, JPEG, ...) of `dir` in file-name order as the frames.
    /// Files with other extensions and subfolders are skipped.
    ///
    /// # Errors
    /// [`ProcessorError::Io`] when the folder cannot be listed, the errors of
    /// [`load_image`] for a frame, and those of [`Self::new`].
    pub fn from_dir(dir: impl AsRef<Path>, fps: f32) -> Result<Self> {
        let dir = dir.as_ref();
        let io = |source| ProcessorError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            let is_image = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| image::ImageFormat::from_extension(e).is_some());
            if path.is_file() && is_image {
                paths.push(path);
            }
        }
        paths.sort();
        if paths.is_empty() {
            return Err(ProcessorError::BadVideo(format!(
                "{} holds no image files",
                dir.display()
            )));
        }
        let frames = paths.iter().map(load_image).collect::<Result<Vec<_>>>()?;
        Self::new(frames, fps)
    }

    /// Seconds one temporal patch of `temporal_patch_size` frames spans.
    pub fn second_per_grid_t(&self, temporal_patch_size: usize) -> f32 {
        temporal_patch_size as f32 / self.fps
    }

    fn validate(&self) -> Result<()> {
        if !(self.fps.is_finite() && self.fps > 0.0) {
            return Err(ProcessorError::BadVideo(format!(
                "fps {} must be finite and positive",
                self.fps
            )));
        }
        let Some(first) = self.frames.first() else {
            return Err(ProcessorError::BadVideo(
                "a video needs at least one frame".into(),
            ));
        };
        let size = (first.width(), first.height());
        if let Some((i, f)) = self
            .frames
            .iter()
            .enumerate()
            .find(|(_, f)| (f.width(), f.height()) != size)
        {
            return Err(ProcessorError::BadVideo(format!(
                "frame {i} is {}x{} but frame 0 is {}x{}; all frames of a video share one size",
                f.width(),
                f.height(),
                size.0,
                size.1
            )));
        }
        Ok(())
    }
}

/// Mirror of `video_preprocessor_config.json` (`Qwen2VLVideoProcessor`): the image keys
/// (pixel limits, patch sizes, mean/std) plus the frame-sampling keys.
///
/// ```
/// use spatial_ssrl_model::VideoProcessorConfig;
/// let cfg: VideoProcessorConfig =
///     serde_json::from_str(r#"{"max_pixels": 50176, "do_sample_frames": false}"#).unwrap();
/// assert_eq!(cfg.image.pixel_limits().1, 50176);
/// assert_eq!((cfg.min_frames, cfg.max_frames), (4, 768));
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct VideoProcessorConfig {
    /// Keys shared with the image processor (`min_pixels`, `max_pixels`, `size`,
    /// `patch_size`, `temporal_patch_size`, `merge_size`, `image_mean`, ...).
    #[serde(flatten)]
    pub image: ImageProcessorConfig,
    /// Pick frames (by `num_frames` or `fps`) instead of taking all. Default false.
    pub do_sample_frames: bool,
    /// Frames to keep when sampling (rounded to a multiple of `temporal_patch_size`).
    pub num_frames: Option<usize>,
    /// Target frame rate when sampling without `num_frames`.
    pub fps: Option<f32>,
    /// Fewest frames fps-based sampling keeps. Default 4.
    pub min_frames: usize,
    /// Most frames fps-based sampling keeps. Default 768.
    pub max_frames: usize,
    /// The processor class transformers would instantiate.
    pub video_processor_type: Option<String>,
}

impl Default for VideoProcessorConfig {
    fn default() -> Self {
        Self {
            image: ImageProcessorConfig::default(),
            do_sample_frames: false,
            num_frames: None,
            fps: None,
            min_frames: 4,
            max_frames: 768,
            video_processor_type: None,
        }
    }
}

impl VideoProcessorConfig {
    /// Reads `video_preprocessor_config.json` (or, as transformers' `AutoVideoProcessor`
    /// falls back to, a `preprocessor_config.json`).
    ///
    /// # Errors
    /// [`ProcessorError::Io`] / [`ProcessorError::Json`] when the file cannot be read or
    /// parsed, [`ProcessorError::BadConfig`] for unusable values.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ProcessorError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let cfg: Self = serde_json::from_str(&text).map_err(|e| ProcessorError::Json {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        cfg.image.validate()?;
        Ok(cfg)
    }
}

/// Flattened patches of one or more videos and the seconds per temporal patch of each.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VideoPixelValues {
    /// `pixel_values_videos` `[patches, patch_dim]` and one `video_grid_thw` per video.
    pub pixels: PixelValues,
    /// `second_per_grid_ts`, one per video.
    pub second_per_grid_ts: Vec<f32>,
}

impl VideoPixelValues {
    /// Appends other videos.
    pub fn extend(&mut self, other: VideoPixelValues) {
        self.pixels.extend(other.pixels);
        self.second_per_grid_ts.extend(other.second_per_grid_ts);
    }
}

/// Qwen2.5-VL video preprocessing (transformers' `Qwen2VLVideoProcessor`).
///
/// ```
/// use spatial_ssrl_model::{VideoInput, VideoProcessor, VideoProcessorConfig};
/// let vp = VideoProcessor::new(VideoProcessorConfig::default()).unwrap();
/// // 5 frames of 84 x 140 (already multiples of 28): padded to 6, 3 temporal patches.
/// let frames = vec![image::DynamicImage::new_rgb8(140, 84); 5];
/// let out = vp.preprocess(&VideoInput::new(frames, 2.0).unwrap()).unwrap();
/// assert_eq!(out.pixels.grid_thw, vec![[3, 6, 10]]);
/// assert_eq!(out.pixels.shape(), [180, 1176]);
/// assert_eq!(out.second_per_grid_ts, vec![1.0]);
/// ```
#[derive(Debug, Clone)]
pub struct VideoProcessor {
    config: VideoProcessorConfig,
    frames: ImageProcessor,
}

impl VideoProcessor {
    /// Builds a processor from a config.
    ///
    /// # Errors
    /// [`ProcessorError::BadConfig`] when the image keys are unusable.
    pub fn new(config: VideoProcessorConfig) -> Result<Self> {
        let frames = ImageProcessor::new(config.image.clone())?;
        Ok(Self { config, frames })
    }

    /// A processor with the settings of an image processor and the default frame settings
    /// (what transformers does for a folder without a video config).
    pub fn from_image_processor(image: &ImageProcessor) -> Self {
        Self {
            config: VideoProcessorConfig {
                image: image.config().clone(),
                ..Default::default()
            },
            frames: image.clone(),
        }
    }

    /// Reads a `video_preprocessor_config.json`.
    ///
    /// # Errors
    /// As [`VideoProcessorConfig::from_file`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        Self::new(VideoProcessorConfig::from_file(path)?)
    }

    /// The video processor of a model folder: `video_preprocessor_config.json`, else
    /// `preprocessor_config.json` (transformers' fallback).
    ///
    /// # Errors
    /// As [`Self::from_file`].
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let video = dir.join("video_preprocessor_config.json");
        if video.is_file() {
            Self::from_file(video)
        } else {
            Self::from_file(dir.join("preprocessor_config.json"))
        }
    }

    /// The same processor with other pixel limits per frame (what evaluation scripts pass
    /// as `min_pixels` / `max_pixels`).
    ///
    /// # Errors
    /// [`ProcessorError::BadConfig`] when `min_pixels > max_pixels` or `max_pixels` is 0.
    pub fn with_pixel_limits(&self, min_pixels: u64, max_pixels: u64) -> Result<Self> {
        let mut config = self.config.clone();
        config.image.min_pixels = Some(min_pixels);
        config.image.max_pixels = Some(max_pixels);
        Self::new(config)
    }

    /// The settings in use.
    pub fn config(&self) -> &VideoProcessorConfig {
        &self.config
    }

    /// Values per patch row: `3 * temporal_patch_size * patch_size^2`.
    pub fn patch_dim(&self) -> usize {
        self.frames.patch_dim()
    }

    /// Indices of the frames kept from `total` frames at `fps` (transformers'
    /// `sample_frames`); all of them unless `do_sample_frames`.
    ///
    /// # Errors
    /// [`ProcessorError::BadVideo`] when sampling is on without `num_frames` or `fps`, or
    /// asks for more frames than the video has.
    pub fn frame_indices(&self, total: usize, fps: f32) -> Result<Vec<usize>> {
        let c = &self.config;
        if !c.do_sample_frames {
            return Ok((0..total).collect());
        }
        let tp = c.image.temporal_patch_size;
        let n = if let Some(n) = c.num_frames {
            // Python round() ties to even.
            (n as f64 / tp as f64).round_ties_even() as usize * tp
        } else if let Some(target) = c.fps {
            let max = c.max_frames.min(total) / tp * tp;
            let n = total as f64 / f64::from(fps) * f64::from(target);
            let n = n.max(c.min_frames as f64).min(max as f64).min(total as f64);
            (n / tp as f64).floor() as usize * tp
        } else {
            return Err(ProcessorError::BadVideo(
                "do_sample_frames needs num_frames or fps in the video config".into(),
            ));
        };
        if n == 0 || n > total {
            return Err(ProcessorError::BadVideo(format!(
                "cannot sample {n} frames from a video of {total}"
            )));
        }
        // torch.arange(0, total, total / n).int(): float steps, truncated.
        let step = total as f64 / n as f64;
        Ok((0..n).map(|i| (i as f64 * step) as usize).collect())
    }

    /// `(height, width)` every frame of a `height x width` video is resized to.
    ///
    /// # Errors
    /// As [`ImageProcessor::target_size`].
    pub fn target_size(&self, height: u32, width: u32) -> Result<(u32, u32)> {
        self.frames.target_size(height, width)
    }

    /// Full preprocessing of one video: `[grid_t * grid_h * grid_w, patch_dim]` rows, grid
    /// `[ceil(frames / temporal_patch_size), h / patch, w / patch]` and its
    /// `second_per_grid_t`.
    ///
    /// Frames are resized as torchvision resizes uint8 tensors: the antialiased separable
    /// filter of the image path, but with torch's int16 tap weights (fractional bits chosen
    /// from the largest weight) instead of Pillow's 22-bit ones, so a few pixels can differ
    /// by one level from the image path. Frames already at the target size are untouched.
    ///
    /// # Errors
    /// [`ProcessorError::BadVideo`] for an invalid [`VideoInput`], and resize errors.
    pub fn preprocess(&self, video: &VideoInput) -> Result<VideoPixelValues> {
        video.validate()?;
        let indices = self.frame_indices(video.frames.len(), video.fps)?;
        let first = &video.frames[indices[0]];
        let (h, w) = self.target_size(first.height(), first.width())?;
        let norm = Normalization {
            torchvision: true,
            ..self.frames.normalization()
        };
        let mut normalized = Vec::with_capacity(indices.len());
        for &i in &indices {
            let rgb = ImageProcessor::to_rgb(&video.frames[i]);
            let sizes = [rgb.width(), rgb.height(), w, h].map(|v| v as usize);
            let resized = resize_u8_fixed(
                rgb.as_raw(),
                sizes,
                3,
                self.frames.filter(),
                FixedPoint::TorchInt16,
            );
            normalized.push(NormalizedFrame::new(&resized, norm));
        }
        let tp = self.config.image.temporal_patch_size;
        let mut frames: Vec<&NormalizedFrame> = normalized.iter().collect();
        let last = frames[frames.len() - 1];
        while !frames.len().is_multiple_of(tp) {
            frames.push(last);
        }
        let g = self.frames.geometry(h as usize, w as usize);
        let mut pixel_values = Vec::new();
        let (gh, gw) = patchify(&frames, g, &mut pixel_values);
        Ok(VideoPixelValues {
            pixels: PixelValues {
                pixel_values,
                patch_dim: g.patch_dim(),
                grid_thw: vec![[(frames.len() / tp) as u32, gh as u32, gw as u32]],
            },
            second_per_grid_ts: vec![video.second_per_grid_t(tp)],
        })
    }

    /// Preprocesses several videos into one [`VideoPixelValues`] (rows concatenated).
    ///
    /// # Errors
    /// The first video that fails, as [`Self::preprocess`].
    pub fn preprocess_all<'a>(
        &self,
        videos: impl IntoIterator<Item = &'a VideoInput>,
    ) -> Result<VideoPixelValues> {
        let mut all = VideoPixelValues {
            pixels: PixelValues {
                patch_dim: self.patch_dim(),
                ..Default::default()
            },
            ..Default::default()
        };
        for v in videos {
            all.extend(self.preprocess(v)?);
        }
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::RgbImage;

    fn processor(json: &str) -> VideoProcessor {
        VideoProcessor::new(serde_json::from_str(json).unwrap()).unwrap()
    }

    #[test]
    fn odd_frame_counts_repeat_the_last_frame() {
        let vp = processor("{}");
        let frames: Vec<DynamicImage> = (0..3u8)
            .map(|k| DynamicImage::ImageRgb8(RgbImage::from_pixel(56, 56, image::Rgb([k; 3]))))
            .collect();
        let out = vp
            .preprocess(&VideoInput::new(frames, 4.0).unwrap())
            .unwrap();
        assert_eq!(out.pixels.grid_thw, vec![[2, 4, 4]]);
        assert_eq!(out.second_per_grid_ts, vec![0.5]);
        // Row 16 is the first patch of temporal patch 1: frame 2 and its repeat.
        let row = &out.pixels.pixel_values[16 * 1176..17 * 1176];
        assert_eq!(row[0], row[196], "padded frame repeats the last one");
        assert_ne!(
            row[0], out.pixels.pixel_values[0],
            "frame 2 differs from frame 0"
        );
    }

    #[test]
    fn normalisation_is_fused_in_f32() {
        let vp = processor("{}");
        let frame = DynamicImage::ImageRgb8(RgbImage::from_pixel(28, 28, image::Rgb([200; 3])));
        let out = vp
            .preprocess(&VideoInput::new(vec![frame], 2.0).unwrap())
            .unwrap();
        let mean = crate::CLIP_MEAN[0] * 255.0;
        let std = crate::CLIP_STD[0] * 255.0;
        assert_eq!(out.pixels.pixel_values[0], (200.0 - mean) / std);
    }

    #[test]
    fn sampling_follows_transformers_indices() {
        let vp = processor(r#"{"do_sample_frames": true, "num_frames": 5}"#);
        // round(5 / 2) * 2 = 4 of 10 frames: arange(0, 10, 2.5) -> 0, 2, 5, 7.
        assert_eq!(vp.frame_indices(10, 2.0).unwrap(), vec![0, 2, 5, 7]);
        let vp = processor(r#"{"do_sample_frames": true, "fps": 1.0}"#);
        // 20 frames at 4 fps = 5 s -> 5 frames at 1 fps -> floor to 4.
        assert_eq!(vp.frame_indices(20, 4.0).unwrap(), vec![0, 5, 10, 15]);
        assert!(
            processor(r#"{"do_sample_frames": true}"#)
                .frame_indices(8, 2.0)
                .is_err()
        );
        assert_eq!(
            processor("{}").frame_indices(3, 2.0).unwrap(),
            vec![0, 1, 2]
        );
    }

    #[test]
    fn bad_videos_are_typed_errors() {
        let a = DynamicImage::new_rgb8(28, 28);
        let b = DynamicImage::new_rgb8(56, 28);
        assert!(matches!(
            VideoInput::new(vec![a.clone(), b], 2.0),
            Err(ProcessorError::BadVideo(_))
        ));
        assert!(matches!(
            VideoInput::new(vec![a.clone()], 0.0),
            Err(ProcessorError::BadVideo(_))
        ));
        assert!(matches!(
            VideoInput::new(vec![a], f32::NAN),
            Err(ProcessorError::BadVideo(_))
        ));
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            VideoInput::from_dir(dir.path(), 2.0),
            Err(ProcessorError::BadVideo(_))
        ));
    }
}
