//! Broken inputs are refused, never turned into puzzles: a truncated or corrupted file of
//! every supported format is an error naming the file, and in a `generate` run a per-source
//! failure (log, summary, manifest) that yields no samples.
//!
//! The broken files are built here from the good ones in `tests/fixtures/reference_inputs`
//! (any JPEG, PNG, `.npy` and `.h5` found there), so held-out fixtures work unchanged.

use std::path::{Path, PathBuf};

use spatial_ssrl_tasks::{
    BUILTIN_TASKS, Error, Pipeline, Registry, RunConfig, SourceSpec, TasksConfig, generate,
    load_depth, load_mask, load_rgb,
};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/reference_inputs")
}

/// Every fixture file (recursively) whose extension is `ext`, sorted.
fn files_with(ext: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, ext, out);
            } else if p.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext)) {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&fixtures(), ext, &mut out);
    out.sort();
    assert!(!out.is_empty(), "no .{ext} fixture in {:?}", fixtures());
    out
}

/// Writes the first `keep` bytes of `src` to `dir/name`.
fn truncated(src: &Path, keep: usize, dir: &Path, name: &str) -> PathBuf {
    let bytes = std::fs::read(src).unwrap();
    assert!(keep < bytes.len(), "{src:?} is only {} bytes", bytes.len());
    let p = dir.join(name);
    std::fs::write(&p, &bytes[..keep]).unwrap();
    p
}

/// Cut points: most of the file, about half, and just past the header.
fn cuts(len: usize) -> [usize; 3] {
    [len * 9 / 10, len / 2, len.min(400) / 2]
}

fn assert_image_error(res: Result<impl std::fmt::Debug, Error>, path: &Path) {
    match res {
        Err(e @ (Error::Image { .. } | Error::Depth { .. })) => {
            let name = path.file_name().unwrap().to_string_lossy();
            assert!(e.to_string().contains(name.as_ref()), "{e}");
        }
        other => panic!("{path:?} must be refused, got {other:?}"),
    }
}

#[test]
fn truncated_jpeg_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for src in files_with("jpg") {
        let len = std::fs::metadata(&src).unwrap().len() as usize;
        for keep in cuts(len) {
            let p = truncated(&src, keep, dir.path(), "cut.jpg");
            assert_image_error(load_rgb(&p), &p);
        }
        // Everything but the two-byte end-of-image marker: pixel data may be complete,
        // but the file is not.
        let p = truncated(&src, len - 2, dir.path(), "no_eoi.jpg");
        assert_image_error(load_rgb(&p), &p);
    }
}

#[test]
fn truncated_or_corrupted_png_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for src in files_with("png") {
        let bytes = std::fs::read(&src).unwrap();
        for keep in cuts(bytes.len()) {
            let p = truncated(&src, keep, dir.path(), "cut.png");
            assert_image_error(load_rgb(&p), &p);
        }
        // One flipped bit anywhere in the image data: its chunk's CRC no longer holds.
        for at in [bytes.len() / 3, bytes.len() / 2, bytes.len() * 2 / 3] {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x10;
            let p = dir.path().join("flipped.png");
            std::fs::write(&p, &flipped).unwrap();
            assert_image_error(load_rgb(&p), &p);
        }
        // The IEND chunk missing.
        let p = truncated(&src, bytes.len() - 12, dir.path(), "no_iend.png");
        assert_image_error(load_rgb(&p), &p);
    }
}

#[test]
fn truncated_npy_depth_and_mask_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for src in files_with("npy") {
        let len = std::fs::metadata(&src).unwrap().len() as usize;
        for keep in cuts(len) {
            let p = truncated(&src, keep, dir.path(), "cut.npy");
            assert_image_error(load_depth(&p, None), &p);
            assert_image_error(load_mask(&p), &p);
        }
        // Trailing bytes after the array are as suspicious as missing ones.
        let mut longer = std::fs::read(&src).unwrap();
        longer.extend_from_slice(&[0; 7]);
        let p = dir.path().join("longer.npy");
        std::fs::write(&p, &longer).unwrap();
        assert_image_error(load_depth(&p, None), &p);
    }
}

