//! Chat messages and the model folder's Jinja chat template (rendered with `minijinja`).
//!
//! Template lookup follows transformers: `chat_template.json` (`{"chat_template": ...}`) or
//! `chat_template.jinja` in the folder win over the `chat_template` key of
//! `tokenizer_config.json` (the released Qwen2.5-VL folders and our tiny fixture rely on this:
//! their tokenizer config carries a text-only template). Rendering uses transformers' Jinja
//! settings (`trim_blocks`, `lstrip_blocks`, loop controls), Python string methods
//! (`.strip()`, `.split()`, ...) through `minijinja-contrib`'s pycompat, and a `tojson` filter
//! that writes JSON the way Python's `json.dumps(ensure_ascii=False)` does.

use std::path::Path;
use std::sync::Arc;

use image::DynamicImage;
use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, ErrorKind, context};
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::processor::{ProcessorError, Result, VideoInput};

/// Who speaks a chat turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The system prompt.
    System,
    /// The user.
    User,
    /// The model.
    Assistant,
    /// A tool result.
    Tool,
}

impl Role {
    /// The role string templates compare against (`"user"`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
            Self::Tool => "tool",
        }
    }
}

/// One part of a multimodal message: text, an image or a video.
///
/// Images and videos are shared (`Arc`) so the same prompt can be repeated for many rollouts
/// cheaply. The template sees `{"type": "text", "text": ..}`, `{"type": "image"}` or
/// `{"type": "video"}`.
#[derive(Debug, Clone)]
pub enum ContentPart {
    /// Plain text.
    Text(String),
    /// An image; the template writes `<|vision_start|><|image_pad|><|vision_end|>` for it and
    /// the processor expands the pad to the image's merged token count.
    Image(Arc<DynamicImage>),
    /// A video (frames + fps); the template writes
    /// `<|vision_start|><|video_pad|><|vision_end|>` and the processor expands the pad to
    /// the video's merged token count.
    Video(Arc<VideoInput>),
}

/// The content of a message: a plain string or a list of parts (what the template's
/// `message['content'] is string` test distinguishes).
#[derive(Debug, Clone)]
pub enum Content {
    /// A plain string.
    Text(String),
    /// Text and image parts in order.
    Parts(Vec<ContentPart>),
}

/// One chat turn.
///
/// ```
/// use spatial_ssrl_model::{ContentPart, Message, Role};
/// use std::sync::Arc;
/// let img = Arc::new(image::DynamicImage::new_rgb8(56, 56));
/// let msg = Message::user(vec![ContentPart::Image(img), ContentPart::Text("Which is higher?".into())]);
/// assert_eq!(msg.role, Role::User);
/// assert_eq!(msg.images().count(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// What is said.
    pub content: Content,
}

impl Message {
    /// A system turn with plain text.
    pub fn system(text: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: Content::Text(text.into()),
        }
    }

    /// A user turn made of parts (images and text).
    pub fn user(parts: Vec<ContentPart>) -> Self {
        Self {
            role: Role::User,
            content: Content::Parts(parts),
        }
    }

    /// A user turn with plain text.
    pub fn user_text(text: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: Content::Text(text.into()),
        }
    }

    /// A user turn with one image followed by a question: the Spatial-SSRL prompt shape.
    pub fn user_image(image: Arc<DynamicImage>, text: impl Into<String>) -> Self {
        Self::user(vec![
            ContentPart::Image(image),
            ContentPart::Text(text.into()),
        ])
    }

    /// A user turn with one video followed by a question (the VSI-Bench prompt shape).
    pub fn user_video(video: Arc<VideoInput>, text: impl Into<String>) -> Self {
        Self::user(vec![
            ContentPart::Video(video),
            ContentPart::Text(text.into()),
        ])
    }

    /// An assistant turn with plain text.
    pub fn assistant(text: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: Content::Text(text.into()),
        }
    }

    /// The images of this message, in order.
    pub fn images(&self) -> impl Iterator<Item = &Arc<DynamicImage>> {
        self.parts().iter().filter_map(|p| match p {
            ContentPart::Image(img) => Some(img),
            _ => None,
        })
    }

    /// The videos of this message, in order.
    pub fn videos(&self) -> impl Iterator<Item = &Arc<VideoInput>> {
        self.parts().iter().filter_map(|p| match p {
            ContentPart::Video(v) => Some(v),
            _ => None,
        })
    }

    fn parts(&self) -> &[ContentPart] {
        match &self.content {
            Content::Parts(p) => p,
            Content::Text(_) => &[],
        }
    }
}

