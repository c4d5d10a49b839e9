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
use burn::tensor::{DType, Device, Tensor, TensorData};
use memmap2::Mmap;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use safetensors::tensor::{Dtype, TensorInfo};

use crate::error::{Error, Result};
pub(crate) use crate::shard_writer::TensorSink;

/// Where parameters come from while a model is built: a checkpoint or a seeded random init.
pub(crate) trait TensorSource {
    /// The f32 values of tensor `name`, row-major, checked against `shape`.
    fn read(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>>;

    /// The dtype large matrices are held in once loaded.
    fn held_dtype(&self) -> DType {
        DType::F32
    }

    /// The raw 16-bit values of `name` when it is stored as `want` (bf16 or f16), so it
    /// can be held without passing through f32; `None` when stored otherwise.
    fn read_half(&self, name: &str, shape: &[usize], want: DType) -> Result<Option<Vec<u16>>> {
        let _ = (name, shape, want);
        Ok(None)
    }
}

/// A source whose large matrices are held as `dtype` (see [`crate::dtype`]).
pub(crate) struct Held<'a> {
    pub src: &'a dyn TensorSource,
    pub dtype: DType,
}

impl TensorSource for Held<'_> {
    fn read(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        self.src.read(name, shape)
    }

    fn held_dtype(&self) -> DType {
        self.dtype
    }

    fn read_half(&self, name: &str, shape: &[usize], want: DType) -> Result<Option<Vec<u16>>> {
        self.src.read_half(name, shape, want)
    }
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
        // Tensor -> shard file as the index states it, checked once the shards are read.
        let mut indexed: Vec<(String, PathBuf)> = Vec::new();
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
            let mut names: Vec<String> = index.weight_map.values().cloned().collect();
            names.sort();
            names.dedup();
            if let Some(missing) = names.iter().find(|n| !path.join(n).is_file()) {
                return Err(Error::MissingShard {
                    shard: path.join(missing),
                    index: index_path,
                });
            }
            indexed = index
                .weight_map
                .into_iter()
                .map(|(t, n)| (t, path.join(n)))
                .collect();
            names.into_iter().map(|n| path.join(n)).collect()
        } else {
            vec![path.join("model.safetensors")]
        };
        let mut shards = Vec::with_capacity(files.len());
        let mut entries = HashMap::new();
        for (i, file_path) in files.iter().enumerate() {
            let file = File::open(file_path).map_err(|e| Error::io(file_path, e))?;
            // SAFETY: the mapping is read-only; a checkpoint modified while it is being read
            // is outside what any loader can defend against (as with safetensors in Python).
            let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(file_path, e))?;
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
        // The index must not promise a tensor its shard lacks.
        for (name, shard) in &indexed {
            let found = entries.get(name).map(|(i, _)| &files[*i]);
            if found != Some(shard) {
                return Err(Error::MissingTensor {
                    name: name.clone(),
                    dir: shard.clone(),
                });
            }
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

impl Checkpoint {
    /// The dtype of the largest stored tensor (what `--dtype auto` holds), if it is a float
    /// type burn has.
    pub fn stored_dtype(&self) -> Option<DType> {
        let (_, info) = self
            .entries
            .values()
            .max_by_key(|(_, i)| i.data_offsets.1 - i.data_offsets.0)?;
        match info.dtype {
            Dtype::BF16 => Some(DType::BF16),
            Dtype::F16 => Some(DType::F16),
            Dtype::F32 => Some(DType::F32),
            _ => None,
        }
    }

    /// The stored bytes of `name` (shape checked) and its shard.
    fn bytes(&self, name: &str, shape: &[usize]) -> Result<(&TensorInfo, &Shard, &[u8])> {
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
        Ok((
            info,
            shard,
            &shard.map[shard.data_start + start..shard.data_start + end],
        ))
    }

    /// Drops the file pages of `info` from this process once its values have been copied,
    /// so a loaded model does not also keep the whole checkpoint resident.
    fn release(info: &TensorInfo, shard: &Shard) {
        let (start, end) = info.data_offsets;
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
    }
}

impl TensorSource for Checkpoint {
    fn read_half(&self, name: &str, shape: &[usize], want: DType) -> Result<Option<Vec<u16>>> {
        let (info, shard, bytes) = self.bytes(name, shape)?;
        let same = matches!(
            (info.dtype, want),
            (Dtype::BF16, DType::BF16) | (Dtype::F16, DType::F16)
        );
        if !same {
            return Ok(None);
        }
        let out = bytes
            .par_chunks_exact(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .collect();
        Self::release(info, shard);
        Ok(Some(out))
    }

    fn read(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let (info, shard, bytes) = self.bytes(name, shape)?;
        // Loading a real checkpoint is mostly this widening: spread it over the cores
        // (an indexed parallel collect keeps the order, so the values are the same).
        let out: Vec<f32> = match info.dtype {
            Dtype::F32 => bytes
                .par_chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::BF16 => bytes
                .par_chunks_exact(2)
                .map(|b| half::bf16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32())
                .collect(),
            Dtype::F16 => bytes
                .par_chunks_exact(2)
                .map(|b| half::f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32())
                .collect(),
            other => {
                return Err(Error::UnsupportedDtype {
                    name: name.to_string(),
                    dtype: format!("{other:?}"),
                });
            }
        };
        Self::release(info, shard);
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
fn transpose<T: Copy + Default + Send + Sync>(values: &[T], rows: usize, cols: usize) -> Vec<T> {
    let mut out = vec![T::default(); values.len()];
    if rows == 0 || cols == 0 {
        return out;
    }
    // Blocked so that both reads and writes stay in cache for large matrices; each band of
    // B output rows is written by one task (a pure copy: the same result on any thread count).
    const B: usize = 64;
    out.par_chunks_mut(B * rows)
        .enumerate()
        .for_each(|(band, dst)| {
            let c0 = band * B;
            let width = dst.len() / rows;
            for r0 in (0..rows).step_by(B) {
                for c in c0..c0 + width {
                    let row = &mut dst[(c - c0) * rows..(c - c0 + 1) * rows];
                    for r in r0..(r0 + B).min(rows) {
                        row[r] = values[r * cols + c];
                    }
                }
            }
        });
    out
}

/// Reads `name` as a tensor of rank `D` in f32.
pub(crate) fn tensor<const D: usize>(
    src: &dyn TensorSource,
    name: &str,
    shape: [usize; D],
    device: &Device,
) -> Result<Tensor<D>> {
    let values = src.read(name, &shape)?;
    Ok(Tensor::from_data(TensorData::new(values, shape), device))
}

/// Reads a Conv3d patch-embedding kernel `[hidden, channels, t, p, p]` as the
/// `[channels * t * p * p, hidden]` matrix of a linear layer: with stride = kernel size the
/// convolution of flattened patches is `pixels @ matrix`.
pub(crate) fn patch_kernel(
    src: &dyn TensorSource,
    name: &str,
    shape: [usize; 5],
    device: &Device,
) -> Result<Tensor<2>> {
    let kernel = src.read(name, &shape)?;
    let h = shape[0];
    let pd = shape[1..].iter().product::<usize>();
    let mut w = vec![0f32; kernel.len()];
    for o in 0..h {
        for i in 0..pd {
            w[i * h + o] = kernel[o * pd + i];
        }
    }
    Ok(Tensor::from_data(TensorData::new(w, [pd, h]), device))
}

/// Reads a large matrix `name` (stored `[rows, cols]`) in the source's held dtype,
/// transposed to `[cols, rows]` when `transposed`. A bf16/f16 tensor held in its own dtype
/// never passes through f32.
pub(crate) fn matrix(
    src: &dyn TensorSource,
    name: &str,
    [rows, cols]: [usize; 2],
    transposed: bool,
    device: &Device,
) -> Result<Tensor<2>> {
    let shape = if transposed {
        [cols, rows]
    } else {
        [rows, cols]
    };
    fn order<T: Copy + Default + Send + Sync>(v: Vec<T>, t: Option<[usize; 2]>) -> Vec<T> {
        match t {
            Some([rows, cols]) => transpose(&v, rows, cols),
            None => v,
        }
    }
    let t = transposed.then_some([rows, cols]);
    let held = src.held_dtype();
    let data = match held {
        DType::BF16 | DType::F16 => {
            let bits = match src.read_half(name, &[rows, cols], held)? {
                Some(bits) => bits,
                None => {
                    let f = src.read(name, &[rows, cols])?;
                    if held == DType::BF16 {
                        f.iter()
                            .map(|&x| half::bf16::from_f32(x).to_bits())
                            .collect()
                    } else {
                        f.iter()
                            .map(|&x| half::f16::from_f32(x).to_bits())
                            .collect()
                    }
                }
            };
            let bits = order(bits, t);
            if held == DType::BF16 {
                let v: Vec<half::bf16> = bits.into_iter().map(half::bf16::from_bits).collect();
                TensorData::new(v, shape)
            } else {
                let v: Vec<half::f16> = bits.into_iter().map(half::f16::from_bits).collect();
                TensorData::new(v, shape)
            }
        }
        _ => TensorData::new(order(src.read(name, &[rows, cols])?, t), shape),
    };
    let dtype = data.dtype();
    Ok(Tensor::from_data(data, (device, dtype)))
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
    let w = matrix(
        src,
        &format!("{prefix}.weight"),
        [d_out, d_in],
        true,
        device,
    )?;
    let weight = Param::from_tensor(w);
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
    fn banded_transpose_equals_the_definition() {
        // Shapes with partial 64-wide bands and blocks on both sides.
        for (rows, cols) in [(130, 70), (1, 129), (65, 1), (64, 64)] {
            let v: Vec<u32> = (0..rows * cols).map(|x| x as u32).collect();
            let t = transpose(&v, rows, cols);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(
                        t[c * rows + r],
                        v[r * cols + c],
                        "{rows}x{cols} at ({r}, {c})"
                    );
                }
            }
        }
    }

    #[test]
    fn stable_seed_is_stable() {
        assert_eq!(stable_seed(0, "a"), stable_seed(0, "a"));
        assert_ne!(stable_seed(0, "a"), stable_seed(1, "a"));
        assert_ne!(stable_seed(0, "a"), stable_seed(0, "b"));
    }
}
