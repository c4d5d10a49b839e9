//! One adapter per published benchmark format, plus the helpers they share.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Result};
use crate::item::{Answer, Item, Visual};
use crate::tsv::Table;

mod mcq_tsv;
mod qspatial;
mod spatial457;
mod threedsr;
mod viewspatial;
mod vsibench;
mod whatsup;

pub use mcq_tsv::McqTsv;
pub use qspatial::QSpatial;
pub use spatial457::Spatial457;
pub use threedsr::ThreeDsrBench;
pub use viewspatial::ViewSpatial;
pub use vsibench::VsiBench;
pub use whatsup::WhatsUp;

/// Registry names of the built-in benchmarks (shared by the registry and the CLI).
pub mod names {
    /// Spatial457 (VLMEvalKit TSV, open answers, Spatial457's matching rules).
    pub const SPATIAL457: &str = "spatial457";
    /// 3DSRBench (VLMEvalKit TSV; vanilla, circular and flip settings).
    pub const THREEDSR: &str = "3dsrbench";
    /// SpatialEval (VLMEvalKit TSV, multiple choice).
    pub const SPATIALEVAL: &str = "spatialeval";
    /// What'sUp (controlled-images JSON, or a VLMEvalKit-style TSV).
    pub const WHATSUP: &str = "whatsup";
    /// ViewSpatial-Bench (its published JSON).
    pub const VIEWSPATIAL: &str = "viewspatial";
    /// VSI-Bench (annotation JSON/JSONL + extracted video frames).
    pub const VSIBENCH: &str = "vsibench";
    /// QSpatial-plus (metric distances with units).
    pub const QSPATIAL: &str = "qspatial";
    /// Any VLMEvalKit-style multiple-choice TSV.
    pub const MCQ_TSV: &str = "mcq-tsv";
}

/// The letter a published answer denotes: `"B"`, `"(B)"`, `"B. right"`, or an option's text.
pub(crate) fn answer_letter(raw: &str, options: &[String]) -> Option<char> {
    let t = raw.trim();
    let mut cs = t.trim_start_matches('(').chars();
    if let Some(c) = cs.next() {
        let c_up = c.to_ascii_uppercase();
        let in_range = c_up.is_ascii_uppercase() && ((c_up as u8 - b'A') as usize) < options.len();
        let rest = cs.as_str();
        if in_range
            && c.is_ascii_uppercase()
            && (rest.is_empty() || rest.starts_with(['.', ')', ':', ' ']))
        {
            return Some(c_up);
        }
    }
    options
        .iter()
        .position(|o| o.trim().eq_ignore_ascii_case(t))
        .map(Item::letter)
}

/// Strips a leading `"A. "` / `"A) "` label some files put inside option texts.
pub(crate) fn strip_label(opt: &str, i: usize) -> String {
    let t = opt.trim();
    let l = Item::letter(i);
    for sep in ['.', ')', ':'] {
        if let Some(rest) = t.strip_prefix(&format!("{l}{sep}")) {
            return rest.trim().to_string();
        }
    }
    t.to_string()
}

/// Rows of a parquet file (as Hugging Face datasets publish them) as JSON values: binary
/// cells become base64 strings, lists arrays, structs objects.
fn read_parquet(path: &Path) -> Result<Vec<Value>> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let err = |e: parquet::errors::ParquetError| Error::Parquet {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = SerializedFileReader::new(file).map_err(err)?;
    let rows = reader.get_row_iter(None).map_err(err)?;
    rows.map(|row| row.map(|r| r.to_json_value()).map_err(err))
        .collect()
}

/// Reads a JSON array of objects, JSON Lines (one object per line) or a parquet table.
pub(crate) fn read_records(path: &Path) -> Result<Vec<serde_json::Map<String, Value>>> {
    if extension(path) == "parquet" {
        return to_objects(path, read_parquet(path)?);
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    let values: Vec<Value> = if trimmed.starts_with('[') {
        serde_json::from_str(trimmed).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            source,
        })?
    } else {
        let mut v = Vec::new();
        for (i, line) in trimmed.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            v.push(
                serde_json::from_str(line).map_err(|source| Error::JsonLine {
                    path: path.to_path_buf(),
                    line: i + 1,
                    source,
                })?,
            );
        }
        v
    };
    to_objects(path, values)
}

