//! Relative position: the answer agrees with the back-projected geometry, pairs follow the
//! near/far rules, and pair searches match the reference's.

use std::collections::BTreeMap;

use serde_json::Value;
use spatial_ssrl_tasks::{DepthMap, RelativePosition, RelativePositionConfig, Sample};

use crate::{reference_golden, reference_scenes, run, synthetic, u};

/// Largest valid depth in the `(2 half + 1)^2` block around `(x, y)`.
fn block_max(depth: &DepthMap, x: u32, y: u32, half: u32) -> f32 {
    let mut m = f32::NEG_INFINITY;
    for yy in y.saturating_sub(half)..=(y + half).min(depth.height() - 1) {
        for xx in x.saturating_sub(half)..=(x + half).min(depth.width() - 1) {
            if let Some(v) = depth.get(xx, yy) {
                m = m.max(v);
            }
        }
    }
    m
}

/// Recomputes a relative-position answer from geometry: back-project both block centres with
/// a pinhole camera (principal point at the image centre; the focal length only scales the
/// lateral axis and cannot change any sign), rotate the offset into the frame of a camera at
/// the observer with the stated yaw, and read off the asked components.
fn expected_position_answer(
    s: &Sample,
    depth: &DepthMap,
    half: u32,
    diagonal_min_dx: u32,
) -> String {
    let m = &s.metadata;
    let (o, t) = (&m["observer"], &m["target"]);
    let w = f64::from(depth.width());
    let focal = w; // any positive value gives the same answer
    let point = |r: &Value| {
        let (x, y) = (u(&r["x"]), u(&r["y"]));
        let z = f64::from(block_max(depth, x, y, half));
        assert!(
            (z - r["depth"].as_f64().unwrap()).abs() < 1e-3,
            "metadata depth disagrees with the depth map"
        );
        ((f64::from(x) + 0.5 - w / 2.0) * z / focal, z, x)
    };
    let (xo, zo, uo) = point(o);
    let (xt, zt, ut) = point(t);
    // Yaw: 0 looks into the scene (+z), 90 degrees to the image's right (+x).
    let yaw = match m["facing"].as_str().unwrap() {
        "away_from_viewer" => 0.0f64,
        "right" => 90.0,
        "toward_viewer" => 180.0,
        "left" => 270.0,
        f => panic!("unknown facing {f}"),
    }
    .to_radians();
    let (dx, dz) = (xt - xo, zt - zo);
    let kind = m["kind"].as_str().unwrap();
    let lateral_only = kind == "near";
    let diagonal = kind == "far" && uo.abs_diff(ut) > diagonal_min_dx;
    assert_eq!(m["diagonal"], diagonal);
    // Near pairs ask only about the lateral offset, far pairs about depth (and both when diagonal):
    // keep the asked component(s) of the offset and drop the other.
    let (dx_kept, dz_kept) = match (lateral_only, diagonal) {
        (true, _) => (dx, 0.0),
        (false, false) => (0.0, dz),
        (false, true) => (dx, dz),
    };
    let right_k = dx_kept * yaw.cos() - dz_kept * yaw.sin();
    let ahead_k = dx_kept * yaw.sin() + dz_kept * yaw.cos();
    let side = if right_k > 1e-9 {
        "Right"
    } else if right_k < -1e-9 {
        "Left"
    } else {
        ""
    };
    let front = if ahead_k > 1e-9 {
        "Front"
    } else if ahead_k < -1e-9 {
        "Back"
    } else {
        ""
    };
    match (side.is_empty(), front.is_empty()) {
        (false, false) => format!("{side}-{front}"),
        (false, true) => side.to_owned(),
        (true, false) => front.to_owned(),
        (true, true) => panic!("degenerate offset"),
    }
}

/// Checks the pair rules of a relative-position sample against the depth map.
fn check_pair_rules(s: &Sample, depth: &DepthMap, c: &RelativePositionConfig) {
    let m = &s.metadata;
    let (o, t) = (&m["observer"], &m["target"]);
    let (w, h) = (depth.width(), depth.height());
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    for v in depth.values().iter().filter(|v| !v.is_nan()) {
        lo = lo.min(*v);
        hi = hi.max(*v);
    }
    let half = c.block / 2;
    let range = |r: &Value| {
        let (x, y) = (u(&r["x"]), u(&r["y"]));
        assert!(
            x >= half && y >= half && x + half < w && y + half < h,
            "block outside the image"
        );
        let (mut a, mut b) = (f32::INFINITY, f32::NEG_INFINITY);
        for yy in y - half..=y + half {
            for xx in x - half..=x + half {
                if let Some(v) = depth.get(xx, yy) {
                    let n = if hi > lo { (v - lo) / (hi - lo) } else { 1.0 };
                    a = a.min(n);
                    b = b.max(n);
                }
            }
        }
        assert!(a <= b, "block has no valid depth");
        assert!(
            b - a <= c.inner_threshold + 1e-6,
            "block range {} > {}",
            b - a,
            c.inner_threshold
        );
        (a, b, x, y)
    };
    let (a1, b1, x1, y1) = range(o);
    let (a2, b2, x2, y2) = range(t);
    let min_dist = f64::from(w.min(h) / c.min_distance_divisor);
    let t_ = c.inter_threshold + 1e-6;
    match m["kind"].as_str().unwrap() {
        "near" => {
            assert!(
                (b1 - a2).abs() <= t_ && (b2 - a1).abs() <= t_,
                "near pair depths differ"
            );
            assert!(
                y1.abs_diff(y2) < c.near_max_dy,
                "near pair rows too far apart"
            );
            assert!(
                f64::from(x1.abs_diff(x2)) >= min_dist,
                "near pair columns too close"
            );
        }
        "far" => {
            assert!(
                a1.max(a2) - b1.min(b2) >= c.inter_threshold - 1e-6,
                "far pair depth gap too small"
            );
            assert!(
                f64::from(x1.abs_diff(x2)).hypot(f64::from(y1.abs_diff(y2))) >= min_dist,
                "far pair too close"
            );
        }
        k => panic!("unknown kind {k}"),
    }
}

