//! Shared by the golden tests: the fixture folders and the reader of `golden.safetensors`
//! files, plus the comparison helpers. Each test binary uses a part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use spatial_ssrl_model::ImageInput;
use spatial_ssrl_model::burn::tensor::Tensor;

/// The fixture folder named by the environment variable `var`, else the repository copy
/// `tests/fixtures/<name>`.
pub fn fixture(var: &str, name: &str) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures")
            .join(name)
    })
}

/// The tiny Qwen2.5-VL fixture (`SSRL_TINY_QWEN_DIR`).
pub fn qwen2_5_dir() -> PathBuf {
    fixture("SSRL_TINY_QWEN_DIR", "tiny-qwen2_5-vl")
}

/// The tiny Qwen3-VL fixture (`SSRL_TINY_QWEN3_DIR`).
pub fn qwen3_dir() -> PathBuf {
    fixture("SSRL_TINY_QWEN3_DIR", "tiny-qwen3-vl")
}

enum Golden {
    F32(Vec<usize>, Vec<f32>),
    I64(Vec<usize>, Vec<i64>),
    U8(Vec<usize>, Vec<u8>),
}

/// The tensors of a golden safetensors file, by name.
pub struct Goldens(HashMap<String, Golden>);

impl Goldens {
    /// Reads every f32, i64 and u8 tensor of `path`.
    pub fn load(path: impl AsRef<Path>) -> Self {
        let path = path.as_ref();
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let st = safetensors::SafeTensors::deserialize(&bytes).expect("golden safetensors");
        let mut map = HashMap::new();
        for (name, view) in st.tensors() {
            let shape = view.shape().to_vec();
            let d = view.data();
            let g = match view.dtype() {
                safetensors::Dtype::F32 => Golden::F32(
                    shape,
                    d.chunks_exact(4)
                        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                        .collect(),
                ),
                safetensors::Dtype::I64 => Golden::I64(
                    shape,
                    d.chunks_exact(8)
                        .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
                        .collect(),
                ),
                safetensors::Dtype::U8 => Golden::U8(shape, d.to_vec()),
                _ => continue,
            };
            map.insert(name, g);
        }
        Goldens(map)
    }

    /// Whether the file holds `name`.
    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// Shape and values of the f32 tensor `name`.
    pub fn f32(&self, name: &str) -> (Vec<usize>, Vec<f32>) {
        match self.0.get(name) {
            Some(Golden::F32(s, v)) => (s.clone(), v.clone()),
            _ => panic!("{name} is not an f32 golden"),
        }
    }

    /// Values of the i64 tensor `name`.
    pub fn i64(&self, name: &str) -> Vec<i64> {
        match self.0.get(name) {
            Some(Golden::I64(_, v)) => v.clone(),
            _ => panic!("{name} is not an i64 golden"),
        }
    }

    /// Shape of the i64 tensor `name`.
    pub fn i64_shape(&self, name: &str) -> Vec<usize> {
        match self.0.get(name) {
            Some(Golden::I64(s, _)) => s.clone(),
            _ => panic!("{name} is not an i64 golden"),
        }
    }

    /// The `[t, h, w]` grid stored as the i64 tensor `name`.
    pub fn grid(&self, name: &str) -> [usize; 3] {
        let g = self.i64(name);
        [g[0] as usize, g[1] as usize, g[2] as usize]
    }

    /// Shape and values of the u8 tensor `name`.
    pub fn u8(&self, name: &str) -> (Vec<usize>, Vec<u8>) {
        match self.0.get(name) {
            Some(Golden::U8(s, v)) => (s.clone(), v.clone()),
            _ => panic!("{name} is not a u8 golden"),
        }
    }

    /// The image of `pixel_values` / `image_grid_thw` (names prefixed by `prefix`).
    pub fn image(&self, prefix: &str) -> ImageInput {
        let (_, pixel_values) = self.f32(&format!("{prefix}pixel_values"));
        let g = self.i64(&format!("{prefix}image_grid_thw"));
        ImageInput {
            pixel_values,
            grid_thw: [g[0] as usize, g[1] as usize, g[2] as usize],
        }
    }
}

/// A tensor's values as f32.
pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().unwrap()
}

/// Asserts `got` within `tol` of `want` (max abs), printing the max and mean errors.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let (mut max, mut at, mut sum) = (0f32, 0, 0f64);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let e = (g - w).abs();
        if e > max || e.is_nan() {
            max = e;
            at = i;
        }
        sum += f64::from(e);
    }
    let mean = sum / got.len().max(1) as f64;
    println!("{what}: max abs err {max:.3e} (at {at}), mean {mean:.3e}");
    assert!(
        max <= tol,
        "{what}: max abs err {max} at {at} (want {}, got {}) > {tol}",
        want[at],
        got[at]
    );
}

/// The input image `golden.json` of `fixture` names under `key`, found by file name next to
/// the fixture folder (`../reference_inputs`) or in the repository's
/// `tests/fixtures/reference_inputs`.
pub fn reference_image(fixture: &Path, key: &str) -> PathBuf {
    let text = std::fs::read_to_string(fixture.join("golden.json")).expect("golden.json");
    let meta: serde_json::Value = serde_json::from_str(&text).expect("golden.json");
    let named = PathBuf::from(meta[key].as_str().expect("image path"));
    let name = named.file_name().expect("file name");
    let beside = fixture.join("../reference_inputs").join(name);
    if beside.is_file() {
        return beside;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/reference_inputs")
        .join(name)
}

/// The string `key` of the fixture's `golden.json`.
pub fn golden_text(fixture: &Path, key: &str) -> String {
    let text = std::fs::read_to_string(fixture.join("golden.json")).expect("golden.json");
    let meta: serde_json::Value = serde_json::from_str(&text).expect("golden.json");
    meta[key]
        .as_str()
        .unwrap_or_else(|| panic!("golden.json has no string {key}"))
        .to_string()
}
