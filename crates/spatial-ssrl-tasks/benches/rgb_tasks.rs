//! Time per sample of the RGB tasks (shuffle, flip, crop) on the reference input
//! `RGB_img.png` (902x1186 RGBA PNG), single thread:
//!
//! - `decode_png`: reading and decoding the input alone;
//! - `generate/<task>`: one sample from the decoded input;
//! - `generate_encode/<task>`: one sample plus encoding all its images as JPEG (the
//!   exporter's `ImageFormat::Jpeg`): the per-sample cost when each source is decoded once
//!   and reused, as the pipeline does;
//! - `end_to_end/<task>`: read + decode + generate + encode, the reference script's unit of
//!   work (Python, same machine: shuffle 70 ms, flip 78 ms, crop 52 ms; 44 ms of each decode).
//!
//! Uses `../shared/fixtures/reference_inputs/RGB_img.png` when present (the original file),
//! else the repository copy.
//!
//! Time is the benchmark thread's own CPU time (Linux `schedstat`), not wall time: the
//! development machines are shared 2-core boxes where wall time mostly measures the other
//! jobs. Set `RGB_BENCH_WALL=1` for wall-clock time.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, criterion_group, criterion_main};
use image::RgbImage;
use rand::SeedableRng;
use spatial_ssrl_tasks::tasks::crop::Crop;
use spatial_ssrl_tasks::tasks::flip::Flip;
use spatial_ssrl_tasks::tasks::shuffle::Shuffle;
use spatial_ssrl_tasks::{ImageFormat, PretextTask, Scene, TaskRng};

/// CPU time consumed by the calling thread, in ns (Linux `/proc/thread-self/schedstat`; the
/// kernel updates it at scheduler ticks, so a few ms of lag per criterion sample, each of
/// which runs for hundreds of ms). Falls back to wall time where the file is missing.
struct ThreadCpu {
    wall: bool,
    origin: std::time::Instant,
}

impl ThreadCpu {
    fn new() -> Self {
        let wall =
            std::env::var_os("RGB_BENCH_WALL").is_some() || std::fs::metadata(SCHEDSTAT).is_err();
        Self {
            wall,
            origin: std::time::Instant::now(),
        }
    }

    fn now(&self) -> u64 {
        if self.wall {
            return self.origin.elapsed().as_nanos() as u64;
        }
        std::fs::read_to_string(SCHEDSTAT)
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }
}

const SCHEDSTAT: &str = "/proc/thread-self/schedstat";
/// Durations print the same whichever clock measured them.
static DURATION_FORMAT: WallTime = WallTime;

impl Measurement for ThreadCpu {
    type Intermediate = u64;
    type Value = Duration;

    fn start(&self) -> u64 {
        self.now()
    }

    fn end(&self, start: u64) -> Duration {
        Duration::from_nanos(self.now().saturating_sub(start))
    }

    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        DURATION_FORMAT.formatter()
    }
}

fn input_path() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let shared = root.join("../shared/fixtures/reference_inputs/RGB_img.png");
    if shared.exists() {
        shared
    } else {
        root.join("tests/fixtures/reference_inputs/RGB_img.png")
    }
}

/// The pipeline's decoder (RGBA dropped to RGB, EXIF orientation applied).
fn decode(bytes: &[u8]) -> RgbImage {
    spatial_ssrl_tasks::decode_rgb(bytes, Path::new("RGB_img.png")).expect("decodable input")
}

/// Encodes every image of every sample with the exporter's JPEG setting.
fn encode_all(samples: &[spatial_ssrl_tasks::Sample]) -> usize {
    let mut bytes = 0;
    for img in samples.iter().flat_map(|s| &s.images) {
        let out = ImageFormat::Jpeg
            .encode(img, Path::new("sample.jpg"))
            .expect("jpeg encode");
        bytes += out.len();
    }
    bytes
}

fn tasks() -> Vec<Box<dyn PretextTask>> {
    vec![
        Box::new(Shuffle::default()),
        Box::new(Flip::default()),
        Box::new(Crop::default()),
    ]
}

fn bench(c: &mut Criterion<ThreadCpu>) {
    let path = input_path();
    let file = std::fs::read(&path).expect("reference input");
    let scene = Scene::rgb("RGB_img", decode(&file));
    eprintln!(
        "input {} ({}x{})",
        path.display(),
        scene.rgb.width(),
        scene.rgb.height()
    );

    let mut g = c.benchmark_group("rgb");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g.bench_function("decode_png", |b| {
        b.iter(|| decode(black_box(&std::fs::read(&path).unwrap())))
    });
    for task in tasks() {
        let name = task.name().to_owned();
        let mut seed = 0u64;
        let mut next_rng = || {
            seed += 1;
            TaskRng::seed_from_u64(seed)
        };
        g.bench_function(format!("generate/{name}"), |b| {
            b.iter(|| task.generate(black_box(&scene), &mut next_rng()).unwrap())
        });
        g.bench_function(format!("generate_encode/{name}"), |b| {
            b.iter(|| encode_all(&task.generate(black_box(&scene), &mut next_rng()).unwrap()))
        });
        g.bench_function(format!("end_to_end/{name}"), |b| {
            b.iter(|| {
                let bytes = std::fs::read(&path).unwrap();
                let scene = Scene::rgb("RGB_img", decode(&bytes));
                encode_all(&task.generate(&scene, &mut next_rng()).unwrap())
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpu::new());
    targets = bench
}
criterion_main!(benches);
