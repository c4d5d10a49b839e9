//! Dataset files: rows with encoded images, written as EasyR1-compatible parquet or as JSON
//! Lines plus image files; shards written atomically; reading them back for previews.

mod jsonl;
mod parquet;
mod prompt_rows;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub use prompt_rows::{ImageRef, PromptColumns, PromptRow, read_prompt_rows, split_shards};

/// The on-disk layout of an exported dataset.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum DatasetFormat {
    /// Parquet shards with columns `problem`, `answer`, `images`
    /// (`list<struct<bytes: binary, path: string>>`, images embedded), `task`, `source`,
    /// `metadata` (JSON text): what EasyR1 and Hugging Face `datasets` load.
    #[default]
    Parquet,
    /// JSON Lines shards (one object per sample, `images` as relative paths) plus the image
    /// files under `images/`.
    Jsonl,
}

impl DatasetFormat {
    /// The shard file extension, without dot.
    ///
    /// ```
    /// assert_eq!(spatial_ssrl_tasks::DatasetFormat::Jsonl.extension(), "jsonl");
    /// ```
    pub fn extension(self) -> &'static str {
        match self {
            DatasetFormat::Parquet => "parquet",
            DatasetFormat::Jsonl => "jsonl",
        }
    }
}

impl std::str::FromStr for DatasetFormat {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "parquet" => Ok(DatasetFormat::Parquet),
            "jsonl" => Ok(DatasetFormat::Jsonl),
            _ => Err(Error::InvalidOption {
                option: "format",
                message: format!("{s:?} is not parquet or jsonl"),
            }),
        }
    }
}

/// One encoded image of a row: its file bytes and its path relative to the dataset folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedImage {
    /// PNG or JPEG file bytes.
    pub bytes: Vec<u8>,
    /// Relative path (`images/<source>/<task>-<n>-<i>.png`: image `i` of the
    /// source's `n`-th sample of that task); where the JSONL layout
    /// stores the file, informational in parquet.
    pub path: String,
}

/// One dataset row, as written and as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Problem text with one `<image>` placeholder per image.
    pub problem: String,
    /// Ground-truth answer.
    pub answer: String,
    /// The images, in placeholder order.
    pub images: Vec<EncodedImage>,
    /// Task name.
    pub task: String,
    /// Source id.
    pub source: String,
    /// The sample's metadata as compact JSON text (keys sorted).
    pub metadata: String,
}

/// Writes `records` as shard `name` in `dir`, atomically: the shard (and, for JSONL, each
/// image) is written to a hidden temporary file and renamed into place, so a killed run
/// never leaves a half-written file under a final name.
pub(crate) fn write_shard(
    format: DatasetFormat,
    dir: &Path,
    name: &str,
    records: Vec<Record>,
) -> Result<()> {
    let path = dir.join(name);
    let bytes = match format {
        DatasetFormat::Parquet => parquet::to_bytes(records, &path)?,
        DatasetFormat::Jsonl => {
            for r in &records {
                for img in &r.images {
                    atomic_write(&dir.join(&img.path), &img.bytes)?;
                }
            }
            jsonl::to_bytes(&records)
        }
    };
    atomic_write(&path, &bytes)
}

/// Reads back shard `name` of `dir`, written by [`write_shard`] in `format`.
pub(crate) fn read_shard(format: DatasetFormat, dir: &Path, name: &str) -> Result<Vec<Record>> {
    let path = dir.join(name);
    match format {
        DatasetFormat::Parquet => parquet::read(&path),
        DatasetFormat::Jsonl => jsonl::read(&path, dir),
    }
}

