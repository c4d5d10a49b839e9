//! The RGB-D tasks (depth ordering, relative 3D position), checked by construction: every
//! answer is recomputed from the depth map and the metadata's pixel coordinates with code
//! independent of the tasks', on the reference inputs (downscaled copies in
//! `tests/fixtures/reference_inputs/rgbd-small`) and on synthetic scenes with known answers.
//!
//! One module per task; the checks that span both live in `all_tasks`. This file holds the
//! fixtures and scene builders they share.

mod all_tasks;
mod depth_order;
mod relative_position;

use std::path::PathBuf;
use std::sync::Arc;

use rand::SeedableRng;
use serde_json::Value;
use spatial_ssrl_tasks::{
    DepthMap, PretextTask, Sample, Scene, TaskRng, load_depth, load_mask, load_rgb,
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

/// The reference's own pair searches and numpy's percentiles, run on the same downscaled
/// fixtures by `scripts/rgbd_reference_golden.py`.
fn reference_golden() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("reference_golden.json")).unwrap())
        .unwrap()
}
