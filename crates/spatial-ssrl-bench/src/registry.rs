//! Benchmarks by name: the built-in adapters plus any the user registers.

use std::collections::BTreeMap;

use crate::adapters::{
    McqTsv, QSpatial, Spatial457, ThreeDsrBench, ViewSpatial, VsiBench, WhatsUp, names,
};
use crate::benchmark::Benchmark;
use crate::error::{Error, Result};

/// A name -> benchmark map.
///
/// ```
/// use spatial_ssrl_bench::{Registry, McqTsv};
/// let mut reg = Registry::builtin();
/// assert!(reg.get("vsibench").is_ok());
/// reg.register(Box::new(McqTsv::new("my-spatial-mcq")));
/// assert!(reg.names().contains(&"my-spatial-mcq"));
/// assert!(reg.get("nope").is_err());
/// ```
pub struct Registry {
    benches: BTreeMap<String, Box<dyn Benchmark>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry {
            benches: BTreeMap::new(),
        }
    }

    /// The eight built-in benchmarks (`spatial457`, `3dsrbench`, `spatialeval`, `whatsup`,
    /// `viewspatial`, `vsibench`, `qspatial`, `mcq-tsv`).
    pub fn builtin() -> Self {
        let mut r = Registry::new();
        r.register(Box::new(Spatial457));
        r.register(Box::new(ThreeDsrBench));
        r.register(Box::new(McqTsv::new(names::SPATIALEVAL)));
        r.register(Box::new(WhatsUp));
        r.register(Box::new(ViewSpatial));
        r.register(Box::new(VsiBench::default()));
        r.register(Box::new(QSpatial));
        r.register(Box::new(McqTsv::new(names::MCQ_TSV)));
        r
    }

    /// Adds (or replaces) a benchmark under its [`Benchmark::name`]; returns the one replaced.
    pub fn register(&mut self, bench: Box<dyn Benchmark>) -> Option<Box<dyn Benchmark>> {
        self.benches.insert(bench.name().to_string(), bench)
    }

    /// The benchmark called `name`.
    pub fn get(&self, name: &str) -> Result<&dyn Benchmark> {
        self.benches
            .get(name)
            .map(|b| b.as_ref())
            .ok_or_else(|| Error::UnknownBenchmark {
                name: name.to_string(),
                known: self.names().join(", "),
            })
    }

    /// Registered names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.benches.keys().map(String::as_str).collect()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry::builtin()
    }
}
