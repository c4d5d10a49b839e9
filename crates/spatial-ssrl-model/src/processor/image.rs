//! `ImageProcessor`: image to `pixel_values` rows and `image_grid_thw`.

use std::path::Path;

use image::{DynamicImage, RgbImage};

use super::config::ImageProcessorConfig;
use super::error::{ProcessorError, Result};
use super::patches::{Normalization, NormalizedFrame, PatchGeometry, patchify};
use super::resize::{ResampleFilter, resize_u8};
use super::smart_resize::smart_resize;

/// Flattened patches of one or more images, ready for the vision tower.
///
/// `pixel_values` is row-major `[num_patches, patch_dim]` (see [`ImageProcessor`] for the row
/// order); `grid_thw[i]` is `[t, h, w]` in patches for image `i`, and image `i` owns
/// `t * h * w` consecutive rows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PixelValues {
    /// `[num_patches, patch_dim]`, row-major.
    pub pixel_values: Vec<f32>,
    /// Values per row: `3 * temporal_patch_size * patch_size^2` (1176 for Qwen2.5-VL).
    pub patch_dim: usize,
    /// One `[t, h, w]` patch grid per image.
    pub grid_thw: Vec<[u32; 3]>,
}

impl PixelValues {
    /// Number of patch rows.
    pub fn num_patches(&self) -> usize {
        self.pixel_values
            .len()
            .checked_div(self.patch_dim)
            .unwrap_or(0)
    }

    /// `[num_patches, patch_dim]`.
    pub fn shape(&self) -> [usize; 2] {
        [self.num_patches(), self.patch_dim]
    }

    /// Appends another batch of images (rows and grids).
    pub fn extend(&mut self, other: PixelValues) {
        if self.patch_dim == 0 {
            self.patch_dim = other.patch_dim;
        }
        self.pixel_values.extend(other.pixel_values);
        self.grid_thw.extend(other.grid_thw);
    }
}

/// Qwen2-VL image preprocessing, matching transformers' `Qwen2VLImageProcessor` (the
/// Pillow-based "slow" processor).
///
/// Steps: RGB conversion (alpha dropped without compositing, grey replicated), `smart_resize`,
/// Pillow-exact resampling (bicubic by default), rescale by 1/255, CLIP normalisation, repeat
/// the still image to `temporal_patch_size` frames, and flatten into rows of
/// `(channel, frame, y, x)` values ordered by (t, merge-block row, merge-block column, row in
/// block, column in block), so the 4 patches the merger joins are consecutive rows.
///
/// ```
/// use spatial_ssrl_model::{ImageProcessor, ImageProcessorConfig};
/// let proc = ImageProcessor::new(ImageProcessorConfig {
///     min_pixels: Some(3136),
///     max_pixels: Some(50176),
///     ..Default::default()
/// })
/// .unwrap();
/// let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(375, 500, image::Rgb([200, 30, 90])));
/// let pv = proc.preprocess(&img).unwrap();
/// assert_eq!(pv.grid_thw, vec![[1, 18, 12]]); // resized to 252 x 168
/// assert_eq!(pv.shape(), [216, 1176]);
/// ```
#[derive(Debug, Clone)]
pub struct ImageProcessor {
    config: ImageProcessorConfig,
    filter: ResampleFilter,
}

impl ImageProcessor {
    /// Builds a processor from a config.
    ///
    /// # Errors
    /// [`ProcessorError::BadConfig`] when the config fails [`ImageProcessorConfig::validate`].
    pub fn new(config: ImageProcessorConfig) -> Result<Self> {
        config.validate()?;
        let filter = config.filter()?;
        Ok(Self { config, filter })
    }

