//! Reading training prompts back by column name, the way EasyR1's `RLHFDataset` does: any
//! parquet or JSONL file whose rows carry a prompt, an answer and images under configurable
//! keys (`prompt_key` / `answer_key` / `image_key`), and the shards of one split of a dataset
//! folder (`dir@train`, `dir@val`). Reads what `generate` writes as well as the released
//! Spatial-SSRL-81k layout (`train.parquet` / `test.parquet`, images as relative paths).

use std::path::{Path, PathBuf};

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::{Field, Row};
use serde_json::Value;

use crate::error::{Error, Result};

/// Column names of a prompt dataset (EasyR1 `data.prompt_key`, `answer_key`, `image_key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptColumns {
    /// The question column (`problem`).
    pub prompt: String,
    /// The ground-truth column (`answer`).
    pub answer: String,
    /// The image list column (`images`).
    pub images: String,
}

impl Default for PromptColumns {
    fn default() -> Self {
        PromptColumns {
            prompt: "problem".into(),
            answer: "answer".into(),
            images: "images".into(),
        }
    }
}

/// One image of a prompt row: embedded file bytes, or a path as written in the row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// PNG/JPEG bytes (parquet `{bytes, path}` structs with bytes, as `generate` writes).
    Bytes(Vec<u8>),
    /// A path as stored (relative paths are resolved by the caller: against EasyR1's
    /// `image_dir`, or the file's folder).
    Path(String),
}

/// One prompt row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptRow {
    /// Question with `<image>` placeholders.
    pub problem: String,
    /// Ground truth (numbers are written as their JSON text).
    pub answer: String,
    /// Images in placeholder order (empty when the row has no image column).
    pub images: Vec<ImageRef>,
    /// The `task` column, or empty when there is none.
    pub task: String,
}

fn malformed(path: &Path, message: String) -> Error {
    Error::Malformed {
        what: "prompt dataset",
        path: path.to_path_buf(),
        message,
    }
}

/// Reads every row of one parquet or JSONL file (chosen by extension: `.parquet`, or
/// `.jsonl`/`.json` with one object per line).
///
/// # Errors
/// [`Error::Io`] when the file cannot be read; [`Error::Malformed`] for an unknown
/// extension, a missing prompt/answer column (naming it and the columns present) or an image
/// entry that is neither a path nor `{bytes, path}`.
pub fn read_prompt_rows(path: &Path, columns: &PromptColumns) -> Result<Vec<PromptRow>> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("parquet") => read_parquet(path, columns),
        Some("jsonl" | "json") => read_jsonl(path, columns),
        _ => Err(malformed(
            path,
            "expected a .parquet or .jsonl file".to_string(),
        )),
    }
}

/// The split a shard file name belongs to, by its leading word as Hugging Face `datasets`
/// names splits: `train`, `val` (also `validation`, `valid`, `dev`) or `test`.
fn split_of(file_name: &str) -> Option<&'static str> {
    let word: String = file_name
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_lowercase();
    match word.as_str() {
        "train" | "training" => Some("train"),
        "val" | "valid" | "validation" | "dev" => Some("val"),
        "test" | "testing" => Some("test"),
        _ => None,
    }
}

fn is_shard(p: &Path) -> bool {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    !name.starts_with('.') && (name.ends_with(".parquet") || name.ends_with(".jsonl"))
}

fn shards_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && is_shard(p))
        .collect();
    files.sort();
    Ok(files)
}

/// The shard files of `split` in a dataset folder, in name order.
///
/// `split` is `train`, `val` (or `validation`/`valid`/`dev`) or `test`; a file belongs to
/// the split its name starts with (`train-00000.parquet`, `val-00001.jsonl`, `test.parquet`).
/// Shards may also sit in a `data/` subfolder (the Hugging Face hub layout). A folder whose
/// files name no split at all is one `train` split, as `datasets` reads it.
///
/// # Errors
/// [`Error::InvalidOption`] for an unknown split name; [`Error::Malformed`] when the folder
/// has no shard of that split (the message lists what it has).
pub fn split_shards(dir: &Path, split: &str) -> Result<Vec<PathBuf>> {
    let want = split_of(split).ok_or_else(|| Error::InvalidOption {
        option: "split",
        message: format!("{split:?} is not train, val (validation) or test"),
    })?;
    let mut files = shards_in(dir)?;
    let sub = dir.join("data");
    if files.is_empty() && sub.is_dir() {
        files = shards_in(&sub)?;
    }
    let name = |p: &PathBuf| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let named_any = files.iter().any(|p| split_of(&name(p)).is_some());
    let picked: Vec<PathBuf> = files
        .iter()
        .filter(|p| match split_of(&name(p)) {
            Some(s) => s == want,
            None => !named_any && want == "train",
        })
        .cloned()
        .collect();
    if picked.is_empty() {
        let seen: Vec<String> = files.iter().map(name).collect();
        return Err(malformed(
            dir,
            format!(
                "no {want} shards (*.parquet / *.jsonl named {want}-*); the folder has {}",
                if seen.is_empty() {
                    "no shard files".to_string()
                } else {
                    seen.join(", ")
                }
            ),
        ));
    }
    Ok(picked)
}

