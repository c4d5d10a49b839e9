//! Cropped patch inpainting: a square of the image is blacked out and the model picks, from
//! four candidate patches, the one that was cut out.
//!
//! Follows `data_process/Crop.py` of InternLM/Spatial-SSRL: the square's side is
//! `min(h, w) / 2` (rounded down) at a uniform position inside the image; the true patch goes
//! to a uniform slot A-D and the other three slots get distinct distractors drawn without
//! replacement from: the patch turned 90 degrees left or right, its central half
//! (`side/4 .. 3*side/4`) scaled up to the full side, and the window grown by `side/4` or
//! `side/2` on every side (clipped to the image) scaled down to the side. Scaling is bilinear,
//! as OpenCV's default, in fixed point. A sample has five images: the blacked-out picture,
//! then candidates A to D. Unlike the reference, metadata records which slot holds which
//! candidate, and a draw whose distractor is pixel-identical to the true patch (a flat or
//! symmetric region: no visible answer) is redrawn.

use std::collections::BTreeMap;

use image::{Rgb, RgbImage};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::{Error, Result};
use crate::task::{Inputs, PretextTask, Sample, Scene, TaskRng};
use crate::tasks::grid;
use crate::tasks::template;

/// Registry name of the crop task.
pub const NAME: &str = "crop";

/// Option letters, one per candidate slot.
pub const LETTERS: [char; 4] = ['A', 'B', 'C', 'D'];

/// How many placements are tried before a scene whose every draw has an invisible
/// distractor is refused. Photos never need a second draw; flat synthetic images do.
const MAX_DRAWS: usize = 16;

/// What a candidate patch shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CropCandidate {
    /// The cut-out square itself (the answer).
    Original,
    /// The square turned a quarter turn counter-clockwise.
    RotatedLeft,
    /// The square turned a quarter turn clockwise.
    RotatedRight,
    /// The square's central half (`side/4 .. 3*side/4` on both axes) scaled up to `side`.
    Interior,
    /// The window grown by `side/4` on every side (clipped to the image), scaled to `side`.
    GrownQuarter,
    /// The window grown by `side/2` on every side (clipped to the image), scaled to `side`.
    GrownHalf,
}

impl CropCandidate {
    /// The reference's five distractors.
    pub const DISTRACTORS: [CropCandidate; 5] = [
        Self::RotatedLeft,
        Self::RotatedRight,
        Self::Interior,
        Self::GrownQuarter,
        Self::GrownHalf,
    ];

    /// The name used in metadata and configuration files (`"rotated_left"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Original => "original",
            Self::RotatedLeft => "rotated_left",
            Self::RotatedRight => "rotated_right",
            Self::Interior => "interior",
            Self::GrownQuarter => "grown_quarter",
            Self::GrownHalf => "grown_half",
        }
    }
}

/// Parameters of the crop task; the default reproduces the reference.
///
/// ```
/// use spatial_ssrl_tasks::tasks::crop::{CropCandidate, CropConfig};
/// let cfg: CropConfig =
///     serde_json::from_str(r#"{"distractors": ["rotated_left", "rotated_right", "grown_half"]}"#).unwrap();
/// assert_eq!(cfg.distractors[2], CropCandidate::GrownHalf);
/// assert_eq!(cfg.min_side, CropConfig::default().min_side);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CropConfig {
    /// Smallest square side in px; images whose shorter side is below twice this are
    /// refused with [`Error::TooSmall`].
    pub min_side: u32,
    /// The pool three distractors are drawn from, without replacement (at least three
    /// distinct entries, not [`CropCandidate::Original`]).
    pub distractors: Vec<CropCandidate>,
    /// Problem template with five `<image>`s: the blacked-out picture, then candidates A-D.
    pub prompt: String,
}

impl Default for CropConfig {
    fn default() -> Self {
        Self {
            min_side: 16,
            distractors: CropCandidate::DISTRACTORS.to_vec(),
            prompt: "<image>\nA square region of this picture has been blacked out. Which of the four patches \
                     below is exactly the missing region, as it appeared in the original picture?\nA. <image>\nB. \
                     <image>\nC. <image>\nD. <image>\nAnswer with the letter of the correct patch."
                .into(),
        }
    }
}

