//! The `spatial-ssrl` preset held against the reference: the questions of
//! InternLM/Spatial-SSRL `data_process/Position.py` word for word, the released look (blue
//! borders, small outlined labels at (10, 10)), the shuffle variants of the paper's Table 6
//! and the task mix of Table 5 with RGB tasks on RGB sources and depth tasks on RGB-D ones.
//! Scenes come from whatever `tests/fixtures/reference_inputs` holds.

use std::collections::BTreeMap;
use std::path::PathBuf;

use image::{Rgb, RgbImage};
use rand::SeedableRng;
use spatial_ssrl_tasks::{
    Crop, DepthOrder, Facing, Flip, PairKind, PretextTask, Registry, RelativePosition, Routing,
    Scene, Shuffle, ShuffleConfig, ShuffleMix, ShuffleVariant, SourceSpec, TaskRng, TasksConfig,
    discover,
};

fn preset() -> TasksConfig {
    TasksConfig::preset("spatial-ssrl").unwrap()
}

fn sources() -> Vec<SourceSpec> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/reference_inputs");
    discover(dir).unwrap()
}

/// What `Position.py` says for each camera direction (`choice` 0..3 of its prompts).
fn reference_facing(f: Facing) -> &'static str {
    match f {
        Facing::Left => "to the left of the image",
        Facing::Right => "to the right of the image",
        Facing::TowardViewer => "to me",
        Facing::AwayFromViewer => "to away from me",
    }
}

/// The question `Position.py` builds (`get_near_prompt`, `get_far_prompt_*`): its f-string
/// with `option_str` = `" A. <opt> B. <opt> ..."`.
fn reference_question(
    observer: u64,
    facing: Facing,
    target: u64,
    options: &[String],
    kind: PairKind,
) -> String {
    let option_str: String = options
        .iter()
        .zip(["A", "B", "C", "D"])
        .map(|(o, l)| format!(" {l}. {o}"))
        .collect();
    let cues = match kind {
        PairKind::Near => "Consider cues such as depth, orientation, and 3D spatial relationship.",
        PairKind::Far => {
            "Consider cues such as depth, orientation, and 3D spatial relationship and ignore the height difference between the two regions."
        }
    };
    format!(
        "<image>I've taken an image and there are two regions marked as 1, and 2 on the image. \
         Assume that there is a camera at position '{observer}' and it's facing {}. According to \
         the camera, where is the region marker '{target}'?{option_str}. {cues} The final answer \
         should be chosen from 'A', 'B', 'C', and 'D'.",
        reference_facing(facing)
    )
}

#[test]
fn position_questions_are_position_py_word_for_word() {
    let task = RelativePosition::new(preset().position);
    let mut checked = 0;
    for spec in sources().iter().filter(|s| s.depth.is_some()) {
        let scene = spec.load().unwrap();
        for seed in 0..6 {
            let Ok(samples) = task.generate(&scene, &mut TaskRng::seed_from_u64(seed)) else {
                continue;
            };
            for s in samples {
                let m = &s.metadata;
                let facing: Facing = serde_json::from_value(m["facing"].clone()).unwrap();
                let kind: PairKind = serde_json::from_value(m["kind"].clone()).unwrap();
                let options: Vec<String> = serde_json::from_value(m["options"].clone()).unwrap();
                let label = |k: &str| m[k]["label"].as_u64().unwrap();
                let want =
                    reference_question(label("observer"), facing, label("target"), &options, kind);
                assert_eq!(s.problem, want);
                checked += 1;
            }
        }
    }
    assert!(checked > 0, "no RGB-D fixture gave a position sample");
}

