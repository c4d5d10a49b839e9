//! The RGB-D tasks (depth ordering, relative 3D position), checked by construction: every
//! answer is recomputed from the depth map and the metadata's pixel coordinates with code
//! independent of the tasks', on the reference inputs (downscaled copies in
//! `tests/fixtures/reference_inputs/rgbd-small`) and on synthetic scenes with known answers.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use proptest::prelude::*;
use rand::SeedableRng;
use serde_json::Value;
use spatial_ssrl_tasks::{
    DepthMap, DepthOrder, DepthOrderConfig, Error, PretextTask, RelativePosition,
    RelativePositionConfig, Sample, Scene, TaskRng, load_depth, load_mask, load_rgb,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/reference_inputs/rgbd-small")
        .join(name)
}

/// The three reference RGB-D scenes (MegaDepth x2, DIODE with its validity mask), at 1/4
/// (MegaDepth) and 1/2 (DIODE) of the original resolution.
fn reference_scenes() -> Vec<Scene> {
    let mut out = Vec::new();
    for (img, depth, mask) in [
        ("RGB-D_img1.jpg", "RGB-D_depth1.h5", None),
        ("RGB-D_img2.jpg", "RGB-D_depth2.h5", None),
        (
            "RGB-D_img3.png",
            "RGB-D_depth3.npy",
            Some("RGB-D_depth_mask3.npy"),
        ),
    ] {
        let rgb = load_rgb(fixture(img)).unwrap();
        let mut d = load_depth(fixture(depth), None).unwrap();
        if let Some(m) = mask {
            let (_, _, mask) = load_mask(fixture(m)).unwrap();
            d = d.with_mask(&mask).unwrap();
        }
        assert_eq!((d.width(), d.height()), rgb.dimensions(), "{img}");
        out.push(Scene {
            id: img.into(),
            rgb: Arc::new(rgb),
            depth: Some(Arc::new(d)),
        });
    }
    out
}