/// The cropped patch inpainting task.
///
/// ```
/// use rand::SeedableRng;
/// use spatial_ssrl_tasks::{PretextTask, Scene, TaskRng};
/// use spatial_ssrl_tasks::tasks::crop::Crop;
///
/// let scene = Scene::rgb("demo", image::RgbImage::from_fn(120, 90, |x, y| image::Rgb([x as u8, (x * y) as u8, y as u8])));
/// let sample = &Crop::default().generate(&scene, &mut TaskRng::seed_from_u64(3)).unwrap()[0];
/// assert_eq!(sample.images.len(), 5);
/// assert_eq!(sample.images[1].dimensions(), (45, 45)); // side = min(120, 90) / 2
/// assert!(["A", "B", "C", "D"].contains(&sample.answer.as_str()));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Crop {
    config: CropConfig,
}

/// A drawn placement: where the square is and what each slot shows.
struct Draw {
    x: u32,
    y: u32,
    slots: [CropCandidate; 4],
    answer: usize,
}

impl Crop {
    /// Registry name, `"crop"`.
    pub const NAME: &'static str = NAME;

    /// A crop task with the given parameters.
    pub fn new(config: CropConfig) -> Self {
        Self { config }
    }

    /// The parameters.
    pub fn config(&self) -> &CropConfig {
        &self.config
    }

    fn check_pool(&self) -> Result<()> {
        let pool = &self.config.distractors;
        let mut distinct = pool.clone();
        distinct.sort_by_key(|c| *c as u8);
        distinct.dedup();
        if pool.contains(&CropCandidate::Original) || distinct.len() != pool.len() || pool.len() < 3
        {
            return Err(Error::InvalidConfig {
                task: NAME,
                message: format!(
                    "distractors must be at least three distinct non-original candidates, got {pool:?}"
                ),
            });
        }
        Ok(())
    }

    fn draw(&self, w: u32, h: u32, side: u32, rng: &mut TaskRng) -> Draw {
        let answer = rng.random_range(0..LETTERS.len());
        let x = rng.random_range(0..=w - side);
        let y = rng.random_range(0..=h - side);
        let mut pool = self.config.distractors.clone();
        let mut slots = [CropCandidate::Original; 4];
        for (j, slot) in slots.iter_mut().enumerate() {
            if j != answer {
                *slot = pool.remove(rng.random_range(0..pool.len()));
            }
        }
        Draw {
            x,
            y,
            slots,
            answer,
        }
    }

    fn sample(&self, scene: &Scene, rng: &mut TaskRng) -> Result<Sample> {
        let cfg = &self.config;
        self.check_pool()?;
        let src = scene.rgb.as_ref();
        let (w, h) = src.dimensions();
        let side = w.min(h) / 2;
        if side < cfg.min_side.max(1) {
            let min = cfg.min_side.max(1).saturating_mul(2);
            return Err(Error::TooSmall {
                task: NAME,
                w,
                h,
                min_w: min,
                min_h: min,
            });
        }
        let problem = cfg.prompt.clone();
        template::check_images(NAME, &problem, 1 + LETTERS.len())?;

        for _ in 0..MAX_DRAWS {
            let d = self.draw(w, h, side, rng);
            let truth = grid::crop(src, d.x, d.y, side, side);
            let distractors: Vec<(usize, RgbImage)> = (0..LETTERS.len())
                .filter(|&j| j != d.answer)
                .map(|j| (j, candidate(src, &truth, d.x, d.y, side, d.slots[j])))
                .collect();
            // A distractor identical to the truth would make two options correct: redraw.
            if distractors.iter().any(|(_, c)| *c == truth) {
                continue;
            }
            // The truth moves into its slot rather than being copied there.
            let mut candidates = Vec::with_capacity(LETTERS.len());
            let mut truth = Some(truth);
            for (j, c) in distractors {
                if j > d.answer {
                    candidates.extend(truth.take());
                }
                candidates.push(c);
            }
            candidates.extend(truth);
            let blacked = grid::with_rect(src, d.x, d.y, side, side, Rgb([0, 0, 0]));
            let mut images = Vec::with_capacity(1 + LETTERS.len());
            images.push(blacked);
            images.extend(candidates);

            let mut metadata = BTreeMap::new();
            metadata.insert("x".into(), json!(d.x));
            metadata.insert("y".into(), json!(d.y));
            metadata.insert("side".into(), json!(side));
            metadata.insert(
                "candidates".into(),
                json!(d.slots.iter().map(|c| c.as_str()).collect::<Vec<_>>()),
            );
            metadata.insert("answer_index".into(), json!(d.answer));
            return Ok(Sample {
                task: NAME.into(),
                source: scene.id.clone(),
                problem,
                answer: LETTERS[d.answer].to_string(),
                images,
                metadata,
            });
        }
        Err(Error::NoCandidate {
            task: NAME,
            scene: scene.id.clone(),
            tries: MAX_DRAWS,
        })
    }
}

