//! `spatial-ssrl generate` and `spatial-ssrl preview` on the sample data in `examples/data`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::{cmd, run_ok, tree};

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/data")
}

fn generate(input: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut c = cmd();
    c.args(["generate", "--input"])
        .arg(input)
        .arg("--out")
        .arg(out)
        .args(extra);
    c
}

#[test]
fn generate_then_preview() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("ds");
    let stdout = run_ok(&mut generate(
        &examples(),
        &out,
        &["--samples-per-image", "2", "--threads", "2", "--seed", "42"],
    ));
    assert!(stdout.contains("5 sources ->"), "{stdout}");
    for task in ["shuffle", "flip", "crop", "position"] {
        assert!(
            stdout.contains(task),
            "{task} missing from summary:\n{stdout}"
        );
    }
    assert!(out.join("train-00000.parquet").exists());
    assert!(out.join("manifest.json").exists());
    let html = t.path().join("p.html");
    let stdout = run_ok(
        cmd()
            .args(["preview", "--data"])
            .arg(&out)
            .arg("--out")
            .arg(&html)
            .args(["--per-task", "2"]),
    );
    assert!(stdout.contains("rows previewed"), "{stdout}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("data:image/png;base64,") && page.contains("answer: "));
    assert_eq!(
        page.matches("<div class=\"s\">").count(),
        10,
        "2 per task x 5 tasks"
    );
}

#[test]
fn generate_is_identical_across_thread_counts() {
    let t = tempfile::tempdir().unwrap();
    let args = [
        "--format",
        "jsonl",
        "--tasks",
        "shuffle,flip,depth",
        "--shard-size",
        "3",
        "--val-fraction",
        "0.4",
    ];
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    run_ok(generate(&examples(), &a, &args).args(["--threads", "1"]));
    run_ok(generate(&examples(), &b, &args).args(["--threads", "2"]));
    let (ta, tb) = (tree(&a), tree(&b));
    assert!(
        ta.keys().any(|k| k.starts_with("images/")) && ta.keys().any(|k| k.ends_with(".jsonl"))
    );
    assert_eq!(ta, tb);
}

#[test]
fn killed_and_rerun_finishes_byte_identical() {
    // Enough sources (the samples listed many times in a manifest) that the kill lands mid-run.
    let t = tempfile::tempdir().unwrap();
    let manifest = t.path().join("sources.jsonl");
    let mut lines = String::new();
    for i in 0..12 {
        for (id, img) in [("street", "street.jpg"), ("portrait", "portrait.jpg")] {
            let p = examples().join(img);
            lines.push_str(&format!(
                "{{\"id\": \"{id}-{i}\", \"image\": {:?}}}\n",
                p.display().to_string()
            ));
        }
    }
    std::fs::write(&manifest, lines).unwrap();
    let run = |out: &Path| {
        let mut c = cmd();
        c.args(["generate", "--manifest"])
            .arg(&manifest)
            .arg("--out")
            .arg(out);
        c.args([
            "--tasks",
            "shuffle,flip,crop",
            "--samples-per-image",
            "2",
            "--shard-size",
            "5",
            "--threads",
            "1",
        ]);
        c
    };
    let whole = t.path().join("whole");
    run_ok(&mut run(&whole));
    let resumed = t.path().join("resumed");
    let manifest = resumed.join("manifest.json");
    // Kill twice, each time just after the run records a new shard: mid-run for sure.
    let mut shards_seen = 0;
    for _ in 0..2 {
        let mut child = run(&resumed)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let shards = std::fs::read_to_string(&manifest)
                .map(|m| m.matches("\"file\"").count())
                .unwrap_or(0);
            if shards > shards_seen || std::time::Instant::now() > deadline {
                shards_seen = shards;
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        child.kill().unwrap(); // SIGKILL: no cleanup runs
        child.wait().unwrap();
    }
    let partial = std::fs::read_to_string(&manifest).unwrap();
    assert!(
        partial.contains("\"complete\": false"),
        "the kills should land mid-run"
    );
    run_ok(&mut run(&resumed));
    assert_eq!(tree(&whole), tree(&resumed));
}

#[test]
fn config_file_overrides_prompt_templates() {
    let t = tempfile::tempdir().unwrap();
    let cfg = t.path().join("tasks.toml");
    std::fs::write(
        &cfg,
        "[flip]\nprompt = \"<image>\\nWHICH PATCH IS FLIPPED?\"\n",
    )
    .unwrap();
    let out = t.path().join("ds");
    run_ok(
        generate(&examples(), &out, &["--tasks", "flip", "--format", "jsonl"])
            .arg("--config")
            .arg(&cfg),
    );
    let shard = std::fs::read_to_string(out.join("train-00000.jsonl")).unwrap();
    assert_eq!(shard.lines().count(), 5);
    assert!(
        shard.lines().all(|l| l.contains("WHICH PATCH IS FLIPPED?")),
        "{shard}"
    );
    // --print-config writes a complete file that loads back unchanged.
    let printed = run_ok(cmd().args(["generate", "--print-config"]));
    assert!(
        printed.contains("[shuffle]") && printed.contains("[position]"),
        "{printed}"
    );
    std::fs::write(&cfg, &printed).unwrap();
    let again = run_ok(
        cmd()
            .args(["generate", "--print-config", "--config"])
            .arg(&cfg),
    );
    assert_eq!(printed, again);
    // A typo in the config is an error naming the file, not a silent default.
    std::fs::write(&cfg, "[flip]\nprompts = \"x\"\n").unwrap();
    let o = generate(&examples(), &t.path().join("ds2"), &[])
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("tasks.toml"));
}

