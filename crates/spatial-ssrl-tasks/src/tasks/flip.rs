//! Flipped patch recognition: the image is cut into numbered tiles that stay in place, and
//! one tile is turned upside down or mirrored; the model names the tile and the flip.
//!
//! Follows `data_process/Flip.py` of InternLM/Spatial-SSRL: a 2x2 grid of `w / 2` by
//! `h / 2` px tiles (leftover edge pixels dropped), tile `k` labelled `k` in reading order,
//! one uniformly chosen tile flipped with OpenCV's flip code (0: about the horizontal axis,
//! i.e. upside down; 1: about the vertical axis, i.e. mirrored), and the answer
//! `label-code`, e.g. `3-0`. Unlike the reference, labels are legible and scaled to the tile,
//! the border is the intended red, and a flip that would leave its tile unchanged (a
//! symmetric or flat tile, so the puzzle would have no visible answer) is redrawn.

use std::collections::BTreeMap;

use image::Rgb;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::{Error, Result};
use crate::task::{Inputs, PretextTask, Sample, Scene, TaskRng};
use crate::tasks::grid::{self, Grid, TileStyle};
use crate::tasks::template;
use crate::tasks::tile_label::TileLabel;

/// Registry name of the flip task.
pub const NAME: &str = "flip";

/// How many (tile, direction) draws are tried before a scene whose every flip is invisible
/// is refused. Photos never need a second draw; flat synthetic images do.
const MAX_DRAWS: usize = 32;

/// How the chosen tile is flipped; the discriminant is the answer code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlipDirection {
    /// Rows reversed (turned upside down), answer code `0`.
    UpsideDown = 0,
    /// Columns reversed (mirrored left to right), answer code `1`.
    Mirrored = 1,
}

impl FlipDirection {
    /// The answer code, `0` or `1`.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The name used in metadata (`"upside_down"`, `"mirrored"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UpsideDown => "upside_down",
            Self::Mirrored => "mirrored",
        }
    }
}

/// Relative frequency of the two flip directions (integer weights).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FlipMix {
    /// Weight of [`FlipDirection::UpsideDown`].
    pub upside_down: u32,
    /// Weight of [`FlipDirection::Mirrored`].
    pub mirrored: u32,
}

impl Default for FlipMix {
    fn default() -> Self {
        Self {
            upside_down: 1,
            mirrored: 1,
        }
    }
}

/// Parameters of the flip task; the default reproduces the reference.
///
/// ```
/// use spatial_ssrl_tasks::tasks::flip::FlipConfig;
/// let cfg: FlipConfig = serde_json::from_str(r#"{"rows": 3, "cols": 3}"#).unwrap();
/// assert_eq!((cfg.rows, cfg.cols, cfg.border_thickness), (3, 3, 2));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FlipConfig {
    /// Grid rows (reference: 2).
    pub rows: u32,
    /// Grid columns (reference: 2).
    pub cols: u32,
    /// How often each direction is drawn.
    pub directions: FlipMix,
    /// Smallest tile side in px; smaller images are refused with [`Error::TooSmall`].
    pub min_tile: u32,
    /// Border thickness in px drawn inside each tile (reference: 2).
    pub border_thickness: u32,
    /// Border colour, RGB (default red; the released images are blue, the reference's
    /// `(255, 0, 0)` being BGR to OpenCV).
    pub border_color: [u8; 3],
    /// How tile numbers are drawn.
    pub label: TileLabel,
    /// Draw borders and labels. Turn off only to inspect the raw flip (tests do).
    pub annotate: bool,
    /// Problem template. Placeholders: `{rows}`, `{cols}`, `{count}`, `{count_word}`
    /// (`four`), `{last}` (largest label), `{labels}` (`0, 1, 2, and 3`); one `<image>`.
    pub prompt: String,
}

