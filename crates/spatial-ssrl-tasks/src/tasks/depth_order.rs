//! Regional depth ordering (RGB-D): three numbered points on the image, one in each of three
//! depth bands; the answer lists the labels from nearest to farthest, e.g. `3-1-2`.
//!
//! Follows `data_process/Depth.py` of InternLM/Spatial-SSRL:
//! - depth is clipped to its 0.5th..99.5th percentiles (numpy linear interpolation) and
//!   normalised to `[0, 1]`; pixels outside the clip range become invalid;
//! - the bands are `[0, 0.3]`, `[0.35, 0.65]`, `[0.7, 1]` (nearest first);
//! - a point qualifies when its 25x25 patch lies inside the image, holds no invalid pixel and
//!   spans less than 0.15 normalised depth; a band with no such point falls back to an 11x11
//!   patch spanning less than 0.2;
//! - within a band the point is uniform among the qualifying pixels (the reference shuffles
//!   the band's pixels and keeps the first that passes, which has the same distribution);
//! - the three bands get display labels 1..3 in random order; the answer is the display
//!   labels sorted by band (the reference's `argsort(order) + 1`).
//!
//! Unlike the reference, the patch test runs as one sliding min/max filter over the image
//! instead of per candidate pixel, and the markers are drawn legibly at a size scaled to the
//! image.

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::{Error, Result};
use crate::task::{DepthMap, Inputs, PretextTask, Sample, Scene, TaskRng};
use crate::tasks::depth_cache::DepthCache;
use crate::tasks::depth_stats::{self, Normaliser};
use crate::tasks::marker;
use crate::tasks::template;

/// Registry name of the depth-ordering task.
pub const NAME: &str = "depth";

/// Default problem text. `{labels}` becomes `1, 2 and 3`, `{example}` the answer's form
/// (`a-b-c`: letters, so it is never itself an answer).
const DEFAULT_PROMPT: &str = "<image>Three regions of this image are marked with the numbers {labels}. \
Using depth cues, order the marked regions from the one nearest to the camera to the one farthest \
from it. Give the answer as the three numbers joined by hyphens, nearest first, in the form {example}.";

/// Parameters of [`DepthOrder`]. `Default` gives the reference's values.
///
/// ```
/// use spatial_ssrl_tasks::DepthOrderConfig;
/// let c: DepthOrderConfig = serde_json::from_str(r#"{"patch": 21}"#).unwrap();
/// assert_eq!(c.patch, 21);
/// assert_eq!(c.fallback_patch, 11); // unspecified fields keep the defaults
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DepthOrderConfig {
    /// Lower clip percentile of the valid depths (reference: 0.5).
    pub low_percentile: f64,
    /// Upper clip percentile of the valid depths (reference: 99.5).
    pub high_percentile: f64,
    /// The three normalised depth bands `[low, high]` (inclusive), nearest first
    /// (reference: `[0, 0.3]`, `[0.35, 0.65]`, `[0.7, 1]`).
    pub bands: [[f32; 2]; 3],
    /// Side of the consistency patch around a point (reference: 25). As in the reference, an
    /// even side `s` acts as `s + 1` (the patch spans `s / 2` pixels each way).
    pub patch: u32,
    /// A patch qualifies when its normalised depth range is below this (reference: 0.15).
    pub patch_range: f32,
    /// Fallback patch side when a band has no qualifying point (reference: 11).
    pub fallback_patch: u32,
    /// Range limit of the fallback patch (reference: 0.2).
    pub fallback_range: f32,
    /// Marker glyph height as a fraction of [`crate::draw::label_height`].
    pub label_scale: f32,
    /// Problem template; must contain one `<image>`. Placeholders: `{labels}`, `{example}`.
    pub prompt: String,
}

impl Default for DepthOrderConfig {
    fn default() -> Self {
        Self {
            low_percentile: 0.5,
            high_percentile: 99.5,
            bands: [[0.0, 0.3], [0.35, 0.65], [0.7, 1.0]],
            patch: 25,
            patch_range: 0.15,
            fallback_patch: 11,
            fallback_range: 0.2,
            label_scale: 0.5,
            prompt: DEFAULT_PROMPT.to_owned(),
        }
    }
}

