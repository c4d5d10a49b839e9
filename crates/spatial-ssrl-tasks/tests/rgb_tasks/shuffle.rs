//! Shuffle: the answer sequence puts every tile back where the source had it, and the
//! default mix and the permutations it draws are uniform.

use std::collections::HashMap;

use image::Rgb;
use spatial_ssrl_tasks::tasks::shuffle::{Shuffle, ShuffleConfig, ShuffleMix, ShuffleVariant};
use spatial_ssrl_tasks::{Sample, Scene};

use crate::{assert_same, meta_u32, noise_scene, one, parse_sequence, reference_scenes, sub};

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
