//! Time per sample, end to end, one thread, JPEG output: the unit that
//! `scripts/bench_tasks_reference.py` compares with the reference Python functions.
//!
//! - `per_sample/<task>`: read and decode one source (image, and depth + mask for the RGB-D
//!   tasks), then `SAMPLES` calls of the task on it, each encoding all its images as JPEG
//!   (the exporter's [`ImageFormat::Jpeg`]); the time reported is per sample, so the read
//!   and decode are shared by `SAMPLES` samples, as when `generate` makes several samples
//!   per source;
//! - `source/<task>`: the read and decode alone (what one sample pays when a source yields
//!   only one);
//! - `encode/<input>`: one JPEG encode of the full input picture, the crate's encoder and
//!   `jpeg-encoder` 0.7 (the encoder it replaced) side by side; ours alternates the picture
//!   with its mirror image, so nothing of the previous encode is reused.
//!
//! Inputs are the reference repository's `data_process/source_imgs` files: from
//! `SSRL_REFERENCE_INPUTS` if set, else `../shared/fixtures/reference_inputs`, else the
//! repository's downscaled copies (then the numbers are not comparable to the reference).
//! `SSRL_SAMPLES` overrides `SAMPLES`.
//!
//! Time is the benchmark thread's CPU time (Linux `/proc/thread-self/schedstat`; wall time
//! elsewhere): on a shared machine wall time mostly measures the queue for the CPU.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use spatial_ssrl_tasks::tasks::crop::Crop;
use spatial_ssrl_tasks::tasks::flip::Flip;
use spatial_ssrl_tasks::tasks::shuffle::Shuffle;
use spatial_ssrl_tasks::{
    DepthOrder, ImageFormat, PretextTask, RelativePosition, RelativePositionConfig, Scene, TaskRng,
    load_depth, load_mask, load_rgb,
};

/// Samples made from each decoded source.
const SAMPLES: u64 = 16;

fn samples() -> u64 {
    std::env::var("SSRL_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(SAMPLES)
}

fn input(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("SSRL_REFERENCE_INPUTS") {
        return PathBuf::from(dir).join(name);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let shared = root.join("../shared/fixtures/reference_inputs").join(name);
    if shared.exists() {
        return shared;
    }
    let copy = root.join("tests/fixtures/reference_inputs").join(name);
    if copy.exists() {
        copy
    } else {
        root.join("tests/fixtures/reference_inputs/rgbd-small")
            .join(name)
    }
}

/// One source's files: image, optional depth, optional depth mask.
type Files = (&'static str, Option<&'static str>, Option<&'static str>);

/// Reads and decodes one source, as the pipeline does once per source.
fn load((img, depth, mask): Files) -> Scene {
    let rgb = load_rgb(input(img)).expect("reference image");
    let depth = depth.map(|d| {
        let mut d = load_depth(input(d), None).expect("reference depth");
        if let Some(m) = mask {
            let (_, _, mask) = load_mask(input(m)).expect("reference mask");
            d = d.with_mask(&mask).expect("mask size");
        }
        Arc::new(d)
    });
    Scene {
        id: img.into(),
        rgb: Arc::new(rgb),
        depth,
    }
}

/// One call of `task`, every image of every sample encoded as JPEG; returns the bytes written.
fn sample(task: &dyn PretextTask, scene: &Scene, seed: u64) -> usize {
    let samples = task
        .generate(scene, &mut TaskRng::seed_from_u64(seed))
        .expect("a sample");
    samples
        .iter()
        .flat_map(|s| &s.images)
        .map(|img| {
            ImageFormat::Jpeg
                .encode(img, "sample.jpg".as_ref())
                .expect("jpeg")
                .len()
        })
        .sum()
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
    let near = RelativePosition::new(RelativePositionConfig {
        near_probability: 1.0,
        ..Default::default()
    });
    let far = RelativePosition::new(RelativePositionConfig {
        near_probability: 0.0,
        ..Default::default()
    });
    let rgb: Files = ("RGB_img.png", None, None);
    let cases: [(&str, Box<dyn PretextTask>, Files); 6] = [
        ("shuffle", Box::new(Shuffle::default()), rgb),
        ("flip", Box::new(Flip::default()), rgb),
        ("crop", Box::new(Crop::default()), rgb),
        (
            "depth",
            Box::new(DepthOrder::default()),
            (
                "RGB-D_img3.png",
                Some("RGB-D_depth3.npy"),
                Some("RGB-D_depth_mask3.npy"),
            ),
        ),
        (
            "position_near",
            Box::new(near),
            ("RGB-D_img2.jpg", Some("RGB-D_depth2.h5"), None),
        ),
        (
            "position_far",
            Box::new(far),
            ("RGB-D_img1.jpg", Some("RGB-D_depth1.h5"), None),
        ),
    ];
    let n = samples();
    eprintln!(
        "{n} samples per decoded source; inputs like {}",
        input("RGB_img.png").display()
    );
    let mut g = c.benchmark_group("per_sample");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    let mut seed = 0u64;
    for (name, task, files) in &cases {
        g.bench_function(*name, |b| {
            // Reported per sample: each iteration makes `n` samples from one decode.
            b.iter_custom(|iters| {
                let start = thread_cpu_ns();
                for _ in 0..iters {
                    let scene = load(*files);
                    for _ in 0..n {
                        seed += 1;
                        black_box(sample(task.as_ref(), &scene, seed));
                    }
                }
                Duration::from_nanos((thread_cpu_ns() - start) / n)
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("source");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for (name, _, files) in &cases {
        g.bench_function(*name, |b| b.iter(|| black_box(load(*files))));
    }
    g.finish();

    let mut g = c.benchmark_group("encode");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for file in ["RGB_img.png", "RGB-D_img1.jpg"] {
        let img = load_rgb(input(file)).expect("reference image");
        // Alternating with the mirror image: the encoder reuses unchanged MCUs of its
        // previous encode of the same size, and a repeated picture would measure only that.
        let pair = [image::imageops::flip_horizontal(&img), img.clone()];
        let mut turn = 0;
        g.bench_function(format!("ours/{file}"), |b| {
            b.iter(|| {
                turn ^= 1;
                black_box(
                    ImageFormat::Jpeg
                        .encode(&pair[turn], "x.jpg".as_ref())
                        .expect("jpeg"),
                )
            })
        });
        g.bench_function(format!("jpeg_encoder/{file}"), |b| {
            b.iter(|| {
                let mut out = Vec::new();
                let mut enc = jpeg_encoder::Encoder::new(&mut out, 90);
                enc.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
                enc.encode(
                    img.as_raw(),
                    img.width() as u16,
                    img.height() as u16,
                    jpeg_encoder::ColorType::Rgb,
                )
                .expect("jpeg-encoder");
                black_box(out)
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = per_sample;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = benches
}
criterion_main!(per_sample);