impl Serialize for ContentPart {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Self::Text(t) => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("type", "text")?;
                m.serialize_entry("text", t)?;
                m.end()
            }
            Self::Image(_) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("type", "image")?;
                m.end()
            }
            Self::Video(_) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("type", "video")?;
                m.end()
            }
        }
    }
}

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("role", self.role.as_str())?;
        match &self.content {
            Content::Text(t) => m.serialize_entry("content", t)?,
            Content::Parts(p) => m.serialize_entry("content", p)?,
        }
        m.end()
    }
}

/// Switches passed to the template besides the messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderOptions {
    /// Append the opening of an assistant turn (`<|im_start|>assistant\n`).
    pub add_generation_prompt: bool,
    /// Number images ("Picture 1: ") as the Qwen2-VL template can.
    pub add_vision_id: bool,
    /// `enable_thinking` for templates that read it (Qwen3 style); unset leaves it undefined.
    pub enable_thinking: Option<bool>,
}

/// A compiled chat template plus the special-token strings transformers passes to it.
///
/// ```
/// use spatial_ssrl_model::{ChatTemplate, Message, RenderOptions};
/// let t = ChatTemplate::new(
///     "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content | trim }}<|im_end|>\n{% endfor %}\
///      {% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
/// )
/// .unwrap();
/// let opts = RenderOptions { add_generation_prompt: true, ..Default::default() };
/// let text = t.render(&[Message::user_text(" hi ")], &opts).unwrap();
/// assert_eq!(text, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
/// ```
#[derive(Debug)]
pub struct ChatTemplate {
    env: Environment<'static>,
    source: String,
    /// `bos_token`, `eos_token`, `pad_token`, `unk_token` from `tokenizer_config.json`.
    special_tokens: Vec<(&'static str, String)>,
}

const TEMPLATE_NAME: &str = "chat";

fn template_err(e: impl std::fmt::Display) -> ProcessorError {
    // `{:#}` of a minijinja error includes the template line that failed.
    ProcessorError::Template(format!("{e:#}"))
}

impl ChatTemplate {
    /// Compiles a Jinja chat template.
    ///
    /// # Errors
    /// [`ProcessorError::Template`] when it does not compile.
    pub fn new(source: impl Into<String>) -> Result<Self> {
        let source = source.into();
        let mut env = Environment::new();
        // transformers compiles templates with these Jinja settings.
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_filter("tojson", tojson);
        env.add_function("raise_exception", raise_exception);
        env.add_template_owned(TEMPLATE_NAME, source.clone())
            .map_err(template_err)?;
        Ok(Self {
            env,
            source,
            special_tokens: Vec::new(),
        })
    }

    /// Finds and compiles the template of a model folder: `chat_template.json`, then
    /// `chat_template.jinja`, then `tokenizer_config.json`'s `chat_template` (a string, or a
    /// list of named templates of which `default` is used). Special-token strings are read
    /// from `tokenizer_config.json` when present.
    ///
    /// # Errors
    /// [`ProcessorError::NoChatTemplate`] when none of the files has one; I/O, JSON and
    /// template errors as they occur.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let tok_cfg = read_json_opt(&dir.join("tokenizer_config.json"))?;
        let source = if let Some(v) = read_json_opt(&dir.join("chat_template.json"))? {
            v.get("chat_template")
                .and_then(|t| t.as_str())
                .map(str::to_owned)
        } else {
            None
        };
        let source = match source {
            Some(s) => Some(s),
            None => {
                let jinja = dir.join("chat_template.jinja");
                if jinja.is_file() {
                    Some(
                        std::fs::read_to_string(&jinja).map_err(|source| ProcessorError::Io {
                            path: jinja,
                            source,
                        })?,
                    )
                } else {
                    tok_cfg.as_ref().and_then(template_in_tokenizer_config)
                }
            }
        };
        let source = source.ok_or_else(|| ProcessorError::NoChatTemplate {
            dir: dir.to_path_buf(),
        })?;
        let mut t = Self::new(source)?;
        if let Some(cfg) = &tok_cfg {
            for key in ["bos_token", "eos_token", "pad_token", "unk_token"] {
                let tok = match cfg.get(key) {
                    Some(serde_json::Value::String(s)) => Some(s.clone()),
                    Some(serde_json::Value::Object(o)) => {
                        o.get("content").and_then(|c| c.as_str()).map(str::to_owned)
                    }
                    _ => None,
                };
                if let Some(tok) = tok {
                    t.special_tokens.push((key, tok));
                }
            }
        }
        Ok(t)
    }

