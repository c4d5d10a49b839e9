//! Every adapter on its fixture (tests/fixtures/bench, built in each benchmark's public
//! schema by scripts/make_bench_fixtures.py), scored end to end through the public API with
//! predictions chosen to exercise each extraction rule and metric.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use spatial_ssrl_bench::{
    Answer, Error, Item, Prediction, Registry, Report, Scoring, Video, evaluate,
};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/bench")
}

/// Loads `file` with `bench`, scores `preds` (index, prediction) and returns the items and report.
fn run(bench: &str, file: &str, preds: &[(i64, &str)]) -> (Vec<Item>, Report) {
    let reg = Registry::builtin();
    let b = reg.get(bench).unwrap();
    let items = b
        .load(&fixtures().join(file))
        .unwrap_or_else(|e| panic!("{bench}: {e}"));
    let preds: Vec<Prediction> = preds
        .iter()
        .map(|&(index, p)| Prediction {
            index,
            prediction: p.into(),
        })
        .collect();
    let eval = evaluate(
        b,
        &items,
        &preds,
        false,
        Scoring::Robust,
        Path::new("preds.jsonl"),
    )
    .unwrap_or_else(|e| panic!("{bench}: {e}"));
    (items, eval.report)
}

fn close(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() < 1e-9,
        "{what}: expected {want}, got {got}"
    );
}

fn cats(r: &Report) -> BTreeMap<&str, f64> {
    r.per_category
        .iter()
        .map(|(k, v)| (k.as_str(), (v * 1e6).round() / 1e6))
        .collect()
}

/// Decodes every visual of an item, asserting the bytes are a PNG or JPEG.
fn assert_images(item: &Item, want: usize) {
    let imgs = match &item.video {
        Some(v) => v.load_frames().unwrap(),
        None => item.load_images().unwrap(),
    };
    assert_eq!(imgs.len(), want, "item {}", item.index);
    for img in imgs {
        assert!(
            img.starts_with(&[0x89, b'P', b'N', b'G']) || img.starts_with(&[0xFF, 0xD8]),
            "item {}",
            item.index
        );
    }
}

#[test]
fn spatial457_open_answers_with_its_matching_rules() {
    let (items, r) = run(
        "spatial457",
        "spatial457.tsv",
        &[
            (1, "<think>the big one is red</think> \\boxed{Red}"), // case-insensitive
            (2, "{'Reasoning': 'three cars', 'Answer': 'three'}"), // template + number word
            (3, "2"),                                              // any 1-9 counts as Yes
            (4, "\\boxed{yes}"),                                   // wrong
            (5, "\\boxed{sedan}"),                                 // same super-shape as suv
            (6, "None"),                                           // none means no
            (7, "\\boxed{No}"),                                    // wrong
        ],
    );
    assert_eq!(items.len(), 7);
    assert_eq!(items[1].answer, Answer::Text("3".into()));
    // Row 3's image cell is "1": VLMEvalKit's reference to row 1's image.
    assert_eq!(items[2].visuals, items[0].visuals);
    assert_images(&items[2], 1);
    close(r.overall, 500.0 / 7.0, "overall");
    assert_eq!(r.n, 7);
    assert_eq!(cats(&r)["L4_occ"], 0.0);
    assert_eq!(cats(&r)["L4_pose"], 100.0);
    assert_eq!(
        r.extraction,
        BTreeMap::from([
            ("boxed".into(), 4),
            ("template".into(), 1),
            ("whole".into(), 2)
        ])
    );
}

#[test]
fn threedsrbench_vanilla_flip_and_circular_settings() {
    let (items, r) = run(
        "3dsrbench",
        "3dsrbench.tsv",
        &[
            (0, "\\boxed{A}"),
            (1, "B"),
            (2, "\\boxed{A}"),
            (3, "\\boxed{A}"), // flipped rotation wrong
            (4, "A"),
            (5, "\\boxed{B}"),
            (6, "the car faces front"), // option text
            (7, "\\boxed{C}"),          // rotation wrong
        ],
    );
    assert_eq!(items[0].options, vec!["chair", "table"]); // empty C/D cells are not options
    assert_eq!(items[6].options.len(), 4);
    assert_eq!(items[3].extra["qid"], "a1b2c3d4-flip-1");
    assert_eq!(items[3].extra["image_source"], "coco"); // extra columns are kept
    close(r.overall, 75.0, "vanilla");
    close(r.metrics["vanilla"], 75.0, "vanilla metric");
    assert_eq!(
        cats(&r),
        BTreeMap::from([("height", 100.0), ("location", 75.0), ("orientation", 50.0)])
    );
    // flip pairs: (0,2) ok, (1,3) x, (4) ok, (5) ok, (6) ok, (7) x -> 4/6
    close(r.metrics["flip_eval"], 400.0 / 6.0, "flip");
    // circular groups: a1b2c3d4 ok, a1b2c3d4-flip x, e5f6a7b8 ok, c9d0e1f2 x -> 2/4
    close(r.metrics["circular_eval"], 50.0, "circular");
    // both: a1b2c3d4 x, e5f6a7b8 ok, c9d0e1f2 x -> 1/3
    close(
        r.metrics["flip_circular_eval"],
        100.0 / 3.0,
        "flip+circular",
    );
    close(r.metrics["circular_eval/height"], 100.0, "circular height");
}

