//! Shuffled patch reordering (jigsaw): the image is cut into numbered tiles that are shuffled;
//! the model names, for each original position, the tile that belongs there.
//!
//! Follows `data_process/Shuffle.py` of InternLM/Spatial-SSRL: tiles of `w / cols` by
//! `h / rows` px (leftover edge pixels dropped), a uniform random permutation, tile `k` of
//! the shuffled image labelled `k`, and the answer `argsort(permutation)` joined by hyphens:
//! entry `i` is the label of the tile that came from original position `i` (reading order).
//! In the masked variant one shown tile is painted white but keeps its label, and the answer
//! still covers every position. Unlike the reference, labels are drawn legibly at a size
//! scaled to the tile and the border is the intended red.

use std::collections::BTreeMap;

use image::Rgb;
#[cfg(test)]
use image::RgbImage;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::{Error, Result};
use crate::task::{Inputs, PretextTask, Sample, Scene, TaskRng};
use crate::tasks::grid::{self, Grid, TileStyle};
use crate::tasks::template;
use crate::tasks::tile_label::TileLabel;

/// Registry name of the shuffle task.
pub const NAME: &str = "shuffle";

/// How the image is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ShuffleVariant {
    /// A 2x2 grid.
    #[serde(rename = "grid_2x2")]
    Grid2x2,
    /// A 2x2 grid whose shown tile in one random slot is painted white (label kept).
    #[serde(rename = "masked_2x2")]
    Masked2x2,
    /// A 3x3 grid.
    #[serde(rename = "grid_3x3")]
    Grid3x3,
    /// `1xN`: N full-height strips side by side (N from [`ShuffleConfig::strips`]); the
    /// paper's horizontal strips, cut along the width.
    #[serde(rename = "horizontal_strips")]
    HorizontalStrips,
    /// `Nx1`: N full-width strips stacked top to bottom; the paper's vertical strips, cut
    /// along the height (the reference's `num_vertical`).
    #[serde(rename = "vertical_strips")]
    VerticalStrips,
}

impl ShuffleVariant {
    /// Every variant, in the order of [`ShuffleMix`]'s fields.
    pub const ALL: [ShuffleVariant; 5] = [
        Self::Grid2x2,
        Self::Masked2x2,
        Self::Grid3x3,
        Self::HorizontalStrips,
        Self::VerticalStrips,
    ];

    /// The name used in metadata and configuration files (`"grid_2x2"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grid2x2 => "grid_2x2",
            Self::Masked2x2 => "masked_2x2",
            Self::Grid3x3 => "grid_3x3",
            Self::HorizontalStrips => "horizontal_strips",
            Self::VerticalStrips => "vertical_strips",
        }
    }

    /// `(rows, cols)` of the variant's grid for the given strip count.
    pub fn shape(self, strips: u32) -> (u32, u32) {
        match self {
            Self::Grid2x2 | Self::Masked2x2 => (2, 2),
            Self::Grid3x3 => (3, 3),
            Self::HorizontalStrips => (1, strips),
            Self::VerticalStrips => (strips, 1),
        }
    }
}

/// Relative frequency of each variant (integer weights; a zero weight disables it).
///
/// The default draws plain 2x2, masked 2x2, horizontal and vertical strips equally often,
/// no 3x3; the `spatial-ssrl` preset uses the released data's counts (paper, Table 6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShuffleMix {
    /// Weight of [`ShuffleVariant::Grid2x2`].
    pub grid_2x2: u32,
    /// Weight of [`ShuffleVariant::Masked2x2`].
    pub masked_2x2: u32,
    /// Weight of [`ShuffleVariant::Grid3x3`].
    pub grid_3x3: u32,
    /// Weight of [`ShuffleVariant::HorizontalStrips`].
    pub horizontal_strips: u32,
    /// Weight of [`ShuffleVariant::VerticalStrips`].
    pub vertical_strips: u32,
}

impl Default for ShuffleMix {
    fn default() -> Self {
        Self {
            grid_2x2: 1,
            masked_2x2: 1,
            grid_3x3: 0,
            horizontal_strips: 1,
            vertical_strips: 1,
        }
    }
}