impl Default for FlipConfig {
    fn default() -> Self {
        Self {
            rows: 2,
            cols: 2,
            directions: FlipMix::default(),
            min_tile: 16,
            border_thickness: 2,
            border_color: [255, 0, 0],
            label: TileLabel::default(),
            annotate: true,
            prompt: "<image>\nThis picture was cut into a {rows}x{cols} grid of {count} patches that all stay in \
                     their original places. Each patch is outlined and carries a number from 0 to {last} in its \
                     top-left corner. Exactly one patch has been flipped: either turned upside down (flipped \
                     vertically) or mirrored left to right (flipped horizontally). Which patch was flipped, and \
                     how? Answer as the patch number, a hyphen, then 0 for upside down or 1 for mirrored, in \
                     the form n-d."
                .into(),
        }
    }
}

/// The flipped patch recognition task.
///
/// ```
/// use rand::SeedableRng;
/// use spatial_ssrl_tasks::{PretextTask, Scene, TaskRng};
/// use spatial_ssrl_tasks::tasks::flip::Flip;
///
/// let scene = Scene::rgb("demo", image::RgbImage::from_fn(120, 90, |x, y| image::Rgb([x as u8, (x * y) as u8, y as u8])));
/// let sample = &Flip::default().generate(&scene, &mut TaskRng::seed_from_u64(3)).unwrap()[0];
/// let (label, dir) = sample.answer.split_once('-').unwrap();
/// assert!(label.parse::<u32>().unwrap() < 4);
/// assert!(dir == "0" || dir == "1");
/// ```
#[derive(Debug, Clone, Default)]
pub struct Flip {
    config: FlipConfig,
}

impl Flip {
    /// Registry name, `"flip"`.
    pub const NAME: &'static str = NAME;

    /// A flip task with the given parameters.
    pub fn new(config: FlipConfig) -> Self {
        Self { config }
    }

    /// The parameters.
    pub fn config(&self) -> &FlipConfig {
        &self.config
    }

    fn sample(&self, scene: &Scene, rng: &mut TaskRng) -> Result<Sample> {
        let cfg = &self.config;
        let invalid = |message: String| Error::invalid_config(NAME, message);
        if cfg.rows.saturating_mul(cfg.cols) < 2 {
            return Err(invalid(format!(
                "a {}x{} grid has fewer than two patches",
                cfg.rows, cfg.cols
            )));
        }
        let weights = [cfg.directions.upside_down, cfg.directions.mirrored];
        if weights == [0, 0] {
            return Err(invalid("both direction weights are zero".into()));
        }
        let src = scene.rgb.as_ref();
        let grid = Grid::fit(
            NAME,
            src.width(),
            src.height(),
            cfg.rows,
            cfg.cols,
            cfg.min_tile,
        )?;
        let n = grid.len();

        let mut img = grid::crop(src, 0, 0, grid.width(), grid.height());
        let mut drawn = None;
        for _ in 0..MAX_DRAWS {
            let tile = rng.random_range(0..n);
            let dir = match grid::pick_weighted(&weights, rng) {
                Some(0) => FlipDirection::UpsideDown,
                _ => FlipDirection::Mirrored,
            };
            let (x, y) = grid.origin(tile);
            let (w, h) = (grid.tile_w, grid.tile_h);
            // A flip that leaves the tile unchanged has no visible answer: draw again.
            match dir {
                FlipDirection::UpsideDown if !grid::is_symmetric_vertically(&img, x, y, w, h) => {
                    grid::flip_vertical(&mut img, x, y, w, h)
                }
                FlipDirection::Mirrored if !grid::is_symmetric_horizontally(&img, x, y, w, h) => {
                    grid::mirror(&mut img, x, y, w, h)
                }
                _ => continue,
            }
            drawn = Some((tile, dir));
            break;
        }
        let (tile, dir) = drawn.ok_or_else(|| Error::NoCandidate {
            task: NAME,
            scene: scene.id.clone(),
            tries: MAX_DRAWS,
        })?;
        if cfg.annotate {
            TileStyle {
                border_thickness: cfg.border_thickness,
                border_color: Rgb(cfg.border_color),
            }
            .annotate_with(&mut img, &grid, &cfg.label);
        }

        let (rows_s, cols_s, count, last) = (
            cfg.rows.to_string(),
            cfg.cols.to_string(),
            n.to_string(),
            (n - 1).to_string(),
        );
        let (labels, count_word) = (template::label_list(n), template::count_word(n));
        let problem = template::render(
            &cfg.prompt,
            &[
                ("rows", &rows_s),
                ("cols", &cols_s),
                ("count", &count),
                ("count_word", &count_word),
                ("last", &last),
                ("labels", &labels),
            ],
        );
        template::check_images(NAME, &problem, 1)?;

        let mut metadata = BTreeMap::new();
        metadata.insert("tile".into(), json!(tile));
        metadata.insert("direction".into(), json!(dir.as_str()));
        metadata.insert("rows".into(), json!(cfg.rows));
        metadata.insert("cols".into(), json!(cfg.cols));
        metadata.insert("tile_width".into(), json!(grid.tile_w));
        metadata.insert("tile_height".into(), json!(grid.tile_h));
        Ok(Sample {
            task: NAME.into(),
            source: scene.id.clone(),
            problem,
            answer: format!("{tile}-{}", dir.code()),
            images: vec![img],
            metadata,
        })
    }
}

