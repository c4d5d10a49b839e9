//! The paper's evaluation: every fixture item's prompt rebuilt from the fixture's own fields
//! with the recipe of the script that evaluated it (InternLM/Spatial-SSRL `evaluation/`), the
//! scripts' settings, and their scoring rules case by case.

use std::path::{Path, PathBuf};

use serde_json::Value;
use spatial_ssrl_bench::paper::{
    can_infer, py_float, qspatial_cm, script_mra, spatial457_answer, viewspatial_letter, vsi_score,
    whatsup_hit,
};
use spatial_ssrl_bench::{
    Answer, Benchmark, Item, PromptMode, Registry, Rule, Scoring, load_pooled,
};

/// The reasoning prompt all the scripts append in their CoT runs.
const COT: &str = "You FIRST think about the reasoning process as an internal monologue and then provide the final answer. The reasoning process MUST BE enclosed within <think> </think> tags. The final answer MUST BE put in \\boxed{}.";
const PAPER: PromptMode = PromptMode::Paper { cot: true };
const DIRECT: PromptMode = PromptMode::Paper { cot: false };

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/bench")
}

fn load(bench: &str, file: &str) -> (Vec<Item>, Vec<serde_json::Map<String, Value>>) {
    let reg = Registry::builtin();
    let path = fixtures().join(file);
    let items = reg.get(bench).unwrap().load(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let records = if text.trim_start().starts_with('[') {
        serde_json::from_str::<Vec<Value>>(&text).unwrap()
    } else {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let records = records
        .into_iter()
        .filter_map(|v| v.as_object().cloned())
        .collect();
    (items, records)
}

fn bench(name: &str) -> &'static dyn Benchmark {
    let reg: &'static Registry = Box::leak(Box::new(Registry::builtin()));
    reg.get(name).unwrap()
}

#[test]
fn viewspatial_prompts_are_main_py() {
    let (items, recs) = load("viewspatial", "viewspatial.json");
    assert_eq!(items.len(), recs.len());
    let b = bench("viewspatial");
    for (it, rec) in items.iter().zip(&recs) {
        let stem = format!(
            "{}\n{}",
            rec["question"].as_str().unwrap(),
            rec["choices"].as_str().unwrap()
        );
        let cot = b.request(it, PAPER);
        assert_eq!(
            cot.text,
            format!(
                "{stem}\nThe final answer should be the option letter from the given choices.\n{COT}"
            )
        );
        let direct = b.request(it, DIRECT);
        assert_eq!(
            direct.text,
            format!("{stem}\nReply only to the corresponding option.\nAnswer:")
        );
        let n = rec["image_path"].as_array().unwrap().len();
        assert_eq!(cot.n_images, n);
        assert_eq!(
            (
                cot.min_pixels,
                cot.max_pixels,
                cot.resize,
                cot.max_new_tokens
            ),
            (
                Some(256 * 784),
                Some(1280 * 784),
                Some((280, 420)),
                Some(4096)
            )
        );
    }
}

/// `fix_prompt` of vsi_infer.py, restated.
fn vsi_text(question: &str, options: &[String], cot: bool) -> String {
    let mut p = format!("Watch the given video and anser the following question.\n\n{question}");
    for (o, l) in options.iter().zip(["A. ", "B. ", "C. ", "D. "]) {
        p.push_str(l);
        p.push_str(o);
    }
    p.push_str(match (cot, options.is_empty()) {
        (false, true) => "\nAnswer directly with a number(integer or decimal).",
        (false, false) => "\nAnswer directly with the option letter from the given choices.",
        (true, true) => "\nThe final answer should be a number(integer or decimal).\n",
        (true, false) => "\nThe final answer should be the option letter from the given choices.\n",
    });
    if cot {
        p.push_str(COT);
    }
    p
}

#[test]
fn vsibench_prompts_are_vsi_infer_py_with_one_128_frame_video() {
    for file in ["vsibench.json", "vsibench_official.jsonl"] {
        let (items, recs) = load("vsibench", file);
        let b = bench("vsibench");
        for (it, rec) in items.iter().zip(&recs) {
            let options: Vec<String> = match rec.get("options") {
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect(),
                _ => ["A", "B", "C", "D"]
                    .iter()
                    .map_while(|k| rec.get(*k).and_then(Value::as_str).map(String::from))
                    .collect(),
            };
            let q = rec["question"].as_str().unwrap();
            for cot in [true, false] {
                let r = b.request(it, PromptMode::Paper { cot });
                assert_eq!(
                    r.text,
                    vsi_text(q, &options, cot),
                    "{file} item {}",
                    it.index
                );
                assert_eq!((r.n_images, r.max_new_tokens), (0, Some(4096)));
                assert_eq!((r.min_pixels, r.max_pixels), (None, None));
                let v = r.video.as_ref().unwrap();
                assert_eq!((v.max_frames, v.fps), (128, 2.0));
                // The frame count the item would be given: all frames when fewer than 128.
                let available = std::fs::read_dir(&v.dir).map(|d| d.count()).ok();
                let line = r.dump_line(it.index, 1);
                assert_eq!(line["n_frames"], available.map_or(128, |n| n.min(128)));
            }
        }
    }
}

#[test]
fn whatsup_prompts_are_main_py_and_a_plus_b_pool() {
    let (items, recs) = load("whatsup", "whatsup_controlled.json");
    let b = bench("whatsup");
    for (it, rec) in items.iter().zip(&recs) {
        let captions: Vec<String> = rec["caption_options"]
            .as_array()
            .unwrap()
            .iter()
            .zip(["A", "B", "C", "D"])
            .map(|(c, l)| format!("{l}: {}", c.as_str().unwrap()))
            .collect();
        let captions = captions.join("\n");
        let r = b.request(it, PAPER);
        assert_eq!(
            r.text,
            format!(
                "Based on the image, choose the correct option from the list below.{COT}{captions}"
            )
        );
        assert_eq!(
            (r.min_pixels, r.max_pixels, r.max_new_tokens),
            (Some(4 * 784), Some(512 * 784), Some(4096))
        );
        assert_eq!(
            b.request(it, DIRECT).text,
            format!(
                "Based on the image, choose the correct option from the list below. Only respond the corresponding letter (e.g., C).\n\n{captions}"
            )
        );
    }

    // A folder pools Controlled_Images A then B; keys continue across the two files.
    let dir = fixtures().join("whatsup_pooled");
    let a = b.load(&dir.join("controlled_images_dataset.json")).unwrap();
    let bb = b.load(&dir.join("controlled_clevr_dataset.json")).unwrap();
    let pooled = b.load(&dir).unwrap();
    assert_eq!(pooled.len(), a.len() + bb.len());
    let keys: std::collections::BTreeSet<i64> = pooled.iter().map(|i| i.index).collect();
    assert_eq!(keys.len(), pooled.len());
    assert_eq!(pooled[a.len()].question, bb[0].question);
    assert_eq!(pooled[a.len()].options, bb[0].options);
    // Two files given one by one pool the same way.
    let paths: Vec<PathBuf> = [
        "controlled_images_dataset.json",
        "controlled_clevr_dataset.json",
    ]
    .iter()
    .map(|f| dir.join(f))
    .collect();
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let by_two = load_pooled(b, &refs).unwrap();
    assert_eq!(
        by_two.iter().map(|i| i.index).collect::<Vec<_>>(),
        pooled.iter().map(|i| i.index).collect::<Vec<_>>()
    );
}

#[test]
fn fork_mcq_prompts_are_vlmevalkit_build_prompt() {
    for (name, file) in [
        ("spatialeval", "spatialeval.tsv"),
        ("3dsrbench", "3dsrbench.tsv"),
    ] {
        let b = bench(name);
        let items = b.load(&fixtures().join(file)).unwrap();
        for it in &items {
            let mut want = String::new();
            if let Some(h) = it.extra.get("hint") {
                want += &format!("Hint: {h}\n");
            }
            want += &format!("Question: {}\nOptions:\n", it.question);
            for (i, o) in it.options.iter().enumerate() {
                want += &format!("{}. {o}\n", Item::letter(i));
            }
            want += "Please select the correct answer from the options above. \n";
            let r = b.request(it, PAPER);
            assert_eq!(r.text, format!("{want}{COT}"));
            assert_eq!(b.request(it, DIRECT).text, want);
            assert_eq!(
                (r.min_pixels, r.max_pixels, r.max_new_tokens, r.n_images),
                (
                    Some(1280 * 784),
                    Some(16384 * 784),
                    Some(2048),
                    it.visuals.len()
                )
            );
        }
    }
}

#[test]
fn spatial457_prompts_carry_the_level_instruction_and_vocabulary() {
    let b = bench("spatial457");
    let items = b.load(&fixtures().join("spatial457.tsv")).unwrap();
    let head = "You are an intelligent chatbot designed to answer questions based on an image. Your task is to analyze the images, identify attributes of ";
    for it in &items {
        let r = b.request(it, PAPER);
        // [level sentence + COT] <image> [question + COT] [rules + COT]
        let (before, after) = r.text.split_at(r.visuals_at);
        assert!(
            before.starts_with(head) && before.ends_with(&format!("the question.\n{COT}")),
            "{before}"
        );
        assert!(after.starts_with(&format!("{}{COT}First, you should identify", it.question)));
        assert!(after.contains("a phrase chosen from the following options: Small, Large, Airliner, Dirtbike, Road bike,"));
        assert!(after.ends_with(&format!(
            "choose the best answer that fits the question.\n\n{COT}"
        )));
        let direct = b.request(it, DIRECT);
        assert!(
            direct
                .text
                .ends_with("fits the question.\n\nPlease directly give the answer.")
        );
        assert_eq!(r.max_new_tokens, Some(2048));
    }
    // Each level has its own sentence.
    let levels: std::collections::BTreeSet<String> = items
        .iter()
        .map(|it| {
            let r = b.request(it, DIRECT);
            r.text[..r.visuals_at].to_string()
        })
        .collect();
    let cats: std::collections::BTreeSet<&str> =
        items.iter().map(|i| i.category.as_str()).collect();
    assert_eq!(levels.len(), cats.len());
}

#[test]
fn qspatial_prompt_is_the_benchmark_template() {
    let b = bench("qspatial");
    let (items, recs) = load("qspatial", "qspatial.jsonl");
    for (it, rec) in items.iter().zip(&recs) {
        let q = rec["question"].as_str().unwrap();
        let r = b.request(it, PAPER);
        assert!(
            r.text
                .starts_with("You will be provided with a question and a 2D image.")
        );
        assert!(r.text.contains("in the format of \"\"\"\\scalar{scalar} \\distance_unit{distance unit}\"\"\" at the end of your response.\n"));
        assert!(r.text.ends_with(&format!("Question: {q}\nLet's thinkg step by step and start by finding good reference objects or object parts in the image.")));
        assert!(!r.text.contains(COT));
    }
}

#[test]
fn viewspatial_rule_is_last_box_then_first_letter() {
    assert_eq!(
        viewspatial_letter("<think>A or B</think> \\boxed{b. left}", true),
        Some('B')
    );
    assert_eq!(viewspatial_letter("The answer is C", true), None); // no box: wrong
    assert_eq!(viewspatial_letter("The answer is C", false), Some('C'));
    assert_eq!(viewspatial_letter("\\boxed{A} \\boxed{D}", true), Some('D'));
    assert_eq!(viewspatial_letter("\\boxed{Ahead}", true), None);
    let (items, _) = load("viewspatial", "viewspatial.json");
    let b = bench("viewspatial");
    let s = b.score_with(&items[0], "It is left. A", Scoring::Paper { cot: true });
    assert_eq!((s.score, s.rule), (0.0, Rule::None));
}

#[test]
fn vsi_rules_are_check_accuracy_py() {
    // float() of the whole box: units inside the box score 0.
    assert_eq!(vsi_score("\\boxed{4}", "4", true).0, 1.0);
    assert_eq!(vsi_score("\\boxed{4 chairs}", "4", true).0, 0.0);
    assert_eq!(vsi_score("  3.0\n", "4", false).0, script_mra("3.0", 4.0));
    // `<`, not `<=`: a relative error of exactly 0.5 earns nothing.
    assert_eq!(script_mra("3", 2.0), 0.0);
    assert_eq!(script_mra("2.2", 2.0), 0.8); // 0.1 is not < 1 - 0.9 in floating point
    assert_eq!(script_mra("1", 0.0), 0.0);
    // Letters compare case-insensitively; "A." is not a letter.
    assert_eq!(vsi_score("\\boxed{b}", "B", true).0, 1.0);
    assert_eq!(vsi_score("\\boxed{B.}", "B", true).0, 0.0);
    assert_eq!(py_float("1_5"), Some(15.0));
}

#[test]
fn whatsup_rule_is_a_anywhere_in_the_last_box() {
    assert!(whatsup_hit("<think>..</think>\\boxed{A: a mug left}", 'A', true).0);
    assert!(!whatsup_hit("A \\boxed{B}", 'A', true).0);
    assert!(whatsup_hit("B? No, A.", 'A', false).0);
    assert!(!whatsup_hit("the answer is a", 'A', false).0);
}

#[test]
fn fork_rules_for_mcq_spatial457_and_qspatial() {
    let opts: Vec<String> = ["left", "right"].iter().map(|s| s.to_string()).collect();
    assert_eq!(can_infer("\\boxed{B}", &opts).map(|x| x.0), Some('B'));
    // Two letters among the words: falls to option text, which also matches both.
    assert_eq!(can_infer("A or B: left or right", &opts), None);
    assert_eq!(
        can_infer("It is on the right side", &opts).map(|x| x.0),
        Some('B')
    );
    assert_eq!(can_infer("Cannot determine the answer. B", &opts), None);

    assert_eq!(
        spatial457_answer("{'Reasoning': 'x', 'Answer': 'jet'}").0,
        "jet"
    );
    assert_eq!(spatial457_answer("'Answer': 3 objects").0, "3");
    assert_eq!(spatial457_answer("\\boxed{Yes}").0, "\\boxed{Yes}"); // no box extraction

    let cm = |s: &str| qspatial_cm(s).map(|v| (v * 1e6).round() / 1e6);
    assert_eq!(cm("\\scalar{10} \\distance_unit{in}"), Some(25.4));
    assert_eq!(cm("\\scalar{1-2} \\distance_unit{meters}"), Some(150.0));
    // The fork rewrites a box into its template and then reads "scalar" as the unit: 0 cm.
    assert_eq!(cm("\\boxed{1.5 m}"), Some(0.0));
    assert_eq!(cm("\\scalar{3} \\distance_unit{yards}"), Some(0.0)); // unknown unit
    assert_eq!(cm("about 3 m"), None); // IndexError in the fork
}

#[test]
fn paper_and_robust_scoring_disagree_where_the_scripts_are_strict() {
    let b = bench("vsibench");
    let (items, _) = load("vsibench", "vsibench.json");
    let numeric = items
        .iter()
        .find(|it| matches!(it.answer, Answer::Number(_)))
        .unwrap();
    let Answer::Number(v) = numeric.answer else {
        unreachable!()
    };
    let pred = format!("\\boxed{{{v} units}}");
    let robust = b.score_with(numeric, &pred, Scoring::Robust);
    let paper = b.score_with(numeric, &pred, Scoring::Paper { cot: true });
    assert_eq!((robust.score, paper.score), (1.0, 0.0));
}

/// Every case of `paper_rules_golden.jsonl`, computed by the scripts' own functions
/// (`scripts/make_paper_rules_golden.py`), agrees with the Rust rules.
#[test]
fn rules_agree_with_the_scripts_on_the_golden_cases() {
    use spatial_ssrl_bench::paper::{first_standalone_abcd, qspatial_multiplier, qspatial_within};
    use spatial_ssrl_bench::spatial457_correct;
    let text = std::fs::read_to_string(fixtures().join("paper_rules_golden.jsonl")).unwrap();
    let mut checked = std::collections::BTreeMap::<String, usize>::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let c: Value = serde_json::from_str(line).unwrap();
        let pred = c["prediction"].as_str().unwrap();
        let cot = c["cot"].as_bool().unwrap_or(true);
        let bench = c["bench"].as_str().unwrap();
        match bench {
            "viewspatial" => {
                let truth = first_standalone_abcd(c["answer"].as_str().unwrap());
                let got = viewspatial_letter(pred, cot) == truth;
                assert_eq!(got, c["correct"].as_bool().unwrap(), "{line}");
            }
            "vsibench" => {
                let (s, _) = vsi_score(pred, c["answer"].as_str().unwrap(), cot);
                let want = c["score"].as_f64().unwrap();
                assert!((s - want).abs() < 1e-12, "{line}: got {s}");
            }
            "whatsup" => {
                let (hit, _) = whatsup_hit(pred, 'A', cot);
                assert_eq!(hit, c["correct"].as_bool().unwrap(), "{line}");
            }
            "mcq" => {
                let options: Vec<String> = c["options"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|o| o.as_str().unwrap().to_string())
                    .collect();
                let want = c["answer"].as_str().and_then(|s| s.chars().next());
                assert_eq!(can_infer(pred, &options).map(|x| x.0), want, "{line}");
            }
            "spatial457" => {
                let (read, _) = spatial457_answer(pred);
                let got = spatial457_correct(c["answer"].as_str().unwrap(), &read);
                assert_eq!(got, c["correct"].as_bool().unwrap(), "{line}");
            }
            "qspatial" => {
                let truth =
                    c["value"].as_f64().unwrap() * qspatial_multiplier(c["unit"].as_str().unwrap());
                let v = qspatial_cm(pred).unwrap_or(1e-8);
                assert_eq!(
                    qspatial_within(v, truth, 2.0),
                    c["within_2"].as_bool().unwrap(),
                    "{line}"
                );
            }
            other => panic!("unknown bench {other} in {line}"),
        }
        *checked.entry(bench.to_string()).or_default() += 1;
    }
    // Every rule family is exercised.
    assert_eq!(checked.len(), 6, "{checked:?}");
}

/// Every prompt of `paper_prompts_golden.jsonl`, built by the scripts' own prompt code on the
/// bench fixtures (`scripts/make_paper_prompts_golden.py`), is the request text byte for byte.
#[test]
fn prompts_equal_the_scripts_own_output() {
    let text = std::fs::read_to_string(fixtures().join("paper_prompts_golden.jsonl")).unwrap();
    let mut loaded: std::collections::HashMap<String, Vec<Item>> = Default::default();
    let mut n = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let c: Value = serde_json::from_str(line).unwrap();
        let (name, file) = (c["bench"].as_str().unwrap(), c["file"].as_str().unwrap());
        let b = bench(name);
        let items = loaded
            .entry(file.to_string())
            .or_insert_with(|| b.load(&fixtures().join(file)).unwrap());
        let index = c["index"].as_i64().unwrap();
        let item = items.iter().find(|it| it.index == index).unwrap();
        let mode = PromptMode::Paper {
            cot: c["cot"].as_bool().unwrap(),
        };
        assert_eq!(
            b.request(item, mode).text,
            c["text"].as_str().unwrap(),
            "{name} {file} item {index} {mode:?}"
        );
        n += 1;
    }
    assert!(n > 0);
}
