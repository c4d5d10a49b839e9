//! Saving parameters as transformers does: safetensors in the dtype the model holds, one
//! `model.safetensors` when everything fits in one shard, otherwise
//! `model-0000i-of-0000n.safetensors` plus `model.safetensors.index.json`.
//!
//! Tensors are converted one at a time and a shard is written as soon as it is full, so
//! saving needs at most one shard of extra memory, never a second copy of the model.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use burn::nn::{LayerNorm, Linear, RmsNorm};
use burn::tensor::{DType, Tensor};
use safetensors::tensor::Dtype;

use crate::error::{Error, Result};

/// Shard size limit (bytes of tensor data) when none is given: small enough that the
/// buffered shard stays a fraction of a 3B model.
pub(crate) const DEFAULT_SHARD_BYTES: usize = 2 << 30;

/// One tensor ready to write: HF name, shape, safetensors dtype, little-endian bytes.
struct Entry {
    name: String,
    shape: Vec<usize>,
    dtype: Dtype,
    bytes: Vec<u8>,
}

impl safetensors::View for &Entry {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// Collects parameters under their HF names and writes them shard by shard into `dir`.
pub(crate) struct TensorSink {
    dir: PathBuf,
    max_shard_bytes: usize,
    pending: Vec<Entry>,
    pending_bytes: usize,
    /// Written shards (temporary names) and the tensors each holds.
    written: Vec<(PathBuf, Vec<String>)>,
    total_bytes: usize,
}

/// Safetensors dtype and little-endian bytes of a tensor's values.
fn encode<const D: usize>(t: &Tensor<D>) -> Result<(Dtype, Vec<u8>)> {
    let data = t.to_data();
    let dtype = match data.dtype() {
        DType::F32 => Dtype::F32,
        DType::BF16 => Dtype::BF16,
        DType::F16 => Dtype::F16,
        other => {
            return Err(Error::BadInput(format!(
                "cannot save a {other:?} parameter"
            )));
        }
    };
    // TensorData stores native-endian elements; safetensors wants little-endian.
    let bytes = if cfg!(target_endian = "little") {
        data.as_bytes().to_vec()
    } else {
        let raw = data.as_bytes();
        let w = raw.len() / data.num_elements().max(1);
        raw.chunks_exact(w)
            .flat_map(|c| c.iter().rev().copied())
            .collect()
    };
    Ok((dtype, bytes))
}

/// `[rows, cols]` -> `[cols, rows]` over elements of `width` bytes.
fn transpose_bytes(bytes: &[u8], rows: usize, cols: usize, width: usize) -> Vec<u8> {
    let mut out = vec![0u8; bytes.len()];
    const B: usize = 64;
    for r0 in (0..rows).step_by(B) {
        for c0 in (0..cols).step_by(B) {
            for r in r0..(r0 + B).min(rows) {
                for c in c0..(c0 + B).min(cols) {
                    let src = (r * cols + c) * width;
                    let dst = (c * rows + r) * width;
                    out[dst..dst + width].copy_from_slice(&bytes[src..src + width]);
                }
            }
        }
    }
    out
}

impl TensorSink {
    /// A sink writing into `dir` (created if missing) with shards of at most
    /// `max_shard_bytes` of tensor data (a larger single tensor gets a shard of its own).
    pub fn new(dir: &Path, max_shard_bytes: usize) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        Ok(TensorSink {
            dir: dir.to_path_buf(),
            max_shard_bytes: max_shard_bytes.max(1),
            pending: Vec::new(),
            pending_bytes: 0,
            written: Vec::new(),
            total_bytes: 0,
        })
    }

