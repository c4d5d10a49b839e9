//! Depth ordering: labels in answer order go strictly farther, each point sits in its band
//! with a flat patch, and the clip range matches numpy's percentiles.

use std::collections::BTreeMap;

use spatial_ssrl_tasks::{DepthMap, DepthOrder, DepthOrderConfig, Error, Sample};

use crate::{reference_golden, reference_scenes, run, synthetic, u};

/// Numpy-style linear percentile, by full sort (independent of the task's partial sort).
fn percentile_sorted(sorted: &[f32], q: f64) -> f64 {
    let p = q / 100.0 * (sorted.len() - 1) as f64;
    let r = p.floor() as usize;
    let a = f64::from(sorted[r]);
    let b = f64::from(sorted[(r + 1).min(sorted.len() - 1)]);
    a + (b - a) * (p - r as f64)
}

/// Checks a depth-ordering sample against the depth map: labels in answer order have strictly
/// increasing depth, each point lies in its band after percentile clipping, and its patch is
/// fully valid with a small normalised range.
pub(crate) fn check_depth_sample(s: &Sample, depth: &DepthMap, c: &DepthOrderConfig) {
    let labels: Vec<usize> = s.answer.split('-').map(|t| t.parse().unwrap()).collect();
    let mut sorted_labels = labels.clone();
    sorted_labels.sort();
    assert_eq!(
        sorted_labels,
        vec![1, 2, 3],
        "answer {} is not a permutation",
        s.answer
    );
    let points = s.metadata["points"].as_array().unwrap();
    let mut valid: Vec<f32> = depth
        .values()
        .iter()
        .copied()
        .filter(|v| !v.is_nan())
        .collect();
    valid.sort_by(f32::total_cmp);
    let (lo, hi) = (
        percentile_sorted(&valid, c.low_percentile),
        percentile_sorted(&valid, c.high_percentile),
    );
    let norm = |v: f32| (f64::from(v) - lo) / (hi - lo);
    let mut last = f32::NEG_INFINITY;
    for (rank, &label) in labels.iter().enumerate() {
        let p = &points[label - 1];
        assert_eq!(p["label"], label);
        let (x, y) = (u(&p["x"]), u(&p["y"]));
        let d = depth.get(x, y).expect("drawn point has valid depth");
        assert!(
            d > last,
            "{}: label {label} at depth {d} is not farther than {last}",
            s.source
        );
        last = d;
        let band = c.bands[rank];
        let n = norm(d);
        assert!(
            n >= f64::from(band[0]) - 1e-5 && n <= f64::from(band[1]) + 1e-5,
            "{}: depth {n} outside band {band:?}",
            s.source
        );
        let side = u(&p["patch"]);
        let limit = if side == 2 * (c.patch / 2) + 1 {
            c.patch_range
        } else {
            c.fallback_range
        };
        let half = side / 2;
        let (mut pmin, mut pmax) = (f64::INFINITY, f64::NEG_INFINITY);
        for yy in y - half..=y + half {
            for xx in x - half..=x + half {
                let v = depth.get(xx, yy).expect("patch is fully valid");
                assert!(
                    f64::from(v) >= lo - 1e-4 && f64::from(v) <= hi + 1e-4,
                    "patch value outside the clip range"
                );
                pmin = pmin.min(norm(v));
                pmax = pmax.max(norm(v));
            }
        }
        assert!(
            pmax - pmin < f64::from(limit) + 1e-5,
            "{}: patch range {} >= {limit}",
            s.source,
            pmax - pmin
        );
        // A marker was drawn on the point: white disc or black ring/glyph pixels.
        let px = s.images[0].get_pixel(x, y).0;
        assert!(
            px == [255, 255, 255] || px == [0, 0, 0],
            "no marker at ({x}, {y}): {px:?}"
        );
    }
}

#[test]
fn depth_order_on_reference_inputs_agrees_with_depth() {
    let task = DepthOrder::default();
    let mut ok = BTreeMap::new();
    for scene in reference_scenes() {
        let depth = scene.depth.clone().unwrap();
        for seed in 0..8 {
            match run(&task, &scene, seed) {
                Ok(s) => {
                    check_depth_sample(&s, &depth, task.config());
                    assert_eq!(s.images[0].dimensions(), scene.rgb.dimensions());
                    *ok.entry(scene.id.clone()).or_insert(0) += 1;
                }
                Err(Error::NoCandidate { .. }) => {}
                Err(e) => panic!("{}: {e}", scene.id),
            }
        }
    }
    // DIODE (the reference's own depth-ordering input) and the dense MegaDepth scene always work.
    assert_eq!(ok.get("RGB-D_img3.png"), Some(&8), "{ok:?}");
    assert_eq!(ok.get("RGB-D_img1.jpg"), Some(&8), "{ok:?}");
}

#[test]
fn depth_order_on_a_ground_plane_puts_the_lowest_point_first() {
    // A tilted floor: depth grows linearly towards the top of the image.
    let (w, h) = (160, 120);
    let scene = synthetic(w, h, |_, y| 1.0 + (h - 1 - y) as f32 * 0.05);
    let task = DepthOrder::default();
    for seed in 0..20 {
        let s = run(&task, &scene, seed).unwrap();
        check_depth_sample(&s, scene.depth.as_ref().unwrap(), task.config());
        let pts = s.metadata["points"].as_array().unwrap();
        let ys: Vec<u32> = s
            .answer
            .split('-')
            .map(|l| u(&pts[l.parse::<usize>().unwrap() - 1]["y"]))
            .collect();
        assert!(
            ys[0] > ys[1] && ys[1] > ys[2],
            "nearest-first must go up the image: {ys:?}"
        );
    }
}

#[test]
fn depth_clip_matches_numpy_percentiles() {
    let golden = reference_golden();
    let scene = &reference_scenes()[2];
    let s = run(&DepthOrder::default(), scene, 0).unwrap();
    let got = s.metadata["clip_depth"].as_array().unwrap();
    let want = golden["depth_clip"][&scene.id].as_array().unwrap();
    for (g, w) in got.iter().zip(want) {
        let (g, w) = (g.as_f64().unwrap(), w.as_f64().unwrap());
        assert!((g - w).abs() <= 1e-6 * w.abs(), "clip {g} vs numpy {w}");
    }
}