/// Writes `bytes` to `path` via a temporary sibling and a rename.
pub(crate) fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let parent = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let tmp = tmp_path(path);
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// `dir/.name.tmp` for `dir/name`.
fn tmp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// Deletes temporary files a killed run left behind under `dir` (recursively).
pub(crate) fn remove_temporaries(dir: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().map_err(|e| Error::io(&path, e))?.is_dir() {
            remove_temporaries(&path)?;
        } else if name.starts_with('.') && name.ends_with(".tmp") {
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}

/// Reads every record of an exported dataset folder: its shards (`*.parquet` or `*.jsonl`,
/// in file-name order) with their split (`train`/`val`, from the file-name prefix).
///
/// ```no_run
/// for (split, rec) in spatial_ssrl_tasks::read_dataset("/tmp/ssrl-demo")? {
///     println!("{split} {} {} -> {}", rec.task, rec.source, rec.answer);
/// }
/// # Ok::<(), spatial_ssrl_tasks::Error>(())
/// ```
pub fn read_dataset(dir: impl AsRef<Path>) -> Result<Vec<(String, Record)>> {
    let dir = dir.as_ref();
    let mut shards: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            !name.starts_with('.') && (name.ends_with(".parquet") || name.ends_with(".jsonl"))
        })
        .collect();
    shards.sort();
    let mut out = Vec::new();
    for shard in shards {
        let name = shard
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let split = name.split('-').next().unwrap_or("train").to_string();
        let records = if name.ends_with(".parquet") {
            parquet::read(&shard)?
        } else {
            jsonl::read(&shard, dir)?
        };
        out.extend(records.into_iter().map(|r| (split.clone(), r)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample_records() -> Vec<Record> {
        vec![
            Record {
                problem: "<image>Which? A. x B. y".into(),
                answer: "B".into(),
                images: vec![EncodedImage {
                    bytes: vec![0, 1, 2, 255],
                    path: "images/s/t-0-0-0.png".into(),
                }],
                task: "flip".into(),
                source: "s".into(),
                metadata: "{\"variant\":\"mirror\"}".into(),
            },
            Record {
                problem: "no images, \"quoted\" ünïcode".into(),
                answer: "1-0".into(),
                images: vec![],
                task: "shuffle".into(),
                source: "dir/s2".into(),
                metadata: "{}".into(),
            },
            Record {
                problem: "<image><image>".into(),
                answer: "A".into(),
                images: vec![
                    EncodedImage {
                        bytes: vec![9; 70_000],
                        path: "images/dir/s2/c-0-0-0.png".into(),
                    },
                    EncodedImage {
                        bytes: vec![],
                        path: "images/dir/s2/c-0-0-1.png".into(),
                    },
                ],
                task: "crop".into(),
                source: "dir/s2".into(),
                metadata: "{}".into(),
            },
        ]
    }

    #[test]
    fn both_formats_round_trip_and_are_deterministic() {
        for format in [DatasetFormat::Parquet, DatasetFormat::Jsonl] {
            let dir = tempfile::tempdir().unwrap();
            let name = format!("train-00000.{}", format.extension());
            write_shard(format, dir.path(), &name, sample_records()).unwrap();
            let first = std::fs::read(dir.path().join(&name)).unwrap();
            write_shard(format, dir.path(), &name, sample_records()).unwrap();
            assert_eq!(
                first,
                std::fs::read(dir.path().join(&name)).unwrap(),
                "{format:?}"
            );
            let back = read_dataset(dir.path()).unwrap();
            let want: Vec<(String, Record)> = sample_records()
                .into_iter()
                .map(|r| ("train".to_string(), r))
                .collect();
            assert_eq!(back, want, "{format:?}");
            remove_temporaries(dir.path()).unwrap();
        }
    }

    #[test]
    fn temporaries_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("images/a")).unwrap();
        std::fs::write(dir.path().join("images/a/.x.png.tmp"), b"partial").unwrap();
        std::fs::write(dir.path().join(".train-00001.parquet.tmp"), b"partial").unwrap();
        std::fs::write(dir.path().join("keep.tmp"), b"user file").unwrap();
        remove_temporaries(dir.path()).unwrap();
        assert!(!dir.path().join("images/a/.x.png.tmp").exists());
        assert!(!dir.path().join(".train-00001.parquet.tmp").exists());
        assert!(dir.path().join("keep.tmp").exists());
    }
}
