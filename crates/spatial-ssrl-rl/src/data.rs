//! Training data: prompt records read from what `spatial-ssrl generate` writes (a folder of
//! parquet or JSONL shards, one file, or `path@split`, as EasyR1 names them), and the seeded
//! epoch order with its resumable cursor.

use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use spatial_ssrl_tasks::{ImageRef, PromptColumns, read_prompt_rows, split_shards};

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

/// A data spec as EasyR1 writes it: `path` or `path@split`. The split suffix is taken only
/// when it is a plain word (so `runs/v1@2x/data` stays a path).
fn split_spec<'a>(spec: &'a Path, default_split: &'a str) -> (PathBuf, &'a str) {
    if let Some(text) = spec.to_str()
        && let Some((path, split)) = text.rsplit_once('@')
        && !split.is_empty()
        && split.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return (PathBuf::from(path), split);
    }
    (spec.to_path_buf(), default_split)
}

/// Reads GRPO prompts from a data spec (EasyR1 `data.train_files` / `data.val_files`):
///
/// - a folder written by `spatial-ssrl generate` (parquet or JSONL shards): the shards of
///   `default_split` (`train` for training, `val` for validation), or of `split` in
///   `folder@split` (`train`, `val`/`validation`, `test`);
/// - one `.parquet` or `.jsonl` file (all its rows; `file@train` is accepted as EasyR1 does).
///
/// Columns are looked up by `columns` (`problem` / `answer` / `images` by default) through
/// the tasks crate's [`read_prompt_rows`](spatial_ssrl_tasks::read_prompt_rows). Relative
/// image paths resolve against `image_dir` when given (EasyR1 `data.image_dir`), else the
/// shard's folder. Row ids number the rows in file order.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("train-00000.jsonl"), "{\"problem\": \"1+1?\", \"answer\": \"2\"}\n")?;
/// std::fs::write(dir.path().join("val-00000.jsonl"), "{\"problem\": \"2+2?\", \"answer\": \"4\"}\n")?;
/// let cols = spatial_ssrl_tasks::PromptColumns::default();
/// let train = spatial_ssrl_rl::load_prompts(dir.path(), "train", &cols, None)?;
/// assert_eq!(train[0].answer, "2");
/// let spec = std::path::PathBuf::from(format!("{}@validation", dir.path().display()));
/// assert_eq!(spatial_ssrl_rl::load_prompts(&spec, "train", &cols, None)?[0].answer, "4");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::DataSpec`] when the path does not exist, names a file with a split other than
/// `train`, or holds no rows; [`Error::Tasks`] for unreadable shards, missing columns or a
/// folder without shards of the split (the message lists the files it has).
pub fn load_prompts(
    spec: &Path,
    default_split: &str,
    columns: &PromptColumns,
    image_dir: Option<&Path>,
) -> Result<Vec<PromptRecord>> {
    let (path, split) = split_spec(spec, default_split);
    let files = if path.is_dir() {
        split_shards(&path, split)?
    } else if path.is_file() {
        if split != "train" && split != default_split {
            return Err(Error::DataSpec {
                spec: spec.to_path_buf(),
                reason: format!(
                    "a single file has no {split:?} split (name a folder, or the file alone)"
                ),
            });
        }
        vec![path.clone()]
    } else {
        return Err(Error::DataSpec {
            spec: spec.to_path_buf(),
            reason: "no such file or folder (expected a `generate` output folder, a .parquet or .jsonl file, or path@split)".into(),
        });
    };
    let mut out = Vec::new();
    for file in &files {
        let base = image_dir
            .map(Path::to_path_buf)
            .or_else(|| file.parent().map(Path::to_path_buf))
            .unwrap_or_default();
        for row in read_prompt_rows(file, columns)? {
            let images = row
                .images
                .into_iter()
                .map(|img| match img {
                    ImageRef::Bytes(b) => ImageSource::Bytes(b),
                    ImageRef::Path(p) => ImageSource::Path(base.join(p)),
                })
                .collect();
            out.push(PromptRecord {
                id: out.len() as u64,
                problem: row.problem,
                answer: row.answer,
                images,
                task: row.task,
            });
        }
    }
    if out.is_empty() {
        return Err(Error::DataSpec {
            spec: spec.to_path_buf(),
            reason: format!("the {split} split has no rows"),
        });
    }
    Ok(out)
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
    fn prompts_come_from_the_requested_split() {
        let dir = tempfile::tempdir().unwrap();
        let row = |q: &str| {
            format!(
                "{{\"problem\":\"{q}\",\"answer\":\"A\",\"images\":[\"images/{q}.png\"],\"task\":\"flip\"}}\n"
            )
        };
        std::fs::write(dir.path().join("train-00000.jsonl"), row("t0") + &row("t1")).unwrap();
        std::fs::write(dir.path().join("train-00001.jsonl"), row("t2")).unwrap();
        std::fs::write(dir.path().join("val-00000.jsonl"), row("v0")).unwrap();
        std::fs::write(dir.path().join("manifest.json"), "{}").unwrap();
        let cols = PromptColumns::default();
        let problems = |recs: Vec<PromptRecord>| -> Vec<String> {
            recs.into_iter().map(|r| r.problem).collect()
        };
        let train = load_prompts(dir.path(), "train", &cols, None).unwrap();
        assert_eq!(train.iter().map(|r| r.id).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(
            train[1].images,
            vec![ImageSource::Path(dir.path().join("images/t1.png"))]
        );
        assert_eq!(problems(train), ["t0", "t1", "t2"]);
        assert_eq!(
            problems(load_prompts(dir.path(), "val", &cols, None).unwrap()),
            ["v0"]
        );
        let at = |split: &str| PathBuf::from(format!("{}@{split}", dir.path().display()));
        assert_eq!(
            problems(load_prompts(&at("validation"), "train", &cols, None).unwrap()),
            ["v0"]
        );
        // A missing split names what the folder has.
        let err = load_prompts(&at("test"), "train", &cols, None).unwrap_err();
        assert!(err.to_string().contains("val-00000.jsonl"), "{err}");
        // One file, image paths against image_dir.
        let file = dir.path().join("val-00000.jsonl");
        let imgs = Path::new("/data/imgs");
        let one = load_prompts(&file, "train", &cols, Some(imgs)).unwrap();
        assert_eq!(
            one[0].images,
            vec![ImageSource::Path(imgs.join("images/v0.png"))]
        );
        let err = load_prompts(&at("nothing-here"), "train", &cols, None).unwrap_err();
        assert!(matches!(err, Error::DataSpec { .. }), "{err}");
        let file_val = PathBuf::from(format!("{}@test", file.display()));
        assert!(load_prompts(&file_val, "train", &cols, None).is_err());
    }

    #[test]
    fn splitmix_is_stable() {
        assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
        assert_ne!(derive_seed(1, &[2]), derive_seed(2, &[1]));
    }
}