impl ShuffleMix {
    /// Only `variant`, always.
    ///
    /// ```
    /// use spatial_ssrl_tasks::tasks::shuffle::{ShuffleMix, ShuffleVariant};
    /// assert_eq!(ShuffleMix::only(ShuffleVariant::Grid3x3).weights(), [0, 0, 1, 0, 0]);
    /// ```
    pub fn only(variant: ShuffleVariant) -> Self {
        let mut mix = Self {
            grid_2x2: 0,
            masked_2x2: 0,
            grid_3x3: 0,
            horizontal_strips: 0,
            vertical_strips: 0,
        };
        *mix.weight_mut(variant) = 1;
        mix
    }

    /// The weights in the order of [`ShuffleVariant::ALL`].
    pub fn weights(&self) -> [u32; 5] {
        [
            self.grid_2x2,
            self.masked_2x2,
            self.grid_3x3,
            self.horizontal_strips,
            self.vertical_strips,
        ]
    }

    fn weight_mut(&mut self, variant: ShuffleVariant) -> &mut u32 {
        match variant {
            ShuffleVariant::Grid2x2 => &mut self.grid_2x2,
            ShuffleVariant::Masked2x2 => &mut self.masked_2x2,
            ShuffleVariant::Grid3x3 => &mut self.grid_3x3,
            ShuffleVariant::HorizontalStrips => &mut self.horizontal_strips,
            ShuffleVariant::VerticalStrips => &mut self.vertical_strips,
        }
    }
}

/// Problem templates of the shuffle task, one per kind of cut.
///
/// Placeholders: `{rows}`, `{cols}`, `{count}` (number of tiles), `{count_word}` (`four`),
/// `{last}` (largest label), `{labels}` (`0, 1, and 2`), `{example}` (the answer's form in
/// letters, `a-b-c-d`) and `{positions}` (the paper's form, `Left-Middle-Right`; see
/// [`template::position_names`]). Each template must contain one `<image>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShufflePrompts {
    /// For plain grids (2x2, 3x3).
    pub grid: String,
    /// For the masked 2x2 grid.
    pub masked: String,
    /// For horizontal strips (`1xN`, side by side).
    pub horizontal_strips: String,
    /// For vertical strips (`Nx1`, stacked).
    pub vertical_strips: String,
}

impl Default for ShufflePrompts {
    fn default() -> Self {
        const ORDER: &str =
            "Write the numbers joined by hyphens, in the form {example} (one letter per position).";
        Self {
            grid: format!(
                "<image>\nThis picture was cut into a {{rows}}x{{cols}} grid of {{count}} patches, and the patches were \
                 shuffled. Each patch is outlined and carries a number from 0 to {{last}} in its top-left corner. \
                 Put the picture back together: going through the positions of the original picture in reading \
                 order (left to right, then top to bottom), give the number of the patch that belongs at each \
                 position. {ORDER}"
            ),
            masked: format!(
                "<image>\nThis picture was cut into a {{rows}}x{{cols}} grid of {{count}} patches, and the patches were \
                 shuffled. Each patch is outlined and carries a number from 0 to {{last}} in its top-left corner. \
                 One patch has been painted plain white; it keeps its number and still belongs somewhere. Put the \
                 picture back together: going through the positions of the original picture in reading order \
                 (left to right, then top to bottom), give the number of the patch that belongs at each position, \
                 the white one included. {ORDER}"
            ),
            horizontal_strips: format!(
                "<image>\nThis picture was cut across its width into {{count}} full-height strips, and the strips \
                 were shuffled. Each strip is outlined and carries a number from 0 to {{last}} at its top. Put the \
                 picture back together: from the left edge of the original picture to the right, give the number \
                 of the strip that belongs at each position. {ORDER}"
            ),
            vertical_strips: format!(
                "<image>\nThis picture was cut down its height into {{count}} full-width strips, and the strips \
                 were shuffled. Each strip is outlined and carries a number from 0 to {{last}} at its left end. \
                 Put the picture back together: from the top of the original picture to the bottom, give the \
                 number of the strip that belongs at each position. {ORDER}"
            ),
        }
    }
}