fn synthetic(w: u32, h: u32, f: impl Fn(u32, u32) -> f32) -> Scene {
    let values = (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .map(|(x, y)| f(x, y))
        .collect();
    Scene {
        id: format!("synthetic-{w}x{h}"),
        rgb: Arc::new(image::RgbImage::from_pixel(
            w,
            h,
            image::Rgb([90, 120, 150]),
        )),
        depth: Some(Arc::new(DepthMap::from_values(w, h, values).unwrap())),
    }
}

fn run(task: &dyn PretextTask, scene: &Scene, seed: u64) -> spatial_ssrl_tasks::Result<Sample> {
    let mut v = task.generate(scene, &mut TaskRng::seed_from_u64(seed))?;
    assert_eq!(v.len(), 1);
    Ok(v.remove(0))
}

fn u(v: &Value) -> u32 {
    v.as_u64().unwrap() as u32
}

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
fn check_depth_sample(s: &Sample, depth: &DepthMap, c: &DepthOrderConfig) {
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

fn check_position_sample(s: &Sample, depth: &DepthMap, c: &RelativePositionConfig) {
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

/// The reference's own pair searches and numpy's percentiles, run on the same downscaled
/// fixtures by `scripts/rgbd_reference_golden.py`.
fn reference_golden() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("reference_golden.json")).unwrap())
        .unwrap()
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

#[test]
fn same_seed_same_sample() {
    let scene = &reference_scenes()[2];
    for task in [
        &DepthOrder::default() as &dyn PretextTask,
        &RelativePosition::default(),
    ] {
        let a = run(task, scene, 42).unwrap();
        let b = run(task, scene, 42).unwrap();
        assert_eq!(a, b, "{}", task.name());
    }
}

#[test]
fn answers_are_balanced_over_2000_samples() {
    // A depth step has both near pairs (within a side) and far pairs (across the step);
    // letters come from shuffled options.
    let scene = synthetic(160, 120, |x, _| if x < 80 { 2.0 } else { 9.0 });
    let task = RelativePosition::default();
    let mut letters = BTreeMap::new();
    let mut kinds = BTreeMap::new();
    for seed in 0..2000 {
        let s = run(&task, &scene, seed).unwrap();
        *letters.entry(s.answer.clone()).or_insert(0u32) += 1;
        *kinds
            .entry(s.metadata["kind"].as_str().unwrap().to_owned())
            .or_insert(0u32) += 1;
    }
    eprintln!("position letters over 2000 samples: {letters:?}, kinds: {kinds:?}");
    assert_eq!(letters.len(), 4, "{letters:?}");
    assert!(
        letters.values().all(|&n| n <= 600),
        "a letter above 30%: {letters:?}"
    );
    assert!(kinds.values().all(|&n| n >= 800), "near/far mix: {kinds:?}");

    let scene = synthetic(96, 96, |x, _| 1.0 + (x / 32) as f32 * 3.0);
    let task = DepthOrder::default();
    let mut orders = BTreeMap::new();
    for seed in 0..2000 {
        *orders
            .entry(run(&task, &scene, seed).unwrap().answer)
            .or_insert(0u32) += 1;
    }
    eprintln!("depth orders over 2000 samples: {orders:?}");
    // Six permutations, each expected 333 times.
    assert_eq!(orders.len(), 6, "{orders:?}");
    assert!(
        orders.values().all(|&n| (250..=420).contains(&n)),
        "{orders:?}"
    );
}

#[test]
fn typed_errors_not_panics() {
    let depth = DepthOrder::default();
    let pos = RelativePosition::default();
    let mut rng = TaskRng::seed_from_u64(0);
    let no_depth = Scene::rgb("plain", image::RgbImage::new(64, 64));
    for t in [&depth as &dyn PretextTask, &pos] {
        assert!(
            matches!(
                t.generate(&no_depth, &mut rng),
                Err(Error::MissingDepth { .. })
            ),
            "{}",
            t.name()
        );
        let nan = synthetic(64, 64, |_, _| f32::NAN);
        assert!(
            matches!(t.generate(&nan, &mut rng), Err(Error::InvalidDepth { .. })),
            "{}",
            t.name()
        );
        let tiny = synthetic(8, 8, |x, _| x as f32 + 1.0);
        assert!(
            matches!(t.generate(&tiny, &mut rng), Err(Error::TooSmall { .. })),
            "{}",
            t.name()
        );
        let mut mismatched = synthetic(64, 64, |x, _| x as f32 + 1.0);
        mismatched.rgb = Arc::new(image::RgbImage::new(32, 64));
        assert!(
            matches!(
                t.generate(&mismatched, &mut rng),
                Err(Error::SizeMismatch { .. })
            ),
            "{}",
            t.name()
        );
    }
    // Constant depth has no three depth bands.
    let flat = synthetic(64, 64, |_, _| 4.0);
    assert!(matches!(
        depth.generate(&flat, &mut rng),
        Err(Error::NoCandidate { .. })
    ));
    // Noise everywhere: no block is uniform enough.
    let noisy = synthetic(64, 64, |x, y| 1.0 + ((x * 7 + y * 13) % 17) as f32);
    assert!(matches!(
        pos.generate(&noisy, &mut rng),
        Err(Error::NoCandidate { .. })
    ));
    // The search budget is a step count: one comparison is not enough to find a far pair here.
    let impatient = RelativePosition::new(RelativePositionConfig {
        max_search_steps: 1,
        near_probability: 0.0,
        ..Default::default()
    });
    let floor = synthetic(96, 96, |_, y| 1.0 + y as f32 * 0.01);
    assert!(matches!(
        impatient.generate(&floor, &mut rng),
        Err(Error::NoCandidate { .. })
    ));
}

#[test]
fn configs_round_trip_and_reject_unknown_fields() {
    let d = DepthOrderConfig::default();
    let back: DepthOrderConfig = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
    assert_eq!(back, d);
    let p = RelativePositionConfig::default();
    let back: RelativePositionConfig =
        serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    assert_eq!(back, p);
    assert!(serde_json::from_str::<DepthOrderConfig>(r#"{"patches": 3}"#).is_err());
    let custom: RelativePositionConfig =
        serde_json::from_str(r#"{"facing_weights": [1, 0, 0, 0]}"#).unwrap();
    let scene = synthetic(160, 90, |_, _| 3.0);
    let s = run(&RelativePosition::new(custom), &scene, 9).unwrap();
    assert_eq!(s.metadata["facing"], "left");
}

/// Depth contents for the property test.
fn depth_strategy(n: usize) -> impl Strategy<Value = Vec<f32>> {
    prop_oneof![
        prop::collection::vec(
            prop_oneof![
                Just(f32::NAN),
                Just(0.0f32),
                Just(f32::INFINITY),
                -5.0f32..5.0,
                0.1f32..100.0
            ],
            n
        ),
        (0.1f32..50.0).prop_map(move |v| vec![v; n]),
        Just(vec![f32::NAN; n]),
        prop::collection::vec(0.5f32..1.5, n),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_and_answers_are_well_formed(
        (w, h, values) in (1u32..72, 1u32..72).prop_flat_map(|(w, h)| (Just(w), Just(h), depth_strategy((w * h) as usize))),
        seed in any::<u64>(),
    ) {
        let scene = synthetic(w, h, |x, y| values[(y * w + x) as usize]);
        let depth = scene.depth.clone().unwrap();
        match run(&DepthOrder::default(), &scene, seed) {
            Ok(s) => {
                check_depth_sample(&s, &depth, &DepthOrderConfig::default());
                prop_assert_eq!(s.images[0].dimensions(), (w, h));
            }
            Err(e) => prop_assert!(matches!(e, Error::NoCandidate { .. } | Error::InvalidDepth { .. } | Error::TooSmall { .. }), "{e}"),
        }
        match run(&RelativePosition::default(), &scene, seed) {
            Ok(s) => {
                check_position_sample(&s, &depth, &RelativePositionConfig::default());
                prop_assert_eq!(s.images[0].dimensions(), (w, h));
            }
            Err(e) => prop_assert!(matches!(e, Error::NoCandidate { .. } | Error::InvalidDepth { .. } | Error::TooSmall { .. }), "{e}"),
        }
    }
}
