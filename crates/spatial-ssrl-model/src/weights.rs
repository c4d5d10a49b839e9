//! HF safetensors checkpoints: memory-mapped reading (single file or sharded), conversion of
//! bf16/f16/f32 to f32, shape checks, and saving back under the HF key names.
//!
//! Parameters are read one at a time straight from the mapping into an f32 buffer; the pages
//! of that tensor are then released (`MADV_DONTNEED`), so resident memory stays close to the
//! size of the f32 model instead of model + file. We read the file ourselves rather than
//! through `burn-store` because a loaded burn parameter keeps the file's dtype (bf16 stays bf16)
//! and the HF Conv3d patch weight and `[out, in]` linear weights need reshaping/transposing
//! into burn's `[in, out]` layout, both of which are simplest to do on the host buffer.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::nn::{Linear, RmsNorm};
use burn::tensor::{Device, Tensor, TensorData};
use memmap2::Mmap;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use safetensors::tensor::{Dtype, TensorInfo};

use crate::error::{Error, Result};

/// Where parameters come from while a model is built: a checkpoint or a seeded random init.
pub(crate) trait TensorSource {
    /// The f32 values of tensor `name`, row-major, checked against `shape`.
    fn read(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>>;
}

/// One memory-mapped safetensors file.
struct Shard {
    map: Mmap,
    data_start: usize,
}

/// An opened HF checkpoint: `model.safetensors` or the shards of
/// `model.safetensors.index.json`, memory-mapped, headers parsed and validated.
pub struct Checkpoint {
    location: PathBuf,
    shards: Vec<Shard>,
    entries: HashMap<String, (usize, TensorInfo)>,
}

impl std::fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoint")
            .field("location", &self.location)
            .field("shards", &self.shards.len())
            .field("tensors", &self.entries.len())
            .finish()
    }
}

#[derive(serde::Deserialize)]
struct ShardIndex {
    weight_map: BTreeMap<String, String>,
}

impl Checkpoint {
    /// Opens a model folder (`model.safetensors`, or `model.safetensors.index.json` and its
    /// shards) or a single `.safetensors` file. Truncated or malformed files give
    /// [`Error::Safetensors`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let files: Vec<PathBuf> = if path.is_file() {
            vec![path.to_path_buf()]
        } else if path.join("model.safetensors.index.json").is_file() {
            let index_path = path.join("model.safetensors.index.json");
            let text =
                std::fs::read_to_string(&index_path).map_err(|e| Error::io(&index_path, e))?;
            let index: ShardIndex = serde_json::from_str(&text).map_err(|source| Error::Json {
                path: index_path.clone(),
                source,
            })?;
            let mut names: Vec<String> = index.weight_map.into_values().collect();
            names.sort();
            names.dedup();
            names.into_iter().map(|n| path.join(n)).collect()
        } else {
            vec![path.join("model.safetensors")]
        };
        let mut shards = Vec::with_capacity(files.len());
        let mut entries = HashMap::new();
        for (i, file_path) in files.into_iter().enumerate() {
            let file = File::open(&file_path).map_err(|e| Error::io(&file_path, e))?;
            // SAFETY: the mapping is read-only; a checkpoint modified while it is being read
            // is outside what any loader can defend against (as with safetensors in Python).
            let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(&file_path, e))?;
            let (header_len, metadata) =
                safetensors::SafeTensors::read_metadata(&map).map_err(|e| Error::Safetensors {
                    path: file_path.clone(),
                    reason: e.to_string(),
                })?;
            for (name, info) in metadata.tensors() {
                entries.insert(name, (i, info.clone()));
            }
            shards.push(Shard {
                map,
                data_start: 8 + header_len,
            });
        }
        Ok(Checkpoint {
            location: path.to_path_buf(),
            shards,
            entries,
        })
    }

    /// Names of all stored tensors, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.entries.keys().cloned().collect();
        v.sort();
        v
    }

    /// Whether the checkpoint stores `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// Stored shape of `name`, if present.
    pub fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.entries.get(name).map(|(_, i)| i.shape.clone())
    }

    /// Total bytes of tensor data over all shards.
    pub fn data_bytes(&self) -> usize {
        self.entries
            .values()
            .map(|(_, i)| i.data_offsets.1 - i.data_offsets.0)
            .sum()
    }
}

