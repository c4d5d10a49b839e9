//! Crop: the answered candidate is the blacked-out square, distractors are distinct, and
//! letters and distractor kinds are balanced.

use std::collections::HashMap;

use image::Rgb;
use spatial_ssrl_tasks::tasks::crop::{Crop, CropCandidate, CropConfig, LETTERS};
use spatial_ssrl_tasks::{Sample, Scene};

use crate::{meta_u32, noise_scene, one, reference_scenes, sub};

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
