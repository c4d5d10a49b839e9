//! The RGB pretext tasks (shuffle, flip, crop) checked by construction: every answer is
//! verified by undoing the puzzle and comparing against the source pixels, on the reference
//! inputs and on synthetic scenes; plus answer balance, determinism and property tests.

use std::collections::HashMap;
use std::path::PathBuf;

use image::{GenericImageView, Rgb, RgbImage};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use spatial_ssrl_tasks::tasks::crop::{Crop, CropCandidate, CropConfig, LETTERS};
use spatial_ssrl_tasks::tasks::flip::{Flip, FlipConfig};
use spatial_ssrl_tasks::tasks::shuffle::{Shuffle, ShuffleConfig, ShuffleMix, ShuffleVariant};
use spatial_ssrl_tasks::{Error, PretextTask, Sample, Scene, TaskRng};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/reference_inputs")
        .join(name)
}

/// Every picture in the reference-input folder and its `rgbd-small/` subfolder (RGBA PNG
/// and JPEG, portrait and landscape): whatever the folder holds, not a fixed list.
fn reference_scenes() -> Vec<Scene> {
    let mut names = Vec::new();
    for sub in ["", "rgbd-small"] {
        let dir = fixture(sub);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list fixtures {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if path.is_file() && ["jpg", "jpeg", "png"].contains(&ext.to_ascii_lowercase().as_str())
            {
                let file = path.file_name().unwrap().to_string_lossy().into_owned();
                names.push(if sub.is_empty() {
                    file
                } else {
                    format!("{sub}/{file}")
                });
            }
        }
    }
    names.sort();
    assert!(
        !names.is_empty(),
        "no reference pictures in {}",
        fixture("").display()
    );
    names
        .iter()
        .map(|name| {
            let path = fixture(name);
            let img = image::open(&path)
                .unwrap_or_else(|e| panic!("cannot open fixture {}: {e}", path.display()));
            Scene::rgb(name.as_str(), img.to_rgb8())
        })
        .collect()
}

/// Uniform noise: no tile or window is symmetric, so every draw succeeds.
fn noise_scene(w: u32, h: u32, seed: u64) -> Scene {
    let mut rng = TaskRng::seed_from_u64(seed);
    let img = RgbImage::from_fn(w, h, |_, _| Rgb([rng.random(), rng.random(), rng.random()]));
    Scene::rgb(format!("noise-{w}x{h}-{seed}"), img)
}

fn one(task: &dyn PretextTask, scene: &Scene, seed: u64) -> Sample {
    let mut out = task
        .generate(scene, &mut TaskRng::seed_from_u64(seed))
        .unwrap();
    assert_eq!(out.len(), 1);
    out.pop().unwrap()
}

fn meta_u32(s: &Sample, key: &str) -> u32 {
    s.metadata[key]
        .as_u64()
        .unwrap_or_else(|| panic!("metadata {key} in {:?}", s.metadata)) as u32
}

fn parse_sequence(answer: &str) -> Vec<usize> {
    answer
        .split('-')
        .map(|t| {
            t.parse()
                .unwrap_or_else(|_| panic!("bad answer {answer:?}"))
        })
        .collect()
}

fn sub(img: &RgbImage, x: u32, y: u32, w: u32, h: u32) -> RgbImage {
    img.view(x, y, w, h).to_image()
}

/// Asserts the `w x h` rectangles at `a` in `left` and `b` in `right` are equal.
fn assert_same(
    left: &RgbImage,
    a: (u32, u32),
    right: &RgbImage,
    b: (u32, u32),
    w: u32,
    h: u32,
    what: &str,
) {
    assert!(
        sub(left, a.0, a.1, w, h) == sub(right, b.0, b.1, w, h),
        "{what}: rectangles differ"
    );
}

// ---------------------------------------------------------------- shuffle

