//! Properties of the pipeline over arbitrary image sizes, contents and seeds: it never
//! panics, every sample is well-formed, failures are typed, tiny inputs are refused as too small.

use std::sync::Arc;

use proptest::prelude::*;
use spatial_ssrl_tasks::{BUILTIN_TASKS, DepthMap, Pipeline, Registry, Scene, TasksConfig};

/// An RGB-D scene whose pixels and depth come from a small hash of (x, y, salt): textured,
/// with depth discontinuities and ~10% invalid depth.
fn scene(w: u32, h: u32, salt: u32) -> Scene {
    let hash = |x: u32, y: u32| {
        let mut v = x.wrapping_mul(0x9E37_79B1)
            ^ y.wrapping_mul(0x85EB_CA77)
            ^ salt.wrapping_mul(0xC2B2_AE3D);
        v ^= v >> 15;
        v = v.wrapping_mul(0x2C1B_3C6D);
        v ^ (v >> 12)
    };
    let rgb = image::RgbImage::from_fn(w, h, |x, y| {
        let v = hash(x, y);
        image::Rgb([
            (x * 255 / w.max(1)) as u8 ^ (v as u8 & 0x1f),
            (y * 255 / h.max(1)) as u8,
            (v >> 8) as u8,
        ])
    });
    let depth: Vec<f32> = (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .map(|(x, y)| {
            let v = hash(x / 7, y / 5);
            if v % 10 == 0 {
                0.0
            } else {
                0.5 + (v % 1000) as f32 / 100.0 + (x + y) as f32 * 0.01
            }
        })
        .collect();
    let depth = DepthMap::from_values(w, h, depth).expect("w*h values");
    Scene {
        id: format!("s{salt}"),
        rgb: Arc::new(rgb),
        depth: Some(Arc::new(depth)),
    }
}

const KINDS: [&str; 4] = [
    "too_small",
    "no_candidate",
    "invalid_depth",
    "missing_depth",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_and_outputs_are_well_formed(w in 1u32..160, h in 1u32..160, salt in 0u32..1000, seed in any::<u64>()) {
        let reg = Registry::builtin(&TasksConfig::default());
        let pipe = Pipeline::new(&reg, &BUILTIN_TASKS, seed, 1).unwrap();
        let sc = scene(w, h, salt);
        let out = pipe.scene_samples(&sc);
        for s in &out.samples {
            prop_assert!(BUILTIN_TASKS.contains(&s.task.as_str()));
            prop_assert_eq!(&s.source, &sc.id);
            prop_assert_eq!(s.problem.matches("<image>").count(), s.images.len(), "{}", s.task);
            prop_assert!(!s.images.is_empty() && !s.answer.is_empty());
            prop_assert!(s.images.iter().all(|i| i.width() > 0 && i.height() > 0));
        }
        for f in &out.failures {
            prop_assert!(KINDS.contains(&f.kind.as_str()), "{:?}", f);
        }
        // Every (task, call) ends as samples or a failure; nothing is silently dropped.
        for t in BUILTIN_TASKS {
            let made = out.samples.iter().any(|s| s.task == t);
            let failed = out.failures.iter().any(|f| f.task == t);
            prop_assert!(made != failed, "{t}: made={made} failed={failed}");
        }
        // Same inputs, same seed: same output.
        let again = pipe.scene_samples(&sc);
        prop_assert_eq!(&again.samples, &out.samples);
    }

    #[test]
    fn tiny_images_are_refused_as_too_small(w in 1u32..6, h in 1u32..6, seed in any::<u64>()) {
        let reg = Registry::builtin(&TasksConfig::default());
        let pipe = Pipeline::new(&reg, &BUILTIN_TASKS, seed, 1).unwrap();
        let out = pipe.scene_samples(&scene(w, h, 1));
        prop_assert!(out.samples.is_empty());
        prop_assert_eq!(out.failures.len(), BUILTIN_TASKS.len());
        for f in &out.failures {
            prop_assert_eq!(f.kind.as_str(), "too_small", "{:?}", f);
        }
    }
}