#[test]
fn spatialeval_multi_image_rows_hints_and_extra_columns() {
    let (items, r) = run(
        "spatialeval",
        "spatialeval.tsv",
        &[
            (10, "\\boxed{A}"),
            (11, "yes"),
            (12, "Answer: B"),
            (13, "<think>..</think>\\boxed{second}"),
        ],
    );
    assert_images(&items[0], 1);
    assert_images(&items[1], 2); // JSON list of base64 images
    assert_images(&items[3], 2); // Python list repr
    assert_eq!(items[1].extra["split"], "vqa");
    let reg = Registry::builtin();
    let p = reg.get("spatialeval").unwrap().prompt(&items[2]);
    assert!(p.starts_with("Hint: Count right turns only.\nHow many steps to the exit?\nOptions:\nA. 1\nB. 2\nC. 3\nD. 4\n"), "{p}");
    assert!(p.ends_with(spatial_ssrl_rewards::FORMAT_INSTRUCTION));
    close(r.overall, 75.0, "overall");
    assert_eq!(
        cats(&r),
        BTreeMap::from([
            ("mazenav", 50.0),
            ("spatialgrid", 100.0),
            ("spatialmap", 100.0)
        ])
    );
    assert_eq!(r.extraction["boxed"], 2);
    assert_eq!(r.extraction["option_text"], 1);
    assert_eq!(r.extraction["answer_prefix"], 1);
}

#[test]
fn whatsup_controlled_images_json() {
    let (items, r) = run(
        "whatsup",
        "whatsup_controlled.json",
        &[
            (0, "\\boxed{A}"),
            (1, "\\boxed{A mug to the right of a plate}"),
            (2, "B"),
            (3, "(A)"),
        ],
    );
    assert!(items.iter().all(|it| it.answer == Answer::Choice('A')));
    assert_images(&items[0], 1);
    close(r.overall, 75.0, "overall");
    assert_eq!(
        cats(&r),
        BTreeMap::from([
            ("left_of", 100.0),
            ("on", 0.0),
            ("right_of", 100.0),
            ("under", 100.0)
        ])
    );
}

#[test]
fn viewspatial_published_json() {
    let (items, r) = run(
        "viewspatial",
        "viewspatial.json",
        &[
            (0, "\\boxed{A}"),
            (1, "\\boxed{D}"),
            (2, "\\boxed{B}"),
            (3, "B. left"),
        ],
    );
    assert_eq!(
        items[0].options,
        vec!["right", "front-up", "back-left", "front"]
    );
    assert_eq!(items[1].answer, Answer::Choice('D'));
    assert_images(&items[2], 3); // three views of the scene
    close(r.overall, 75.0, "overall");
    assert_eq!(
        r.per_category["Camera perspective - Relative Direction"],
        100.0
    );
    assert_eq!(
        r.per_category["Person perspective - Scene Simulation Relative Direction"],
        0.0
    );
}