/// Checks a shuffle sample against its source. Position `i` of the original must be what
/// slot `answer[i]` shows. Unannotated samples must match exactly (the masked tile white);
/// annotated ones on the quarter of each tile away from its border and corner label.
fn check_shuffle(s: &Sample, scene: &Scene, annotated: bool) {
    let (rows, cols) = (meta_u32(s, "rows"), meta_u32(s, "cols"));
    let (tw, th) = (meta_u32(s, "tile_width"), meta_u32(s, "tile_height"));
    let (w, h) = scene.rgb.dimensions();
    assert_eq!((tw, th), (w / cols, h / rows), "{}", s.source);
    let shown = &s.images[0];
    assert_eq!(shown.dimensions(), (cols * tw, rows * th));
    let answer = parse_sequence(&s.answer);
    let n = (rows * cols) as usize;
    let mut sorted = answer.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (0..n).collect::<Vec<_>>(),
        "answer {} is not a permutation",
        s.answer
    );
    let masked = s.metadata["masked_slot"].as_u64().map(|k| k as usize);
    assert_eq!(masked.is_some(), s.metadata["variant"] == "masked_2x2");
    let at = |k: usize| ((k as u32 % cols) * tw, (k as u32 / cols) * th);
    for (pos, &slot) in answer.iter().enumerate() {
        let (src, dst) = (at(pos), at(slot));
        let what = format!(
            "{} {} position {pos} <- slot {slot}",
            s.source, s.metadata["variant"]
        );
        let (ox, oy, rw, rh) = if annotated {
            (tw / 2, th / 2, tw / 2 - 2, th / 2 - 2)
        } else {
            (0, 0, tw, th)
        };
        if masked == Some(slot) {
            let tile = sub(shown, dst.0 + ox, dst.1 + oy, rw, rh);
            assert!(
                tile.pixels().all(|p| *p == Rgb([255, 255, 255])),
                "{what}: masked tile not white"
            );
        } else {
            assert_same(
                shown,
                (dst.0 + ox, dst.1 + oy),
                &scene.rgb,
                (src.0 + ox, src.1 + oy),
                rw,
                rh,
                &what,
            );
        }
    }
}

#[test]
fn shuffle_answers_reassemble_the_reference_inputs() {
    for scene in reference_scenes() {
        for variant in ShuffleVariant::ALL {
            for annotate in [false, true] {
                let task = Shuffle::new(ShuffleConfig {
                    mix: ShuffleMix::only(variant),
                    annotate,
                    ..Default::default()
                });
                for seed in 0..3 {
                    check_shuffle(&one(&task, &scene, seed), &scene, annotate);
                }
            }
        }
    }
}

#[test]
fn shuffle_answers_reassemble_synthetic_scenes() {
    for (w, h) in [(64, 64), (97, 131), (300, 41), (33, 200)] {
        let scene = noise_scene(w, h, 7);
        let task = Shuffle::new(ShuffleConfig {
            annotate: false,
            min_tile: 8,
            ..Default::default()
        });
        for seed in 0..20 {
            check_shuffle(&one(&task, &scene, seed), &scene, false);
        }
    }
}