fn field_text(f: &Field) -> Option<String> {
    match f {
        Field::Null => None,
        Field::Str(s) => Some(s.clone()),
        Field::Bytes(b) => Some(String::from_utf8_lossy(b.data()).into_owned()),
        Field::Bool(x) => Some(x.to_string()),
        Field::Int(x) => Some(x.to_string()),
        Field::Long(x) => Some(x.to_string()),
        Field::Float(x) => Some(x.to_string()),
        Field::Double(x) => Some(x.to_string()),
        _ => None,
    }
}

fn group_image(path: &Path, g: &Row) -> Result<ImageRef> {
    let mut bytes = None;
    let mut rel = None;
    for (k, v) in g.get_column_iter() {
        match (k.as_str(), v) {
            ("bytes", Field::Bytes(b)) if !b.data().is_empty() => bytes = Some(b.data().to_vec()),
            ("path", Field::Str(s)) => rel = Some(s.clone()),
            _ => {}
        }
    }
    match (bytes, rel) {
        (Some(b), _) => Ok(ImageRef::Bytes(b)),
        (None, Some(p)) => Ok(ImageRef::Path(p)),
        (None, None) => Err(malformed(
            path,
            "an image struct has neither bytes nor path".into(),
        )),
    }
}

fn parquet_images(path: &Path, f: &Field) -> Result<Vec<ImageRef>> {
    let list = match f {
        Field::Null => return Ok(Vec::new()),
        Field::ListInternal(l) => l.elements(),
        other => {
            return Err(malformed(
                path,
                format!("image column is not a list ({other})"),
            ));
        }
    };
    list.iter()
        .map(|el| match el {
            Field::Str(s) => Ok(ImageRef::Path(s.clone())),
            Field::Bytes(b) => Ok(ImageRef::Bytes(b.data().to_vec())),
            Field::Group(g) => group_image(path, g),
            other => Err(malformed(
                path,
                format!("image entry {other} is neither a path nor {{bytes, path}}"),
            )),
        })
        .collect()
}

fn read_parquet(path: &Path, columns: &PromptColumns) -> Result<Vec<PromptRow>> {
    let err = |e: parquet::errors::ParquetError| malformed(path, e.to_string());
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = SerializedFileReader::new(file).map_err(err)?;
    let names: Vec<String> = reader
        .metadata()
        .file_metadata()
        .schema_descr()
        .root_schema()
        .get_fields()
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    for key in [&columns.prompt, &columns.answer] {
        if !names.contains(key) {
            return Err(malformed(
                path,
                format!("no column {key:?} (columns: {})", names.join(", ")),
            ));
        }
    }
    let mut out = Vec::new();
    for (i, row) in reader.get_row_iter(None).map_err(err)?.enumerate() {
        let row = row.map_err(err)?;
        let mut r = PromptRow {
            problem: String::new(),
            answer: String::new(),
            images: Vec::new(),
            task: String::new(),
        };
        for (k, v) in row.get_column_iter() {
            if *k == columns.prompt {
                r.problem = field_text(v)
                    .ok_or_else(|| malformed(path, format!("row {i}: {k:?} is not text")))?;
            } else if *k == columns.answer {
                r.answer = field_text(v)
                    .ok_or_else(|| malformed(path, format!("row {i}: {k:?} is not text")))?;
            } else if *k == columns.images {
                r.images = parquet_images(path, v)?;
            } else if k == "task" {
                r.task = field_text(v).unwrap_or_default();
            }
        }
        out.push(r);
    }
    Ok(out)
}

