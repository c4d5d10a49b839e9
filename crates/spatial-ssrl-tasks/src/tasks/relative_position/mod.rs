//! Relative 3D position (RGB-D): two numbered regions, an imagined camera at one of them facing
//! a stated direction; where is the other region from that camera? Answer: an option letter.
//!
//! Follows `data_process/Position.py` of InternLM/Spatial-SSRL:
//! - depth is min-max normalised over its valid pixels (constant depth becomes 1);
//! - a *block* is a 15x15 window, centred within `0.45 * size` of the image centre, with some
//!   valid depth and a normalised range (nan-aware) of at most 0.15;
//! - blocks are ranked by distance of their centre to the image centre (ties in scan order),
//!   and the first pair `(i, j)`, `i < j`, in that order that satisfies the pair rule is taken:
//!   *near* pairs have depth intervals within 0.25 of each other (`|max1 - min2|` and
//!   `|max2 - min1|`), rows less than 30 px apart and columns at least `min(h, w) / 8` apart;
//!   *far* pairs have a gap of at least 0.25 between their depth intervals and lie at least
//!   `min(h, w) / 8` apart;
//! - the camera faces left, right, towards the viewer or away, with weights 30/30/30/10;
//! - near pairs ask Left/Right/Front/Back from the horizontal image offset; far pairs ask
//!   Left/Right/Front/Back from the depth difference (block maxima of the raw depth) when the
//!   columns are at most 150 px apart, and the diagonal set (`Left-Front`, ...) from both
//!   otherwise; options are shuffled, so every letter is equally likely.
//!
//! Deliberate differences: the reference stops its pair search after 15 s of wall clock, so its
//! output depends on machine speed; here the search is bounded by a step count
//! ([`RelativePositionConfig::max_search_steps`]) and is deterministic. Window statistics come
//! from one sliding min/max filter instead of a numpy call per pixel. The reference reads the
//! lateral relation off the image columns; with strongly different depths on the same side of
//! the image centre the back-projected lateral offset can have the opposite sign, so such
//! pairs are skipped ([`RelativePositionConfig::metric_consistency`]). The task picks near or
//! far per sample (the reference runs one script per kind) and falls back to the other kind.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::Rng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::{Error, Result};
use crate::task::{Inputs, PretextTask, Sample, Scene, TaskRng};
use crate::tasks::depth_cache::DepthCache;
use crate::tasks::depth_order::scene_depth;
use crate::tasks::depth_stats::Normaliser;
use crate::tasks::marker;
use crate::tasks::template;

mod blocks;
mod pair_search;

use blocks::{Blocks, block_depth, collect_blocks};
use pair_search::Rules;

/// Registry name of the relative-position task.
pub const NAME: &str = "position";

/// Option letters, in the order options are listed.
const LETTERS: [&str; 4] = ["A", "B", "C", "D"];

const DEFAULT_PROMPT_NEAR: &str = "<image>Two regions of this image are marked with the numbers 1 and 2. \
Suppose a camera stands at region {observer} and points {facing}. Seen from that camera, where is region \
{target}? Options: {options}. Reason about depth, orientation and the 3D layout of the scene. \
Choose one of A, B, C and D.";

const DEFAULT_PROMPT_FAR: &str = "<image>Two regions of this image are marked with the numbers 1 and 2. \
Suppose a camera stands at region {observer} and points {facing}. Seen from that camera, where is region \
{target}? Options: {options}. Reason about depth, orientation and the 3D layout of the scene, and \
disregard any difference in height between the two regions. Choose one of A, B, C and D.";

/// Which way the imagined camera at the observer region faces, in the photo's frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Facing {
    /// Towards the left edge of the image.
    Left,
    /// Towards the right edge of the image.
    Right,
    /// Out of the image, towards the photographer.
    TowardViewer,
    /// Into the scene, the way the photographer looks.
    AwayFromViewer,
}

impl Facing {
    /// All four, in the order of [`RelativePositionConfig::facing_weights`].
    pub const ALL: [Facing; 4] = [
        Facing::Left,
        Facing::Right,
        Facing::TowardViewer,
        Facing::AwayFromViewer,
    ];

