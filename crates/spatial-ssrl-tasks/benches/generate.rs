//! Whole-pipeline throughput of `generate` (samples/s) on 2 threads: discover, decode each
//! source once, run the tasks, encode the images as PNG, write parquet shards and the manifest.
//!
//! - `generate/examples_data`: the five downscaled sources in `examples/data`, all five tasks,
//!   4 calls per (source, task);
//! - `generate/reference_inputs`: the repository's reference inputs at full size
//!   (`RGB_img.png` 902x1186, `eg1.jpg`, and the three RGB-D sources in `rgbd-small/`),
//!   all five tasks, 1 call each.
//!
//! Wall-clock time (two threads work at once, so per-thread CPU time would not measure the
//! throughput). The machines are shared: compare runs made back to back.

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use spatial_ssrl_tasks::{
    BUILTIN_TASKS, Pipeline, Registry, RunConfig, SourceSpec, TasksConfig, discover, generate,
};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn reference_sources() -> Vec<SourceSpec> {
    let dir = repo().join("tests/fixtures/reference_inputs");
    let mut s: Vec<SourceSpec> = ["RGB_img.png", "eg1.jpg"]
        .iter()
        .map(|f| SourceSpec::rgb(dir.join(f)))
        .filter(|s| s.image.exists())
        .collect();
    s.extend(discover(dir.join("rgbd-small")).unwrap_or_default());
    s
}

fn bench_case(c: &mut Criterion, name: &str, sources: &[SourceSpec], samples_per_image: usize) {
    let reg = Registry::builtin(&TasksConfig::default());
    let pipe = Pipeline::new(&reg, &BUILTIN_TASKS, 42, samples_per_image).expect("built-in tasks");
    let run = |out: &Path| {
        generate(
            &pipe,
            sources,
            &RunConfig {
                threads: 2,
                ..RunConfig::new(out)
            },
            &(),
        )
        .expect("generate")
    };
    // One run up front to count the samples (failing (source, task) pairs produce none).
    let probe = tempfile::tempdir().expect("tempdir");
    let n = run(probe.path()).total_samples();
    let mut group = c.benchmark_group("generate");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Elements(n));
    group.bench_function(name, |b| {
        b.iter_batched(
            || tempfile::tempdir().expect("tempdir"),
            |dir| run(dir.path()),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let examples = discover(repo().join("examples/data")).expect("examples/data");
    bench_case(c, "examples_data", &examples, 4);
    let reference = reference_sources();
    if !reference.is_empty() {
        bench_case(c, "reference_inputs", &reference, 1);
    }
}

criterion_group!(generate_benches, benches);
criterion_main!(generate_benches);