/// The regional depth-ordering task (registry name `"depth"`).
///
/// ```
/// use std::sync::Arc;
/// use rand::SeedableRng;
/// use spatial_ssrl_tasks::{DepthMap, DepthOrder, PretextTask, Scene, TaskRng};
///
/// // A floor receding from the camera: depth grows from the bottom row to the top row.
/// let (w, h) = (96u32, 96u32);
/// let depth: Vec<f32> = (0..w * h).map(|i| 1.0 + (h - 1 - i / w) as f32 * 0.1).collect();
/// let scene = Scene {
///     id: "floor".into(),
///     rgb: Arc::new(image::RgbImage::new(w, h)),
///     depth: Some(Arc::new(DepthMap::from_values(w, h, depth).unwrap())),
/// };
/// let s = &DepthOrder::default().generate(&scene, &mut TaskRng::seed_from_u64(1)).unwrap()[0];
/// // The nearest label sits lowest in the image.
/// let ys: Vec<u64> = s.metadata["points"].as_array().unwrap().iter()
///     .map(|p| p["y"].as_u64().unwrap()).collect();
/// let nearest: usize = s.answer[..1].parse().unwrap();
/// assert_eq!(ys[nearest - 1], *ys.iter().max().unwrap());
/// ```
#[derive(Debug, Clone, Default)]
pub struct DepthOrder {
    config: DepthOrderConfig,
    /// The last depth map's clip range and main-patch band members: the percentiles and the
    /// patch filter are most of a sample's work, and depend only on the map and the config.
    scan: DepthCache<Scan>,
}

/// What [`DepthOrder`] derives from a depth map alone: the clip range (depth at the low and
/// high percentiles) and, per band, the points whose main patch is flat.
type Scan = ((f64, f64), Vec<Vec<u32>>);

/// One chosen point.
#[derive(Debug, Clone, Copy)]
struct Pick {
    x: usize,
    y: usize,
    /// Patch side that qualified it (the main one or the fallback).
    patch: usize,
}

impl DepthOrder {
    /// A task with the given parameters.
    pub fn new(config: DepthOrderConfig) -> Self {
        Self {
            config,
            scan: DepthCache::default(),
        }
    }

    /// The parameters.
    pub fn config(&self) -> &DepthOrderConfig {
        &self.config
    }

    fn check_config(&self) -> Result<()> {
        let c = &self.config;
        let bad = |message: String| Err(Error::invalid_config(NAME, message));
        if !(0.0..=100.0).contains(&c.low_percentile)
            || !(0.0..=100.0).contains(&c.high_percentile)
            || c.low_percentile >= c.high_percentile
        {
            return bad(format!(
                "percentiles {} and {} must satisfy 0 <= low < high <= 100",
                c.low_percentile, c.high_percentile
            ));
        }
        if c.patch == 0 || c.fallback_patch == 0 {
            return bad("patch sides must be positive".into());
        }
        if !c.bands.iter().all(|b| b[0] <= b[1]) {
            return bad(format!("bands {:?} must have low <= high", c.bands));
        }
        Ok(())
    }
}

/// A uniform pick from `members` (the reference shuffles the candidates and keeps the first
/// that qualifies: the same distribution).
fn pick(members: &[u32], w: usize, patch: usize, rng: &mut TaskRng) -> Option<Pick> {
    let (x, y) = depth_stats::pick_point(members, w as u32, rng)?;
    Some(Pick {
        x: x as usize,
        y: y as usize,
        patch,
    })
}

/// Window side of a patch of nominal side `side`: the reference spans `side / 2` each way.
fn window_side(side: u32) -> usize {
    2 * (side as usize / 2) + 1
}

