//! Scale-out: workers that each take a part of the sources, joined by `merge`, write the
//! same bytes as one run; a custom task's broken samples never reach the dataset.

use std::path::{Path, PathBuf};

mod util;

use spatial_ssrl_tasks::prelude::*;
use spatial_ssrl_tasks::{
    DatasetFormat, Pipeline, RunConfig, Shard, SourceSpec, generate, merge, read_dataset,
    save_depth_npy,
};
use util::assert_same_tree;

/// A noisy picture (no symmetric patch, so every task finds its puzzle).
fn noise(w: u32, h: u32, salt: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let v = (x.wrapping_mul(73_856_093) ^ y.wrapping_mul(19_349_663) ^ salt)
            .wrapping_mul(2_654_435_761);
        Rgb([(v >> 24) as u8, (v >> 16) as u8, (v >> 8) as u8])
    })
}

/// Seven RGB sources, two RGB-D ones (a depth ramp) and one unreadable file, in `dir`.
fn sources(dir: &Path) -> Vec<SourceSpec> {
    let mut out = Vec::new();
    for i in 0..7u32 {
        let p = dir.join(format!("rgb{i}.png"));
        noise(72 + 8 * i, 56, i).save(&p).unwrap();
        out.push(SourceSpec::rgb(p));
    }
    for i in 0..2u32 {
        let (w, h) = (96, 72);
        let p = dir.join(format!("rgbd{i}.png"));
        noise(w, h, 100 + i).save(&p).unwrap();
        let ramp = (0..w * h)
            .map(|k| 1.0 + (k % w + k / w * (i + 1)) as f32 * 0.05)
            .collect();
        let d = dir.join(format!("rgbd{i}.npy"));
        save_depth_npy(&d, &DepthMap::from_values(w, h, ramp).unwrap()).unwrap();
        let mut spec = SourceSpec::rgb(p);
        spec.depth = Some(d);
        out.push(spec);
    }
    let broken = dir.join("broken.png");
    std::fs::write(&broken, b"\x89PNG\r\n\x1a\n not really").unwrap();
    out.push(SourceSpec::rgb(broken));
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

fn config(out: &Path, format: DatasetFormat, shard: Shard, threads: usize) -> RunConfig {
    RunConfig {
        format,
        shard_size: 3,
        val_fraction: 0.3,
        threads,
        shard,
        ..RunConfig::new(out)
    }
}

#[test]
fn workers_then_merge_write_the_bytes_of_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let srcs = sources(tmp.path());
    let registry = Registry::builtin(&TasksConfig::default());
    let pipeline = Pipeline::new(&registry, &["shuffle", "flip", "depth"], 5, 2).unwrap();
    for format in [DatasetFormat::Parquet, DatasetFormat::Jsonl] {
        let one = tmp.path().join(format!("one-{format:?}"));
        let whole = generate(
            &pipeline,
            &srcs,
            &config(&one, format, Shard::WHOLE, 1),
            &(),
        )
        .unwrap();
        assert!(
            whole.shards.len() > 6 && !whole.failures.is_empty(),
            "{whole:?}"
        );
        assert!(
            whole.samples.values().any(|m| m.contains_key("val")),
            "both splits used"
        );
        for count in [2, 3] {
            let workers: Vec<PathBuf> = (0..count)
                .map(|i| tmp.path().join(format!("w{count}-{i}-{format:?}")))
                .collect();
            // Workers finish in any order, with any thread count.
            for (i, dir) in workers.iter().enumerate().rev() {
                let shard = Shard::new(i, count).unwrap();
                generate(
                    &pipeline,
                    &srcs,
                    &config(dir, format, shard, 1 + i % 2),
                    &(),
                )
                .unwrap();
            }
            let merged = tmp.path().join(format!("merged{count}-{format:?}"));
            let summary = merge(&workers, &merged).unwrap();
            assert_eq!(summary, whole, "{format:?} x{count}");
            assert_same_tree(&one, &merged);
        }
    }
}