#[test]
fn truncated_hdf5_depth_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for src in files_with("h5") {
        let len = std::fs::metadata(&src).unwrap().len() as usize;
        for keep in cuts(len) {
            let p = truncated(&src, keep, dir.path(), "cut.h5");
            assert_image_error(load_depth(&p, None), &p);
        }
    }
}

/// 16-bit PNG depth and PNG masks, made from a fixture depth map.
#[test]
fn truncated_png16_depth_and_mask_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let src = &files_with("npy")[0];
    let d = load_depth(src, None).unwrap();
    let raw: Vec<u16> = d
        .values()
        .iter()
        .map(|v| {
            if v.is_nan() {
                0
            } else {
                (v * 1000.0).min(65535.0) as u16
            }
        })
        .collect();
    let good = dir.path().join("good_depth.png");
    image::ImageBuffer::<image::Luma<u16>, _>::from_raw(d.width(), d.height(), raw)
        .unwrap()
        .save(&good)
        .unwrap();
    assert!(load_depth(&good, None).is_ok());
    let len = std::fs::metadata(&good).unwrap().len() as usize;
    for keep in cuts(len) {
        let p = truncated(&good, keep, dir.path(), "cut_depth.png");
        assert_image_error(load_depth(&p, None), &p);
        assert_image_error(load_mask(&p), &p);
    }
    let p = truncated(&good, len - 12, dir.path(), "no_iend_depth.png");
    assert_image_error(load_depth(&p, None), &p);
}

/// In a run, a broken image or depth map fails its source with the reason and yields
/// no sample; the good sources are untouched.
#[test]
fn broken_source_fails_alone_in_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let jpg = &files_with("jpg")[0];
    let bad_img = truncated(
        jpg,
        std::fs::metadata(jpg).unwrap().len() as usize * 2 / 3,
        dir.path(),
        "bad_img.jpg",
    );
    let npy = &files_with("npy")[0];
    let good_rgb = npy.with_file_name(
        npy.file_name()
            .unwrap()
            .to_string_lossy()
            .replace("_depth", "_img")
            .replace(".npy", ".png"),
    );
    assert!(good_rgb.exists(), "{good_rgb:?}");
    let bad_depth = truncated(
        npy,
        std::fs::metadata(npy).unwrap().len() as usize / 2,
        dir.path(),
        "bad_depth.npy",
    );
    let mut rgbd = SourceSpec::rgb(&good_rgb);
    rgbd.id = "broken_depth".into();
    rgbd.depth = Some(bad_depth.clone());
    let mut broken = SourceSpec::rgb(&bad_img);
    broken.id = "broken_image".into();
    let mut good = SourceSpec::rgb(jpg);
    good.id = "good".into();
    let sources = [broken, rgbd, good];

    let reg = Registry::builtin(&TasksConfig::default());
    let pipe = Pipeline::new(&reg, &BUILTIN_TASKS, 5, 1).unwrap();
    let out = dir.path().join("out");
    let summary = generate(&pipe, &sources, &RunConfig::new(&out), &()).unwrap();
    for (id, file) in [("broken_image", &bad_img), ("broken_depth", &bad_depth)] {
        let f: Vec<_> = summary.failures.iter().filter(|f| f.source == id).collect();
        assert_eq!(f.len(), 1, "{id}: {f:?}");
        assert_eq!(f[0].task, spatial_ssrl_tasks::INPUT_FAILURE);
        let name = file.file_name().unwrap().to_string_lossy();
        assert!(f[0].message.contains(name.as_ref()), "{}", f[0].message);
    }
    let rows = spatial_ssrl_tasks::read_dataset(&out).unwrap();
    assert!(
        rows.iter().all(|(_, r)| r.source == "good"),
        "a broken source yielded samples"
    );
    assert!(!rows.is_empty());
    let manifest = std::fs::read_to_string(out.join(spatial_ssrl_tasks::MANIFEST_FILE)).unwrap();
    assert!(manifest.contains("bad_img.jpg") && manifest.contains("bad_depth.npy"));
}
