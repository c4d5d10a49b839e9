//! The RGB pretext tasks (shuffle, flip, crop) checked by construction: every answer is
//! verified by undoing the puzzle and comparing against the source pixels, on the reference
//! inputs and on synthetic scenes; plus answer balance, determinism and property tests.
//!
//! One module per task; the checks that span all three live in `all_tasks`. This file holds
//! the fixtures and pixel helpers they share.

mod all_tasks;
mod crop;
mod flip;
mod shuffle;

use std::path::PathBuf;

use image::{GenericImageView, Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use spatial_ssrl_tasks::{PretextTask, Sample, Scene, TaskRng};

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
