//! Training data: prompt records read from what `spatial-ssrl generate` writes (JSONL with
//! `problem`, `answer`, `images`, `task`), SFT conversations, and the seeded epoch order with
//! its resumable cursor.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::policy::{ImageSource, PromptRecord};

/// splitmix64: the fixed hash every derived seed goes through (stable across platforms and
/// Rust versions, unlike `DefaultHasher`).
pub fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Seed derived from a base seed and ids: `splitmix64` folded over the parts.
pub fn derive_seed(seed: u64, parts: &[u64]) -> u64 {
    parts.iter().fold(splitmix64(seed), |acc, &p| {
        // The FNV prime multiply keeps the fold order-sensitive.
        splitmix64(acc.wrapping_mul(0x0000_0100_0000_01B3) ^ p)
    })
}

/// Where the trainer is in the data: epoch and position within that epoch's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DataCursor {
    /// 0-based epoch.
    pub epoch: u64,
    /// Rows of this epoch already consumed.
    pub position: usize,
}

/// The row order of `epoch`: a seeded shuffle (or identity when `shuffle` is false).
pub fn epoch_order(seed: u64, epoch: u64, n: usize, shuffle: bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    if shuffle {
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(seed, &[0x5EED_DA7A, epoch]));
        order.shuffle(&mut rng);
    }
    order
}

impl DataCursor {
    /// Takes the next `count` row indices (wrapping into the next epoch), advancing the cursor.
    pub fn take(&mut self, seed: u64, n: usize, shuffle: bool, count: usize) -> Vec<usize> {
        let mut out = Vec::with_capacity(count);
        if n == 0 {
            return out;
        }
        let mut order = epoch_order(seed, self.epoch, n, shuffle);
        while out.len() < count {
            if self.position >= n {
                self.epoch += 1;
                self.position = 0;
                order = epoch_order(seed, self.epoch, n, shuffle);
            }
            out.push(order[self.position]);
            self.position += 1;
        }
        out
    }
}

fn dataset_err(path: &Path, row: usize, reason: impl Into<String>) -> Error {
    Error::Dataset {
        path: path.to_path_buf(),
        row,
        reason: reason.into(),
    }
}

fn read_lines(path: &Path) -> Result<Vec<(usize, Value)>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut rows = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            line: i + 1,
            source,
        })?;
        rows.push((i, v));
    }
    Ok(rows)
}

fn parse_images(path: &Path, row: usize, v: Option<&Value>) -> Result<Vec<ImageSource>> {
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let Some(v) = v else { return Ok(Vec::new()) };
    let Some(list) = v.as_array() else {
        return Err(dataset_err(path, row, "images is not a list"));
    };
    let mut out = Vec::with_capacity(list.len());
    for item in list {
        match item {
            Value::String(p) => out.push(ImageSource::Path(base.join(p))),
            Value::Object(o) => {
                if let Some(Value::Array(bytes)) = o.get("bytes") {
                    let b: Option<Vec<u8>> = bytes
                        .iter()
                        .map(|x| x.as_u64().and_then(|x| u8::try_from(x).ok()))
                        .collect();
                    out.push(ImageSource::Bytes(b.ok_or_else(|| {
                        dataset_err(path, row, "image bytes are not u8")
                    })?));
                } else if let Some(Value::String(p)) = o.get("path") {
                    out.push(ImageSource::Path(base.join(p)));
                } else {
                    return Err(dataset_err(path, row, "image has neither bytes nor path"));
                }
            }
            _ => {
                return Err(dataset_err(
                    path,
                    row,
                    "image entry is neither a path nor {bytes, path}",
                ));
            }
        }
    }
    Ok(out)
}

/// Reads prompt records from a JSONL export (`problem`, `answer`, `images`, `task`; `images`
/// entries are `{bytes, path}` objects or paths relative to the file). Row ids are line order.
pub fn read_prompt_records(path: &Path) -> Result<Vec<PromptRecord>> {
    let mut out = Vec::new();
    for (row, v) in read_lines(path)? {
        let field = |k: &str| -> Result<String> {
            v.get(k)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| dataset_err(path, row, format!("missing string column {k:?}")))
        };
        out.push(PromptRecord {
            id: out.len() as u64,
            problem: field("problem")?,
            answer: field("answer")?,
            images: parse_images(path, row, v.get("images"))?,
            task: v
                .get("task")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
        });
    }
    Ok(out)
}

/// One SFT example: a prompt record (user turn + images) and the assistant's target text.
#[derive(Debug, Clone, PartialEq)]
pub struct SftExample {
    /// The user turn (as a prompt record, so the policy encodes it like a GRPO prompt).
    pub prompt: PromptRecord,
    /// The assistant response to learn.
    pub response: String,
}

/// Reads SFT conversations from JSONL: `{"messages": [{"role", "content"}...], "images": [...]}`
/// (LLaMA-Factory's sharegpt layout). The last assistant message is the target; the user
/// messages before it form the prompt.
pub fn read_sft_examples(path: &Path) -> Result<Vec<SftExample>> {
    let mut out = Vec::new();
    for (row, v) in read_lines(path)? {
        let msgs = v
            .get("messages")
            .and_then(Value::as_array)
            .ok_or_else(|| dataset_err(path, row, "missing messages list"))?;
        let mut user = Vec::new();
        let mut response = None;
        for m in msgs {
            let role = m.get("role").and_then(Value::as_str).unwrap_or("");
            let content = m.get("content").and_then(Value::as_str).unwrap_or("");
            match role {
                "user" => user.push(content.to_owned()),
                "assistant" => response = Some(content.to_owned()),
                _ => {}
            }
        }
        let response = response.ok_or_else(|| dataset_err(path, row, "no assistant message"))?;
        if user.is_empty() {
            return Err(dataset_err(path, row, "no user message"));
        }
        out.push(SftExample {
            prompt: PromptRecord {
                id: out.len() as u64,
                problem: user.join("\n"),
                answer: String::new(),
                images: parse_images(path, row, v.get("images"))?,
                task: v
                    .get("task")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
            },
            response,
        });
    }
    Ok(out)
}

/// Paths in a data spec: a file, or a directory whose `*.jsonl` files are read in name order.
pub fn data_files(spec: &Path) -> Result<Vec<PathBuf>> {
    if spec.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(spec)
            .map_err(|e| Error::io(spec, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect();
        files.sort();
        Ok(files)
    } else {
        Ok(vec![spec.to_path_buf()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_wraps_epochs_deterministically() {
        let mut c = DataCursor::default();
        let a = c.take(3, 5, true, 7);
        assert_eq!(
            c,
            DataCursor {
                epoch: 1,
                position: 2
            }
        );
        let mut first: Vec<usize> = a[..5].to_vec();
        first.sort();
        assert_eq!(first, vec![0, 1, 2, 3, 4]);
        let mut c2 = DataCursor::default();
        assert_eq!(c2.take(3, 5, true, 7), a);
        assert_eq!(DataCursor::default().take(3, 5, false, 3), vec![0, 1, 2]);
    }

    #[test]
    fn splitmix_is_stable() {
        assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
        assert_ne!(derive_seed(1, &[2]), derive_seed(2, &[1]));
    }
}