/// Builds one `side x side` candidate for the square at `(x, y)` whose pixels are `truth`.
fn candidate(
    src: &RgbImage,
    truth: &RgbImage,
    x: u32,
    y: u32,
    side: u32,
    kind: CropCandidate,
) -> RgbImage {
    // The window grown by `margin` on every side, clipped to the image, scaled to the side.
    let grown = |margin: u32| {
        let (x0, y0) = (x.saturating_sub(margin), y.saturating_sub(margin));
        let x1 = (x + side + margin).min(src.width());
        let y1 = (y + side + margin).min(src.height());
        grid::resize_window(src, (x0, y0, x1 - x0, y1 - y0), side, side)
    };
    match kind {
        CropCandidate::Original => truth.clone(),
        CropCandidate::RotatedLeft => grid::rotate_left(truth),
        CropCandidate::RotatedRight => grid::rotate_right(truth),
        CropCandidate::Interior => {
            let (a, b) = (side / 4, 3 * side / 4);
            grid::resize_window(truth, (a, a, b - a, b - a), side, side)
        }
        CropCandidate::GrownQuarter => grown(side / 4),
        CropCandidate::GrownHalf => grown(side / 2),
    }
}

impl PretextTask for Crop {
    fn name(&self) -> &str {
        NAME
    }

    fn inputs(&self) -> Inputs {
        Inputs::Rgb
    }