    /// Unit facing vector `(lateral, depth)` in the camera frame: lateral grows to the image's
    /// right, depth grows away from the photographer.
    pub fn vector(self) -> (i32, i32) {
        match self {
            Facing::Left => (-1, 0),
            Facing::Right => (1, 0),
            Facing::TowardViewer => (0, -1),
            Facing::AwayFromViewer => (0, 1),
        }
    }
}

/// Which pair rule chose the two regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PairKind {
    /// Similar depth, side by side: the answer follows the horizontal offset.
    Near,
    /// Clearly different depths: the answer follows the depth difference (and the horizontal
    /// offset when the columns are far apart).
    Far,
}

/// Parameters of [`RelativePosition`]. `Default` gives the reference's values.
///
/// ```
/// use spatial_ssrl_tasks::RelativePositionConfig;
/// let c = RelativePositionConfig::default();
/// assert_eq!((c.block, c.facing_weights), (15, [30, 30, 30, 10]));
/// assert!(serde_json::from_str::<RelativePositionConfig>(r#"{"blok": 9}"#).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelativePositionConfig {
    /// Block side in pixels (reference: 15; an even side `s` acts as `s + 1`).
    pub block: u32,
    /// Largest normalised depth range inside a block (reference: 0.15).
    pub inner_threshold: f32,
    /// Near pairs: largest interval distance; far pairs: smallest depth gap (reference: 0.25).
    pub inter_threshold: f32,
    /// Pairs lie at least `min(h, w) / min_distance_divisor` px apart (reference: 8).
    pub min_distance_divisor: u32,
    /// Block centres lie within this fraction of the image size from its centre (reference: 0.45).
    pub center_margin: f64,
    /// Near pairs: rows differ by less than this many px (reference: 30).
    pub near_max_dy: u32,
    /// Far pairs whose columns differ by more than this many px get the diagonal options
    /// (reference: 150).
    pub diagonal_min_dx: u32,
    /// Relative weights of the facings left, right, toward the viewer, away (reference: 30/30/30/10).
    pub facing_weights: [u32; 4],
    /// Probability of trying a near pair first (else far first; the other kind is the fallback).
    pub near_probability: f64,
    /// Bound on pair comparisons per kind before giving up with [`Error::NoCandidate`]; replaces
    /// the reference's 15 s wall-clock limit so results never depend on machine speed.
    pub max_search_steps: u64,
    /// Skip pairs whose horizontal image offset and back-projected lateral offset disagree in sign
    /// (pinhole camera, principal point at the image centre; independent of the focal length).
    pub metric_consistency: bool,
    /// Marker glyph height as a fraction of [`crate::draw::label_height`].
    pub label_scale: f32,
    /// Problem template for near pairs. Placeholders: `{observer}`, `{target}`, `{facing}`, `{options}`.
    pub prompt_near: String,
    /// Problem template for far pairs (the reference adds "ignore the height difference").
    pub prompt_far: String,
    /// How each [`Facing`] is phrased in `{facing}`, in [`Facing::ALL`] order.
    pub facing_phrases: [String; 4],
}

impl Default for RelativePositionConfig {
    fn default() -> Self {
        Self {
            block: 15,
            inner_threshold: 0.15,
            inter_threshold: 0.25,
            min_distance_divisor: 8,
            center_margin: 0.45,
            near_max_dy: 30,
            diagonal_min_dx: 150,
            facing_weights: [30, 30, 30, 10],
            near_probability: 0.5,
            max_search_steps: 100_000_000,
            metric_consistency: true,
            label_scale: 0.5,
            prompt_near: DEFAULT_PROMPT_NEAR.to_owned(),
            prompt_far: DEFAULT_PROMPT_FAR.to_owned(),
            facing_phrases: [
                "towards the left side of the image".to_owned(),
                "towards the right side of the image".to_owned(),
                "out of the image, towards the viewer".to_owned(),
                "into the scene, away from the viewer".to_owned(),
            ],
        }
    }
}