#[test]
fn vsibench_mcq_accuracy_and_mra() {
    let (items, r) = run(
        "vsibench",
        "vsibench.json",
        &[
            (0, "\\boxed{4}"),             // counting exact: MRA 1
            (1, "\\boxed{3}"),             // 3 vs 2.5: rel 0.2 -> 0.6
            (2, "about 45 square meters"), // 45 vs 30: rel 0.5 -> 0.1
            (3, "\\boxed{A}"),
            (4, "\\boxed{left}"), // option text -> A, wrong
            (5, "C. turn right"),
        ],
    );
    assert_eq!(items[0].answer, Answer::Number(4.0));
    assert_eq!(
        items[3].options,
        vec!["front-left", "back-right", "back-left", "front-right"]
    ); // "A. " labels stripped
    assert_eq!(items[4].options.len(), 2); // null options dropped
    // One video per item: the scene's frame folder, 128 frames at 2 fps (the paper's script).
    let video = items[0].video.clone().unwrap();
    assert_eq!(
        video,
        Video {
            dir: fixtures().join("frames/arkitscenes/41069025"),
            max_frames: 128,
            fps: 2.0
        }
    );
    assert!(items[0].visuals.is_empty());
    assert_images(&items[0], 4);
    let two = Video {
        max_frames: 2,
        ..video
    };
    assert_eq!(two.frame_paths().unwrap().len(), 2); // uniform frame sampling
    assert_eq!(two.frame_count(), 2);
    close(r.overall, 100.0 * 3.7 / 6.0, "item mean");
    let c = cats(&r);
    assert_eq!(
        (c["object_abs_distance"], c["room_size_estimation"]),
        (60.0, 10.0)
    );
    // official: counting 100, abs 60, room 10, rel_direction (100 + 0) / 2, route 100
    close(r.metrics["official_overall"], 64.0, "official");

    // The official layout, as JSON Lines and as the parquet Hugging Face serves.
    for file in ["vsibench_official.jsonl", "vsibench_official.parquet"] {
        let (items, r) = run("vsibench", file, &[(0, "\\boxed{180}"), (1, "\\boxed{B}")]);
        assert_eq!(items[0].answer, Answer::Number(200.0), "{file}");
        assert_eq!(items[1].options[1], "chair, lamp, tv", "{file}");
        assert_images(&items[0], 2);
        close(r.overall, 95.0, file);
    }
}

