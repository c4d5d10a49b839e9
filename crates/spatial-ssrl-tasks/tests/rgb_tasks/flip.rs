//! Flip: un-flipping the answered tile restores the source, and answers are balanced.

use std::collections::HashMap;

use spatial_ssrl_tasks::tasks::flip::{Flip, FlipConfig};
use spatial_ssrl_tasks::{Sample, Scene};

use crate::{assert_same, meta_u32, noise_scene, one, reference_scenes, sub};

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