/// The relative 3D position task (registry name `"position"`).
///
/// ```
/// use std::sync::Arc;
/// use rand::SeedableRng;
/// use spatial_ssrl_tasks::{DepthMap, PretextTask, RelativePosition, Scene, TaskRng};
///
/// // A fronto-parallel wall: every pair is a near pair.
/// let (w, h) = (160u32, 120u32);
/// let scene = Scene {
///     id: "wall".into(),
///     rgb: Arc::new(image::RgbImage::new(w, h)),
///     depth: Some(Arc::new(DepthMap::from_values(w, h, vec![3.0; (w * h) as usize]).unwrap())),
/// };
/// let s = &RelativePosition::default().generate(&scene, &mut TaskRng::seed_from_u64(5)).unwrap()[0];
/// assert_eq!(s.metadata["kind"], "near");
/// assert!(["A", "B", "C", "D"].contains(&s.answer.as_str()));
/// ```
#[derive(Debug, Clone, Default)]
pub struct RelativePosition {
    config: RelativePositionConfig,
    /// The last depth map's normaliser and candidate blocks: the block scan is most of a
    /// sample's work, and depends only on the map and the config.
    scan: DepthCache<(Normaliser, Blocks)>,
}

impl RelativePosition {
    /// A task with the given parameters.
    pub fn new(config: RelativePositionConfig) -> Self {
        Self {
            config,
            scan: DepthCache::default(),
        }
    }

    /// The parameters.
    pub fn config(&self) -> &RelativePositionConfig {
        &self.config
    }

    fn check_config(&self) -> Result<()> {
        let c = &self.config;
        let bad = |message: String| Err(Error::invalid_config(NAME, message));
        if c.block == 0 || c.min_distance_divisor == 0 {
            return bad("block and min_distance_divisor must be positive".into());
        }
        if c.facing_weights.iter().all(|&w| w == 0) {
            return bad("facing_weights are all zero".into());
        }
        if !(0.0..=1.0).contains(&c.near_probability) {
            return bad(format!(
                "near_probability {} is not in [0, 1]",
                c.near_probability
            ));
        }
        if c.center_margin.is_nan() || c.center_margin < 0.0 {
            return bad(format!("center_margin {} is negative", c.center_margin));
        }
        Ok(())
    }
}

/// The answer option text for a target offset seen from a camera facing `facing`.
///
/// `right_in_image`: the target lies at a larger image column (lateral offset >= 0);
/// `farther`: the target is deeper (depth offset >= 0). `lateral`/`depth` say which offsets the
/// question uses: near pairs only the lateral one, far pairs the depth one and, for the
/// diagonal options, both. The camera's own right is its facing turned clockwise seen from above.
pub fn answer_text(facing: Facing, lateral: Option<bool>, depth: Option<bool>) -> String {
    let sign = |b: bool| if b { 1 } else { -1 };
    let v = (lateral.map_or(0, sign), depth.map_or(0, sign));
    let f = facing.vector();
    let r = (f.1, -f.0);
    let front = v.0 * f.0 + v.1 * f.1;
    let right = v.0 * r.0 + v.1 * r.1;
    let side = match right.signum() {
        1 => Some("Right"),
        -1 => Some("Left"),
        _ => None,
    };
    let ahead = match front.signum() {
        1 => Some("Front"),
        -1 => Some("Back"),
        _ => None,
    };
    match (side, ahead) {
        (Some(s), Some(a)) => format!("{s}-{a}"),
        (Some(s), None) => s.to_owned(),
        (None, Some(a)) => a.to_owned(),
        (None, None) => String::new(),
    }
}

impl PretextTask for RelativePosition {
    fn name(&self) -> &str {
        NAME
    }

    fn inputs(&self) -> Inputs {
        Inputs::RgbDepth
    }