    fn push(&mut self, entry: Entry) -> Result<()> {
        let n = entry.bytes.len();
        if self.pending_bytes > 0 && self.pending_bytes + n > self.max_shard_bytes {
            self.flush()?;
        }
        self.pending_bytes += n;
        self.total_bytes += n;
        self.pending.push(entry);
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let path = self
            .dir
            .join(format!(".partial-{}.safetensors", self.written.len()));
        let mut meta = HashMap::new();
        meta.insert("format".to_string(), "pt".to_string());
        let entries = std::mem::take(&mut self.pending);
        safetensors::serialize_to_file(
            entries.iter().map(|e| (e.name.as_str(), e)),
            Some(meta),
            &path,
        )
        .map_err(|e| Error::Safetensors {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        self.written
            .push((path, entries.into_iter().map(|e| e.name).collect()));
        self.pending_bytes = 0;
        Ok(())
    }

    /// Adds `t` under `name`, in the dtype it is held in.
    pub fn put<const D: usize>(&mut self, name: String, t: &Tensor<D>) -> Result<()> {
        let (dtype, bytes) = encode(t)?;
        self.push(Entry {
            name,
            shape: t.dims().to_vec(),
            dtype,
            bytes,
        })
    }

    /// Adds f32 host values (already in HF layout).
    pub fn put_f32(&mut self, name: String, shape: Vec<usize>, values: &[f32]) -> Result<()> {
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.push(Entry {
            name,
            shape,
            dtype: Dtype::F32,
            bytes,
        })
    }

    /// Adds a linear layer as HF `nn.Linear` (`weight` `[out, in]`, `bias`).
    pub fn put_linear(&mut self, prefix: &str, l: &Linear) -> Result<()> {
        let w = l.weight.val();
        let [d_in, d_out] = w.dims();
        let (dtype, bytes) = encode(&w)?;
        let width = bytes.len() / (d_in * d_out).max(1);
        self.push(Entry {
            name: format!("{prefix}.weight"),
            shape: vec![d_out, d_in],
            dtype,
            bytes: transpose_bytes(&bytes, d_in, d_out, width),
        })?;
        if let Some(b) = &l.bias {
            self.put(format!("{prefix}.bias"), &b.val())?;
        }
        Ok(())
    }

    /// Adds an RMSNorm weight.
    pub fn put_norm(&mut self, prefix: &str, n: &RmsNorm) -> Result<()> {
        self.put(format!("{prefix}.weight"), &n.gamma.val())
    }

    /// Adds an `nn.LayerNorm` (`weight`, and `bias` when it has one).
    pub fn put_layer_norm(&mut self, prefix: &str, n: &LayerNorm) -> Result<()> {
        self.put(format!("{prefix}.weight"), &n.gamma.val())?;
        if let Some(b) = &n.beta {
            self.put(format!("{prefix}.bias"), &b.val())?;
        }
        Ok(())
    }

    /// Adds a patch-embedding matrix `[patch_dim, hidden]` (how it is held, see
    /// `weights::patch_kernel`) as the HF Conv3d kernel `[hidden, channels, t, p, p]`.
    pub fn put_patch_kernel(
        &mut self,
        name: &str,
        w: &Tensor<2>,
        kernel: [usize; 5],
    ) -> Result<()> {
        let [pd, h] = w.dims();
        let values = w
            .to_data()
            .try_into_vec_as::<f32>()
            .map_err(|e| Error::BadInput(format!("cannot read {name}: {e:?}")))?;
        let mut out = vec![0f32; values.len()];
        for o in 0..h {
            for i in 0..pd {
                out[o * pd + i] = values[i * h + o];
            }
        }
        self.put_f32(name.into(), kernel.to_vec(), &out)
    }

    /// Writes the last shard and gives the shards their final names (and the index when
    /// there are several), replacing what an earlier save left in `dir`.
    pub fn finish(mut self) -> Result<()> {
        self.flush()?;
        let single = self.dir.join("model.safetensors");
        let index = self.dir.join("model.safetensors.index.json");
        for stale in [&single, &index] {
            if stale.exists() {
                std::fs::remove_file(stale).map_err(|e| Error::io(stale, e))?;
            }
        }
        let n = self.written.len();
        if n <= 1 {
            if let Some((tmp, _)) = self.written.pop() {
                std::fs::rename(&tmp, &single).map_err(|e| Error::io(&single, e))?;
            }
            return Ok(());
        }
        let mut weight_map = BTreeMap::new();
        for (i, (tmp, names)) in self.written.iter().enumerate() {
            let file = format!("model-{:05}-of-{n:05}.safetensors", i + 1);
            let path = self.dir.join(&file);
            std::fs::rename(tmp, &path).map_err(|e| Error::io(&path, e))?;
            for name in names {
                weight_map.insert(name.clone(), file.clone());
            }
        }
        let json = serde_json::json!({
            "metadata": { "total_size": self.total_bytes },
            "weight_map": weight_map,
        });
        let text = serde_json::to_string_pretty(&json).map_err(|source| Error::Json {
            path: index.clone(),
            source,
        })?;
        std::fs::write(&index, text).map_err(|e| Error::io(&index, e))
    }
}

/// Writes `config.json` into `dir` with `torch_dtype` naming `held` (the dtype the saved
/// weights are in).
pub(crate) fn write_config(dir: &Path, cfg: &mut serde_json::Value, held: DType) -> Result<()> {
    let dtype = match held {
        DType::BF16 => "bfloat16",
        DType::F16 => "float16",
        _ => "float32",
    };
    if let Some(obj) = cfg.as_object_mut() {
        obj.insert("torch_dtype".into(), dtype.into());
    }
    let path = dir.join("config.json");
    let text = serde_json::to_string_pretty(cfg).map_err(|source| Error::Json {
        path: path.clone(),
        source,
    })?;
    std::fs::write(&path, text).map_err(|e| Error::io(&path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_transpose_moves_whole_elements() {
        // [2, 3] of 2-byte elements.
        let v: Vec<u8> = (0..12).collect();
        let t = transpose_bytes(&v, 2, 3, 2);
        assert_eq!(t, vec![0, 1, 6, 7, 2, 3, 8, 9, 4, 5, 10, 11]);
        assert_eq!(transpose_bytes(&t, 3, 2, 2), v);
    }
}