impl TensorSource for Checkpoint {
    fn read(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let (shard_idx, info) = self.entries.get(name).ok_or_else(|| Error::MissingTensor {
            name: name.to_string(),
            dir: self.location.clone(),
        })?;
        if info.shape != shape {
            return Err(Error::ShapeMismatch {
                name: name.to_string(),
                expected: shape.to_vec(),
                found: info.shape.clone(),
            });
        }
        let shard = &self.shards[*shard_idx];
        let (start, end) = info.data_offsets;
        let bytes = &shard.map[shard.data_start + start..shard.data_start + end];
        let out: Vec<f32> = match info.dtype {
            Dtype::F32 => bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::BF16 => bytes
                .chunks_exact(2)
                .map(|b| half::bf16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32())
                .collect(),
            Dtype::F16 => bytes
                .chunks_exact(2)
                .map(|b| half::f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32())
                .collect(),
            other => {
                return Err(Error::UnsupportedDtype {
                    name: name.to_string(),
                    dtype: format!("{other:?}"),
                });
            }
        };
        // The f32 copy now owns the values: drop the file pages from this process so a
        // loaded model does not also keep the whole checkpoint resident.
        let page = 4096;
        let from = (shard.data_start + start).div_ceil(page) * page;
        let to = ((shard.data_start + end) / page) * page;
        if to > from {
            // SAFETY: read-only private file mapping and no live borrow of these pages
            // remains; after MADV_DONTNEED a later read faults them back in from the file.
            let _ = unsafe {
                shard.map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    from,
                    to - from,
                )
            };
        }
        Ok(out)
    }
}

/// Deterministic random parameters (uniform in `[-scale, scale]`, norm weights near 1), for
/// benchmarks and shape tests; every tensor's stream is seeded from (seed, name).
pub(crate) struct RandomSource {
    pub seed: u64,
    pub scale: f32,
}

/// FNV-1a over the bytes of `name`, mixed with `seed` through splitmix64: a stable hash.
pub(crate) fn stable_seed(seed: u64, name: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in name.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    let mut z = seed ^ h;
    z = z.wrapping_add(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z ^ (z >> 31)
}

impl TensorSource for RandomSource {
    fn read(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let n: usize = shape.iter().product();
        let mut rng = ChaCha8Rng::seed_from_u64(stable_seed(self.seed, name));
        let is_norm = name.contains("norm") || name.contains("ln_q");
        Ok((0..n)
            .map(|_| {
                let u: f32 = rng.random_range(-self.scale..self.scale);
                if is_norm { 1.0 + u } else { u }
            })
            .collect())
    }
}

/// Host-side transpose of a row-major `[rows, cols]` matrix.
fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; values.len()];
    // Blocked so that both reads and writes stay in cache for large matrices.
    const B: usize = 64;
    for r0 in (0..rows).step_by(B) {
        for c0 in (0..cols).step_by(B) {
            for r in r0..(r0 + B).min(rows) {
                for c in c0..(c0 + B).min(cols) {
                    out[c * rows + r] = values[r * cols + c];
                }
            }
        }
    }
    out
}

/// Reads `name` as a tensor of rank `D`.
pub(crate) fn tensor<const D: usize>(
    src: &dyn TensorSource,
    name: &str,
    shape: [usize; D],
    device: &Device,
) -> Result<Tensor<D>> {
    let values = src.read(name, &shape)?;
    Ok(Tensor::from_data(TensorData::new(values, shape), device))
}