fn to_objects(path: &Path, values: Vec<Value>) -> Result<Vec<serde_json::Map<String, Value>>> {
    if values.is_empty() {
        return Err(Error::Empty {
            path: path.to_path_buf(),
        });
    }
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::Object(m) => Ok(m),
            other => Err(Error::BadValue {
                path: path.to_path_buf(),
                record: i,
                field: "(record)".into(),
                value: truncate(&other.to_string()),
                reason: "expected a JSON object",
            }),
        })
        .collect()
}

/// A field as text: strings as is, numbers printed, `null` and empty strings absent.
pub(crate) fn field(rec: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    match rec.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The first present field among `keys`, or a typed error naming the first key.
pub(crate) fn need_field(
    path: &Path,
    record: usize,
    rec: &serde_json::Map<String, Value>,
    keys: &[&str],
) -> Result<String> {
    keys.iter()
        .find_map(|k| field(rec, k))
        .ok_or_else(|| Error::MissingField {
            path: path.to_path_buf(),
            record,
            field: keys[0].to_string(),
        })
}

pub(crate) fn truncate(s: &str) -> String {
    if s.len() <= 80 {
        s.to_string()
    } else {
        format!("{}…", &s[..s.floor_char_boundary(80)])
    }
}

/// Resolves a published relative path against the data file's folder (or the folder above,
/// since several releases store paths that start with the dataset's own folder name).
pub(crate) fn resolve(base: &Path, p: &str) -> PathBuf {
    let rel = Path::new(p);
    if rel.is_absolute() {
        return rel.to_path_buf();
    }
    let here = base.join(rel);
    if !here.exists()
        && let Some(up) = base.parent().map(|b| b.join(rel))
        && up.exists()
    {
        return up;
    }
    here
}

/// The folder holding a data file (`.` for a bare file name).
pub(crate) fn base_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

pub(crate) fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// Splits a VLMEvalKit `image` cell: one base64 string, or a list of them written as JSON
/// (`["..", ".."]`) or as a Python list repr (`['..', '..']`).
pub(crate) fn image_cell(cell: &str) -> Vec<String> {
    let t = cell.trim();
    match t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        Some(inner) => inner
            .split(',')
            .map(|s| s.trim().trim_matches(['"', '\'']).to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        None => vec![t.to_string()],
    }
}

/// Options from the `A`..`Z` columns of a TSV row (stops at the first absent letter).
fn tsv_options(t: &Table, r: usize) -> Vec<String> {
    (0..26)
        .map(Item::letter)
        .map_while(|l| t.get(r, &l.to_string()).map(|s| s.trim().to_string()))
        .collect()
}

/// Items of a VLMEvalKit multiple-choice TSV (`index`, `question`, `A`.., `answer`, optional
/// `category`, `image` / `image_path`, `hint`, and any extra columns, which are kept).
///
/// An `image` cell of at most 64 characters that names another row's `index` reuses that
/// row's image, as VLMEvalKit deduplicates repeated images.
pub(crate) fn load_mcq_tsv(path: &Path, required_extra: &[&str]) -> Result<Vec<Item>> {
    let t = Table::read(path)?;
    let mut req = vec!["index", "question", "answer", "A"];
    req.extend_from_slice(required_extra);
    t.require(&req)?;
    let items = load_tsv_rows(&t, |r, _index| {
        let options = tsv_options(&t, r);
        let raw = t.need(r, "answer")?;
        let letter = answer_letter(raw, &options).ok_or_else(|| Error::BadValue {
            path: t.path.clone(),
            record: r,
            field: "answer".into(),
            value: truncate(raw),
            reason: "not one of the option letters",
        })?;
        Ok((options, Answer::Choice(letter)))
    })?;
    Ok(items)
}

/// The shared row loop of the TSV adapters: index, question, category, visuals, extras;
/// `answer_of` supplies options and ground truth.
pub(crate) fn load_tsv_rows(
    t: &Table,
    mut answer_of: impl FnMut(usize, i64) -> Result<(Vec<String>, Answer)>,
) -> Result<Vec<Item>> {
    let mut seen = HashMap::new();
    let mut items = Vec::with_capacity(t.rows.len());
    for r in 0..t.rows.len() {
        let index = match t.get(r, "index") {
            Some(raw) => raw.trim().parse::<i64>().map_err(|_| Error::BadValue {
                path: t.path.clone(),
                record: r,
                field: "index".into(),
                value: truncate(raw),
                reason: "not an integer",
            })?,
            None if t.has("index") => {
                return Err(Error::MissingField {
                    path: t.path.clone(),
                    record: r,
                    field: "index".into(),
                });
            }
            None => r as i64,
        };
        if seen.insert(index, r).is_some() {
            return Err(Error::DuplicateIndex {
                path: t.path.clone(),
                index,
            });
        }
        let question = t.need(r, "question")?.to_string();
        let (options, answer) = answer_of(r, index)?;
        let category = ["category", "question_type", "l2-category", "task"]
            .iter()
            .find_map(|c| t.get(r, c))
            .unwrap_or("all")
            .to_string();
        let mut extra = BTreeMap::new();
        for (name, &i) in &t.columns {
            let is_option = name.len() == 1 && name.chars().all(|c| c.is_ascii_uppercase());
            if !is_option
                && !matches!(
                    name.as_str(),
                    "index" | "question" | "answer" | "image" | "image_path" | "category"
                )
            {
                let v = &t.rows[r].1[i];
                if !v.is_empty() {
                    extra.insert(name.clone(), v.clone());
                }
            }
        }
        items.push(Item {
            index,
            question,
            options,
            answer,
            category,
            visuals: Vec::new(),
            video: None,
            extra,
        });
    }
    // Visuals in a second pass: image cells may point at any other row.
    let by_index: HashMap<String, usize> = items
        .iter()
        .enumerate()
        .map(|(r, it)| (it.index.to_string(), r))
        .collect();
    let base = base_dir(&t.path);
    for (r, item) in items.iter_mut().enumerate() {
        item.visuals = if let Some(cell) = t.get(r, "image") {
            let mut cell = cell;
            // Follow at most a few references (a reference to a reference is legal, a cycle is not).
            for _ in 0..4 {
                match by_index.get(cell.trim()) {
                    Some(&other) if cell.len() <= 64 => match t.get(other, "image") {
                        Some(c) => cell = c,
                        None => break,
                    },
                    _ => break,
                }
            }
            image_cell(cell).into_iter().map(Visual::Base64).collect()
        } else if let Some(cell) = t.get(r, "image_path") {
            image_cell(cell)
                .into_iter()
                .map(|p| Visual::File(resolve(&base, &p)))
                .collect()
        } else {
            Vec::new()
        };
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_letters() {
        let o: Vec<String> = ["left", "right", "front", "back"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(answer_letter("B", &o), Some('B'));
        assert_eq!(answer_letter("(C)", &o), Some('C'));
        assert_eq!(answer_letter("D. back", &o), Some('D'));
        assert_eq!(answer_letter("front", &o), Some('C'));
        assert_eq!(answer_letter("E", &o), None);
        assert_eq!(answer_letter("Above", &o), None);
    }

    #[test]
    fn image_cells() {
        assert_eq!(image_cell("aGVsbG8="), vec!["aGVsbG8="]);
        assert_eq!(image_cell("[\"YQ==\", \"Yg==\"]"), vec!["YQ==", "Yg=="]);
        assert_eq!(image_cell("['YQ==', 'Yg==']"), vec!["YQ==", "Yg=="]);
        assert_eq!(strip_label("B. front-left", 1), "front-left");
        assert_eq!(strip_label("front-left", 1), "front-left");
    }
}
