//! Live evaluation through a test `Responder`: batching, images and prompts handed over,
//! the predictions file appended per batch, resuming after an interruption.

use std::path::PathBuf;

use spatial_ssrl_bench::{
    Error, LiveConfig, Prompt, Registry, Responder, Scoring, evaluate, read_predictions, run_live,
};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/bench")
}

/// Answers `\boxed{A}` to everything, records what it saw, and can fail on a given call.
#[derive(Default)]
struct Echo {
    calls: Vec<Vec<(i64, usize)>>,
    fail_on_call: Option<usize>,
    drop_one: bool,
}

impl Responder for Echo {
    fn respond(
        &mut self,
        prompts: &[Prompt],
    ) -> Result<Vec<String>, Box<dyn std::error::Error + Send + Sync>> {
        if self.fail_on_call == Some(self.calls.len()) {
            return Err("device lost".into());
        }
        for p in prompts {
            // The paper's CoT prompts (the default) all end with the reasoning instruction.
            assert!(
                p.request
                    .text
                    .ends_with(spatial_ssrl_rewards::FORMAT_INSTRUCTION)
            );
        }
        let visuals = |p: &Prompt| p.images.len() + p.video.as_ref().map_or(0, |v| v.frames.len());
        self.calls
            .push(prompts.iter().map(|p| (p.index, visuals(p))).collect());
        let n = prompts.len() - usize::from(self.drop_one);
        Ok(prompts
            .iter()
            .take(n)
            .map(|_| "<think>..</think> \\boxed{A}".to_string())
            .collect())
    }
}

#[test]
fn batches_append_and_resume() {
    let reg = Registry::builtin();
    let bench = reg.get("vsibench").unwrap();
    let items = bench.load(&fixtures().join("vsibench.json")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let preds_path = dir.path().join("p.jsonl");
    let cfg = LiveConfig {
        batch_size: 4,
        max_frames: Some(3),
        ..LiveConfig::default()
    };

    // First run dies on its second batch: the first batch is already on disk.
    let mut r = Echo {
        fail_on_call: Some(1),
        ..Echo::default()
    };
    let err = run_live(bench, &items, &mut r, &preds_path, cfg, &mut |_, _| {}).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Responder {
                first: 4,
                last: 5,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(r.calls, vec![vec![(0, 3), (1, 3), (2, 3), (3, 3)]]); // 3 of the 4 frames each
    assert_eq!(read_predictions(&preds_path, false).unwrap().0.len(), 4);

    // A crash mid-write leaves a torn line; the rerun drops it and answers only what is left.
    let mut text = std::fs::read_to_string(&preds_path).unwrap();
    text.push_str("{\"index\": 4, \"predic");
    std::fs::write(&preds_path, text).unwrap();
    let mut r = Echo::default();
    let mut seen = Vec::new();
    let preds = run_live(bench, &items, &mut r, &preds_path, cfg, &mut |d, t| {
        seen.push((d, t))
    })
    .unwrap();
    assert_eq!(r.calls, vec![vec![(4, 3), (5, 3)]]);
    assert_eq!(seen, vec![(4, 6), (6, 6)]);
    assert_eq!(
        preds.iter().map(|p| p.index).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4, 5]
    );
    let (on_disk, torn) = read_predictions(&preds_path, false).unwrap();
    assert_eq!((on_disk.len(), torn), (6, false));

    // Nothing left: a third run does not call the responder and scores the same file.
    let mut r = Echo::default();
    let again = run_live(bench, &items, &mut r, &preds_path, cfg, &mut |_, _| {}).unwrap();
    assert!(r.calls.is_empty());
    let report = evaluate(bench, &items, &again, false, Scoring::Robust, &preds_path)
        .unwrap()
        .report;
    // \boxed{A} is right on the one choice item whose answer is A and holds no number for
    // the numeric items.
    assert_eq!(report.n, 6);
    assert_eq!(report.per_category["object_rel_direction_hard"], 100.0);
    assert_eq!(report.per_category["object_counting"], 0.0);
}

#[test]
fn a_responder_must_answer_every_prompt() {
    let reg = Registry::builtin();
    let bench = reg.get("spatialeval").unwrap();
    let items = bench.load(&fixtures().join("spatialeval.tsv")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut r = Echo {
        drop_one: true,
        ..Echo::default()
    };
    let cfg = LiveConfig {
        batch_size: 2,
        ..LiveConfig::default()
    };
    let err = run_live(
        bench,
        &items,
        &mut r,
        &dir.path().join("p.jsonl"),
        cfg,
        &mut |_, _| {},
    )
    .unwrap_err();
    assert!(matches!(
        err,
        Error::ResponderCount {
            expected: 2,
            got: 1
        }
    ));
    // Multi-image rows hand over all their images.
    assert_eq!(r.calls, vec![vec![(10, 1), (11, 2)]]);
}