#[test]
fn qspatial_units_and_ratio_thresholds() {
    let preds: &[(i64, &str)] = &[
        (0, "\\boxed{2 m}"),                      // 200 vs 150 cm: 1.33
        (1, "\\boxed{30 cm}"),                    // 30 vs 12 cm: 2.5
        (2, "\\scalar{5} \\distance_unit{feet}"), // 152.4 vs 91.44 cm: 1.67
        (3, "It is 3 feet."),                     // 91.44 vs 101.6 cm: 1.11
    ];
    for file in ["qspatial.jsonl", "qspatial.tsv", "qspatial.parquet"] {
        let (items, r) = run("qspatial", file, preds);
        assert_eq!(items[0].answer, Answer::LengthCm(150.0));
        assert_eq!(items[3].answer, Answer::LengthCm(40.0 * 2.54));
        assert_images(&items[1], 1);
        close(r.overall, 75.0, file);
        close(r.metrics["delta_1.5"], 50.0, file);
        assert_eq!(cats(&r), BTreeMap::from([("direct", 50.0), ("ref", 100.0)]));
        assert_eq!(
            r.extraction,
            BTreeMap::from([
                ("boxed".into(), 2),
                ("number".into(), 1),
                ("template".into(), 1)
            ])
        );
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn malformed_files_give_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let reg = Registry::builtin();
    let mcq = reg.get("mcq-tsv").unwrap();
    let p = write(
        dir.path(),
        "a.tsv",
        "index\tquestion\tA\tB\tcategory\n1\tq\tx\ty\tc\n",
    );
    assert!(matches!(mcq.load(&p), Err(Error::MissingColumn { column, .. }) if column == "answer"));
    let p = write(
        dir.path(),
        "b.tsv",
        "index\tquestion\tA\tB\tanswer\n1\tq\tx\ty\tA\textra\n",
    );
    assert!(matches!(
        mcq.load(&p),
        Err(Error::RowWidth {
            line: 2,
            expected: 5,
            got: 6,
            ..
        })
    ));
    let p = write(
        dir.path(),
        "c.tsv",
        "index\tquestion\tA\tB\tanswer\n1\tq\tx\ty\tC\n",
    );
    assert!(matches!(mcq.load(&p), Err(Error::BadValue { field, .. }) if field == "answer"));
    let p = write(
        dir.path(),
        "d.tsv",
        "index\tquestion\tA\tB\tanswer\n1\tq\tx\ty\tA\n1\tr\tx\ty\tB\n",
    );
    assert!(matches!(
        mcq.load(&p),
        Err(Error::DuplicateIndex { index: 1, .. })
    ));
    let p = write(
        dir.path(),
        "e.tsv",
        "index\tquestion\tA\tB\tanswer\tqid\none\tq\tx\ty\tA\tz\n",
    );
    assert!(matches!(mcq.load(&p), Err(Error::BadValue { field, .. }) if field == "index"));
    let p = write(
        dir.path(),
        "f.tsv",
        "index\tquestion\tA\tB\tanswer\n1\tq\tx\ty\tA\n",
    );
    assert!(
        matches!(reg.get("3dsrbench").unwrap().load(&p), Err(Error::MissingColumn { column, .. }) if column == "qid")
    );

    let view = reg.get("viewspatial").unwrap();
    let p = write(
        dir.path(),
        "v.json",
        r#"[{"question_type": "t", "image_path": ["x.jpg"], "question": "q", "answer": "A. x"}]"#,
    );
    assert!(
        matches!(view.load(&p), Err(Error::MissingField { field, record: 0, .. }) if field == "choices")
    );
    let p = write(
        dir.path(),
        "v2.json",
        r#"[{"question_type": "t", "image_path": ["x.jpg"], "question": "q", "answer": "A. x", "choices": "A. x\nB. y"}, 3]"#,
    );
    assert!(matches!(
        view.load(&p),
        Err(Error::BadValue { record: 1, .. })
    ));
    let p = write(dir.path(), "v3.json", "[{\"question\": ");
    assert!(matches!(view.load(&p), Err(Error::Json { .. })));

    let vsi = reg.get("vsibench").unwrap();
    let p = write(
        dir.path(),
        "s.jsonl",
        "{\"question_type\": \"object_counting\", \"question\": \"q\", \"answer\": \"many\", \"mp4_path\": \"a/b.mp4\"}\n",
    );
    assert!(matches!(vsi.load(&p), Err(Error::BadValue { field, .. }) if field == "answer"));
    let p = write(
        dir.path(),
        "s2.jsonl",
        "{\"question_type\": \"object_counting\", \"question\": \"q\", \"answer\": \"3\"}\n",
    );
    assert!(matches!(vsi.load(&p), Err(Error::MissingField { field, .. }) if field == "mp4_path"));
    let p = write(dir.path(), "s3.jsonl", "{\"question\": \"q\"}\nnot json\n");
    assert!(matches!(vsi.load(&p), Err(Error::JsonLine { line: 2, .. })));

    let qs = reg.get("qspatial").unwrap();
    let p = write(
        dir.path(),
        "q.jsonl",
        "{\"question\": \"q\", \"answer_value\": 3, \"answer_unit\": \"parsecs\"}\n",
    );
    assert!(matches!(qs.load(&p), Err(Error::BadValue { field, .. }) if field == "answer_unit"));
    assert!(matches!(
        reg.get("whatsup").unwrap().load(&dir.path().join("w.csv")),
        Err(Error::UnknownFormat { .. })
    ));
    assert!(matches!(
        reg.get("nope"),
        Err(Error::UnknownBenchmark { .. })
    ));

    // A frames folder that does not exist is only an error when images are needed (live mode).
    let p = write(
        dir.path(),
        "s4.jsonl",
        "{\"question_type\": \"object_counting\", \"question\": \"q\", \"answer\": \"3\", \"mp4_path\": \"x/y.mp4\"}\n",
    );
    let items = vsi.load(&p).unwrap();
    let video = items[0].video.clone().unwrap();
    assert!(matches!(video.load_frames(), Err(Error::Io { .. })));
    assert_eq!(video.frame_count(), 128); // what it would be given, without reading media
    std::fs::create_dir_all(dir.path().join("frames/x/y")).unwrap();
    assert!(matches!(video.load_frames(), Err(Error::NoFrames { .. })));
}

#[test]
fn predictions_must_match_the_benchmark() {
    let reg = Registry::builtin();
    let b = reg.get("viewspatial").unwrap();
    let items = b.load(&fixtures().join("viewspatial.json")).unwrap();
    let src = Path::new("p.jsonl");
    let pred = |index, p: &str| Prediction {
        index,
        prediction: p.into(),
    };
    assert!(matches!(
        evaluate(b, &items, &[pred(9, "A")], true, Scoring::Robust, src),
        Err(Error::UnknownIndex { index: 9, .. })
    ));
    assert!(matches!(
        evaluate(
            b,
            &items,
            &[pred(0, "A"), pred(0, "B")],
            true,
            Scoring::Robust,
            src
        ),
        Err(Error::DuplicateIndex { index: 0, .. })
    ));
    assert!(matches!(
        evaluate(b, &items, &[pred(0, "A")], false, Scoring::Robust, src),
        Err(Error::MissingPredictions {
            missing: 3,
            total: 4,
            first: 1
        })
    ));
    let partial = evaluate(
        b,
        &items,
        &[pred(0, "A"), pred(1, "nothing")],
        true,
        Scoring::Robust,
        src,
    )
    .unwrap();
    assert_eq!((partial.report.n, partial.report.overall), (2, 50.0));
    assert_eq!(partial.report.extraction["none"], 1);
}