    fn generate(&self, scene: &Scene, rng: &mut TaskRng) -> Result<Vec<Sample>> {
        self.check_config()?;
        let c = &self.config;
        let depth = scene_depth(NAME, scene)?;
        let (w, h) = (depth.width(), depth.height());
        let k = 2 * (c.block / 2) + 1;
        if w < k || h < k {
            return Err(Error::TooSmall {
                task: NAME,
                w,
                h,
                min_w: k,
                min_h: k,
            });
        }
        let scan = || {
            let norm = Normaliser::min_max(depth.values()).ok_or_else(|| Error::InvalidDepth {
                task: NAME,
                scene: scene.id.clone(),
                valid: 0,
            })?;
            let blocks =
                collect_blocks(depth, norm, k as usize, c.inner_threshold, c.center_margin);
            Ok((norm, blocks))
        };
        let scanned = match &scene.depth {
            Some(map) => self.scan.get_or_compute(map, scan)?,
            None => Arc::new(scan()?),
        };
        let blocks = &scanned.1;

        let first = if rng.random_bool(c.near_probability) {
            PairKind::Near
        } else {
            PairKind::Far
        };
        let second = if first == PairKind::Near {
            PairKind::Far
        } else {
            PairKind::Near
        };
        let mut rules = Rules {
            kind: first,
            inter: c.inter_threshold,
            min_dist: w.min(h) / c.min_distance_divisor,
            near_max_dy: c.near_max_dy,
            diagonal_min_dx: c.diagonal_min_dx,
            metric: c.metric_consistency,
            depth,
            half: k / 2,
            max_steps: c.max_search_steps,
        };
        let mut total = 0u64;
        let pair = match rules.search(blocks) {
            Ok(p) => p,
            Err(s1) => {
                total += s1;
                rules.kind = second;
                rules.search(blocks).map_err(|s2| Error::NoCandidate {
                    task: NAME,
                    scene: scene.id.clone(),
                    tries: usize::try_from(total + s2).unwrap_or(usize::MAX),
                })?
            }
        };
        let kind = rules.kind;
        let centres = [
            (blocks.x[pair.a], blocks.y[pair.a]),
            (blocks.x[pair.b], blocks.y[pair.b]),
        ];
        let z = centres.map(|(x, y)| block_depth(depth, x, y, k / 2));

        // Draw order as in the reference: labels, facing, option order, observer/target.
        let mut labels = [1u32, 2];
        labels.shuffle(rng);
        let total_w: u32 = c.facing_weights.iter().sum();
        let mut pick = rng.random_range(0..total_w);
        let facing_idx = c.facing_weights.iter().position(|&fw| {
            if pick < fw {
                return true;
            }
            pick -= fw;
            false
        });
        let facing = Facing::ALL[facing_idx.unwrap_or(3)];
        let diagonal =
            kind == PairKind::Far && centres[0].0.abs_diff(centres[1].0) > c.diagonal_min_dx;
        let mut options: Vec<&str> = if diagonal {
            vec!["Left-Front", "Right-Front", "Right-Back", "Left-Back"]
        } else {
            vec!["Left", "Right", "Front", "Back"]
        };
        options.shuffle(rng);
        let mut view = [0usize, 1];
        view.shuffle(rng);
        let (obs, tgt) = (view[0], view[1]);

        let right_in_image = centres[tgt].0 >= centres[obs].0;
        let farther = z[tgt] >= z[obs];
        let text = match (kind, diagonal) {
            (PairKind::Near, _) => answer_text(facing, Some(right_in_image), None),
            (PairKind::Far, false) => answer_text(facing, None, Some(farther)),
            (PairKind::Far, true) => answer_text(facing, Some(right_in_image), Some(farther)),
        };
        let slot = options.iter().position(|o| *o == text).ok_or_else(|| {
            Error::invalid_config(NAME, format!("answer {text:?} is not among the options"))
        })?;
        let answer = LETTERS[slot].to_owned();

        let mut img = (*scene.rgb).clone();
        let text_h = marker::marker_height(w, h, c.label_scale);
        for (i, &(x, y)) in centres.iter().enumerate() {
            marker::draw_marker(&mut img, x, y, &labels[i].to_string(), text_h);
        }
        let option_list = options
            .iter()
            .zip(LETTERS)
            .map(|(o, l)| format!("{l}. {o}"))
            .collect::<Vec<_>>()
            .join(" ");
        let facing_phrase =
            &c.facing_phrases[Facing::ALL.iter().position(|f| *f == facing).unwrap_or(0)];
        let template_text = if kind == PairKind::Near {
            &c.prompt_near
        } else {
            &c.prompt_far
        };
        let problem = template::render(
            template_text,
            &[
                ("observer", &labels[obs].to_string()),
                ("target", &labels[tgt].to_string()),
                ("facing", facing_phrase),
                ("options", &option_list),
            ],
        );
        template::check_images(NAME, &problem, 1)?;

        let region = |i: usize| {
            let (lo, hi) = if i == 0 {
                (blocks.lo[pair.a], blocks.hi[pair.a])
            } else {
                (blocks.lo[pair.b], blocks.hi[pair.b])
            };
            json!({
                "label": labels[i],
                "x": centres[i].0,
                "y": centres[i].1,
                "depth": z[i],
                "normalized_range": [lo, hi],
            })
        };
        let mut metadata = BTreeMap::new();
        metadata.insert("kind".to_owned(), json!(kind));
        metadata.insert("diagonal".to_owned(), json!(diagonal));
        metadata.insert("facing".to_owned(), json!(facing));
        metadata.insert("observer".to_owned(), region(obs));
        metadata.insert("target".to_owned(), region(tgt));
        metadata.insert("options".to_owned(), json!(options));
        metadata.insert("answer_text".to_owned(), json!(text));
        metadata.insert("candidates".to_owned(), json!(blocks.x.len()));
        metadata.insert("search_steps".to_owned(), json!(total + pair.steps));
        metadata.insert("marker_height".to_owned(), json!(text_h));
        Ok(vec![Sample {
            task: NAME.to_owned(),
            source: scene.id.clone(),
            problem,
            answer,
            images: vec![img],
            metadata,
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::DepthMap;

    /// A depth map with a near left half and a far right half, plus some texture.
    fn two_planes(w: u32, h: u32, far: f32) -> Scene {
        let values = (0..w * h)
            .map(|i| if i % w < w / 2 { 2.0 } else { far } + (i % 7) as f32 * 0.001)
            .collect();
        Scene {
            id: format!("planes{far}"),
            rgb: Arc::new(image::RgbImage::from_fn(w, h, |x, y| {
                image::Rgb([x as u8, y as u8, 90])
            })),
            depth: Some(Arc::new(DepthMap::from_values(w, h, values).unwrap())),
        }
    }

    /// The scan cache changes no sample: repeated calls on one scene, and a switch to another
    /// scene, give what a fresh task gives.
    #[test]
    fn scan_cache_changes_no_sample() {
        use rand::SeedableRng;
        let cached = RelativePosition::default();
        let (a, b) = (two_planes(200, 150, 9.0), two_planes(200, 150, 5.0));
        for (scene, seed) in [(&a, 1), (&a, 2), (&b, 3), (&a, 4)] {
            let rng = || TaskRng::seed_from_u64(seed);
            let fresh = RelativePosition::default()
                .generate(scene, &mut rng())
                .unwrap();
            assert_eq!(
                cached.generate(scene, &mut rng()).unwrap(),
                fresh,
                "{}",
                scene.id
            );
        }
    }

    #[test]
    fn answer_table_matches_reference() {
        use Facing::*;
        // Near pairs (lateral offset only), from the reference's four branches.
        for (f, right, want) in [
            (Left, true, "Back"),
            (Left, false, "Front"),
            (Right, true, "Front"),
            (Right, false, "Back"),
            (TowardViewer, true, "Left"),
            (TowardViewer, false, "Right"),
            (AwayFromViewer, true, "Right"),
            (AwayFromViewer, false, "Left"),
        ] {
            assert_eq!(answer_text(f, Some(right), None), want, "{f:?} {right}");
        }
        // Far pairs, same column (depth offset only).
        for (f, farther, want) in [
            (Left, true, "Right"),
            (Right, true, "Left"),
            (TowardViewer, true, "Back"),
            (AwayFromViewer, true, "Front"),
            (Left, false, "Left"),
            (AwayFromViewer, false, "Back"),
        ] {
            assert_eq!(answer_text(f, None, Some(farther)), want, "{f:?} {farther}");
        }
        // Diagonal options.
        for (f, right, farther, want) in [
            (Left, true, true, "Right-Back"),
            (Left, true, false, "Left-Back"),
            (Left, false, true, "Right-Front"),
            (Right, true, true, "Left-Front"),
            (Right, false, false, "Right-Back"),
            (TowardViewer, true, true, "Left-Back"),
            (TowardViewer, false, false, "Right-Front"),
            (AwayFromViewer, true, false, "Right-Back"),
            (AwayFromViewer, false, true, "Left-Front"),
        ] {
            assert_eq!(
                answer_text(f, Some(right), Some(farther)),
                want,
                "{f:?} {right} {farther}"
            );
        }
    }
}