/// Parameters of the shuffle task; the default reproduces the reference.
///
/// ```
/// use spatial_ssrl_tasks::tasks::shuffle::ShuffleConfig;
/// let cfg: ShuffleConfig = serde_json::from_str(r#"{"strips": 4}"#).unwrap();
/// assert_eq!(cfg.strips, [4]);
/// let cfg: ShuffleConfig = serde_json::from_str(r#"{"strips": [3, 4]}"#).unwrap();
/// assert_eq!(cfg.strips, [3, 4]);
/// assert_eq!(cfg.border_thickness, 2); // unspecified fields keep their defaults
/// assert!(serde_json::from_str::<ShuffleConfig>(r#"{"strip": 4}"#).is_err()); // typos are errors
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShuffleConfig {
    /// How often each variant is drawn.
    pub mix: ShuffleMix,
    /// Strip counts of the strip variants, one drawn uniformly per puzzle (each at least
    /// 2; default `[3]`). A single number is accepted too.
    #[serde(deserialize_with = "one_or_many")]
    pub strips: Vec<u32>,
    /// Smallest tile side in px; smaller images are refused with [`Error::TooSmall`].
    pub min_tile: u32,
    /// Border thickness in px drawn inside each tile (reference: 2).
    pub border_thickness: u32,
    /// Border colour, RGB (default red; the released images are blue, the reference's
    /// `(255, 0, 0)` being BGR to OpenCV).
    pub border_color: [u8; 3],
    /// How tile numbers are drawn.
    pub label: TileLabel,
    /// Draw borders and labels. Turn off only to inspect the raw permutation (tests do).
    pub annotate: bool,
    /// Problem templates.
    pub prompts: ShufflePrompts,
}

impl Default for ShuffleConfig {
    fn default() -> Self {
        Self {
            mix: ShuffleMix::default(),
            strips: vec![3],
            min_tile: 16,
            border_thickness: 2,
            border_color: [255, 0, 0],
            label: TileLabel::default(),
            annotate: true,
            prompts: ShufflePrompts::default(),
        }
    }
}

/// Reads a list of numbers, or one number as a list of one.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<u32>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(u32),
        Many(Vec<u32>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(n) => vec![n],
        OneOrMany::Many(v) => v,
    })
}

/// The shuffled patch reordering task.
///
/// ```
/// use rand::SeedableRng;
/// use spatial_ssrl_tasks::{PretextTask, Scene, TaskRng};
/// use spatial_ssrl_tasks::tasks::shuffle::Shuffle;
///
/// let scene = Scene::rgb("demo", image::RgbImage::from_fn(120, 90, |x, y| image::Rgb([x as u8, y as u8, 0])));
/// let sample = &Shuffle::default().generate(&scene, &mut TaskRng::seed_from_u64(3)).unwrap()[0];
/// // A permutation of the tile labels, e.g. "2-0-3-1" or "1-2-0" for three strips.
/// let mut labels: Vec<usize> = sample.answer.split('-').map(|s| s.parse().unwrap()).collect();
/// labels.sort();
/// assert_eq!(labels, (0..labels.len()).collect::<Vec<_>>());
/// assert_eq!(sample.problem.matches("<image>").count(), 1);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Shuffle {
    config: ShuffleConfig,
}

impl Shuffle {
    /// Registry name, `"shuffle"`.
    pub const NAME: &'static str = NAME;

    /// A shuffle task with the given parameters.
    pub fn new(config: ShuffleConfig) -> Self {
        Self { config }
    }

    /// The parameters.
    pub fn config(&self) -> &ShuffleConfig {
        &self.config
    }

    fn invalid(message: impl Into<String>) -> Error {
        Error::InvalidConfig {
            task: NAME,
            message: message.into(),
        }
    }

