//! Time per sample of the RGB-D tasks on the reference inputs, single thread:
//!
//! - `generate/depth/img3`: one depth-ordering sample from the decoded DIODE scene (1024x768);
//! - `generate/position/{img2,img1}`: one relative-position sample, near pair (img2) and far
//!   pair (img1), MegaDepth 1600x1062 / 1600x1064, with the reference's kind forced;
//! - `end_to_end/...`: read + decode the image and depth (+ mask), generate, encode the
//!   sample image as JPEG: the reference scripts' unit of work. Python reference on the same
//!   machines: depth ordering 1,170 ms, position 14.6 s (near, img2) and 43 s (far, img1).
//!
//! Uses the full-size `../shared/fixtures/reference_inputs` when present, else the
//! repository's downscaled copies (then the numbers are not comparable to the reference).

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use spatial_ssrl_tasks::{
    DepthOrder, ImageFormat, PretextTask, RelativePosition, RelativePositionConfig, Scene, TaskRng, load_depth, load_mask,
    load_rgb,
};

fn input(name: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let shared = root.join("../shared/fixtures/reference_inputs").join(name);
    if shared.exists() { shared } else { root.join("tests/fixtures/reference_inputs/rgbd-small").join(name) }
}

/// Reads one RGB-D scene from disk, as the reference does per sample.
fn load(img: &str, depth: &str, mask: Option<&str>) -> Scene {
    let rgb = load_rgb(input(img)).expect("reference image");
    let mut d = load_depth(input(depth), None).expect("reference depth");
    if let Some(m) = mask {
        let (_, _, mask) = load_mask(input(m)).expect("reference mask");
        d = d.with_mask(&mask).expect("mask size");
    }
    Scene { id: img.into(), rgb: Arc::new(rgb), depth: Some(Arc::new(d)) }
}

fn one(task: &dyn PretextTask, scene: &Scene, seed: u64) -> Vec<u8> {
    let s = task.generate(scene, &mut TaskRng::seed_from_u64(seed)).expect("a sample").remove(0);
    ImageFormat::Jpeg.encode(&s.images[0], "sample.jpg".as_ref()).expect("jpeg")
}

fn benches(c: &mut Criterion) {
    let depth = DepthOrder::default();
    let near = RelativePosition::new(RelativePositionConfig { near_probability: 1.0, ..Default::default() });
    let far = RelativePosition::new(RelativePositionConfig { near_probability: 0.0, ..Default::default() });
    let cases: [(&str, &dyn PretextTask, (&str, &str, Option<&str>)); 3] = [
        ("depth/img3", &depth, ("RGB-D_img3.png", "RGB-D_depth3.npy", Some("RGB-D_depth_mask3.npy"))),
        ("position_near/img2", &near, ("RGB-D_img2.jpg", "RGB-D_depth2.h5", None)),
        ("position_far/img1", &far, ("RGB-D_img1.jpg", "RGB-D_depth1.h5", None)),
    ];
    let mut g = c.benchmark_group("rgbd");
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    for (name, task, (img, dep, mask)) in cases {
        let scene = load(img, dep, mask);
        let mut seed = 0u64;
        g.bench_function(format!("generate/{name}"), |b| {
            b.iter(|| {
                seed += 1;
                black_box(task.generate(&scene, &mut TaskRng::seed_from_u64(seed)).expect("a sample"))
            })
        });
        g.bench_function(format!("end_to_end/{name}"), |b| {
            b.iter(|| {
                seed += 1;
                let scene = load(img, dep, mask);
                black_box(one(task, &scene, seed))
            })
        });
    }
    g.finish();
}

criterion_group!(rgbd, benches);
criterion_main!(rgbd);