impl PretextTask for Flip {
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
    use image::RgbImage;
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
    fn unflipping_the_answer_restores_the_source() {
        let task = Flip::new(FlipConfig {
            annotate: false,
            ..Default::default()
        });
        let sc = scene(101, 77);
        for seed in 0..40 {
            let s = task.sample(&sc, &mut TaskRng::seed_from_u64(seed)).unwrap();
            let (tile, dir) = s.answer.split_once('-').unwrap();
            let tile: usize = tile.parse().unwrap();
            let grid = Grid::fit(NAME, 101, 77, 2, 2, 1).unwrap();
            let (x, y) = grid.origin(tile);
            let mut img = s.images[0].clone();
            assert_ne!(img, grid::crop(&sc.rgb, 0, 0, 100, 76));
            match dir {
                "0" => grid::flip_vertical(&mut img, x, y, grid.tile_w, grid.tile_h),
                "1" => grid::mirror(&mut img, x, y, grid.tile_w, grid.tile_h),
                other => panic!("direction {other}"),
            }
            assert_eq!(img, grid::crop(&sc.rgb, 0, 0, 100, 76), "seed {seed}");
        }
    }

    #[test]
    fn symmetric_tiles_are_skipped_and_flat_images_refused() {
        // Left half flat, right half a vertical ramp: only right tiles can be flipped visibly,
        // and only upside down (each row of the right half is uniform).
        let img = RgbImage::from_fn(64, 64, |x, y| {
            if x < 32 {
                Rgb([9, 9, 9])
            } else {
                Rgb([y as u8 * 4, 0, 0])
            }
        });
        let sc = Scene::rgb("half", img);
        for seed in 0..20 {
            let s = Flip::default()
                .sample(&sc, &mut TaskRng::seed_from_u64(seed))
                .unwrap();
            assert!(s.answer == "1-0" || s.answer == "3-0", "{}", s.answer);
        }
        let flat = Scene::rgb("flat", RgbImage::from_pixel(64, 64, Rgb([5, 6, 7])));
        assert!(matches!(
            Flip::default().sample(&flat, &mut TaskRng::seed_from_u64(0)),
            Err(Error::NoCandidate {
                tries: MAX_DRAWS,
                ..
            })
        ));
    }

    #[test]
    fn directions_follow_weights() {
        let sc = scene(64, 64);
        let only_mirror = Flip::new(FlipConfig {
            directions: FlipMix {
                upside_down: 0,
                mirrored: 3,
            },
            ..Default::default()
        });
        for seed in 0..10 {
            let s = only_mirror
                .sample(&sc, &mut TaskRng::seed_from_u64(seed))
                .unwrap();
            assert!(s.answer.ends_with("-1"));
            assert_eq!(s.metadata["direction"], json!("mirrored"));
        }
        let none = Flip::new(FlipConfig {
            directions: FlipMix {
                upside_down: 0,
                mirrored: 0,
            },
            ..Default::default()
        });
        assert!(matches!(
            none.sample(&sc, &mut TaskRng::seed_from_u64(0)),
            Err(Error::InvalidConfig { .. })
        ));
        assert!(matches!(
            Flip::default().sample(&scene(31, 100), &mut TaskRng::seed_from_u64(0)),
            Err(Error::TooSmall {
                min_w: 32,
                min_h: 32,
                ..
            })
        ));
    }
}