    /// The template's Jinja source.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders a conversation.
    ///
    /// # Errors
    /// [`ProcessorError::Template`] when rendering fails (including the template's own
    /// `raise_exception`).
    pub fn render(&self, messages: &[Message], opts: &RenderOptions) -> Result<String> {
        let tmpl = self.env.get_template(TEMPLATE_NAME).map_err(template_err)?;
        let specials: std::collections::BTreeMap<&str, &str> = self
            .special_tokens
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        let mut ctx = context! {
            messages => Value::from_serialize(messages),
            add_generation_prompt => opts.add_generation_prompt,
            add_vision_id => opts.add_vision_id,
            ..Value::from_serialize(&specials)
        };
        if let Some(think) = opts.enable_thinking {
            ctx = context! { enable_thinking => think, ..ctx };
        }
        tmpl.render(ctx).map_err(template_err)
    }
}

fn read_json_opt(path: &Path) -> Result<Option<serde_json::Value>> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|source| ProcessorError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| ProcessorError::Json {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}

fn template_in_tokenizer_config(cfg: &serde_json::Value) -> Option<String> {
    match cfg.get("chat_template")? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(list) => list
            .iter()
            .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
            .and_then(|t| t.get("template"))
            .and_then(|t| t.as_str())
            .map(str::to_owned),
        _ => None,
    }
}

fn raise_exception(msg: String) -> std::result::Result<Value, minijinja::Error> {
    Err(minijinja::Error::new(ErrorKind::InvalidOperation, msg))
}

/// transformers' `tojson`: `json.dumps(x, ensure_ascii=False, indent=indent)`, i.e. `", "` and
/// `": "` separators without indent, keys in insertion order.
fn tojson(value: Value, kwargs: Kwargs) -> std::result::Result<Value, minijinja::Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    // Accepted for compatibility; output is always `ensure_ascii=False` in insertion order.
    let _: Option<bool> = kwargs.get("ensure_ascii")?;
    let _: Option<bool> = kwargs.get("sort_keys")?;
    kwargs.assert_all_used()?;
    let mut out = String::new();
    write_json(&value, indent, 0, &mut out)?;
    Ok(Value::from_safe_string(out))
}

fn write_json(
    v: &Value,
    indent: Option<usize>,
    depth: usize,
    out: &mut String,
) -> std::result::Result<(), minijinja::Error> {
    let newline = |out: &mut String, depth: usize| {
        if let Some(n) = indent {
            out.push('\n');
            out.push_str(&" ".repeat(n * depth));
        }
    };
    let item_sep = if indent.is_some() { "," } else { ", " };
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => out.push_str(&v.to_string()),
        ValueKind::String => {
            out.push_str(&serde_json::to_string(v.as_str().unwrap_or_default()).unwrap_or_default())
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = v.try_iter()?.collect();
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                write_json(item, indent, depth + 1, out)?;
            }
            if !items.is_empty() {
                newline(out, depth);
            }
            out.push(']');
        }
        ValueKind::Map => {
            let keys: Vec<Value> = v.try_iter()?.collect();
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                let k = key.to_string();
                out.push_str(&serde_json::to_string(&k).unwrap_or_default());
                out.push_str(": ");
                write_json(&v.get_item(key)?, indent, depth + 1, out)?;
            }
            if !keys.is_empty() {
                newline(out, depth);
            }
            out.push('}');
        }
        _ => {
            return Err(minijinja::Error::new(
                ErrorKind::InvalidOperation,
                format!("cannot serialise {} to JSON", v.kind()),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tojson_matches_python_json_dumps() {
        let t = ChatTemplate::new("{{ x | tojson }}|{{ x | tojson(indent=2) }}").unwrap();
        let tmpl = t.env.get_template(TEMPLATE_NAME).unwrap();
        let x = serde_json::json!({"name": "f", "args": [1, "é<"], "ok": true, "n": null});
        let out = tmpl
            .render(context! { x => Value::from_serialize(&x) })
            .unwrap();
        // serde_json (without preserve_order) sorts keys; Python would keep insertion order.
        assert_eq!(
            out,
            "{\"args\": [1, \"é<\"], \"n\": null, \"name\": \"f\", \"ok\": true}|\
             {\n  \"args\": [\n    1,\n    \"é<\"\n  ],\n  \"n\": null,\n  \"name\": \"f\",\n  \"ok\": true\n}"
        );
    }

    #[test]
    fn raise_exception_becomes_an_error() {
        let t = ChatTemplate::new("{{ raise_exception('no system role') }}").unwrap();
        let err = t.render(&[], &RenderOptions::default()).unwrap_err();
        assert!(err.to_string().contains("no system role"), "{err}");
    }

    #[test]
    fn python_string_methods_work() {
        let t = ChatTemplate::new(
            "{% for m in messages[::-1] %}{{ m.content.split('</think>')[-1].lstrip('\\n').strip() }};{% endfor %}",
        )
        .unwrap();
        let msgs = [
            Message::user_text("a"),
            Message::assistant("<think>x</think>\n b "),
        ];
        assert_eq!(t.render(&msgs, &RenderOptions::default()).unwrap(), "b;a;");
    }
}