#[test]
fn paper_tables_are_the_weights() {
    let cfg = preset();
    // Table 5: samples per task in Spatial-SSRL-81k.
    let want: BTreeMap<String, u32> = [
        ("shuffle", 16_028),
        ("flip", 4_005),
        ("crop", 20_200),
        ("depth", 20_620),
        ("position", 20_200),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(cfg.mix.weights, want);
    assert_eq!(cfg.mix.routing, Routing::ByInput);
    // Table 6: 2x2 4,000 / masked 2x2 4,028 / 1xN 4,991 / Nx1 3,009, N in {3, 4}.
    let m = &cfg.shuffle.mix;
    assert_eq!(
        (
            m.grid_2x2,
            m.masked_2x2,
            m.grid_3x3,
            m.horizontal_strips,
            m.vertical_strips
        ),
        (4_000, 4_028, 0, 4_991, 3_009)
    );
    assert_eq!(cfg.shuffle.strips, [3, 4]);
    assert_eq!(ShuffleVariant::HorizontalStrips.shape(4), (1, 4));
    assert_eq!(ShuffleVariant::VerticalStrips.shape(3), (3, 1));
}

#[test]
fn shuffle_draws_table_6_with_the_released_look() {
    let cfg = preset().shuffle;
    let img = RgbImage::from_fn(96, 96, |x, y| Rgb([(x * 2) as u8, (y * 2) as u8, 60]));
    let scene = Scene::rgb("s", img);
    let task = Shuffle::new(cfg.clone());
    let mut variants: BTreeMap<String, u32> = BTreeMap::new();
    let mut strip_counts: BTreeMap<u64, u32> = BTreeMap::new();
    let n = 1200;
    for seed in 0..n {
        let s = &task
            .generate(&scene, &mut TaskRng::seed_from_u64(seed))
            .unwrap()[0];
        let v = s.metadata["variant"].as_str().unwrap().to_owned();
        if v.ends_with("strips") {
            let (r, c) = (
                s.metadata["rows"].as_u64().unwrap(),
                s.metadata["cols"].as_u64().unwrap(),
            );
            strip_counts
                .entry(r.max(c))
                .and_modify(|k| *k += 1)
                .or_insert(1);
        }
        *variants.entry(v).or_insert(0) += 1;
    }
    let w = cfg.mix.weights();
    let total: u32 = w.iter().sum();
    for (variant, weight) in ShuffleVariant::ALL.iter().zip(w) {
        let got = f64::from(variants.get(variant.as_str()).copied().unwrap_or(0)) / n as f64;
        let want = f64::from(weight) / f64::from(total);
        assert!((got - want).abs() < 0.05, "{variant:?}: {got} vs {want}");
    }
    assert_eq!(strip_counts.keys().copied().collect::<Vec<_>>(), [3, 4]);

    // Blue border, white digit with a black outline 10 px in from the corner.
    let one = Shuffle::new(spatial_ssrl_tasks::ShuffleConfig {
        mix: ShuffleMix::only(ShuffleVariant::Grid2x2),
        ..cfg
    });
    let s = &one
        .generate(&scene, &mut TaskRng::seed_from_u64(0))
        .unwrap()[0];
    let im = &s.images[0];
    assert_eq!(*im.get_pixel(0, 0), Rgb([0, 0, 255]));
    assert_eq!(*im.get_pixel(1, 30), Rgb([0, 0, 255]));
    let label = |x0: u32, y0: u32| {
        (y0..y0 + 8)
            .flat_map(|y| (x0..x0 + 8).map(move |x| (x, y)))
            .collect::<Vec<_>>()
    };
    assert!(
        label(10, 10)
            .iter()
            .any(|&(x, y)| *im.get_pixel(x, y) == Rgb([255, 255, 255]))
    );
    assert!(
        label(8, 8)
            .iter()
            .any(|&(x, y)| *im.get_pixel(x, y) == Rgb([0, 0, 0]))
    );
    // Nothing drawn beyond the outline of an 8 px digit.
    assert_ne!(*im.get_pixel(24, 24), Rgb([255, 255, 255]));
}

#[test]
fn rgb_tasks_take_rgb_sources_and_depth_tasks_rgbd_sources() {
    let cfg = preset();
    let reg = Registry::builtin(&cfg);
    let pipe = spatial_ssrl_tasks::Pipeline::new(&reg, &reg.names(), 3, 40)
        .unwrap()
        .with_mix(&cfg.mix)
        .unwrap();
    let srcs = sources();
    assert!(srcs.iter().any(|s| s.depth.is_some()) && srcs.iter().any(|s| s.depth.is_none()));
    for s in &srcs {
        let t = pipe.targets(std::slice::from_ref(s));
        let (rgb, depth): (u64, u64) = (
            ["shuffle", "flip", "crop"].iter().map(|k| t[*k]).sum(),
            ["depth", "position"].iter().map(|k| t[*k]).sum(),
        );
        if s.depth.is_some() {
            assert_eq!((rgb, depth), (0, 40), "{}: {t:?}", s.id);
        } else {
            assert_eq!((rgb, depth), (40, 0), "{}: {t:?}", s.id);
            assert!(t["crop"] > t["flip"], "{}: {t:?}", s.id); // 20,200 vs 4,005
        }
    }
}

#[test]
fn print_config_round_trips_and_overlays() {
    let cfg = preset();
    assert_eq!(TasksConfig::from_toml_str(&cfg.to_toml()).unwrap(), cfg);
    let mine = cfg.overlay_str("[shuffle]\nstrips = 3\n").unwrap();
    assert_eq!(mine.shuffle.strips, [3]);
    assert_eq!(mine.position, cfg.position);
    assert_eq!(mine.mix, cfg.mix);
}

/// Any preset with weights: the same bytes for any thread count, and the summary and the
/// manifest hold each task's realised rows against its planned calls.
#[test]
fn weighted_mix_is_deterministic_and_reports_targets() {
    let t = tempfile::tempdir().unwrap();
    let srcs: Vec<SourceSpec> = (0..4u8)
        .map(|i| {
            let p = t.path().join(format!("src{i}.png"));
            RgbImage::from_fn(96, 64, |x, y| Rgb([x as u8 ^ i, (y * 3) as u8, i * 40]))
                .save(&p)
                .unwrap();
            SourceSpec::rgb(p)
        })
        .collect();
    let cfg = TasksConfig {
        mix: "shuffle=3,flip=1,crop=0".parse().unwrap(),
        ..Default::default()
    };
    let reg = Registry::builtin(&cfg);
    let pipe = spatial_ssrl_tasks::Pipeline::new(&reg, &["shuffle", "flip", "crop"], 11, 5)
        .unwrap()
        .with_mix(&cfg.mix)
        .unwrap();
    let run = |threads: usize| {
        let out = t.path().join(format!("out{threads}"));
        let rc = spatial_ssrl_tasks::RunConfig {
            threads,
            format: spatial_ssrl_tasks::DatasetFormat::Jsonl,
            ..spatial_ssrl_tasks::RunConfig::new(&out)
        };
        let summary = spatial_ssrl_tasks::generate(&pipe, &srcs, &rc, &()).unwrap();
        (
            summary,
            std::fs::read_to_string(out.join("manifest.json")).unwrap(),
            out,
        )
    };
    let (a, manifest_a, out_a) = run(1);
    let (b, manifest_b, out_b) = run(3);
    assert_eq!(a, b);
    assert_eq!(manifest_a, manifest_b);
    // The rows: same bytes.
    let shard = "train-00000.jsonl";
    assert_eq!(
        std::fs::read(out_a.join(shard)).unwrap(),
        std::fs::read(out_b.join(shard)).unwrap()
    );
    // 4 sources x 5 calls, none for crop (weight 0), shuffle about 3 in 4.
    assert_eq!(a.targets.values().sum::<u64>(), 20);
    assert_eq!(a.targets["crop"], 0);
    assert!(a.targets["shuffle"] > a.targets["flip"], "{:?}", a.targets);
    for (task, &planned) in &a.targets {
        assert_eq!(
            a.realised(task),
            planned,
            "{task}: every call succeeds here"
        );
    }
    assert!(manifest_a.contains("\"targets\""), "{manifest_a}");
}

/// The paper's Appendix A.7 questions, as `tests/fixtures/a7_templates.json` holds them
/// (key: shuffle variant and strip count, or task name).
fn a7_questions() -> BTreeMap<String, String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/a7_templates.json");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    serde_json::from_value(doc["questions"].clone()).unwrap()
}