fn json_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn json_image(path: &Path, line: usize, v: &Value) -> Result<ImageRef> {
    let bad = || {
        malformed(
            path,
            format!("line {line}: image entry is neither a path nor {{bytes, path}}"),
        )
    };
    match v {
        Value::String(p) => Ok(ImageRef::Path(p.clone())),
        Value::Object(o) => match (o.get("bytes"), o.get("path")) {
            (Some(Value::Array(bytes)), _) if !bytes.is_empty() => bytes
                .iter()
                .map(|x| x.as_u64().and_then(|x| u8::try_from(x).ok()))
                .collect::<Option<Vec<u8>>>()
                .map(ImageRef::Bytes)
                .ok_or_else(bad),
            (_, Some(Value::String(p))) => Ok(ImageRef::Path(p.clone())),
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

fn read_jsonl(path: &Path, columns: &PromptColumns) -> Result<Vec<PromptRow>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        if l.trim().is_empty() {
            continue;
        }
        let line = i + 1;
        let v: Value =
            serde_json::from_str(l).map_err(|e| malformed(path, format!("line {line}: {e}")))?;
        let text = |key: &str| {
            json_text(v.get(key))
                .ok_or_else(|| malformed(path, format!("line {line}: no text column {key:?}")))
        };
        let images = match v.get(&columns.images) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) => list
                .iter()
                .map(|x| json_image(path, line, x))
                .collect::<Result<_>>()?,
            Some(_) => {
                return Err(malformed(
                    path,
                    format!("line {line}: {:?} is not a list", columns.images),
                ));
            }
        };
        out.push(PromptRow {
            problem: text(&columns.prompt)?,
            answer: text(&columns.answer)?,
            images,
            task: json_text(v.get("task")).unwrap_or_default(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::{DatasetFormat, tests::sample_records, write_shard};

    #[test]
    fn reads_both_export_formats_by_column_name() {
        for format in [DatasetFormat::Parquet, DatasetFormat::Jsonl] {
            let dir = tempfile::tempdir().unwrap();
            let name = format!("train-00000.{}", format.extension());
            write_shard(format, dir.path(), &name, sample_records()).unwrap();
            let rows =
                read_prompt_rows(&dir.path().join(&name), &PromptColumns::default()).unwrap();
            let want = sample_records();
            assert_eq!(rows.len(), want.len());
            for (r, w) in rows.iter().zip(&want) {
                assert_eq!(
                    (&r.problem, &r.answer, &r.task),
                    (&w.problem, &w.answer, &w.task)
                );
                assert_eq!(r.images.len(), w.images.len());
                for (got, img) in r.images.iter().zip(&w.images) {
                    match (format, got) {
                        // An empty embedded image falls back to its path.
                        (DatasetFormat::Parquet, ImageRef::Bytes(b)) => assert_eq!(b, &img.bytes),
                        (_, ImageRef::Path(p)) => assert_eq!(p, &img.path),
                        (_, other) => panic!("{format:?}: unexpected {other:?}"),
                    }
                }
            }
            let renamed = PromptColumns {
                prompt: "question".into(),
                ..PromptColumns::default()
            };
            let err = read_prompt_rows(&dir.path().join(&name), &renamed).unwrap_err();
            assert!(err.to_string().contains("question"), "{err}");
        }
    }

    #[test]
    fn custom_keys_and_numeric_answers_in_jsonl() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.jsonl");
        std::fs::write(
            &path,
            "{\"q\": \"<image>how many?\", \"a\": 3, \"pics\": [\"img/a.png\"]}\n\n",
        )
        .unwrap();
        let cols = PromptColumns {
            prompt: "q".into(),
            answer: "a".into(),
            images: "pics".into(),
        };
        let rows = read_prompt_rows(&path, &cols).unwrap();
        assert_eq!(rows[0].answer, "3");
        assert_eq!(rows[0].images, vec![ImageRef::Path("img/a.png".into())]);
        assert!(read_prompt_rows(&dir.path().join("x.csv"), &cols).is_err());
    }

    #[test]
    fn split_shards_pick_by_name_prefix() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "train-00000.jsonl",
            "train-00001.jsonl",
            "val-00000.jsonl",
            "manifest.json",
        ] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        let names = |split: &str| -> Vec<String> {
            split_shards(dir.path(), split)
                .unwrap()
                .iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(names("train"), ["train-00000.jsonl", "train-00001.jsonl"]);
        assert_eq!(names("validation"), ["val-00000.jsonl"]);
        let err = split_shards(dir.path(), "test").unwrap_err().to_string();
        assert!(err.contains("val-00000.jsonl"), "{err}");
        assert!(split_shards(dir.path(), "holdout").is_err());
        // A folder of unnamed shards under data/ is one train split.
        let hub = tempfile::tempdir().unwrap();
        std::fs::create_dir(hub.path().join("data")).unwrap();
        std::fs::write(hub.path().join("data/part-0.parquet"), "").unwrap();
        assert_eq!(split_shards(hub.path(), "train").unwrap().len(), 1);
        assert!(split_shards(hub.path(), "val").is_err());
    }
}
