//! All three RGB tasks together: names, inputs, determinism, config round trips, and
//! property tests that any size or configuration gives a well-formed sample or a typed error.

use image::{Rgb, RgbImage};
use proptest::prelude::*;
use rand::SeedableRng;
use spatial_ssrl_tasks::tasks::crop::{Crop, CropConfig};
use spatial_ssrl_tasks::tasks::flip::{Flip, FlipConfig};
use spatial_ssrl_tasks::tasks::shuffle::{Shuffle, ShuffleConfig, ShuffleMix};
use spatial_ssrl_tasks::{Error, PretextTask, Sample, Scene, TaskRng};

use crate::{meta_u32, noise_scene, one, parse_sequence};

fn all_tasks() -> Vec<Box<dyn PretextTask>> {
    vec![
        Box::new(Shuffle::default()),
        Box::new(Flip::default()),
        Box::new(Crop::default()),
    ]
}

#[test]
fn names_inputs_and_determinism() {
    let names: Vec<String> = all_tasks().iter().map(|t| t.name().to_owned()).collect();
    assert_eq!(names, [Shuffle::NAME, Flip::NAME, Crop::NAME]);
    assert_eq!(names, ["shuffle", "flip", "crop"]);
    let scene = noise_scene(80, 60, 2);
    for task in all_tasks() {
        assert_eq!(task.inputs(), spatial_ssrl_tasks::Inputs::Rgb);
        let a = one(task.as_ref(), &scene, 42);
        assert_eq!(a, one(task.as_ref(), &scene, 42), "{}", task.name());
        assert_eq!(a.task, task.name());
        assert_eq!(a.source, scene.id);
        assert_eq!(a.problem.matches("<image>").count(), a.images.len());
        let differs = (0..8).any(|seed| one(task.as_ref(), &scene, seed) != a);
        assert!(differs, "{}: seed has no effect", task.name());
    }
}

#[test]
fn configs_round_trip_through_json() {
    let shuffle = ShuffleConfig {
        strips: vec![3, 5],
        ..Default::default()
    };
    let back: ShuffleConfig =
        serde_json::from_str(&serde_json::to_string(&shuffle).unwrap()).unwrap();
    assert_eq!(back, shuffle);
    let flip = FlipConfig {
        rows: 3,
        ..Default::default()
    };
    assert_eq!(
        serde_json::from_str::<FlipConfig>(&serde_json::to_string(&flip).unwrap()).unwrap(),
        flip
    );
    let crop = CropConfig {
        min_side: 40,
        ..Default::default()
    };
    assert_eq!(
        serde_json::from_str::<CropConfig>(&serde_json::to_string(&crop).unwrap()).unwrap(),
        crop
    );
    assert!(serde_json::from_str::<CropConfig>(r#"{"side": 3}"#).is_err());
    assert!(serde_json::from_str::<FlipConfig>(r#"{"directions": {"upside": 1}}"#).is_err());
}

/// Checks the answer format of any sample of the three tasks.
fn assert_well_formed(s: &Sample) {
    assert_eq!(s.problem.matches("<image>").count(), s.images.len());
    match s.task.as_str() {
        "shuffle" => {
            let mut v = parse_sequence(&s.answer);
            v.sort_unstable();
            assert_eq!(v, (0..v.len()).collect::<Vec<_>>());
            assert!(v.len() >= 2);
        }
        "flip" => {
            let (l, d) = s.answer.split_once('-').unwrap();
            assert!(l.parse::<u32>().unwrap() < 4);
            assert!(d == "0" || d == "1");
        }
        "crop" => {
            assert!(["A", "B", "C", "D"].contains(&s.answer.as_str()));
            assert_eq!(s.images.len(), 5);
        }
        other => panic!("task {other}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Any size, any seed: a well-formed sample or a typed error, never a panic. Noise
    /// images leave "too small" as the only refusal; flat ones may also be refused as
    /// having no visible answer.
    #[test]
    fn never_panics_and_answers_are_well_formed(
        w in 1u32..120, h in 1u32..120, seed in any::<u64>(), flat in any::<bool>(), strips in 2u32..6,
    ) {
        let scene = if flat {
            Scene::rgb("flat", RgbImage::from_pixel(w, h, Rgb([40, 80, 120])))
        } else {
            noise_scene(w, h, seed)
        };
        let tasks: Vec<Box<dyn PretextTask>> = vec![
            Box::new(Shuffle::new(ShuffleConfig {
                strips: vec![strips, strips + 1],
                mix: ShuffleMix { grid_3x3: 1, ..Default::default() },
                min_tile: 4,
                ..Default::default()
            })),
            Box::new(Flip::new(FlipConfig { min_tile: 2, ..Default::default() })),
            Box::new(Crop::new(CropConfig { min_side: 2, ..Default::default() })),
        ];
        for task in &tasks {
            match task.generate(&scene, &mut TaskRng::seed_from_u64(seed)) {
                Ok(samples) => {
                    prop_assert_eq!(samples.len(), 1);
                    assert_well_formed(&samples[0]);
                }
                Err(Error::TooSmall { w: ew, h: eh, min_w, min_h, .. }) => {
                    prop_assert_eq!((ew, eh), (w, h));
                    prop_assert!(w < min_w || h < min_h);
                }
                Err(Error::NoCandidate { .. }) if flat => {}
                Err(e) => prop_assert!(false, "{}: unexpected error {e}", task.name()),
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Arbitrary (even absurd) configurations: a sample, or a typed error, never a panic.
    #[test]
    fn arbitrary_configs_never_panic(
        w in 1u32..90, h in 1u32..90, seed in any::<u64>(),
        rows in 0u32..5, cols in 0u32..5, strips in 0u32..7,
        weights in proptest::collection::vec(0u32..3, 5),
        border in prop_oneof![0u32..6, Just(u32::MAX)],
        min_tile in prop_oneof![0u32..20, Just(u32::MAX)],
    ) {
        let scene = noise_scene(w, h, seed);
        let mix = ShuffleMix {
            grid_2x2: weights[0],
            masked_2x2: weights[1],
            grid_3x3: weights[2],
            horizontal_strips: weights[3],
            vertical_strips: weights[4],
        };
        let tasks: Vec<Box<dyn PretextTask>> = vec![
            Box::new(Shuffle::new(ShuffleConfig {
                mix,
                strips: vec![strips; strips as usize % 3],
                min_tile,
                border_thickness: border,
                ..Default::default()
            })),
            Box::new(Flip::new(FlipConfig {
                rows,
                cols,
                min_tile,
                border_thickness: border,
                ..Default::default()
            })),
            Box::new(Crop::new(CropConfig { min_side: min_tile, ..Default::default() })),
        ];
        for task in &tasks {
            match task.generate(&scene, &mut TaskRng::seed_from_u64(seed)) {
                Ok(samples) => assert_well_formed_any_grid(&samples[0]),
                Err(Error::TooSmall { .. } | Error::InvalidConfig { .. } | Error::NoCandidate { .. }) => {}
                Err(e) => prop_assert!(false, "{}: unexpected error {e}", task.name()),
            }
        }
    }
}

/// Like [`assert_well_formed`], for any grid size.
fn assert_well_formed_any_grid(s: &Sample) {
    assert_eq!(s.problem.matches("<image>").count(), s.images.len());
    match s.task.as_str() {
        "flip" => {
            let (l, d) = s.answer.split_once('-').unwrap();
            assert!(l.parse::<u32>().unwrap() < meta_u32(s, "rows") * meta_u32(s, "cols"));
            assert!(d == "0" || d == "1");
        }
        _ => assert_well_formed(s),
    }
}