#[test]
fn merge_refuses_incomplete_or_mixed_parts() {
    let tmp = tempfile::tempdir().unwrap();
    let srcs = sources(tmp.path());
    let registry = Registry::builtin(&TasksConfig::default());
    let pipeline = Pipeline::new(&registry, &["flip"], 5, 1).unwrap();
    let other = Pipeline::new(&registry, &["flip"], 6, 1).unwrap();
    let dir = |name: &str| tmp.path().join(name);
    let part = |p: &Pipeline, name: &str, i: usize| {
        let run = config(
            &dir(name),
            DatasetFormat::Parquet,
            Shard::new(i, 2).unwrap(),
            1,
        );
        generate(p, &srcs, &run, &()).unwrap();
    };
    part(&pipeline, "a0", 0);
    part(&pipeline, "a1", 1);
    part(&other, "b1", 1);
    let missing = merge(&[dir("a0")], dir("m1")).unwrap_err();
    assert!(missing.to_string().contains("each part"), "{missing}");
    let twice = merge(&[dir("a0"), dir("a0")], dir("m2")).unwrap_err();
    assert!(twice.to_string().contains("each part"), "{twice}");
    let mixed = merge(&[dir("a0"), dir("b1")], dir("m3")).unwrap_err();
    assert_eq!(mixed.kind(), "foreign_run", "{mixed}");
    // A merge killed half-way (a temporary, a stale shard, no manifest) is simply rerun.
    std::fs::create_dir_all(dir("m4")).unwrap();
    std::fs::write(dir("m4").join(".train-00001.parquet.tmp"), b"partial").unwrap();
    std::fs::write(dir("m4").join("train-00000.parquet"), b"stale").unwrap();
    merge(&[dir("a1"), dir("a0")], dir("m4")).unwrap();
    merge(&[dir("a0"), dir("a1")], dir("m5")).unwrap();
    assert_same_tree(&dir("m4"), &dir("m5"));
    let again = merge(&[dir("a0"), dir("a1")], dir("m4")).unwrap_err();
    assert!(again.to_string().contains("already holds"), "{again}");
    assert!(Shard::new(2, 2).is_err() && Shard::new(0, 0).is_err());
}

/// Says every picture is blank, with one `<image>` too many in the problem.
struct Miscounted;

impl PretextTask for Miscounted {
    fn name(&self) -> &str {
        "miscounted"
    }
    fn inputs(&self) -> Inputs {
        Inputs::Rgb
    }
    fn generate(&self, scene: &Scene, rng: &mut TaskRng) -> Result<Vec<Sample>> {
        let extra = if rng.random_bool(0.5) {
            IMAGE_PLACEHOLDER
        } else {
            ""
        };
        let ok = Sample::new(
            self.name(),
            &scene.id,
            "<image>Blank? A. yes B. no",
            "B",
            vec![(*scene.rgb).clone()],
        );
        let bad = Sample {
            problem: format!("<image>{extra}<image> Same? A. yes B. no"),
            ..ok.clone()
        };
        Ok(vec![ok, bad])
    }
}

#[test]
fn invalid_custom_samples_are_failures_not_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let srcs: Vec<SourceSpec> = sources(tmp.path())
        .into_iter()
        .filter(|s| s.id != "broken")
        .collect();
    let mut registry = Registry::new();
    registry.register(Miscounted).unwrap();
    let pipeline = Pipeline::new(&registry, &["miscounted"], 1, 1).unwrap();
    let out = tmp.path().join("out");
    let summary = generate(
        &pipeline,
        &srcs,
        &config(&out, DatasetFormat::Jsonl, Shard::WHOLE, 1),
        &(),
    )
    .unwrap();
    assert_eq!(summary.total_samples(), srcs.len() as u64);
    assert_eq!(
        summary.failures_by_kind["invalid_sample"],
        srcs.len() as u64
    );
    assert!(
        summary.failures[0].message.contains("placeholders"),
        "{}",
        summary.failures[0].message
    );
    for (_, rec) in read_dataset(&out).unwrap() {
        assert_eq!(
            rec.problem.matches(IMAGE_PLACEHOLDER).count(),
            rec.images.len()
        );
    }
}
