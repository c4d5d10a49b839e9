//! Depth readers against values computed with h5py / numpy / Pillow from the same files.

use std::path::{Path, PathBuf};

use spatial_ssrl_tasks::{DepthMap, load_depth, load_mask};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/data")
        .join(name)
}

/// (valid pixels, sum of valid values in f64).
fn stats(d: &DepthMap) -> (usize, f64) {
    let valid: Vec<f64> = d
        .values()
        .iter()
        .filter(|v| !v.is_nan())
        .map(|&v| f64::from(v))
        .collect();
    (valid.len(), valid.iter().sum())
}

fn assert_close(got: f64, want: f64, rel: f64, what: &str) {
    assert!(
        (got - want).abs() <= want.abs() * rel,
        "{what}: expected {want}, got {got}"
    );
}

#[test]
fn megadepth_hdf5_matches_h5py() {
    // h5py: shape (266, 400), chunked 64x64, gzip 9.
    let d = load_depth(data("RGB-D_depth1.h5"), None).unwrap();
    assert_eq!((d.width(), d.height()), (400, 266));
    let (n, sum) = stats(&d);
    assert_eq!(n, 70381);
    assert_close(sum, 15642195.244350433, 1e-12, "sum");
    assert_eq!(d.get(200, 100), Some(255.72548));
}

#[test]
fn png16_depth_matches_pillow_in_millimetres() {
    let d = load_depth(data("RGB-D_img2_depth.png"), None).unwrap();
    assert_eq!((d.width(), d.height()), (400, 266));
    let (n, sum) = stats(&d);
    assert_eq!(n, 7019);
    // Pillow: integer sum 131084981 mm; the default scale turns mm into m (in f32, hence
    // the looser tolerance).
    assert_close(sum, 131084981.0 * 0.001, 1e-6, "sum");
    assert_eq!(d.get(200, 133), None); // zero in the file
}

#[test]
fn diode_npy_with_mask_matches_numpy() {
    let d = load_depth(data("RGB-D_depth3.npy"), None).unwrap();
    let (w, h, mask) = load_mask(data("RGB-D_depth_mask3.npy")).unwrap();
    assert_eq!((w, h), (256, 192));
    let d = d.with_mask(&mask).unwrap();
    let (n, sum) = stats(&d);
    assert_eq!(n, 43855);
    assert_close(sum, 679190.8594961762, 1e-12, "sum");
    assert_eq!(d.get(60, 50), Some(5.0853677));
}

/// The full-size MegaDepth files of the shared fixtures, when this checkout has them.
#[test]
fn reference_hdf5_files_match_h5py_when_present() {
    let dir = std::env::var_os("SPATIAL_SSRL_REFERENCE_INPUTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/fixtures/reference_inputs")
        });
    let cases: [(&str, usize, f64, Option<f32>); 2] = [
        (
            "RGB-D_depth1.h5",
            1126604,
            249903237.60004044,
            Some(220.32613),
        ),
        ("RGB-D_depth2.h5", 112531, 2101665.8658714294, None),
    ];
    for (file, n, sum, at) in cases {
        let p: &Path = &dir.join(file);
        if !p.exists() {
            eprintln!("skipping {file}: {} not found", p.display());
            continue;
        }
        let d = load_depth(p, None).unwrap();
        assert_eq!(
            (d.width(), d.height()),
            (1600, 1064 - usize::from(file.contains('2')) as u32 * 2)
        );
        let (got_n, got_sum) = stats(&d);
        assert_eq!(got_n, n, "{file}");
        assert_close(got_sum, sum, 1e-12, file);
        assert_eq!(d.get(700, 500), at, "{file}");
    }
}
