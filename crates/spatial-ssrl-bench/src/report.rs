//! Run reports (JSON + Markdown) and the cross-run comparison table in the paper's layout.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::benchmark::{Scored, percent_by_category};
use crate::error::{Error, Result};
use crate::item::Item;

/// The result of one benchmark run. `overall` and `per_category` are percentages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Registry name of the benchmark.
    pub benchmark: String,
    /// Headline score in percent, as the paper prints it.
    pub overall: f64,
    /// Score in percent per category / sub-task / question type.
    pub per_category: BTreeMap<String, f64>,
    /// Items scored.
    pub n: usize,
    /// Items per category.
    #[serde(default)]
    pub n_per_category: BTreeMap<String, usize>,
    /// Further published settings in percent (3DSRBench `circular`, `flip`; QSpatial `delta_1.5`; ...).
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    /// How many answers each extraction rule produced (`boxed`, `letter`, `none`, ...).
    #[serde(default)]
    pub extraction: BTreeMap<String, usize>,
    /// Row label in comparison tables (model name); set by the caller.
    #[serde(default)]
    pub label: Option<String>,
    /// The answer rules that scored the run: `"robust"` (this crate's extraction) or
    /// `"paper"` (the paper scripts' own rules).
    #[serde(default = "robust_name")]
    pub scoring: String,
}

fn robust_name() -> String {
    "robust".to_string()
}

impl Report {
    /// Per-category and overall means of the item scores, with extraction counts.
    pub fn from_scores(benchmark: &str, items: &[Item], scores: &[Scored]) -> Self {
        let values: Vec<f64> = scores.iter().map(|s| s.score).collect();
        let (overall, per_category, n_per_category) = percent_by_category(items, &values);
        let mut extraction = BTreeMap::new();
        for s in scores {
            *extraction.entry(s.rule.name().to_string()).or_insert(0) += 1;
        }
        Report {
            benchmark: benchmark.to_string(),
            overall,
            per_category,
            n: scores.len(),
            n_per_category,
            metrics: BTreeMap::new(),
            extraction,
            label: None,
            scoring: robust_name(),
        }
    }

    /// The row name in comparison tables: the label, marked when the paper's rules scored it.
    pub fn row_label(&self) -> String {
        let label = self.label.clone().unwrap_or_else(|| "(unlabelled)".into());
        if self.scoring == "paper" {
            format!("{label} [paper rules]")
        } else {
            label
        }
    }

    /// Reads a report written by [`Report::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        serde_json::from_str(&text).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Writes the report as pretty JSON.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("a report always serialises");
        std::fs::write(path, text + "\n").map_err(|e| Error::io(path, e))
    }

    /// A Markdown summary: the headline, one row per category, then extra metrics.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let label = self
            .label
            .as_deref()
            .map(|l| format!(" — {l}"))
            .unwrap_or_default();
        let _ = writeln!(s, "### {}{}\n", self.benchmark, label);
        let _ = writeln!(s, "| category | n | score (%) |\n|---|---:|---:|");
        for (k, v) in &self.per_category {
            let n = self.n_per_category.get(k).copied().unwrap_or(0);
            let _ = writeln!(s, "| {} | {} | {:.2} |", k, n, v);
        }
        let _ = writeln!(s, "| **overall** | {} | **{:.2}** |", self.n, self.overall);
        if !self.metrics.is_empty() {
            let _ = writeln!(s, "\n| metric | score (%) |\n|---|---:|");
            for (k, v) in &self.metrics {
                let _ = writeln!(s, "| {k} | {v:.2} |");
            }
        }
        let rules: Vec<String> = self
            .extraction
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(
            s,
            "\nScoring: {} rules. Answers extracted by rule: {} (no LLM judge).",
            self.scoring,
            rules.join(", ")
        );
        s
    }
}

/// The paper's benchmark columns, in its table's order, as `(registry name, header)`.
pub const PAPER_COLUMNS: [(&str, &str); 7] = [
    ("spatial457", "Spatial457"),
    ("3dsrbench", "3DSRBench"),
    ("spatialeval", "SpatialEval"),
    ("qspatial", "QSpatial+"),
    ("whatsup", "What'sUp"),
    ("viewspatial", "ViewSpatial"),
    ("vsibench", "VSI-Bench"),
];

/// One published row of the paper's main table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReferenceRow {
    /// Model name, with `+ reasoning` for the rows prompted to think.
    pub model: &'static str,
    /// Scores in [`PAPER_COLUMNS`] order, percent.
    pub scores: [f64; 7],
    /// The published average.
    pub avg: f64,
}

