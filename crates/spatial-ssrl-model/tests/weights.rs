//! Checkpoint loading: typed errors for truncated, mis-shaped and incomplete files; sharded
//! and bf16 checkpoints; saving back to the HF layout.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use safetensors::tensor::{Dtype, TensorView};
use spatial_ssrl_model::{Checkpoint, Error, Qwen2_5VlForCausalLm, VlBatch, burn};

/// The backend under test: the default device of the enabled backend feature (`flex` by
/// default; e.g. `--no-default-features --features wgpu` runs the same parity checks on wgpu).
fn test_device() -> Device {
    Device::default()
}

fn fixture_dir() -> PathBuf {
    std::env::var_os("SSRL_TINY_QWEN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-qwen2_5-vl")
        })
}

/// A temp model folder with the fixture's config and the given weights file contents.
fn folder_with(weights: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture_dir().join("config.json"),
        dir.path().join("config.json"),
    )
    .unwrap();
    std::fs::write(dir.path().join("model.safetensors"), weights).unwrap();
    dir
}

/// Rewrites the fixture weights through `edit(name, dtype, shape, bytes)`; `None` drops it.
fn rewrite(
    edit: impl Fn(&str, Dtype, Vec<usize>, Vec<u8>) -> Option<(Dtype, Vec<usize>, Vec<u8>)>,
) -> Vec<(String, Dtype, Vec<usize>, Vec<u8>)> {
    let bytes = std::fs::read(fixture_dir().join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .filter_map(|(n, v)| {
            edit(&n, v.dtype(), v.shape().to_vec(), v.data().to_vec()).map(|(d, s, b)| (n, d, s, b))
        })
        .collect()
}

fn serialize(tensors: &[(String, Dtype, Vec<usize>, Vec<u8>)], path: &Path) {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

fn text_logits(model: &Qwen2_5VlForCausalLm) -> Vec<f32> {
    let batch = VlBatch::single(vec![151644, 8948, 198, 2610, 525, 264], vec![]);
    model
        .forward_logits(&batch)
        .unwrap()
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap()
}

#[test]
fn truncated_file_is_a_typed_error() {
    let bytes = std::fs::read(fixture_dir().join("model.safetensors")).unwrap();
    let dir = folder_with(&bytes[..bytes.len() / 2]);
    let err = Qwen2_5VlForCausalLm::from_pretrained(dir.path(), &test_device()).unwrap_err();
    assert!(matches!(err, Error::Safetensors { .. }), "{err:?}");
    let dir = folder_with(&bytes[..4]);
    let err = Qwen2_5VlForCausalLm::from_pretrained(dir.path(), &test_device()).unwrap_err();
    assert!(matches!(err, Error::Safetensors { .. }), "{err:?}");
}

#[test]
fn mis_shaped_and_missing_tensors_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture_dir().join("config.json"),
        dir.path().join("config.json"),
    )
    .unwrap();
    let hidden = spatial_ssrl_model::Qwen2_5VlConfig::from_file(fixture_dir().join("config.json"))
        .unwrap()
        .text
        .hidden_size;
    let shaped = rewrite(|n, d, s, b| {
        if n == "model.norm.weight" {
            Some((d, vec![s[0] / 2], b[..b.len() / 2].to_vec()))
        } else {
            Some((d, s, b))
        }
    });
    serialize(&shaped, &dir.path().join("model.safetensors"));
    match Qwen2_5VlForCausalLm::from_pretrained(dir.path(), &test_device()).unwrap_err() {
        Error::ShapeMismatch {
            name,
            expected,
            found,
        } => {
            assert_eq!(name, "model.norm.weight");
            assert_eq!(expected, vec![hidden]);
            assert_eq!(found, vec![hidden / 2]);
        }
        e => panic!("expected ShapeMismatch, got {e:?}"),
    }
    let missing = rewrite(|n, d, s, b| (n != "visual.merger.ln_q.weight").then_some((d, s, b)));
    serialize(&missing, &dir.path().join("model.safetensors"));
    let err = Qwen2_5VlForCausalLm::from_pretrained(dir.path(), &test_device()).unwrap_err();
    assert!(
        matches!(&err, Error::MissingTensor { name, .. } if name == "visual.merger.ln_q.weight"),
        "{err:?}"
    );
    let ints = rewrite(|n, d, s, b| {
        if n == "model.norm.weight" {
            Some((Dtype::I32, s, b))
        } else {
            Some((d, s, b))
        }
    });
    serialize(&ints, &dir.path().join("model.safetensors"));
    let err = Qwen2_5VlForCausalLm::from_pretrained(dir.path(), &test_device()).unwrap_err();
    assert!(matches!(err, Error::UnsupportedDtype { .. }), "{err:?}");
}

