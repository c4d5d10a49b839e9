//! The generate pipeline end to end on the sample data shipped in `examples/data`:
//! input discovery, all five tasks, both export formats, determinism across thread counts,
//! resume after an interruption, failure recording.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

mod util;

use spatial_ssrl_tasks::{
    BUILTIN_TASKS, DatasetFormat, Error, ImageFormat, Pipeline, Progress, Registry, RunConfig,
    SourceSpec, TasksConfig, decode_rgb, discover, generate, read_dataset,
};
use util::{assert_same_tree, snapshot};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/data")
}

fn run_config(out: &Path, format: DatasetFormat, threads: usize) -> RunConfig {
    RunConfig {
        format,
        shard_size: 4,
        val_fraction: 0.3,
        threads,
        settings_digest: spatial_ssrl_tasks::settings_digest(&TasksConfig::default()),
        ..RunConfig::new(out)
    }
}

#[test]
fn discovers_the_sample_data() {
    let s = discover(data_dir()).unwrap();
    let ids: Vec<&str> = s.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "RGB-D_img1",
            "RGB-D_img2",
            "RGB-D_img3",
            "portrait",
            "street"
        ]
    );
    assert!(s[0].depth.as_ref().unwrap().ends_with("RGB-D_depth1.h5"));
    assert!(
        s[1].depth
            .as_ref()
            .unwrap()
            .ends_with("RGB-D_img2_depth.png")
    );
    assert!(
        s[2].mask
            .as_ref()
            .unwrap()
            .ends_with("RGB-D_depth_mask3.npy")
    );
    for spec in &s[..3] {
        let scene = spec.load().unwrap();
        let d = scene.depth.unwrap();
        assert_eq!((d.width(), d.height()), scene.rgb.dimensions());
        assert!(d.valid_count() > 0);
    }
}

#[test]
fn all_tasks_run_and_rows_are_well_formed() {
    let reg = Registry::builtin(&TasksConfig::default());
    let pipe = Pipeline::new(&reg, &BUILTIN_TASKS, 42, 2).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let summary = generate(
        &pipe,
        &discover(data_dir()).unwrap(),
        &run_config(dir.path(), DatasetFormat::Parquet, 2),
        &(),
    )
    .unwrap();
    let rows = read_dataset(dir.path()).unwrap();
    assert_eq!(rows.len() as u64, summary.total_samples());
    let mut per_task: BTreeMap<&str, u64> = BTreeMap::new();
    for (split, r) in &rows {
        assert!(split == "train" || split == "val");
        *per_task.entry(r.task.as_str()).or_default() += 1;
        assert_eq!(
            r.problem.matches("<image>").count(),
            r.images.len(),
            "{} {}",
            r.task,
            r.problem
        );
        assert!(!r.answer.is_empty());
        for img in &r.images {
            assert!(
                img.path
                    .starts_with(&format!("images/{}/{}-", r.source, r.task))
                    && img.path.ends_with(".png")
            );
            decode_rgb(&img.bytes, Path::new(&img.path)).unwrap();
        }
        serde_json::from_str::<serde_json::Value>(&r.metadata).unwrap();
    }
    // RGB tasks on all 5 sources x 2 calls; depth tasks only on the 3 RGB-D sources.
    for t in ["shuffle", "flip", "crop"] {
        assert_eq!(per_task[t], 10, "{t}");
    }
    for t in ["depth", "position"] {
        assert_eq!(
            per_task.get(t).copied().unwrap_or(0)
                + summary.failures.iter().filter(|f| f.task == t).count() as u64,
            6,
            "{t}"
        );
    }
    // Split is by source: a source's rows are all in one split.
    let mut split_of: BTreeMap<&str, &str> = BTreeMap::new();
    for (split, r) in &rows {
        assert_eq!(
            *split_of.entry(r.source.as_str()).or_insert(split.as_str()),
            split.as_str()
        );
    }
}

#[test]
fn output_is_byte_identical_for_any_thread_count() {
    let reg = Registry::builtin(&TasksConfig::default());
    let pipe = Pipeline::new(&reg, &BUILTIN_TASKS, 7, 1).unwrap();
    let sources = discover(data_dir()).unwrap();
    for format in [DatasetFormat::Parquet, DatasetFormat::Jsonl] {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        generate(&pipe, &sources, &run_config(a.path(), format, 1), &()).unwrap();
        generate(&pipe, &sources, &run_config(b.path(), format, 4), &()).unwrap();
        assert_same_tree(a.path(), b.path());
    }
}

/// Panics (as a kill would stop the run) once `after` sources are finished.
struct KillAfter {
    after: u64,
    done: AtomicU64,
}

impl Progress for KillAfter {
    fn start(&self, _total: u64, done: u64) {
        self.done.store(done, Ordering::SeqCst);
    }
    fn advance(&self, n: u64) {
        if self.done.fetch_add(n, Ordering::SeqCst) + n >= self.after {
            panic!("simulated kill");
        }
    }
}

