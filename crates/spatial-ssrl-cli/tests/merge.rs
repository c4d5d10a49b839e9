//! `generate --num-shards K --shard-index i` workers joined by `merge` give the bytes of one
//! `generate` run, manifest included.

use std::path::Path;

use spatial_ssrl_tasks::image::{Rgb, RgbImage};

use crate::util::{cmd, run_ok, tree};

#[test]
fn two_workers_and_merge_equal_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    for i in 0..5u32 {
        let img = RgbImage::from_fn(48 + 8 * i, 40, |x, y| {
            let v = x.wrapping_mul(2_654_435_761u32.wrapping_add(i)) ^ y.wrapping_mul(40_503);
            Rgb([v as u8, (v >> 8) as u8, (v >> 16) as u8])
        });
        img.save(input.join(format!("p{i}.png"))).unwrap();
    }
    let generate = |out: &Path, extra: &[&str]| {
        let mut c = cmd();
        c.args(["generate", "--tasks", "shuffle,flip", "--shard-size", "2"])
            .args(["--val-fraction", "0.4", "--threads", "1", "--input"])
            .arg(&input)
            .arg("--out")
            .arg(out)
            .args(extra);
        run_ok(&mut c)
    };
    let one = tmp.path().join("one");
    generate(&one, &[]);
    let workers = [tmp.path().join("w0"), tmp.path().join("w1")];
    for (i, w) in workers.iter().enumerate() {
        let log = generate(w, &["--num-shards", "2", "--shard-index", &i.to_string()]);
        assert!(log.contains(&format!("part {i} of 2")), "{log}");
    }
    let merged = tmp.path().join("merged");
    let log = run_ok(cmd().arg("merge").args(&workers).arg("--out").arg(&merged));
    assert!(log.contains("2 workers, 5 sources"), "{log}");
    let (a, b) = (tree(&one), tree(&merged));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    assert!(a.contains_key("manifest.json"));
    for (name, bytes) in &a {
        assert!(bytes == &b[name], "{name} differs");
    }
    // A shard index outside 0..num-shards is refused before any work.
    let mut bad = cmd();
    bad.args([
        "generate",
        "--num-shards",
        "2",
        "--shard-index",
        "2",
        "--input",
    ])
    .arg(&input)
    .arg("--out")
    .arg(tmp.path().join("bad"));
    let out = bad.output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("shard-index"));
}