#[test]
fn sharded_bf16_and_saved_checkpoints_load() {
    let device = test_device();
    let reference = Qwen2_5VlForCausalLm::from_pretrained(fixture_dir(), &device).unwrap();
    let want = text_logits(&reference);

    // Two shards + index, as `save_pretrained(max_shard_size=..)` writes them.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture_dir().join("config.json"),
        dir.path().join("config.json"),
    )
    .unwrap();
    let all = rewrite(|_, d, s, b| Some((d, s, b)));
    let (a, b): (Vec<_>, Vec<_>) = all.into_iter().partition(|t| t.0.starts_with("visual."));
    serialize(&a, &dir.path().join("model-00001-of-00002.safetensors"));
    serialize(&b, &dir.path().join("model-00002-of-00002.safetensors"));
    let map: serde_json::Map<String, serde_json::Value> = a
        .iter()
        .map(|t| (t.0.clone(), "model-00001-of-00002.safetensors".into()))
        .chain(
            b.iter()
                .map(|t| (t.0.clone(), "model-00002-of-00002.safetensors".into())),
        )
        .collect();
    let index = serde_json::json!({"metadata": {}, "weight_map": map});
    std::fs::write(
        dir.path().join("model.safetensors.index.json"),
        index.to_string(),
    )
    .unwrap();
    let sharded = Qwen2_5VlForCausalLm::from_pretrained(dir.path(), &device).unwrap();
    assert_eq!(text_logits(&sharded), want, "sharded load differs");

    // bf16: every value rounds to bf16; logits move, but only by rounding.
    let bf = rewrite(|_, _, s, b| {
        let out: Vec<u8> = b
            .chunks_exact(4)
            .flat_map(|c| {
                half::bf16::from_f32(f32::from_le_bytes(c.try_into().unwrap()))
                    .to_bits()
                    .to_le_bytes()
            })
            .collect();
        Some((Dtype::BF16, s, out))
    });
    let dir_bf = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture_dir().join("config.json"),
        dir_bf.path().join("config.json"),
    )
    .unwrap();
    serialize(&bf, &dir_bf.path().join("model.safetensors"));
    let bf_model = Qwen2_5VlForCausalLm::from_pretrained(dir_bf.path(), &device).unwrap();
    let got = text_logits(&bf_model);
    let max = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(max > 0.0 && max < 0.5, "bf16 logits differ by {max}");

    // Save back to the HF layout: same keys and shapes, same logits after reloading.
    let out = tempfile::tempdir().unwrap();
    reference.save_pretrained(out.path()).unwrap();
    let saved = Checkpoint::open(out.path()).unwrap();
    let orig = Checkpoint::open(fixture_dir()).unwrap();
    assert_eq!(saved.names(), orig.names());
    for n in orig.names() {
        assert_eq!(saved.shape(&n), orig.shape(&n), "{n}");
    }
    let reloaded = Qwen2_5VlForCausalLm::from_pretrained(out.path(), &device).unwrap();
    assert_eq!(text_logits(&reloaded), want, "save/load round trip differs");
}

/// Writes the fixture as two shards (vision / text) with an index into `dir`; returns the
/// index's weight map.
fn write_two_shards(dir: &Path) -> serde_json::Map<String, serde_json::Value> {
    std::fs::copy(fixture_dir().join("config.json"), dir.join("config.json")).unwrap();
    let all = rewrite(|_, d, s, b| Some((d, s, b)));
    let (a, b): (Vec<_>, Vec<_>) = all.into_iter().partition(|t| t.0.starts_with("visual."));
    let files = [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ];
    serialize(&a, &dir.join(files[0]));
    serialize(&b, &dir.join(files[1]));
    a.iter()
        .map(|t| (t.0.clone(), files[0].into()))
        .chain(b.iter().map(|t| (t.0.clone(), files[1].into())))
        .collect()
}

fn write_index(dir: &Path, map: &serde_json::Map<String, serde_json::Value>) {
    let index = serde_json::json!({"metadata": {}, "weight_map": map});
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
}

#[test]
fn index_naming_a_missing_shard_or_tensor_is_a_typed_error() {
    let device = test_device();
    let dir = tempfile::tempdir().unwrap();
    let mut map = write_two_shards(dir.path());
    // A shard the index names but the folder lacks.
    let (first, _) = map
        .iter()
        .next()
        .map(|(k, v)| (k.clone(), v.clone()))
        .unwrap();
    map.insert(first.clone(), "model-00003-of-00003.safetensors".into());
    write_index(dir.path(), &map);
    match Qwen2_5VlForCausalLm::from_pretrained(dir.path(), &device).unwrap_err() {
        Error::MissingShard { shard, .. } => {
            assert!(
                shard.ends_with("model-00003-of-00003.safetensors"),
                "{shard:?}"
            )
        }
        e => panic!("expected MissingShard, got {e:?}"),
    }
    // A tensor the index places in a shard that does not hold it.
    let other = map
        .values()
        .find(|v| v.as_str() != Some("model-00003-of-00003.safetensors"))
        .unwrap()
        .clone();
    let wrong = map
        .iter()
        .find(|(_, v)| **v != other && v.as_str() != Some("model-00003-of-00003.safetensors"))
        .map(|(k, _)| k.clone())
        .unwrap();
    let mut map = write_two_shards(dir.path());
    map.insert(wrong.clone(), other);
    write_index(dir.path(), &map);
    let err = Qwen2_5VlForCausalLm::from_pretrained(dir.path(), &device).unwrap_err();
    assert!(
        matches!(&err, Error::MissingTensor { name, .. } if *name == wrong),
        "{err:?}"
    );
}
