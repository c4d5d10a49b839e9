//! The [`PretextTask`] trait and the values that flow through it: a [`Scene`] in, [`Sample`]s out.

use std::collections::BTreeMap;
use std::sync::Arc;

use image::RgbImage;

use crate::error::Result;

/// The random number generator every task draws from.
///
/// ChaCha8 is specified bit for bit, so one seed gives the same puzzles on every machine.
/// The pipeline derives one generator per (seed, source, task), never per thread.
pub type TaskRng = rand_chacha::ChaCha8Rng;

/// Which inputs a task needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Inputs {
    /// An RGB image alone.
    Rgb,
    /// An RGB image and an aligned depth map.
    RgbDepth,
}

/// A dense depth map aligned with its RGB image, row-major.
///
/// Invalid pixels (zero, negative, NaN or infinite in the source, or masked out) are stored
/// as `f32::NAN`, so tasks test validity with [`DepthMap::get`] returning `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct DepthMap {
    width: u32,
    height: u32,
    values: Vec<f32>,
}

impl DepthMap {
    /// Builds a depth map from row-major values; non-finite or non-positive values become invalid.
    ///
    /// Returns `None` when `values.len() != width * height`.
    ///
    /// ```
    /// use spatial_ssrl_tasks::DepthMap;
    /// let d = DepthMap::from_values(2, 1, vec![1.5, 0.0]).unwrap();
    /// assert_eq!(d.get(0, 0), Some(1.5));
    /// assert_eq!(d.get(1, 0), None); // zero depth is invalid
    /// assert_eq!(d.valid_count(), 1);
    /// ```
    pub fn from_values(width: u32, height: u32, mut values: Vec<f32>) -> Option<Self> {
        if values.len() != width as usize * height as usize {
            return None;
        }
        for v in &mut values {
            if !(v.is_finite() && *v > 0.0) {
                *v = f32::NAN;
            }
        }
        Some(Self {
            width,
            height,
            values,
        })
    }

    /// Marks every pixel whose mask value is `false` as invalid. The mask is row-major, same size.
    ///
    /// Returns `None` when the mask has the wrong length.
    pub fn with_mask(mut self, mask: &[bool]) -> Option<Self> {
        if mask.len() != self.values.len() {
            return None;
        }
        for (v, &keep) in self.values.iter_mut().zip(mask) {
            if !keep {
                *v = f32::NAN;
            }
        }
        Some(self)
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The depth at `(x, y)`, or `None` when out of bounds or invalid.
    pub fn get(&self, x: u32, y: u32) -> Option<f32> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let v = self.values[y as usize * self.width as usize + x as usize];
        (!v.is_nan()).then_some(v)
    }

    /// Row-major values, `NaN` where invalid.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// Number of valid pixels.
    pub fn valid_count(&self) -> usize {
        self.values.iter().filter(|v| !v.is_nan()).count()
    }
}

/// One source the tasks turn into puzzles: an RGB image, optionally with depth.
///
/// Decoded once and shared (`Arc`) by every task and sample made from it.
#[derive(Debug, Clone)]
pub struct Scene {
    /// Stable identifier of the source (file stem or manifest id); part of each sample's seed.
    pub id: String,
    /// The image, RGB8 (alpha dropped, EXIF orientation applied).
    pub rgb: Arc<RgbImage>,
    /// The aligned depth map, when the source is RGB-D.
    pub depth: Option<Arc<DepthMap>>,
}

impl Scene {
    /// An RGB-only scene.
    pub fn rgb(id: impl Into<String>, rgb: RgbImage) -> Self {
        Self {
            id: id.into(),
            rgb: Arc::new(rgb),
            depth: None,
        }
    }

    /// Which inputs this scene provides.
    pub fn inputs(&self) -> Inputs {
        if self.depth.is_some() {
            Inputs::RgbDepth
        } else {
            Inputs::Rgb
        }
    }
}

/// One verifiable puzzle: problem text with `<image>` placeholders, its images, and the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Name of the task that made it (the registry name, e.g. `"shuffle"`).
    pub task: String,
    /// Id of the scene it came from.
    pub source: String,
    /// The question; contains one `<image>` placeholder per entry of `images`, in order.
    pub problem: String,
    /// The ground-truth answer string, exactly as a verifier compares it (e.g. `1-2-0-3`, `B`).
    pub answer: String,
    /// The images the problem shows.
    pub images: Vec<RgbImage>,
    /// Small facts about how the sample was made (variant, chosen points, distractor slots...).
    /// A `BTreeMap` so serialised output has a stable key order.
    pub metadata: BTreeMap<String, serde_json::Value>,
}

impl Sample {
    /// A sample with no metadata; `images` in the order of the `<image>` placeholders.
    ///
    /// ```
    /// use spatial_ssrl_tasks::Sample;
    /// let s = Sample::new("blank", "cat", "<image>Is it blank? A. yes B. no", "B", vec![image::RgbImage::new(4, 4)]);
    /// assert!(s.validate("blank", "cat").is_ok());
    /// assert!(s.metadata.is_empty());
    /// ```
    pub fn new(
        task: impl Into<String>,
        source: impl Into<String>,
        problem: impl Into<String>,
        answer: impl Into<String>,
        images: Vec<RgbImage>,
    ) -> Self {
        Self {
            task: task.into(),
            source: source.into(),
            problem: problem.into(),
            answer: answer.into(),
            images,
            metadata: BTreeMap::new(),
        }
    }

