//! VLMEvalKit multiple-choice TSV (SpatialEval, What'sUp as TSV, any `mcq-tsv`).

use std::path::Path;

use crate::benchmark::{Benchmark, mcq_prompt};
use crate::error::Result;
use crate::item::Item;

/// A VLMEvalKit-style multiple-choice TSV scored by plain accuracy per `category`
/// (VLMEvalKit's vanilla exact-matching evaluation, without its GPT fallback).
#[derive(Debug, Clone)]
pub struct McqTsv {
    name: String,
}

impl McqTsv {
    /// An adapter registered under `name` (`"spatialeval"`, `"mcq-tsv"`, or your own).
    pub fn new(name: impl Into<String>) -> Self {
        McqTsv { name: name.into() }
    }
}

impl Benchmark for McqTsv {
    fn name(&self) -> &str {
        &self.name
    }

    fn load(&self, path: &Path) -> Result<Vec<Item>> {
        super::load_mcq_tsv(path, &[])
    }

    fn prompt(&self, item: &Item) -> String {
        with_hint(item, mcq_prompt(item, None))
    }
}

/// Puts VLMEvalKit's `Hint: ...` line in front of a prompt when the row has a hint.
pub(crate) fn with_hint(item: &Item, prompt: String) -> String {
    match item.extra.get("hint") {
        Some(h) => format!("Hint: {}\n{}", h.trim(), prompt),
        None => prompt,
    }
}