/// The paper's published numbers (Spatial-SSRL, arXiv 2510.27606, main results table, as
/// reproduced in the InternLM/Spatial-SSRL README `assets/exp_result.png`).
pub const PAPER_REFERENCE: [ReferenceRow; 6] = [
    ReferenceRow {
        model: "Qwen2.5-VL-3B",
        scores: [33.70, 50.30, 54.65, 33.66, 85.85, 35.38, 27.84],
        avg: 45.91,
    },
    ReferenceRow {
        model: "Qwen2.5-VL-3B + reasoning",
        scores: [34.82, 49.47, 50.55, 30.66, 83.54, 34.23, 30.67],
        avg: 44.85,
    },
    ReferenceRow {
        model: "Spatial-SSRL-3B",
        scores: [46.07, 51.72, 59.59, 39.60, 86.71, 36.62, 33.49],
        avg: 50.54,
    },
    ReferenceRow {
        model: "Qwen2.5-VL-7B",
        scores: [44.67, 53.39, 62.37, 46.53, 86.95, 36.83, 38.08],
        avg: 52.69,
    },
    ReferenceRow {
        model: "Qwen2.5-VL-7B + reasoning",
        scores: [44.88, 54.55, 61.12, 46.53, 70.61, 36.66, 32.69],
        avg: 49.58,
    },
    ReferenceRow {
        model: "Spatial-SSRL-7B",
        scores: [53.34, 56.53, 64.03, 54.46, 90.61, 37.81, 39.29],
        avg: 56.58,
    },
];

/// A Markdown table with one row per label (reports grouped by [`Report::label`], in first-seen
/// order), the paper's columns, and an average when all seven are present; the paper's
/// reference rows first when `with_reference`. Benchmarks outside the paper's seven get
/// extra columns after them.
pub fn compare(reports: &[Report], with_reference: bool) -> String {
    let mut labels: Vec<String> = Vec::new();
    let mut cells: BTreeMap<(String, String), f64> = BTreeMap::new();
    let mut extra_cols: Vec<String> = Vec::new();
    for r in reports {
        let label = r.row_label();
        if !labels.contains(&label) {
            labels.push(label.clone());
        }
        if !PAPER_COLUMNS.iter().any(|(n, _)| *n == r.benchmark)
            && !extra_cols.contains(&r.benchmark)
        {
            extra_cols.push(r.benchmark.clone());
        }
        cells.insert((label, r.benchmark.clone()), r.overall);
    }
    let mut s = String::from("| Model |");
    for (_, h) in PAPER_COLUMNS {
        let _ = write!(s, " {h} |");
    }
    for c in &extra_cols {
        let _ = write!(s, " {c} |");
    }
    s.push_str(" Avg. |\n|---|");
    for _ in 0..PAPER_COLUMNS.len() + extra_cols.len() + 1 {
        s.push_str("---:|");
    }
    s.push('\n');
    let blanks = " |".repeat(extra_cols.len());
    if with_reference {
        for row in PAPER_REFERENCE {
            let _ = write!(s, "| {} (paper) |", row.model);
            for v in row.scores {
                let _ = write!(s, " {v:.2} |");
            }
            let _ = writeln!(s, "{blanks} {:.2} |", row.avg);
        }
    }
    for label in &labels {
        let _ = write!(s, "| {label} |");
        let mut paper = Vec::new();
        for (name, _) in PAPER_COLUMNS {
            match cells.get(&(label.clone(), name.to_string())) {
                Some(v) => {
                    paper.push(*v);
                    let _ = write!(s, " {v:.2} |");
                }
                None => s.push_str(" – |"),
            }
        }
        for c in &extra_cols {
            match cells.get(&(label.clone(), c.clone())) {
                Some(v) => {
                    let _ = write!(s, " {v:.2} |");
                }
                None => s.push_str(" – |"),
            }
        }
        if paper.len() == PAPER_COLUMNS.len() {
            let _ = writeln!(
                s,
                " {:.2} |",
                paper.iter().sum::<f64>() / paper.len() as f64
            );
        } else {
            s.push_str(" – |\n");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_rows_average_as_published() {
        for row in PAPER_REFERENCE {
            let avg = row.scores.iter().sum::<f64>() / 7.0;
            assert!(
                (avg - row.avg).abs() < 0.006,
                "{}: {avg} vs {}",
                row.model,
                row.avg
            );
        }
    }

    #[test]
    fn compare_orders_columns_like_the_paper() {
        let mk = |bench: &str, label: &str, v: f64| Report {
            benchmark: bench.into(),
            overall: v,
            per_category: BTreeMap::new(),
            n: 1,
            n_per_category: BTreeMap::new(),
            metrics: BTreeMap::new(),
            extraction: BTreeMap::new(),
            label: Some(label.into()),
            scoring: "robust".into(),
        };
        let reports = vec![
            mk("vsibench", "ours", 30.0),
            mk("spatial457", "ours", 40.0),
            mk("mcq-tsv", "ours", 12.5),
        ];
        let t = compare(&reports, false);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("| Model | Spatial457 | 3DSRBench |"));
        assert!(lines[0].contains("| VSI-Bench | mcq-tsv | Avg. |"));
        assert_eq!(
            lines[2],
            "| ours | 40.00 | – | – | – | – | – | 30.00 | 12.50 | – |"
        );
        let mut paper = reports[0].clone();
        paper.scoring = "paper".into();
        paper.overall = 20.0;
        let t = compare(&[reports[0].clone(), paper], false);
        assert!(
            t.contains("| ours | – | – | – | – | – | – | 30.00 |"),
            "{t}"
        );
        assert!(
            t.contains("| ours [paper rules] | – | – | – | – | – | – | 20.00 |"),
            "{t}"
        );
        let t = compare(&reports, true);
        assert!(t.contains("| Spatial-SSRL-7B (paper) | 53.34 | 56.53 | 64.03 | 54.46 | 90.61 | 37.81 | 39.29 | | 56.58 |"));
    }
}