#[test]
fn a7_questions_are_the_papers_word_for_word() {
    let want = a7_questions();
    let cfg = preset();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let img = RgbImage::from_fn(96, 96, |x, y| {
        Rgb([(x * 2) as u8, (y * 3) as u8, (x ^ y) as u8])
    });
    let scene = Scene::rgb("s", img);
    let rng = || TaskRng::seed_from_u64(7);

    // Every shuffle variant the preset draws, with each strip count it draws.
    for (variant, weight) in ShuffleVariant::ALL.iter().zip(cfg.shuffle.mix.weights()) {
        if weight == 0 {
            continue;
        }
        for &n in &cfg.shuffle.strips {
            let task = Shuffle::new(ShuffleConfig {
                mix: ShuffleMix::only(*variant),
                strips: vec![n],
                ..cfg.shuffle.clone()
            });
            let s = &task.generate(&scene, &mut rng()).unwrap()[0];
            let key = if variant.as_str().ends_with("strips") {
                format!("{}_{n}", variant.as_str())
            } else {
                variant.as_str().to_owned()
            };
            seen.insert(key, s.problem.clone());
        }
    }
    let flip = &Flip::new(cfg.flip.clone())
        .generate(&scene, &mut rng())
        .unwrap()[0];
    seen.insert("flip".into(), flip.problem.clone());
    let crop = &Crop::new(cfg.crop.clone())
        .generate(&scene, &mut rng())
        .unwrap()[0];
    assert_eq!(crop.problem.matches("<image>").count(), crop.images.len());
    seen.insert("crop".into(), crop.problem.clone());
    let depth = &DepthOrder::new(cfg.depth.clone());
    let question = sources()
        .iter()
        .filter(|s| s.depth.is_some())
        .flat_map(|spec| {
            let scene = spec.load().unwrap();
            (0..6).filter_map(move |seed| {
                depth
                    .generate(&scene, &mut TaskRng::seed_from_u64(seed))
                    .ok()
                    .map(|s| s[0].problem.clone())
            })
        })
        .next()
        .expect("no RGB-D fixture gave a depth sample");
    seen.insert("depth".into(), question);

    for (key, text) in &want {
        assert_eq!(seen.get(key), Some(text), "{key}");
    }
    assert_eq!(seen.len(), want.len(), "{:?}", seen.keys());
}