#[test]
fn resume_after_interruption_is_byte_identical() {
    let reg = Registry::builtin(&TasksConfig::default());
    let pipe = Pipeline::new(&reg, &["shuffle", "flip", "crop", "depth"], 3, 2).unwrap();
    // Duplicate the sample data under more ids so the run spans several windows and shards.
    let base = discover(data_dir()).unwrap();
    let sources: Vec<SourceSpec> = (0..4)
        .flat_map(|i| {
            base.iter().map(move |s| SourceSpec {
                id: format!("{}-{i}", s.id),
                ..s.clone()
            })
        })
        .collect();
    for format in [DatasetFormat::Parquet, DatasetFormat::Jsonl] {
        let whole = tempfile::tempdir().unwrap();
        let cfg = |dir: &Path, threads| RunConfig {
            image_format: ImageFormat::Jpeg,
            ..run_config(dir, format, threads)
        };
        let full = generate(&pipe, &sources, &cfg(whole.path(), 2), &()).unwrap();
        assert!(full.shards.len() >= 6, "{:?}", full.shards);
        for kill_at in [5, 13] {
            let dir = tempfile::tempdir().unwrap();
            let killer = KillAfter {
                after: kill_at,
                done: AtomicU64::new(0),
            };
            let res = catch_unwind(AssertUnwindSafe(|| {
                generate(&pipe, &sources, &cfg(dir.path(), 1), &killer)
            }));
            assert!(res.is_err(), "the run should have been interrupted");
            let partial = snapshot(dir.path());
            assert!(partial.contains_key("manifest.json"));
            // A kill can also land mid-write: a temporary file, or a shard renamed into place
            // but not yet in the manifest (made corrupt here, to show it is rewritten, not trusted).
            let manifest: serde_json::Value =
                serde_json::from_slice(&partial["manifest.json"]).unwrap();
            let recorded = manifest["shards"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["split"] == "train")
                .count();
            let next = format!("train-{recorded:05}.{}", format.extension());
            std::fs::write(dir.path().join(format!(".{next}.tmp")), b"half").unwrap();
            std::fs::write(dir.path().join(&next), b"truncated").unwrap();
            // Restart with another thread count: same bytes as the uninterrupted run.
            let resumed = generate(&pipe, &sources, &cfg(dir.path(), 3), &()).unwrap();
            assert_eq!(resumed, full, "kill at {kill_at}, {format:?}");
            assert_same_tree(whole.path(), dir.path());
        }
        // A finished run is not redone; a run with other settings is refused.
        assert_eq!(
            generate(&pipe, &sources, &cfg(whole.path(), 1), &()).unwrap(),
            full
        );
        let other = Pipeline::new(&reg, &["shuffle"], 3, 2).unwrap();
        assert!(matches!(
            generate(&other, &sources, &cfg(whole.path(), 1), &()),
            Err(Error::ForeignRun { .. })
        ));
    }
}

#[test]
fn bad_inputs_are_recorded_and_the_run_goes_on() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::write(d.join("corrupt.jpg"), b"\xff\xd8\xffnot really").unwrap();
    image::RgbImage::from_pixel(6, 6, image::Rgb([1, 2, 3]))
        .save(d.join("tiny.png"))
        .unwrap();
    image::RgbImage::from_fn(120, 90, |x, y| image::Rgb([x as u8, y as u8, 7]))
        .save(d.join("ok.png"))
        .unwrap();
    image::RgbImage::from_fn(120, 90, |x, y| image::Rgb([y as u8, x as u8, 70]))
        .save(d.join("rgbd.png"))
        .unwrap();
    std::fs::write(d.join("rgbd.npy"), b"\x93NUMPY garbage").unwrap();
    let reg = Registry::builtin(&TasksConfig::default());
    let pipe = Pipeline::new(&reg, &["flip", "depth"], 1, 1).unwrap();
    let out = tempfile::tempdir().unwrap();
    let summary = generate(
        &pipe,
        &discover(d).unwrap(),
        &RunConfig::new(out.path()),
        &(),
    )
    .unwrap();
    let kinds: Vec<(&str, &str, &str)> = summary
        .failures
        .iter()
        .map(|f| (f.source.as_str(), f.task.as_str(), f.kind.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("corrupt", "input", "image"),
            ("rgbd", "input", "depth"),
            ("tiny", "flip", "too_small")
        ]
    );
    assert!(summary.failures[1].message.contains("rgbd.npy"));
    // Only ok.png gives a sample: an unreadable depth map fails its whole source.
    assert_eq!(summary.samples["flip"]["train"], 1);
    assert_eq!(summary.failures_by_kind["image"], 1);
}

#[test]
fn invalid_options_are_typed_errors() {
    let reg = Registry::builtin(&TasksConfig::default());
    assert!(matches!(
        Pipeline::new(&reg, &["flip", "nope"], 0, 1),
        Err(Error::UnknownTask { .. })
    ));
    assert!(matches!(
        Pipeline::new(&reg, &["flip", "flip"], 0, 1),
        Err(Error::InvalidOption { .. })
    ));
    assert!(matches!(
        Pipeline::new(&reg, &["flip"], 0, 0),
        Err(Error::InvalidOption { .. })
    ));
    let pipe = Pipeline::new(&reg, &["flip"], 0, 1).unwrap();
    let out = tempfile::tempdir().unwrap();
    let twice = [SourceSpec::rgb("a/x.jpg"), SourceSpec::rgb("b/x.png")];
    let e = generate(&pipe, &twice, &RunConfig::new(out.path()), &()).unwrap_err();
    assert!(
        e.to_string().contains("\"x\" appears more than once"),
        "{e}"
    );
    for cfg in [
        RunConfig {
            shard_size: 0,
            ..RunConfig::new(out.path())
        },
        RunConfig {
            val_fraction: 1.0,
            ..RunConfig::new(out.path())
        },
        RunConfig {
            threads: 0,
            ..RunConfig::new(out.path())
        },
    ] {
        assert!(matches!(
            generate(&pipe, &[], &cfg, &()),
            Err(Error::InvalidOption { .. })
        ));
    }
}