/// Reads an HF `nn.Linear` (`{prefix}.weight` `[out, in]`, optional `{prefix}.bias`) into
/// burn's `[in, out]` layout.
pub(crate) fn linear(
    src: &dyn TensorSource,
    prefix: &str,
    d_in: usize,
    d_out: usize,
    bias: bool,
    device: &Device,
) -> Result<Linear> {
    let w = src.read(&format!("{prefix}.weight"), &[d_out, d_in])?;
    let w = transpose(&w, d_out, d_in);
    let weight = Param::from_tensor(Tensor::from_data(TensorData::new(w, [d_in, d_out]), device));
    let bias = if bias {
        Some(Param::from_tensor(tensor(
            src,
            &format!("{prefix}.bias"),
            [d_out],
            device,
        )?))
    } else {
        None
    };
    Ok(Linear { weight, bias })
}

/// Reads an HF `RMSNorm` (`{prefix}.weight`).
pub(crate) fn rms_norm(
    src: &dyn TensorSource,
    prefix: &str,
    dim: usize,
    eps: f64,
    device: &Device,
) -> Result<RmsNorm> {
    Ok(RmsNorm {
        gamma: Param::from_tensor(tensor(src, &format!("{prefix}.weight"), [dim], device)?),
        epsilon: eps,
    })
}

/// Collects parameters under their HF names for saving.
#[derive(Default)]
pub(crate) struct TensorSink {
    pub tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
}

impl TensorSink {
    pub fn put<const D: usize>(&mut self, name: String, t: &Tensor<D>) -> Result<()> {
        let shape = t.dims().to_vec();
        let values = t
            .to_data()
            .try_into_vec_as::<f32>()
            .map_err(|e| Error::BadInput(format!("cannot read parameter {name}: {e:?}")))?;
        self.tensors.push((name, shape, values));
        Ok(())
    }

    pub fn put_linear(&mut self, prefix: &str, l: &Linear) -> Result<()> {
        let w = l.weight.val();
        let [d_in, d_out] = w.dims();
        let values = w
            .to_data()
            .try_into_vec_as::<f32>()
            .map_err(|e| Error::BadInput(format!("cannot read parameter {prefix}: {e:?}")))?;
        self.tensors.push((
            format!("{prefix}.weight"),
            vec![d_out, d_in],
            transpose(&values, d_in, d_out),
        ));
        if let Some(b) = &l.bias {
            self.put(format!("{prefix}.bias"), &b.val())?;
        }
        Ok(())
    }

    pub fn put_norm(&mut self, prefix: &str, n: &RmsNorm) -> Result<()> {
        self.put(format!("{prefix}.weight"), &n.gamma.val())
    }

    /// Writes everything as one f32 safetensors file.
    pub fn write(self, path: &Path) -> Result<()> {
        struct View {
            shape: Vec<usize>,
            bytes: Vec<u8>,
        }
        impl safetensors::View for &View {
            fn dtype(&self) -> Dtype {
                Dtype::F32
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
        let views: Vec<(String, View)> = self
            .tensors
            .into_iter()
            .map(|(name, shape, values)| {
                let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                (name, View { shape, bytes })
            })
            .collect();
        let mut meta = HashMap::new();
        meta.insert("format".to_string(), "pt".to_string());
        safetensors::serialize_to_file(views.iter().map(|(n, v)| (n.as_str(), v)), Some(meta), path)
            .map_err(|e| Error::Safetensors {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_round_trips() {
        let v: Vec<f32> = (0..6 * 70).map(|x| x as f32).collect();
        let t = transpose(&v, 6, 70);
        assert_eq!(t[1], 70.0);
        assert_eq!(transpose(&t, 70, 6), v);
    }

    #[test]
    fn stable_seed_is_stable() {
        assert_eq!(stable_seed(0, "a"), stable_seed(0, "a"));
        assert_ne!(stable_seed(0, "a"), stable_seed(1, "a"));
        assert_ne!(stable_seed(0, "a"), stable_seed(0, "b"));
    }
}
