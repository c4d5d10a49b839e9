//! Both RGB-D tasks together: determinism, answer balance, typed errors, config round trips,
//! and a property test that any depth map gives a well-formed sample or a typed error.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use rand::SeedableRng;
use spatial_ssrl_tasks::{
    DepthOrder, DepthOrderConfig, Error, PretextTask, RelativePosition, RelativePositionConfig,
    Scene, TaskRng,
};

use crate::depth_order::check_depth_sample;
use crate::relative_position::check_position_sample;
use crate::{reference_scenes, run, synthetic};

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
