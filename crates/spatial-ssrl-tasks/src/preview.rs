//! A self-contained HTML page showing dataset rows (images inline as base64), to eyeball
//! the puzzles.

use std::collections::BTreeMap;
use std::fmt::Write;

use base64::Engine;

use crate::export::Record;

/// Renders up to `per_task` rows of each task as one HTML page: problem text, images and
/// answer, grouped by task. `rows` pairs each record with its split, as
/// [`read_dataset`](crate::read_dataset) returns them.
///
/// ```
/// use spatial_ssrl_tasks::{preview_html, EncodedImage, Record};
/// let rec = Record {
///     problem: "<image>Which patch is flipped? <b>".into(),
///     answer: "2-1".into(),
///     images: vec![EncodedImage { bytes: vec![1, 2, 3], path: "images/a/flip-0-0.png".into() }],
///     task: "flip".into(),
///     source: "a".into(),
///     metadata: "{}".into(),
/// };
/// let html = preview_html(&[("train".into(), rec)], 10);
/// assert!(html.contains("data:image/png;base64,AQID"));
/// assert!(html.contains("&lt;b&gt;")); // text is escaped
/// ```
pub fn preview_html(rows: &[(String, Record)], per_task: usize) -> String {
    let mut by_task: BTreeMap<&str, Vec<&(String, Record)>> = BTreeMap::new();
    for row in rows {
        let v = by_task.entry(row.1.task.as_str()).or_default();
        if v.len() < per_task {
            v.push(row);
        }
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, r) in rows {
        *counts.entry(r.task.as_str()).or_default() += 1;
    }
    let mut h = String::from(concat!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Spatial-SSRL dataset preview</title>\n<style>",
        "body{font-family:sans-serif;margin:2em;background:#fafafa}",
        ".s{background:#fff;border:1px solid #ddd;border-radius:6px;padding:1em;margin:1em 0}",
        ".s img{max-width:420px;max-height:420px;margin:4px;border:1px solid #ccc;vertical-align:top}",
        "pre{white-space:pre-wrap;background:#f3f3f3;padding:.6em}.a{font-weight:bold;color:#063}",
        ".m{color:#777;font-size:.85em}</style></head><body>\n<h1>Spatial-SSRL dataset preview</h1>\n<p>",
    ));
    let total: usize = counts.values().sum();
    let _ = write!(h, "{total} rows: ");
    let list: Vec<String> = counts
        .iter()
        .map(|(t, n)| format!("<a href=\"#{0}\">{0}</a> {n}", escape(t)))
        .collect();
    h.push_str(&list.join(", "));
    h.push_str("</p>\n");
    for (task, rows) in by_task {
        let _ = writeln!(h, "<h2 id=\"{0}\">{0}</h2>", escape(task));
        for (split, r) in rows {
            h.push_str("<div class=\"s\">");
            let _ = write!(
                h,
                "<div class=\"m\">{} &middot; {} split</div>",
                escape(&r.source),
                escape(split)
            );
            for img in &r.images {
                let mime = if img.path.ends_with(".png") {
                    "png"
                } else {
                    "jpeg"
                };
                let b64 = base64::engine::general_purpose::STANDARD.encode(&img.bytes);
                let _ = write!(
                    h,
                    "<img alt=\"{}\" src=\"data:image/{mime};base64,{b64}\">",
                    escape(&img.path)
                );
            }
            let _ = write!(
                h,
                "<pre>{}</pre><div class=\"a\">answer: {}</div>",
                escape(&r.problem),
                escape(&r.answer)
            );
            let _ = writeln!(h, "<div class=\"m\">{}</div></div>", escape(&r.metadata));
        }
    }
    h.push_str("</body></html>\n");
    h
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