#[test]
fn shuffle_default_mix_is_the_released_one_and_permutations_are_uniform() {
    let scene = noise_scene(64, 48, 1);
    let task = Shuffle::default();
    let mut variants: HashMap<String, u32> = HashMap::new();
    for seed in 0..400 {
        let s = one(&task, &scene, seed);
        *variants
            .entry(s.metadata["variant"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(variants.len(), 4, "{variants:?}");
    assert!(!variants.contains_key("grid_3x3"));
    assert!(
        variants.values().all(|&c| (60..=140).contains(&c)),
        "{variants:?}"
    );

    // 2x2: 24 permutations, 2,400 samples, 100 expected each (5 sigma ~ 49).
    let task = Shuffle::new(ShuffleConfig {
        mix: ShuffleMix::only(ShuffleVariant::Grid2x2),
        ..Default::default()
    });
    let mut perms: HashMap<String, u32> = HashMap::new();
    let mut first: HashMap<usize, u32> = HashMap::new();
    for seed in 0..2_400 {
        let s = one(&task, &scene, seed);
        *first.entry(parse_sequence(&s.answer)[0]).or_default() += 1;
        *perms.entry(s.answer).or_default() += 1;
    }
    assert_eq!(perms.len(), 24);
    assert!(
        perms.values().all(|&c| (51..=149).contains(&c)),
        "{perms:?}"
    );
    assert!(
        first.values().all(|&c| c <= 720),
        "first label > 30%: {first:?}"
    );
}

// ---------------------------------------------------------------- flip

/// Un-flips the answered tile and compares with the source: exactly when unannotated, on
/// the tile's centre (away from border and labels) when annotated.
fn check_flip(s: &Sample, scene: &Scene, annotated: bool) {
    let (tw, th) = (meta_u32(s, "tile_width"), meta_u32(s, "tile_height"));
    let (rows, cols) = (meta_u32(s, "rows"), meta_u32(s, "cols"));
    let (label, dir) = s
        .answer
        .split_once('-')
        .unwrap_or_else(|| panic!("bad answer {}", s.answer));
    let label: u32 = label.parse().unwrap();
    assert!(label < rows * cols);
    assert_eq!(s.metadata["tile"], label);
    let mut img = s.images[0].clone();
    for k in 0..rows * cols {
        let (x, y) = ((k % cols) * tw, (k / cols) * th);
        let mut tile = sub(&img, x, y, tw, th);
        if k == label {
            tile = match dir {
                "0" => image::imageops::flip_vertical(&tile),
                "1" => image::imageops::flip_horizontal(&tile),
                other => panic!("direction {other}"),
            };
            // The flip must be visible.
            assert!(
                tile != sub(&img, x, y, tw, th),
                "{}: invisible flip",
                s.source
            );
        }
        image::imageops::replace(&mut img, &tile, i64::from(x), i64::from(y));
        let (ox, oy, rw, rh) = if annotated {
            (tw / 4, th / 4, tw / 2, th / 2)
        } else {
            (0, 0, tw, th)
        };
        assert_same(
            &img,
            (x + ox, y + oy),
            &scene.rgb,
            (x + ox, y + oy),
            rw,
            rh,
            &format!("{} tile {k}", s.source),
        );
    }
}

#[test]
fn flip_answers_unflip_to_the_reference_inputs() {
    for scene in reference_scenes() {
        for annotate in [false, true] {
            let task = Flip::new(FlipConfig {
                annotate,
                ..Default::default()
            });
            for seed in 0..6 {
                check_flip(&one(&task, &scene, seed), &scene, annotate);
            }
        }
    }
}

#[test]
fn flip_answers_unflip_synthetic_scenes_and_are_balanced() {
    let scene = noise_scene(50, 40, 3);
    let task = Flip::new(FlipConfig {
        annotate: false,
        ..Default::default()
    });
    let mut answers: HashMap<String, u32> = HashMap::new();
    for seed in 0..2_000 {
        let s = one(&task, &scene, seed);
        check_flip(&s, &scene, false);
        *answers.entry(s.answer).or_default() += 1;
    }
    // 8 answers, 250 expected each; no tile above 30%, both directions near half.
    assert_eq!(answers.len(), 8, "{answers:?}");
    assert!(
        answers.values().all(|&c| (180..=320).contains(&c)),
        "{answers:?}"
    );
    let upside: u32 = answers
        .iter()
        .filter(|(a, _)| a.ends_with("-0"))
        .map(|(_, c)| c)
        .sum();
    assert!((900..=1100).contains(&upside), "{upside}");
}

// ---------------------------------------------------------------- crop

/// The answered candidate is exactly the blacked-out square of the source; the other slots
/// hold three distinct distractors rebuilt from their recorded kind.
fn check_crop(s: &Sample, scene: &Scene) {
    assert_eq!(s.images.len(), 5);
    assert_eq!(s.problem.matches("<image>").count(), 5);
    let (x, y, side) = (meta_u32(s, "x"), meta_u32(s, "y"), meta_u32(s, "side"));
    let (w, h) = scene.rgb.dimensions();
    assert_eq!(side, w.min(h) / 2);
    let k = LETTERS
        .iter()
        .position(|l| l.to_string() == s.answer)
        .unwrap_or_else(|| panic!("answer {}", s.answer));
    assert_eq!(s.metadata["answer_index"], k);
    let truth = sub(&scene.rgb, x, y, side, side);
    assert!(
        s.images[1 + k] == truth,
        "{}: answered candidate is not the cut-out square",
        s.source
    );
    let blacked = &s.images[0];
    assert_eq!(blacked.dimensions(), (w, h));
    assert!(
        sub(blacked, x, y, side, side)
            .pixels()
            .all(|p| *p == Rgb([0, 0, 0]))
    );
    let mut outside = blacked.clone();
    image::imageops::replace(&mut outside, &truth, i64::from(x), i64::from(y));
    assert!(
        outside == *scene.rgb,
        "{}: pixels outside the square changed",
        s.source
    );

    let kinds: Vec<CropCandidate> =
        serde_json::from_value(s.metadata["candidates"].clone()).unwrap();
    assert_eq!(kinds[k], CropCandidate::Original);
    let mut distractors: Vec<_> = kinds
        .iter()
        .filter(|c| **c != CropCandidate::Original)
        .collect();
    distractors.sort_by_key(|c| c.as_str());
    distractors.dedup();
    assert_eq!(distractors.len(), 3);
    for (j, kind) in kinds.iter().enumerate() {
        let img = &s.images[1 + j];
        assert_eq!(img.dimensions(), (side, side));
        match kind {
            CropCandidate::RotatedLeft => assert!(*img == image::imageops::rotate270(&truth)),
            CropCandidate::RotatedRight => assert!(*img == image::imageops::rotate90(&truth)),
            _ => {}
        }
        if j != k {
            assert!(
                *img != truth,
                "{}: distractor {} equals the truth",
                s.source,
                kind.as_str()
            );
        }
    }
}

#[test]
fn crop_answers_are_the_cut_out_square_on_reference_inputs() {
    for scene in reference_scenes() {
        for seed in 0..6 {
            check_crop(&one(&Crop::default(), &scene, seed), &scene);
        }
    }
}

#[test]
fn crop_letters_and_distractors_are_balanced() {
    let scene = noise_scene(48, 40, 5);
    let mut letters: HashMap<String, u32> = HashMap::new();
    let mut kinds: HashMap<String, u32> = HashMap::new();
    for seed in 0..2_000 {
        let s = one(&Crop::default(), &scene, seed);
        check_crop(&s, &scene);
        *letters.entry(s.answer.clone()).or_default() += 1;
        for k in s.metadata["candidates"].as_array().unwrap() {
            *kinds.entry(k.as_str().unwrap().to_owned()).or_default() += 1;
        }
    }
    assert_eq!(letters.len(), 4);
    assert!(
        letters.values().all(|&c| c <= 600),
        "a letter above 30%: {letters:?}"
    );
    // Each of the five distractors is used 2000 * 3 / 5 = 1200 times in expectation.
    assert_eq!(kinds["original"], 2_000);
    for kind in CropCandidate::DISTRACTORS {
        let c = kinds[kind.as_str()];
        assert!((1_080..=1_320).contains(&c), "{kind:?}: {c}");
    }
}

#[test]
fn crop_respects_a_custom_distractor_pool() {
    let pool = vec![
        CropCandidate::RotatedLeft,
        CropCandidate::RotatedRight,
        CropCandidate::GrownHalf,
    ];
    let task = Crop::new(CropConfig {
        distractors: pool.clone(),
        ..Default::default()
    });
    let scene = noise_scene(60, 60, 9);
    for seed in 0..20 {
        let s = one(&task, &scene, seed);
        check_crop(&s, &scene);
        let kinds: Vec<CropCandidate> =
            serde_json::from_value(s.metadata["candidates"].clone()).unwrap();
        assert!(
            kinds
                .iter()
                .all(|k| *k == CropCandidate::Original || pool.contains(k))
        );
    }
}

// ---------------------------------------------------------------- all three

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