/// Validates the scene's depth for an RGB-D task: present, the image's size, some valid pixel.
pub(crate) fn scene_depth<'a>(task: &'static str, scene: &'a Scene) -> Result<&'a DepthMap> {
    let depth = scene.depth.as_deref().ok_or_else(|| Error::MissingDepth {
        task,
        scene: scene.id.clone(),
    })?;
    let (w, h) = scene.rgb.dimensions();
    if depth.width() != w || depth.height() != h {
        return Err(Error::SizeMismatch {
            path: scene.id.clone().into(),
            depth_w: depth.width(),
            depth_h: depth.height(),
            rgb_w: w,
            rgb_h: h,
        });
    }
    let valid = depth.valid_count();
    if valid == 0 {
        return Err(Error::InvalidDepth {
            task,
            scene: scene.id.clone(),
            valid,
        });
    }
    Ok(depth)
}

impl PretextTask for DepthOrder {
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
        let (w, h) = (depth.width() as usize, depth.height() as usize);
        let min_side = window_side(c.patch.min(c.fallback_patch));
        if w < min_side || h < min_side {
            let m = min_side as u32;
            return Err(Error::TooSmall {
                task: NAME,
                w: w as u32,
                h: h as u32,
                min_w: m,
                min_h: m,
            });
        }

        // One filter pass per patch size serves all three bands; the fallback is rarely needed.
        let members = |norm: Normaliser, side: u32, range: f32| {
            depth_stats::flat_points(depth, norm, &c.bands, window_side(side), range)
        };
        let clipped = |(lo, hi): (f64, f64)| Normaliser::Clipped {
            lo: lo as f32,
            hi: hi as f32,
        };
        let scan = || {
            let valid = depth.values().iter().copied().filter(|v| !v.is_nan());
            let range = depth_stats::percentiles(valid, c.low_percentile, c.high_percentile)
                .unwrap_or((f64::NAN, f64::NAN));
            Ok((range, members(clipped(range), c.patch, c.patch_range)))
        };
        let scanned = match &scene.depth {
            Some(map) => self.scan.get_or_compute(map, scan)?,
            None => std::sync::Arc::new(scan()?),
        };
        let ((lo, hi), main) = (scanned.0, &scanned.1);
        let norm = clipped((lo, hi));
        let mut fallback: Option<Vec<Vec<u32>>> = None;
        let mut picks = Vec::with_capacity(3);
        for (b, band) in c.bands.iter().enumerate() {
            let mut p = pick(&main[b], w, window_side(c.patch), rng);
            if p.is_none() {
                let fb = fallback
                    .get_or_insert_with(|| members(norm, c.fallback_patch, c.fallback_range));
                p = pick(&fb[b], w, window_side(c.fallback_patch), rng);
            }
            match p {
                Some(p) => picks.push(p),
                None => {
                    let in_band = |v: &&f32| {
                        let n = norm.apply(**v);
                        n >= band[0] && n <= band[1]
                    };
                    let tries = depth.values().iter().filter(in_band).count();
                    return Err(Error::NoCandidate {
                        task: NAME,
                        scene: scene.id.clone(),
                        tries,
                    });
                }
            }
        }

        // band_of[label - 1] = band index (0 nearest) shown with that label.
        let mut band_of = [0usize, 1, 2];
        band_of.shuffle(rng);
        let mut answer_labels = [0usize; 3];
        for (label0, &band) in band_of.iter().enumerate() {
            answer_labels[band] = label0 + 1;
        }
        let answer = template::join(&answer_labels);

        let mut img = (*scene.rgb).clone();
        let text_h = marker::marker_height(w as u32, h as u32, c.label_scale);
        let mut points = Vec::with_capacity(3);
        for (label0, &band) in band_of.iter().enumerate() {
            let p = picks[band];
            marker::draw_marker(
                &mut img,
                p.x as u32,
                p.y as u32,
                &(label0 + 1).to_string(),
                text_h,
            );
            points.push(json!({
                "label": label0 + 1,
                "x": p.x,
                "y": p.y,
                "depth": depth.get(p.x as u32, p.y as u32),
                "normalized_depth": norm.apply(depth.values()[p.y * w + p.x]),
                "band": band,
                "patch": p.patch,
            }));
        }

        let problem = template::render(
            &c.prompt,
            &[
                ("labels", "1, 2 and 3"),
                ("example", &template::answer_pattern(3)),
            ],
        );
        template::check_images(NAME, &problem, 1)?;
        let mut metadata = BTreeMap::new();
        metadata.insert("points".to_owned(), json!(points));
        metadata.insert("clip_depth".to_owned(), json!([lo, hi]));
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
    use std::sync::Arc;