    /// Checks what every exported row must satisfy: `task` is `expected_task` (the name of
    /// the task that made it, not blank), `source` is `expected_source` (the scene's id), the
    /// answer is not blank, and `problem` holds
    /// exactly one `<image>` placeholder per image. The pipeline runs it on every sample and
    /// records a failed check as an [`Error::InvalidSample`](crate::Error::InvalidSample)
    /// instead of exporting the sample.
    ///
    /// ```
    /// use spatial_ssrl_tasks::Sample;
    /// let img = || image::RgbImage::new(4, 4);
    /// let ok = Sample::new("mine", "cat", "<image>Which? A. x B. y", "A", vec![img()]);
    /// assert!(ok.validate("mine", "cat").is_ok());
    /// assert!(ok.validate("other", "cat").is_err()); // made by another task
    /// assert!(ok.validate("mine", "dog").is_err()); // labelled with another scene
    /// let two = Sample::new("mine", "cat", "<image>Which?", "A", vec![img(), img()]);
    /// assert_eq!(two.validate("mine", "cat").unwrap_err().kind(), "invalid_sample");
    /// let blank = Sample::new("mine", "cat", "<image>Which?", " ", vec![img()]);
    /// assert!(blank.validate("mine", "cat").is_err());
    /// ```
    pub fn validate(&self, expected_task: &str, expected_source: &str) -> Result<()> {
        let fail = |message: String| {
            Err(crate::error::Error::InvalidSample {
                task: self.task.clone(),
                scene: self.source.clone(),
                message,
            })
        };
        if self.task.trim().is_empty() {
            return fail("the task name is empty".into());
        }
        if self.task != expected_task {
            return fail(format!(
                "made by task {expected_task:?} but labelled {:?}",
                self.task
            ));
        }
        if self.source != expected_source {
            return fail(format!(
                "made from scene {expected_source:?} but labelled {:?}",
                self.source
            ));
        }
        if self.answer.trim().is_empty() {
            return fail("the answer is empty".into());
        }
        let placeholders = self.problem.matches(IMAGE_PLACEHOLDER).count();
        if placeholders != self.images.len() {
            return fail(format!(
                "the problem has {placeholders} {IMAGE_PLACEHOLDER} placeholders for {} images",
                self.images.len()
            ));
        }
        Ok(())
    }
}

/// The placeholder a problem holds once per image, where a vision-language model's chat
/// template inserts the image (EasyR1's `<image>`).
pub const IMAGE_PLACEHOLDER: &str = "<image>";

/// A self-supervised task that turns a scene into verifiable puzzles.
///
/// Object-safe: the [`Registry`](crate::Registry) holds `Box<dyn PretextTask>`, and the
/// pipeline treats built-in and user tasks alike. A task knows nothing of threads, export
/// formats or seeds: it draws every random choice from the generator it is handed.
///
/// ```
/// use spatial_ssrl_tasks::{Inputs, PretextTask, Result, Sample, Scene, TaskRng};
/// use rand::Rng;
///
/// /// Is the image upright or rotated by 180 degrees?
/// struct Upside;
///
/// impl PretextTask for Upside {
///     fn name(&self) -> &str { "upside" }
///     fn inputs(&self) -> Inputs { Inputs::Rgb }
///     fn generate(&self, scene: &Scene, rng: &mut TaskRng) -> Result<Vec<Sample>> {
///         let rotated = rng.random_bool(0.5);
///         let img = if rotated { image::imageops::rotate180(scene.rgb.as_ref()) } else { (*scene.rgb).clone() };
///         Ok(vec![Sample {
///             task: self.name().into(),
///             source: scene.id.clone(),
///             problem: "<image>Is this image upside down? A. yes B. no".into(),
///             answer: if rotated { "A" } else { "B" }.into(),
///             images: vec![img],
///             metadata: Default::default(),
///         }])
///     }
/// }
///
/// use rand::SeedableRng;
/// let scene = Scene::rgb("demo", image::RgbImage::new(8, 8));
/// let out = Upside.generate(&scene, &mut TaskRng::seed_from_u64(7)).unwrap();
/// assert_eq!(out.len(), 1);
/// ```
pub trait PretextTask: Send + Sync {
    /// Stable name, used in the registry, the CLI (`--tasks`) and each sample's `task` column.
    fn name(&self) -> &str;

    /// Which inputs the task needs; the pipeline skips scenes that lack them.
    fn inputs(&self) -> Inputs;

    /// Makes puzzles from one scene, drawing all randomness from `rng`.
    ///
    /// Returns a typed error (too small, missing or invalid depth, no valid configuration)
    /// rather than panicking; the pipeline records it and moves on.
    fn generate(&self, scene: &Scene, rng: &mut TaskRng) -> Result<Vec<Sample>>;
}