    /// Makes one puzzle.
    fn sample(&self, scene: &Scene, rng: &mut TaskRng) -> Result<Sample> {
        let cfg = &self.config;
        let variant = grid::pick_weighted(&cfg.mix.weights(), rng)
            .map(|i| ShuffleVariant::ALL[i])
            .ok_or_else(|| Self::invalid("every variant weight is zero"))?;
        let strips = if matches!(
            variant,
            ShuffleVariant::HorizontalStrips | ShuffleVariant::VerticalStrips
        ) {
            if cfg.strips.is_empty() || cfg.strips.iter().any(|&n| n < 2) {
                return Err(Self::invalid(format!(
                    "strip counts must be at least 2, got {:?}",
                    cfg.strips
                )));
            }
            // One count needs no draw, so a single count keeps the generator's stream.
            match cfg.strips.as_slice() {
                [n] => *n,
                many => many[rng.random_range(0..many.len())],
            }
        } else {
            0
        };
        let (rows, cols) = variant.shape(strips);
        let src = scene.rgb.as_ref();
        let grid = Grid::fit(NAME, src.width(), src.height(), rows, cols, cfg.min_tile)?;
        let n = grid.len();

        // slots[k] = original position of the tile shown in slot k (labelled k).
        let mut slots: Vec<usize> = (0..n).collect();
        grid::shuffle(&mut slots, rng);
        let mut img = grid::compose(src, &grid, &slots);
        let masked_slot = (variant == ShuffleVariant::Masked2x2).then(|| {
            let k = rng.random_range(0..n);
            let (x, y) = grid.origin(k);
            grid::fill_rect(
                &mut img,
                x,
                y,
                grid.tile_w,
                grid.tile_h,
                Rgb([255, 255, 255]),
            );
            k
        });
        if cfg.annotate {
            let style = TileStyle {
                border_thickness: cfg.border_thickness,
                border_color: Rgb(cfg.border_color),
            };
            style.annotate_with(&mut img, &grid, &cfg.label);
        }

        // answer[i] = label of the tile that came from original position i.
        let mut answer = vec![0usize; n];
        for (slot, &origin) in slots.iter().enumerate() {
            answer[origin] = slot;
        }

        let template = match variant {
            ShuffleVariant::Grid2x2 | ShuffleVariant::Grid3x3 => &cfg.prompts.grid,
            ShuffleVariant::Masked2x2 => &cfg.prompts.masked,
            ShuffleVariant::HorizontalStrips => &cfg.prompts.horizontal_strips,
            ShuffleVariant::VerticalStrips => &cfg.prompts.vertical_strips,
        };
        let (rows_s, cols_s, count, last) = (
            rows.to_string(),
            cols.to_string(),
            n.to_string(),
            (n - 1).to_string(),
        );
        let example = template::answer_pattern(n);
        let labels = template::label_list(n);
        let count_word = template::count_word(n);
        let positions = template::position_names(rows as usize, cols as usize);
        let problem = template::render(
            template,
            &[
                ("rows", &rows_s),
                ("cols", &cols_s),
                ("count", &count),
                ("last", &last),
                ("example", &example),
                ("labels", &labels),
                ("count_word", &count_word),
                ("positions", &positions),
            ],
        );
        template::check_images(NAME, &problem, 1)?;

        let mut metadata = BTreeMap::new();
        metadata.insert("variant".into(), json!(variant.as_str()));
        metadata.insert("rows".into(), json!(rows));
        metadata.insert("cols".into(), json!(cols));
        metadata.insert("tile_width".into(), json!(grid.tile_w));
        metadata.insert("tile_height".into(), json!(grid.tile_h));
        metadata.insert("slots".into(), json!(slots));
        metadata.insert("masked_slot".into(), json!(masked_slot));
        Ok(Sample {
            task: NAME.into(),
            source: scene.id.clone(),
            problem,
            answer: template::join(&answer),
            images: vec![img],
            metadata,
        })
    }
}

