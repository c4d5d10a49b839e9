//! SFT cold-start data in the layouts LLaMA-Factory reads: alpaca (`instruction`, `input`,
//! `output`, `images`), sharegpt (`conversations` of `{from, value}` turns) and OpenAI-style
//! `messages` (`{role, content}` turns), as a JSON array (`.json`) or JSON Lines (`.jsonl`).

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::policy::{ImageSource, PromptRecord};

/// One SFT example: a prompt record (user turn + images) and the assistant's target text.
#[derive(Debug, Clone, PartialEq)]
pub struct SftExample {
    /// The user turn (as a prompt record, so the policy encodes it like a GRPO prompt).
    pub prompt: PromptRecord,
    /// The assistant response to learn.
    pub response: String,
}

fn dataset_err(path: &Path, row: usize, reason: impl Into<String>) -> Error {
    Error::Dataset {
        path: path.to_path_buf(),
        row,
        reason: reason.into(),
    }
}

/// The rows of a `.json` array or a `.jsonl` file, with their 0-based index.
fn read_rows(path: &Path) -> Result<Vec<(usize, Value)>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let json_err = |line: usize| {
        move |source| Error::Json {
            path: path.to_path_buf(),
            line,
            source,
        }
    };
    if path.extension().is_some_and(|e| e == "json") {
        let v: Value = serde_json::from_str(&text).map_err(json_err(0))?;
        let Value::Array(rows) = v else {
            return Err(dataset_err(
                path,
                0,
                "a .json SFT file must hold an array of examples",
            ));
        };
        return Ok(rows.into_iter().enumerate().collect());
    }
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if !line.trim().is_empty() {
            rows.push((i, serde_json::from_str(line).map_err(json_err(i + 1))?));
        }
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

/// The prompt (user turns before the last assistant turn, joined by newlines) and the target
/// (that assistant turn) of a conversation, whatever its layout.
fn prompt_and_target(path: &Path, row: usize, v: &Value) -> Result<(String, String)> {
    let text = |k: &str| v.get(k).and_then(Value::as_str);
    if let Some(instruction) = text("instruction") {
        // alpaca: the input, when present, follows the instruction on a new line.
        let output =
            text("output").ok_or_else(|| dataset_err(path, row, "alpaca row without output"))?;
        let prompt = match text("input") {
            Some(input) if !input.is_empty() => format!("{instruction}\n{input}"),
            _ => instruction.to_owned(),
        };
        return Ok((prompt, output.to_owned()));
    }
    let (turns, role_key, text_key) = if let Some(t) = v.get("messages") {
        (t, "role", "content")
    } else if let Some(t) = v.get("conversations") {
        (t, "from", "value")
    } else {
        return Err(dataset_err(
            path,
            row,
            "neither alpaca (instruction/output), sharegpt (conversations) nor messages",
        ));
    };
    let turns = turns
        .as_array()
        .ok_or_else(|| dataset_err(path, row, "turns are not a list"))?;
    let mut user = Vec::new();
    let mut target = None;
    for t in turns {
        let role = t.get(role_key).and_then(Value::as_str).unwrap_or("");
        let content = t.get(text_key).and_then(Value::as_str).unwrap_or("");
        match role {
            "user" | "human" => user.push(content.to_owned()),
            "assistant" | "gpt" => target = Some(content.to_owned()),
            _ => {}
        }
    }
    let target = target.ok_or_else(|| dataset_err(path, row, "no assistant turn"))?;
    if user.is_empty() {
        return Err(dataset_err(path, row, "no user turn"));
    }
    Ok((user.join("\n"), target))
}

/// Reads SFT examples from a LLaMA-Factory-style file (see the module doc); `images` entries
/// are paths relative to the file (or `{bytes, path}` objects).
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("coldstart.json");
/// std::fs::write(&path, r#"[
///   {"instruction": "<image>Which patch is flipped?", "input": "", "output": "<answer>2</answer>", "images": ["a.png"]},
///   {"conversations": [{"from": "human", "value": "2+2?"}, {"from": "gpt", "value": "4"}]}
/// ]"#)?;
/// let ex = spatial_ssrl_rl::read_sft_examples(&path)?;
/// assert_eq!(ex[0].response, "<answer>2</answer>");
/// assert_eq!(ex[1].prompt.problem, "2+2?");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::Io`] / [`Error::Json`] for unreadable files; [`Error::Dataset`] naming the row for
/// a row of no known layout, without a user or assistant turn, or with bad images.
pub fn read_sft_examples(path: &Path) -> Result<Vec<SftExample>> {
    let mut out = Vec::new();
    for (row, v) in read_rows(path)? {
        let (problem, response) = prompt_and_target(path, row, &v)?;
        out.push(SftExample {
            prompt: PromptRecord {
                id: out.len() as u64,
                problem,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_layouts_read_the_same_example() {
        let dir = tempfile::tempdir().unwrap();
        let rows = [
            r#"{"instruction": "<image>Q?", "input": "", "output": "A", "images": ["x.png"]}"#,
            r#"{"conversations": [{"from": "human", "value": "<image>Q?"}, {"from": "gpt", "value": "A"}], "images": ["x.png"]}"#,
            r#"{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "<image>Q?"}, {"role": "assistant", "content": "A"}], "images": ["x.png"]}"#,
        ];
        let path = dir.path().join("sft.jsonl");
        std::fs::write(&path, rows.join("\n")).unwrap();
        let ex = read_sft_examples(&path).unwrap();
        assert_eq!(ex.len(), 3);
        for e in &ex {
            assert_eq!(
                (e.prompt.problem.as_str(), e.response.as_str()),
                ("<image>Q?", "A")
            );
            assert_eq!(
                e.prompt.images,
                vec![ImageSource::Path(dir.path().join("x.png"))]
            );
        }
        let json = dir.path().join("sft.json");
        std::fs::write(&json, format!("[{}]", rows.join(","))).unwrap();
        assert_eq!(read_sft_examples(&json).unwrap().len(), 3);
        // alpaca input joins the instruction on a new line.
        std::fs::write(
            &path,
            r#"{"instruction": "Sum", "input": "2 2", "output": "4"}"#,
        )
        .unwrap();
        assert_eq!(
            read_sft_examples(&path).unwrap()[0].prompt.problem,
            "Sum\n2 2"
        );
        std::fs::write(&path, r#"{"text": "no layout"}"#).unwrap();
        let err = read_sft_examples(&path).unwrap_err();
        assert!(matches!(err, Error::Dataset { row: 0, .. }), "{err}");
    }
}