#[test]
fn bad_arguments_fail_with_a_message() {
    let t = tempfile::tempdir().unwrap();
    let o = generate(
        &examples(),
        &t.path().join("x"),
        &["--tasks", "shuffle,spin"],
    )
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("unknown task \"spin\""), "{err}");
    let o = generate(&t.path().join("missing"), &t.path().join("x"), &[])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    // Only unusable sources: the run completes, reports the failures, exits 1.
    let bad = t.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("broken.jpg"), b"not a jpeg").unwrap();
    let o = generate(&bad, &t.path().join("y"), &[]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("broken / input"));
}

#[test]
fn preset_and_task_weights() {
    // The paper's preset, printed: Position.py's wording and the Table 5 mix.
    let shown = run_ok(cmd().args(["generate", "--print-config", "--preset", "spatial-ssrl"]));
    assert!(shown.contains("it's facing {facing}"), "{shown}");
    assert!(shown.contains("to away from me"), "{shown}");
    assert!(shown.contains("routing = \"by_input\""), "{shown}");
    assert!(shown.contains("crop = 20200"), "{shown}");
    let o = cmd()
        .args(["generate", "--print-config", "--preset", "paper"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("spatial-ssrl"));

    // Weights: every source gets --samples-per-image calls in all; the summary holds the
    // realised rows against the planned calls.
    let t = tempfile::tempdir().unwrap();
    let stdout = run_ok(&mut generate(
        &examples(),
        &t.path().join("ds"),
        &[
            "--tasks",
            "shuffle,flip",
            "--task-weights",
            "shuffle=3,flip=1",
            "--samples-per-image",
            "2",
        ],
    ));
    assert!(stdout.contains("planned"), "{stdout}");
    let planned: u64 = stdout
        .lines()
        .filter_map(|l| {
            l.split(" of ")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    let sources: u64 = stdout
        .split(" sources ->")
        .next()
        .and_then(|s| s.trim().parse().ok())
        .unwrap();
    assert_eq!(planned, 2 * sources, "{stdout}");
    let o = generate(
        &examples(),
        &t.path().join("bad"),
        &["--task-weights", "shuffle=lots"],
    )
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(2));

    // Counts: exactly that many calls per task over the whole run.
    let stdout = run_ok(&mut generate(
        &examples(),
        &t.path().join("counted"),
        &[
            "--tasks",
            "shuffle,flip",
            "--task-counts",
            "shuffle=7,flip=3",
        ],
    ));
    assert!(stdout.contains("7 of 7 planned"), "{stdout}");
    assert!(stdout.contains("3 of 3 planned"), "{stdout}");
    for extra in [
        &["--task-counts", "shuffle=-1"][..],
        &["--task-counts", "shuffle=1", "--task-weights", "flip=1"],
    ] {
        let o = generate(&examples(), &t.path().join("bad"), extra)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{extra:?}");
    }
}