    use rand::SeedableRng;

    use super::*;

    fn scene(w: u32, h: u32, f: impl Fn(u32, u32) -> f32) -> Scene {
        let values = (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .map(|(x, y)| f(x, y))
            .collect();
        Scene {
            id: "t".into(),
            rgb: Arc::new(image::RgbImage::new(w, h)),
            depth: Some(Arc::new(DepthMap::from_values(w, h, values).unwrap())),
        }
    }

    /// The scan cache changes no sample: repeated calls on one scene, and a switch to another
    /// scene, give what a fresh task gives.
    #[test]
    fn depth_cache_changes_no_sample() {
        let cached = DepthOrder::default();
        let a = scene(120, 60, |x, _| 1.0 + (x / 40) as f32 * 4.0);
        let b = scene(120, 60, |x, _| 9.0 - (x / 40) as f32 * 4.0);
        for (s, seed) in [(&a, 1), (&a, 2), (&b, 3), (&a, 4)] {
            let rng = || TaskRng::seed_from_u64(seed);
            let fresh = DepthOrder::default().generate(s, &mut rng()).unwrap();
            assert_eq!(cached.generate(s, &mut rng()).unwrap(), fresh);
        }
    }

    #[test]
    fn three_steps_give_their_order() {
        // Three vertical strips at depths 1, 5, 9 from left to right.
        let s = scene(120, 60, |x, _| 1.0 + (x / 40) as f32 * 4.0);
        for seed in 0..20 {
            let out = DepthOrder::default()
                .generate(&s, &mut TaskRng::seed_from_u64(seed))
                .unwrap();
            let m = &out[0].metadata["points"];
            let labels: Vec<usize> = out[0]
                .answer
                .split('-')
                .map(|t| t.parse().unwrap())
                .collect();
            let xs: Vec<u64> = labels
                .iter()
                .map(|l| m[l - 1]["x"].as_u64().unwrap())
                .collect();
            assert!(
                xs[0] < 40 && (40..80).contains(&xs[1]) && xs[2] >= 80,
                "{xs:?}"
            );
            // The full 25 px patch fits inside every strip.
            assert!(m.as_array().unwrap().iter().all(|p| p["patch"] == 25));
        }
    }

    #[test]
    fn narrow_strips_fall_back_to_small_patch() {
        // Strips 16 px wide: no 25 px patch is uniform, an 11 px one is.
        let s = scene(48, 40, |x, _| 1.0 + (x / 16) as f32);
        let out = DepthOrder::default()
            .generate(&s, &mut TaskRng::seed_from_u64(3))
            .unwrap();
        assert!(
            out[0].metadata["points"]
                .as_array()
                .unwrap()
                .iter()
                .all(|p| p["patch"] == 11)
        );
    }

    #[test]
    fn typed_errors() {
        let t = DepthOrder::default();
        let mut rng = TaskRng::seed_from_u64(0);
        let flat = scene(64, 64, |_, _| 2.0);
        assert!(matches!(
            t.generate(&flat, &mut rng),
            Err(Error::NoCandidate { .. })
        ));
        let invalid = scene(64, 64, |_, _| f32::NAN);
        assert!(matches!(
            t.generate(&invalid, &mut rng),
            Err(Error::InvalidDepth { valid: 0, .. })
        ));
        let tiny = scene(10, 64, |x, _| x as f32 + 1.0);
        assert!(matches!(
            t.generate(&tiny, &mut rng),
            Err(Error::TooSmall { .. })
        ));
        let none = Scene::rgb("x", image::RgbImage::new(64, 64));
        assert!(matches!(
            t.generate(&none, &mut rng),
            Err(Error::MissingDepth { .. })
        ));
        let bad = DepthOrder::new(DepthOrderConfig {
            low_percentile: 60.0,
            high_percentile: 50.0,
            ..Default::default()
        });
        assert!(matches!(
            bad.generate(&flat, &mut rng),
            Err(Error::InvalidConfig { .. })
        ));
    }
}