pub(crate) fn check_position_sample(s: &Sample, depth: &DepthMap, c: &RelativePositionConfig) {
    let letter = s.answer.as_str();
    let slot = ["A", "B", "C", "D"]
        .iter()
        .position(|l| *l == letter)
        .expect("answer is a letter A-D");
    let options: Vec<&str> = s.metadata["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let want = expected_position_answer(s, depth, c.block / 2, c.diagonal_min_dx);
    assert_eq!(
        options[slot], want,
        "{}: answer {letter} = {} but geometry says {want}",
        s.source, options[slot]
    );
    // The problem lists the options in the same order and names both labels.
    for (l, o) in ["A", "B", "C", "D"].iter().zip(&options) {
        assert!(
            s.problem.contains(&format!("{l}. {o}")),
            "problem lacks option {l}. {o}"
        );
    }
    assert_eq!(s.problem.matches("<image>").count(), 1);
    check_pair_rules(s, depth, c);
}

#[test]
fn relative_position_on_reference_inputs_agrees_with_geometry() {
    let task = RelativePosition::default();
    let mut kinds = BTreeMap::new();
    for scene in reference_scenes() {
        let depth = scene.depth.clone().unwrap();
        for seed in 0..12 {
            let s = run(&task, &scene, seed).unwrap_or_else(|e| panic!("{}: {e}", scene.id));
            check_position_sample(&s, &depth, task.config());
            *kinds
                .entry(s.metadata["kind"].as_str().unwrap().to_owned())
                .or_insert(0) += 1;
        }
    }
    assert!(
        kinds.get("near").is_some_and(|&n| n > 0) && kinds.get("far").is_some_and(|&n| n > 0),
        "{kinds:?}"
    );
}

#[test]
fn position_pairs_match_the_reference_search() {
    let golden = reference_golden();
    for scene in reference_scenes().iter().take(2) {
        for (kind, p) in [("near", 1.0), ("far", 0.0)] {
            let task = RelativePosition::new(RelativePositionConfig {
                near_probability: p,
                ..Default::default()
            });
            let s = run(&task, scene, 3).unwrap();
            assert_eq!(s.metadata["kind"], kind);
            let mut got: Vec<[u32; 2]> = ["observer", "target"]
                .iter()
                .map(|r| [u(&s.metadata[*r]["y"]), u(&s.metadata[*r]["x"])])
                .collect();
            let mut want: Vec<[u32; 2]> = golden["position_pairs"][&scene.id][kind]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| [u(&p[0]), u(&p[1])])
                .collect();
            got.sort();
            want.sort();
            assert_eq!(
                got, want,
                "{} {kind}: pair differs from the reference's",
                scene.id
            );
        }
    }
}

#[test]
fn relative_position_on_a_depth_step_knows_who_is_behind() {
    // Left half a near wall (depth 2), right half a far wall (depth 9): far pairs straddle the step.
    let (w, h) = (400, 120);
    let scene = synthetic(w, h, |x, _| if x < w / 2 { 2.0 } else { 9.0 });
    let cfg = RelativePositionConfig {
        near_probability: 0.0,
        ..Default::default()
    };
    let task = RelativePosition::new(cfg.clone());
    for seed in 0..40 {
        let s = run(&task, &scene, seed).unwrap();
        assert_eq!(s.metadata["kind"], "far");
        check_position_sample(&s, scene.depth.as_ref().unwrap(), &cfg);
        let tx = u(&s.metadata["target"]["x"]);
        let farther = tx >= w / 2;
        let text = s.metadata["answer_text"].as_str().unwrap();
        // Facing into the scene, the far wall is ahead; facing the viewer, it is behind.
        match s.metadata["facing"].as_str().unwrap() {
            "away_from_viewer" => assert_eq!(text.contains("Front"), farther, "{text}"),
            "toward_viewer" => assert_eq!(text.contains("Back"), farther, "{text}"),
            "left" => assert_eq!(text.starts_with("Right"), farther, "{text}"),
            "right" => assert_eq!(text.starts_with("Left"), farther, "{text}"),
            f => panic!("{f}"),
        }
    }
}
