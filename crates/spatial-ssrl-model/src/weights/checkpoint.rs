//! An opened HF checkpoint: one `model.safetensors` or the shards of an index, mapped.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

use burn::tensor::DType;
use memmap2::Mmap;
use safetensors::tensor::{Dtype, TensorInfo};

use super::TensorSource;
use super::layout::{self, Stored};
use crate::error::{Error, Result};

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
    fn release_pages(info: &TensorInfo, shard: &Shard) {
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
    fn stored(&self, name: &str, shape: &[usize]) -> Result<Option<Stored<'_>>> {
        let (info, _, bytes) = self.bytes(name, shape)?;
        Ok(Some(Stored::Bytes {
            dtype: info.dtype,
            bytes,
        }))
    }

    fn release(&self, name: &str) {
        if let Some((shard, info)) = self.entries.get(name) {
            Self::release_pages(info, &self.shards[*shard]);
        }
    }

    fn read(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let (info, shard, bytes) = self.bytes(name, shape)?;
        let stored = Stored::Bytes {
            dtype: info.dtype,
            bytes,
        };
        let out = layout::to_f32(name, stored, None)?;
        Self::release_pages(info, shard);
        Ok(out)
    }
}