    /// Reads `preprocessor_config.json` from a file.
    ///
    /// # Errors
    /// As [`ImageProcessorConfig::from_file`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        Self::new(ImageProcessorConfig::from_file(path)?)
    }

    /// The settings in use.
    pub fn config(&self) -> &ImageProcessorConfig {
        &self.config
    }

    /// The resampling filter of `resample`.
    pub(crate) fn filter(&self) -> ResampleFilter {
        self.filter
    }

    /// `patch_size * merge_size`: the multiple both resized sides are rounded to (28).
    pub fn factor(&self) -> u32 {
        (self.config.patch_size * self.config.merge_size) as u32
    }

    /// The `(height, width)` an image of the given size is resized to.
    ///
    /// # Errors
    /// As [`smart_resize`]; without `do_resize`, [`ProcessorError::BadImageSize`] when a side
    /// is not a multiple of [`Self::factor`].
    pub fn target_size(&self, height: u32, width: u32) -> Result<(u32, u32)> {
        let (min, max) = self.config.pixel_limits();
        if self.config.do_resize {
            return smart_resize(height, width, self.factor(), min, max);
        }
        let f = self.factor();
        if height == 0 || width == 0 || !height.is_multiple_of(f) || !width.is_multiple_of(f) {
            return Err(ProcessorError::BadImageSize {
                height,
                width,
                reason: format!("without do_resize both sides must be positive multiples of {f}"),
            });
        }
        Ok((height, width))
    }

    /// Converts to 8-bit RGB as Pillow's `convert("RGB")` does: alpha is dropped (not
    /// composited), grey is replicated.
    pub fn to_rgb(image: &DynamicImage) -> RgbImage {
        image.to_rgb8()
    }

    /// RGB conversion and resampling only: the `uint8` image that rescaling and normalisation
    /// start from (transformers: `np.asarray(img.convert("RGB").resize((w, h), BICUBIC))`).
    ///
    /// # Errors
    /// As [`Self::target_size`].
    pub fn resize(&self, image: &DynamicImage) -> Result<RgbImage> {
        let rgb = Self::to_rgb(image);
        self.resize_rgb(&rgb)
    }

    /// Resamples an RGB image to [`Self::target_size`].
    ///
    /// # Errors
    /// As [`Self::target_size`].
    pub fn resize_rgb(&self, rgb: &RgbImage) -> Result<RgbImage> {
        let (h, w) = self.target_size(rgb.height(), rgb.width())?;
        let data = resize_u8(
            rgb.as_raw(),
            rgb.width() as usize,
            rgb.height() as usize,
            3,
            w as usize,
            h as usize,
            self.filter,
        );
        RgbImage::from_raw(w, h, data).ok_or_else(|| {
            ProcessorError::Inconsistent("resized buffer does not match its size".into())
        })
    }

    /// Full preprocessing of one image: `[grid_h * grid_w, patch_dim]` rows, grid `[1, h, w]`.
    ///
    /// # Errors
    /// As [`Self::target_size`].
    pub fn preprocess(&self, image: &DynamicImage) -> Result<PixelValues> {
        let resized = self.resize(image)?;
        Ok(self.patchify_resized(&resized))
    }

    /// Preprocesses several images into one [`PixelValues`] (rows concatenated in order).
    ///
    /// # Errors
    /// The first image that fails, as [`Self::preprocess`].
    pub fn preprocess_all<'a>(
        &self,
        images: impl IntoIterator<Item = &'a DynamicImage>,
    ) -> Result<PixelValues> {
        let mut all = PixelValues {
            patch_dim: self.patch_dim(),
            ..Default::default()
        };
        for img in images {
            all.extend(self.preprocess(img)?);
        }
        Ok(all)
    }

    /// Values per patch row: `3 * temporal_patch_size * patch_size^2`.
    pub fn patch_dim(&self) -> usize {
        self.geometry(0, 0).patch_dim()
    }

    /// Rescale, normalise and flatten an already resized RGB image (sides multiples of
    /// [`Self::factor`]); the still image is repeated to `temporal_patch_size` frames.
    ///
    /// # Panics
    /// Never for images from [`Self::resize`]; debug-asserts the sides are multiples of the factor.
    pub fn patchify_resized(&self, resized: &RgbImage) -> PixelValues {
        let (h, w) = (resized.height() as usize, resized.width() as usize);
        debug_assert!(h % self.factor() as usize == 0 && w % self.factor() as usize == 0);
        let frame = NormalizedFrame::new(resized.as_raw(), self.normalization());
        let frames = vec![&frame; self.config.temporal_patch_size];
        let mut pixel_values = Vec::new();
        let g = self.geometry(h, w);
        let (gh, gw) = patchify(&frames, g, &mut pixel_values);
        PixelValues {
            pixel_values,
            patch_dim: g.patch_dim(),
            grid_thw: vec![[1, gh as u32, gw as u32]],
        }
    }

    pub(crate) fn normalization(&self) -> Normalization {
        let c = &self.config;
        Normalization {
            rescale: c.do_rescale.then_some(c.rescale_factor),
            mean_std: c.do_normalize.then_some((c.image_mean, c.image_std)),
            torchvision: false,
        }
    }

    pub(crate) fn geometry(&self, height: usize, width: usize) -> PatchGeometry {
        PatchGeometry {
            patch_size: self.config.patch_size,
            temporal_patch_size: self.config.temporal_patch_size,
            merge_size: self.config.merge_size,
            height,
            width,
        }
    }
}

/// Opens and decodes an image file (JPEG, PNG), as Pillow would (see [`decode_image`]).
///
/// # Errors
/// [`ProcessorError::Io`] when the file cannot be read, [`ProcessorError::Image`] naming it
/// when it cannot be decoded.
pub fn load_image(path: impl AsRef<Path>) -> Result<DynamicImage> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| ProcessorError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    decode_image(&bytes).map_err(|e| match e {
        ProcessorError::Image { message, .. } => ProcessorError::Image {
            path: path.to_path_buf(),
            message,
        },
        other => other,
    })
}

/// Decodes an encoded image (JPEG, PNG) from memory, e.g. the image bytes of a dataset row.
///
/// Baseline JPEGs (grey or YCbCr, 4:4:4 / 4:2:2 / 4:2:0) go through a decoder that
/// reproduces libjpeg-turbo, Pillow's decoder, bit for bit, so the pixels equal what
/// transformers sees; other JPEGs (progressive, CMYK, ...) and other formats use the `image`
/// crate (PNG is lossless, so exact as well).
///
/// # Errors
/// [`ProcessorError::Image`] (with an empty path) when the bytes cannot be decoded.
///
/// ```
/// let png = {
///     let mut buf = std::io::Cursor::new(Vec::new());
///     image::RgbImage::from_pixel(3, 2, image::Rgb([1, 2, 3]))
///         .write_to(&mut buf, image::ImageFormat::Png)
///         .unwrap();
///     buf.into_inner()
/// };
/// let img = spatial_ssrl_model::decode_image(&png).unwrap();
/// assert_eq!((img.width(), img.height()), (3, 2));
/// assert!(spatial_ssrl_model::decode_image(b"not an image").is_err());
/// ```
pub fn decode_image(bytes: &[u8]) -> Result<DynamicImage> {
    if let Some(d) = super::jpeg::decode(bytes) {
        let (w, h) = (d.width as u32, d.height as u32);
        let img = match d.components {
            1 => image::GrayImage::from_raw(w, h, d.data).map(DynamicImage::ImageLuma8),
            _ => RgbImage::from_raw(w, h, d.data).map(DynamicImage::ImageRgb8),
        };
        if let Some(img) = img {
            return Ok(img);
        }
    }
    image::load_from_memory(bytes).map_err(|e| ProcessorError::Image {
        path: std::path::PathBuf::new(),
        message: e.to_string(),
    })
}