/// Counts instead of weights: each task gets exactly its count over the whole run, with the
/// same bytes for any thread count, and the summary and manifest hold realised against target.
#[test]
fn counted_mix_meets_counts_exactly_and_deterministically() {
    let t = tempfile::tempdir().unwrap();
    let srcs: Vec<SourceSpec> = (0..3u8)
        .map(|i| {
            let p = t.path().join(format!("src{i}.png"));
            RgbImage::from_fn(96, 64, |x, y| Rgb([x as u8 ^ i, (y * 5) as u8, i * 70]))
                .save(&p)
                .unwrap();
            SourceSpec::rgb(p)
        })
        .collect();
    let mix = spatial_ssrl_tasks::TaskMix::parse_counts("shuffle=7,flip=2,crop=0").unwrap();
    let cfg = TasksConfig {
        mix: mix.clone(),
        ..Default::default()
    };
    // The TOML form reads back the same.
    assert_eq!(TasksConfig::from_toml_str(&cfg.to_toml()).unwrap(), cfg);
    let reg = Registry::builtin(&cfg);
    let pipe = spatial_ssrl_tasks::Pipeline::new(&reg, &["shuffle", "flip", "crop"], 5, 1)
        .unwrap()
        .with_mix(&cfg.mix)
        .unwrap();
    let run = |threads: usize| {
        let out = t.path().join(format!("out{threads}"));
        let rc = spatial_ssrl_tasks::RunConfig {
            threads,
            format: spatial_ssrl_tasks::DatasetFormat::Jsonl,
            ..spatial_ssrl_tasks::RunConfig::new(&out)
        };
        let summary = spatial_ssrl_tasks::generate(&pipe, &srcs, &rc, &()).unwrap();
        let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
        let rows = std::fs::read(out.join("train-00000.jsonl")).unwrap();
        (summary, manifest, rows)
    };
    let (a, manifest_a, rows_a) = run(1);
    let (b, manifest_b, rows_b) = run(3);
    assert_eq!((&a, &manifest_a, &rows_a), (&b, &manifest_b, &rows_b));
    for (task, &count) in &mix.counts {
        assert_eq!(a.targets[task], count, "{task}");
        assert_eq!(a.realised(task), count, "{task}: every call succeeds here");
    }
    let manifest: serde_json::Value = serde_json::from_str(&manifest_a).unwrap();
    assert_eq!(manifest["targets"]["shuffle"], 7);
    // Two workers of a sharded run share the counts out the same way: together they meet them.
    let mut parts: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for index in 0..2 {
        let rc = spatial_ssrl_tasks::RunConfig {
            format: spatial_ssrl_tasks::DatasetFormat::Jsonl,
            shard: spatial_ssrl_tasks::Shard::new(index, 2).unwrap(),
            ..spatial_ssrl_tasks::RunConfig::new(t.path().join(format!("part{index}")))
        };
        let part = spatial_ssrl_tasks::generate(&pipe, &srcs, &rc, &()).unwrap();
        for (task, &target) in &part.targets {
            let e = parts.entry(task.clone()).or_default();
            *e = (e.0 + target, e.1 + part.realised(task));
        }
    }
    for (task, &count) in &mix.counts {
        assert_eq!(parts[task], (count, count), "{task}");
    }
    // 7 shuffle calls over 3 sources: 3, 2 and 2, never all on one.
    let rows = String::from_utf8(rows_a).unwrap();
    for s in &srcs {
        let n = rows
            .lines()
            .filter(|l| l.contains("\"shuffle\"") && l.contains(&format!("\"{}\"", s.id)))
            .count();
        assert!((2..=3).contains(&n), "{}: {n} shuffle rows", s.id);
    }

    // Weights and counts together, a negative count, an unknown task: typed errors.
    let both = spatial_ssrl_tasks::TaskMix {
        weights: [("flip".to_owned(), 1)].into_iter().collect(),
        ..mix.clone()
    };
    let fresh = || spatial_ssrl_tasks::Pipeline::new(&reg, &["shuffle", "flip"], 5, 1).unwrap();
    assert!(matches!(
        fresh().with_mix(&both),
        Err(spatial_ssrl_tasks::Error::InvalidOption { .. })
    ));
    assert!(TasksConfig::from_toml_str("[mix.counts]\nflip = -3\n").is_err());
    let unknown = spatial_ssrl_tasks::TaskMix::parse_counts("flipp=3").unwrap();
    assert!(matches!(
        fresh().with_mix(&unknown),
        Err(spatial_ssrl_tasks::Error::UnknownTask { .. })
    ));
    // A count that no source can take (depth on RGB photos) is refused before any work.
    let depth = Registry::builtin(&cfg);
    let p = spatial_ssrl_tasks::Pipeline::new(&depth, &["depth"], 5, 1)
        .unwrap()
        .with_mix(&spatial_ssrl_tasks::TaskMix::parse_counts("depth=2").unwrap())
        .unwrap();
    assert!(matches!(
        p.with_sources(&srcs),
        Err(spatial_ssrl_tasks::Error::InvalidOption { .. })
    ));
}
