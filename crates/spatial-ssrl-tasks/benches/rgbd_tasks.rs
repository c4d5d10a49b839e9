//! Time per sample of the RGB-D tasks on the reference inputs, single thread:
//!
//! - `generate/depth/img3`: one depth-ordering sample from the decoded DIODE scene (1024x768);
//! - `generate/position/{img2,img1}`: one relative-position sample, near pair (img2) and far
//!   pair (img1), MegaDepth 1600x1062 / 1600x1064, with the reference's kind forced;
//! - `end_to_end/...`: read + decode the image and depth (+ mask), generate, encode the
//!   sample image as JPEG: the reference scripts' unit of work. Python reference on the same
//!   machines: depth ordering 1,170 ms, position 14.6 s (near, img2) and 43 s (far, img1).
//!
//! Also `read_rgb`, `read_depth` and `encode_jpeg` alone, to show where end-to-end time goes.
//!
//! Uses the full-size `../shared/fixtures/reference_inputs` when present, else the
//! repository's downscaled copies (then the numbers are not comparable to the reference).
//!
//! Measures the benchmark thread's CPU time (Linux `/proc/thread-self/schedstat`; wall time
//! elsewhere): on a machine shared with other jobs, wall time mostly measures the queue for
//! the CPU. On an idle machine the two agree for this single-threaded work.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use spatial_ssrl_tasks::{
    DepthOrder, ImageFormat, PretextTask, RelativePosition, RelativePositionConfig, Scene, TaskRng,
    load_depth, load_mask, load_rgb,
};

fn input(name: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let shared = root.join("../shared/fixtures/reference_inputs").join(name);
    if shared.exists() {
        shared
    } else {
        root.join("tests/fixtures/reference_inputs/rgbd-small")
            .join(name)
    }
}

/// Reads one RGB-D scene from disk, as the reference does per sample.
fn load(img: &str, depth: &str, mask: Option<&str>) -> Scene {
    let rgb = load_rgb(input(img)).expect("reference image");
    let mut d = load_depth(input(depth), None).expect("reference depth");
    if let Some(m) = mask {
        let (_, _, mask) = load_mask(input(m)).expect("reference mask");
        d = d.with_mask(&mask).expect("mask size");
    }
    Scene {
        id: img.into(),
        rgb: Arc::new(rgb),
        depth: Some(Arc::new(d)),
    }
}

/// Bench name, task, and its inputs: image, depth, optional mask.
type Case<'a> = (
    &'a str,
    &'a dyn PretextTask,
    (&'a str, &'a str, Option<&'a str>),
);

fn one(task: &dyn PretextTask, scene: &Scene, seed: u64) -> Vec<u8> {
    let s = task
        .generate(scene, &mut TaskRng::seed_from_u64(seed))
        .expect("a sample")
        .remove(0);
    ImageFormat::Jpeg
        .encode(&s.images[0], "sample.jpg".as_ref())
        .expect("jpeg")
}

/// CPU time of the calling thread, in nanoseconds since an arbitrary origin.
fn thread_cpu_ns() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| {
            START
                .get_or_init(std::time::Instant::now)
                .elapsed()
                .as_nanos() as u64
        })
}

/// Criterion measurement: CPU time of the benchmark thread.
struct ThreadCpu;

static WALL: WallTime = WallTime;

impl Measurement for ThreadCpu {
    type Intermediate = u64;
    type Value = Duration;

    fn start(&self) -> u64 {
        thread_cpu_ns()
    }

    fn end(&self, start: u64) -> Duration {
        Duration::from_nanos(thread_cpu_ns().saturating_sub(start))
    }

    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        WALL.formatter()
    }
}

fn benches(c: &mut Criterion<ThreadCpu>) {
    let depth = DepthOrder::default();
    let near = RelativePosition::new(RelativePositionConfig {
        near_probability: 1.0,
        ..Default::default()
    });
    let far = RelativePosition::new(RelativePositionConfig {
        near_probability: 0.0,
        ..Default::default()
    });
    let cases: [Case; 3] = [
        (
            "depth/img3",
            &depth,
            (
                "RGB-D_img3.png",
                "RGB-D_depth3.npy",
                Some("RGB-D_depth_mask3.npy"),
            ),
        ),
        (
            "position_near/img2",
            &near,
            ("RGB-D_img2.jpg", "RGB-D_depth2.h5", None),
        ),
        (
            "position_far/img1",
            &far,
            ("RGB-D_img1.jpg", "RGB-D_depth1.h5", None),
        ),
    ];
    let mut g = c.benchmark_group("rgbd");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for (name, task, (img, dep, mask)) in cases {
        let scene = load(img, dep, mask);
        g.bench_function(format!("read_rgb/{name}"), |b| {
            b.iter(|| black_box(load_rgb(input(img)).expect("image")))
        });
        g.bench_function(format!("read_depth/{name}"), |b| {
            b.iter(|| {
                black_box(load_depth(input(dep), None).expect("depth"));
                mask.map(|m| black_box(load_mask(input(m)).expect("mask")));
            })
        });
        g.bench_function(format!("encode_jpeg/{name}"), |b| {
            b.iter(|| {
                black_box(
                    ImageFormat::Jpeg
                        .encode(&scene.rgb, "x.jpg".as_ref())
                        .expect("jpeg"),
                )
            })
        });
        let mut seed = 0u64;
        g.bench_function(format!("generate/{name}"), |b| {
            b.iter(|| {
                seed += 1;
                black_box(
                    task.generate(&scene, &mut TaskRng::seed_from_u64(seed))
                        .expect("a sample"),
                )
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

criterion_group! {
    name = rgbd;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = benches
}
criterion_main!(rgbd);