    fn generate(&self, scene: &Scene, rng: &mut TaskRng) -> Result<Vec<Sample>> {
        Ok(vec![self.sample(scene, rng)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn scene(w: u32, h: u32) -> Scene {
        Scene::rgb(
            "s",
            RgbImage::from_fn(w, h, |x, y| {
                Rgb([(x * 3 + y) as u8, (y * 7) as u8, (x * y) as u8])
            }),
        )
    }

    #[test]
    fn answer_is_the_cut_out_square() {
        let sc = scene(90, 70);
        for seed in 0..30 {
            let s = Crop::default()
                .sample(&sc, &mut TaskRng::seed_from_u64(seed))
                .unwrap();
            let (x, y, side) = (
                s.metadata["x"].as_u64().unwrap() as u32,
                s.metadata["y"].as_u64().unwrap() as u32,
                s.metadata["side"].as_u64().unwrap() as u32,
            );
            assert_eq!(side, 35);
            let k = LETTERS
                .iter()
                .position(|l| l.to_string() == s.answer)
                .unwrap();
            let truth = grid::crop(&sc.rgb, x, y, side, side);
            assert_eq!(s.images[1 + k], truth);
            // The blacked image is the source with exactly that square zeroed.
            for (px, py, p) in s.images[0].enumerate_pixels() {
                if (x..x + side).contains(&px) && (y..y + side).contains(&py) {
                    assert_eq!(*p, Rgb([0, 0, 0]));
                } else {
                    assert_eq!(p, sc.rgb.get_pixel(px, py));
                }
            }
            // Slots name three distinct distractors and the original at the answer.
            let kinds: Vec<String> =
                serde_json::from_value(s.metadata["candidates"].clone()).unwrap();
            assert_eq!(kinds[k], "original");
            let mut others: Vec<&String> = kinds.iter().filter(|k| *k != "original").collect();
            others.dedup();
            assert_eq!(others.len(), 3);
            for (j, kind) in kinds.iter().enumerate() {
                assert_eq!(s.images[1 + j].dimensions(), (side, side));
                if j != k {
                    assert_ne!(s.images[1 + j], truth, "{kind}");
                }
            }
        }
    }

    #[test]
    fn distractors_are_built_as_described() {
        let sc = scene(80, 60);
        let (x, y, side) = (10, 12, 30);
        let truth = grid::crop(&sc.rgb, x, y, side, side);
        let left = candidate(&sc.rgb, &truth, x, y, side, CropCandidate::RotatedLeft);
        assert_eq!(left, image::imageops::rotate270(&truth));
        let right = candidate(&sc.rgb, &truth, x, y, side, CropCandidate::RotatedRight);
        assert_eq!(right, image::imageops::rotate90(&truth));
        // Interior: rows/cols 7..22 of the truth scaled by exactly 2: output pixel 2i+1
        // interpolates between source i and i+1 at 1/4 and the centre pixel maps back.
        let interior = candidate(&sc.rgb, &truth, x, y, side, CropCandidate::Interior);
        assert_eq!(interior.dimensions(), (30, 30));
        assert_eq!(interior.get_pixel(0, 0), truth.get_pixel(7, 7));
        // Grown by side/4 = 7: window 3..47 x 5..49 (44 px) scaled to 30.
        let grown = candidate(&sc.rgb, &truth, x, y, side, CropCandidate::GrownQuarter);
        let want = grid::resize_bilinear(&grid::crop(&sc.rgb, 3, 5, 44, 44), 30, 30);
        assert_eq!(grown, want);
        // Grown by side/2 = 15 is clipped at the top-left corner: window 0..55 x 0..57.
        let half = candidate(&sc.rgb, &truth, x, y, side, CropCandidate::GrownHalf);
        assert_eq!(
            half,
            grid::resize_bilinear(&grid::crop(&sc.rgb, 0, 0, 55, 57), 30, 30)
        );
    }

    #[test]
    fn typed_errors() {
        let t = Crop::default();
        assert!(matches!(
            t.sample(&scene(31, 200), &mut TaskRng::seed_from_u64(0)),
            Err(Error::TooSmall {
                min_w: 32,
                min_h: 32,
                ..
            })
        ));
        let flat = Scene::rgb("flat", RgbImage::from_pixel(64, 64, Rgb([1, 2, 3])));
        assert!(matches!(
            t.sample(&flat, &mut TaskRng::seed_from_u64(0)),
            Err(Error::NoCandidate { .. })
        ));
        for pool in [
            vec![CropCandidate::RotatedLeft, CropCandidate::RotatedRight],
            vec![
                CropCandidate::RotatedLeft,
                CropCandidate::RotatedLeft,
                CropCandidate::Interior,
            ],
            vec![
                CropCandidate::Original,
                CropCandidate::RotatedLeft,
                CropCandidate::Interior,
            ],
        ] {
            let t = Crop::new(CropConfig {
                distractors: pool,
                ..Default::default()
            });
            assert!(matches!(
                t.sample(&scene(64, 64), &mut TaskRng::seed_from_u64(0)),
                Err(Error::InvalidConfig { .. })
            ));
        }
        let t = Crop::new(CropConfig {
            prompt: "<image> A or B?".into(),
            ..Default::default()
        });
        assert!(matches!(
            t.sample(&scene(64, 64), &mut TaskRng::seed_from_u64(0)),
            Err(Error::InvalidConfig { .. })
        ));
    }
}