impl PretextTask for Shuffle {
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

/// Rebuilds the original image from an unannotated shuffle image and its answer: position
/// `i` takes the tile in slot `answer[i]`. Used by the tests to check answers by construction.
#[cfg(test)]
pub(crate) fn reassemble(shown: &RgbImage, rows: u32, cols: u32, answer: &[usize]) -> RgbImage {
    let grid = Grid::fit(NAME, shown.width(), shown.height(), rows, cols, 1).unwrap();
    grid::compose(shown, &grid, answer)
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

    fn parse(answer: &str) -> Vec<usize> {
        answer.split('-').map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn every_variant_reassembles_to_the_source() {
        for variant in ShuffleVariant::ALL {
            let task = Shuffle::new(ShuffleConfig {
                mix: ShuffleMix::only(variant),
                annotate: false,
                ..Default::default()
            });
            let sc = scene(97, 131);
            for seed in 0..10 {
                let s = task.sample(&sc, &mut TaskRng::seed_from_u64(seed)).unwrap();
                let (rows, cols) = variant.shape(3);
                let grid = Grid::fit(NAME, 97, 131, rows, cols, 1).unwrap();
                let want = grid::crop(&sc.rgb, 0, 0, grid.width(), grid.height());
                let got = reassemble(&s.images[0], rows, cols, &parse(&s.answer));
                assert_eq!(s.metadata["variant"], json!(variant.as_str()));
                if variant == ShuffleVariant::Masked2x2 {
                    // Everything but the white tile's original position matches.
                    let k = s.metadata["masked_slot"].as_u64().unwrap() as usize;
                    let slots: Vec<usize> =
                        serde_json::from_value(s.metadata["slots"].clone()).unwrap();
                    let (mx, my) = grid.origin(slots[k]);
                    for (x, y, p) in got.enumerate_pixels() {
                        let inside = (mx..mx + grid.tile_w).contains(&x)
                            && (my..my + grid.tile_h).contains(&y);
                        if inside {
                            assert_eq!(*p, Rgb([255, 255, 255]));
                        } else {
                            assert_eq!(p, want.get_pixel(x, y));
                        }
                    }
                } else {
                    assert_eq!(got, want, "{variant:?} seed {seed}");
                }
            }
        }
    }

    #[test]
    fn labels_and_borders_are_drawn() {
        let sc = scene(200, 160);
        let s = Shuffle::default()
            .sample(&sc, &mut TaskRng::seed_from_u64(0))
            .unwrap();
        let img = &s.images[0];
        // Top-left pixels are border red (2 px); the label box starts 2 px further in and is
        // black with white digits.
        assert_eq!(*img.get_pixel(0, 0), Rgb([255, 0, 0]));
        assert_eq!(*img.get_pixel(1, 30), Rgb([255, 0, 0]));
        assert_ne!(*img.get_pixel(2, 30), Rgb([255, 0, 0]));
        assert_eq!(*img.get_pixel(4, 4), Rgb([0, 0, 0]));
        assert!((4..20).any(|x| (4..20).any(|y| *img.get_pixel(x, y) == Rgb([255, 255, 255]))));
    }

    #[test]
    fn bad_configs_are_typed_errors() {
        let sc = scene(100, 100);
        let zero = ShuffleMix {
            grid_2x2: 0,
            masked_2x2: 0,
            grid_3x3: 0,
            horizontal_strips: 0,
            vertical_strips: 0,
        };
        let t = Shuffle::new(ShuffleConfig {
            mix: zero,
            ..Default::default()
        });
        assert!(matches!(
            t.sample(&sc, &mut TaskRng::seed_from_u64(0)),
            Err(Error::InvalidConfig { .. })
        ));
        let t = Shuffle::new(ShuffleConfig {
            mix: ShuffleMix::only(ShuffleVariant::HorizontalStrips),
            strips: vec![1],
            ..Default::default()
        });
        assert!(matches!(
            t.sample(&sc, &mut TaskRng::seed_from_u64(0)),
            Err(Error::InvalidConfig { .. })
        ));
        let mut cfg = ShuffleConfig::default();
        cfg.prompts.grid = "no placeholder".into();
        cfg.mix = ShuffleMix::only(ShuffleVariant::Grid2x2);
        assert!(matches!(
            Shuffle::new(cfg).sample(&sc, &mut TaskRng::seed_from_u64(0)),
            Err(Error::InvalidConfig { .. })
        ));
        let t = Shuffle::new(ShuffleConfig {
            mix: ShuffleMix::only(ShuffleVariant::Grid3x3),
            ..Default::default()
        });
        assert!(matches!(
            t.sample(&scene(47, 100), &mut TaskRng::seed_from_u64(0)),
            Err(Error::TooSmall { min_w: 48, .. })
        ));
    }

    #[test]
    fn prompts_are_filled() {
        let t = Shuffle::new(ShuffleConfig {
            mix: ShuffleMix::only(ShuffleVariant::VerticalStrips),
            strips: vec![4],
            ..Default::default()
        });
        let s = t
            .sample(&scene(60, 120), &mut TaskRng::seed_from_u64(1))
            .unwrap();
        // Vertical strips are stacked (Nx1), as the paper names them.
        assert_eq!(
            (s.metadata["rows"].clone(), s.metadata["cols"].clone()),
            (json!(4), json!(1))
        );
        assert!(s.problem.contains("4 full-width strips"), "{}", s.problem);
        assert!(s.problem.contains("0 to 3"));
        // The format is shown as letters, never as an answer that could be right.
        assert!(s.problem.contains("a-b-c-d"));
        assert!(
            !s.problem
                .chars()
                .any(|c| c.is_ascii_digit() && !"034".contains(c))
        );
        assert!(!s.problem.contains('{'));
        assert_eq!(s.images[0].dimensions(), (60, 120));
    }
}
