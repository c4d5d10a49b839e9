//! JSON Lines shards: one object per sample, images as paths relative to the dataset folder.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{EncodedImage, Record};
use crate::error::{Error, Result};

#[derive(Serialize, Deserialize)]
struct Line {
    problem: String,
    answer: String,
    images: Vec<String>,
    task: String,
    source: String,
    metadata: serde_json::Value,
}

pub(super) fn to_bytes(records: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        let line = Line {
            problem: r.problem.clone(),
            answer: r.answer.clone(),
            images: r.images.iter().map(|i| i.path.clone()).collect(),
            task: r.task.clone(),
            source: r.source.clone(),
            metadata: serde_json::from_str(&r.metadata).unwrap_or(serde_json::Value::Null),
        };
        serde_json::to_writer(&mut out, &line).expect("writing JSON to a Vec cannot fail");
        out.push(b'\n');
    }
    out
}

pub(super) fn read(path: &Path, dir: &Path) -> Result<Vec<Record>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::new();
    for (i, l) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let line: Line = serde_json::from_str(l).map_err(|e| Error::Malformed {
            what: "dataset shard",
            path: path.to_path_buf(),
            message: format!("line {}: {e}", i + 1),
        })?;
        let images = line
            .images
            .into_iter()
            .map(|p| {
                let file = dir.join(&p);
                std::fs::read(&file)
                    .map(|bytes| EncodedImage { bytes, path: p })
                    .map_err(|e| Error::io(file, e))
            })
            .collect::<Result<_>>()?;
        out.push(Record {
            problem: line.problem,
            answer: line.answer,
            images,
            task: line.task,
            source: line.source,
            metadata: line.metadata.to_string(),
        });
    }
    Ok(out)
}
