//! The `examples/custom_task.rs` program driven through the library entry
//! (`spatial_ssrl_cli::run`): its task generates from its own `[tasks.rotation]` table,
//! previews, and a misspelt table or key is an error.

use std::path::Path;
use std::process::ExitCode;

use spatial_ssrl_tasks::image::{Rgb, RgbImage};
use spatial_ssrl_tasks::read_dataset;

#[allow(dead_code)]
#[path = "../examples/custom_task.rs"]
mod example;

fn run(args: &[&str]) -> anyhow::Result<ExitCode> {
    let argv = std::iter::once("spatial-ssrl").chain(args.iter().copied());
    spatial_ssrl_cli::run(argv, &example::registry)
}

fn photos(dir: &Path) {
    for (i, (w, h)) in [(64u32, 40u32), (48, 56)].into_iter().enumerate() {
        let img = RgbImage::from_fn(w, h, |x, y| {
            Rgb([
                (x * 5 + y) as u8,
                (y * 7 + i as u32 * 40) as u8,
                (x ^ y) as u8,
            ])
        });
        img.save(dir.join(format!("photo{i}.png"))).unwrap();
    }
}

#[test]
fn custom_task_runs_through_the_library_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    photos(&input);
    let config = tmp.path().join("rotation.toml");
    std::fs::write(&config, "[tasks.rotation]\nquarter_turns = [1, 3]\n").unwrap();
    let out = tmp.path().join("out");
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let (input_s, out_s, config_s) = (s(&input), s(&out), s(&config));
    let generate = |extra: &[&str]| {
        let mut args = vec!["generate", "--input", &input_s, "--tasks", "rotation,flip"];
        args.extend_from_slice(extra);
        run(&args)
    };
    let code = generate(&[
        "--out",
        &out_s,
        "--config",
        &config_s,
        "--samples-per-image",
        "3",
    ])
    .unwrap();
    assert_eq!(code, ExitCode::SUCCESS);

    let rows = read_dataset(&out).unwrap();
    let rotations: Vec<_> = rows.iter().filter(|(_, r)| r.task == "rotation").collect();
    assert_eq!(rotations.len(), 6, "2 photos x 3 calls");
    assert!(rows.iter().any(|(_, r)| r.task == "flip"));
    for (_, r) in rotations {
        // Only the configured quarter turns: B (90 clockwise) or D (90 counter-clockwise).
        assert!(r.answer == "B" || r.answer == "D", "{}", r.answer);
        assert!(
            r.metadata.contains("\"quarter_turns\":1")
                || r.metadata.contains("\"quarter_turns\":3")
        );
        let shown =
            spatial_ssrl_tasks::decode_rgb(&r.images[0].bytes, r.images[0].path.as_ref()).unwrap();
        let source = spatial_ssrl_tasks::load_rgb(input.join(format!("{}.png", r.source))).unwrap();
        assert_eq!(
            shown.dimensions(),
            (source.height(), source.width()),
            "a quarter turn swaps sides"
        );
    }
    let html = tmp.path().join("p.html");
    let code = run(&["preview", "--data", &out_s, "--out", &s(&html)]).unwrap();
    assert_eq!(code, ExitCode::SUCCESS);
    assert!(std::fs::read_to_string(&html).unwrap().contains("rotation"));

    // A misspelt key of the custom table, and a table naming no task, stop the run.
    std::fs::write(&config, "[tasks.rotation]\nquarter_turn = [1]\n").unwrap();
    let e = generate(&["--out", &s(&tmp.path().join("o2")), "--config", &config_s]).unwrap_err();
    assert!(format!("{e:#}").contains("quarter_turn"), "{e:#}");
    std::fs::write(&config, "[tasks.rotaton]\nquarter_turns = [1]\n").unwrap();
    let e = generate(&["--out", &s(&tmp.path().join("o3")), "--config", &config_s]).unwrap_err();
    assert!(format!("{e:#}").contains("rotaton"), "{e:#}");
    std::fs::write(&config, "[tasks.rotation]\nquarter_turns = [4]\n").unwrap();
    let e = generate(&["--out", &s(&tmp.path().join("o4")), "--config", &config_s]).unwrap_err();
    assert!(format!("{e:#}").contains("quarter_turns"), "{e:#}");
}
