//! Parameters and prompt templates of the built-in tasks, loadable from one TOML file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::mix::TaskMix;
use crate::registry::{BUILTIN_TASKS, Registry};
use crate::tasks::{
    crop::CropConfig, depth_order::DepthOrderConfig, flip::FlipConfig,
    relative_position::RelativePositionConfig, shuffle::ShuffleConfig,
};

/// The configuration of every built-in task, one table per task name.
///
/// `Default` reproduces the reference parameters. A TOML file only names what it overrides:
/// missing tables and fields keep their defaults, unknown ones are an error (a typo must not
/// silently fall back to the default). This is how prompt templates are replaced.
///
/// ```
/// use spatial_ssrl_tasks::TasksConfig;
/// let cfg = TasksConfig::from_toml_str("[shuffle]\n[flip]\n").unwrap();
/// assert_eq!(cfg, TasksConfig::default());
/// assert!(TasksConfig::from_toml_str("[shufle]\n").is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TasksConfig {
    /// Jigsaw (`shuffle`).
    pub shuffle: ShuffleConfig,
    /// Flipped patch (`flip`).
    pub flip: FlipConfig,
    /// Cropped-patch inpainting (`crop`).
    pub crop: CropConfig,
    /// Depth ordering (`depth`).
    pub depth: DepthOrderConfig,
    /// Relative 3D position (`position`).
    pub position: RelativePositionConfig,
    /// Which tasks run on which sources, how often (`[mix]`: per-task `weights`, `routing`).
    pub mix: TaskMix,
    /// Tables of tasks that are not built in, `[tasks.<name>]`, each read by its task with
    /// [`TasksConfig::custom`]. The keys inside are the task's business; the table names
    /// must be registered tasks ([`TasksConfig::check_tables`]).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tasks: BTreeMap<String, toml::Table>,
}

impl TasksConfig {
    /// Parses a TOML document.
    pub fn from_toml_str(text: &str) -> Result<Self> {
        Self::parse(text, Path::new("<string>"))
    }

    /// Reads a TOML file; errors name the file and, for syntax errors, the line.
    ///
    /// ```no_run
    /// let cfg = spatial_ssrl_tasks::TasksConfig::load("tasks.toml")?;
    /// # Ok::<(), spatial_ssrl_tasks::Error>(())
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, path)
    }

    /// The configuration as TOML (every field spelled out): a starting point for a user's file.
    ///
    /// ```
    /// use spatial_ssrl_tasks::TasksConfig;
    /// let text = TasksConfig::default().to_toml();
    /// assert_eq!(TasksConfig::from_toml_str(&text).unwrap(), TasksConfig::default());
    /// ```
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("task configs are plain tables of strings and numbers")
    }

    /// The `[tasks.<name>]` table of a custom task, deserialised into its own config type;
    /// `T::default()` when the file has no such table. With `#[serde(deny_unknown_fields)]`
    /// on `T`, a misspelt key is an error naming the table, as for the built-ins.
    ///
    /// ```
    /// use spatial_ssrl_tasks::TasksConfig;
    /// #[derive(serde::Deserialize, Default, Debug, PartialEq)]
    /// #[serde(default, deny_unknown_fields)]
    /// struct RotationConfig { quarter_turns: Vec<u32>, prompt: String }
    ///
    /// let cfg = TasksConfig::from_toml_str("[tasks.rotation]\nquarter_turns = [1, 3]\n")?;
    /// let mine: RotationConfig = cfg.custom("rotation")?;
    /// assert_eq!(mine.quarter_turns, [1, 3]);
    /// let absent: RotationConfig = cfg.custom("other")?;
    /// assert_eq!(absent, RotationConfig::default());
    /// let typo = TasksConfig::from_toml_str("[tasks.rotation]\nquarter_turn = [1]\n")?;
    /// assert!(typo.custom::<RotationConfig>("rotation").unwrap_err().to_string().contains("quarter_turn"));
    /// # Ok::<(), spatial_ssrl_tasks::Error>(())
    /// ```
    pub fn custom<T: serde::de::DeserializeOwned + Default>(&self, name: &str) -> Result<T> {
        let Some(table) = self.tasks.get(name) else {
            return Ok(T::default());
        };
        toml::Value::Table(table.clone())
            .try_into()
            .map_err(|e: toml::de::Error| Error::Malformed {
                what: "task configuration",
                path: PathBuf::from(format!("[tasks.{name}]")),
                message: e.to_string().trim().replace('\n', " "),
            })
    }

    /// Errors when a `[tasks.<name>]` table names no task of `registry`, or a built-in
    /// (whose table is the top-level `[<name>]`), so a misspelt table is not silently ignored.
    ///
    /// ```
    /// use spatial_ssrl_tasks::{Registry, TasksConfig};
    /// let reg = Registry::builtin(&TasksConfig::default());
    /// let cfg = TasksConfig::from_toml_str("[tasks.rotaton]\nx = 1\n")?;
    /// assert_eq!(cfg.check_tables(&reg).unwrap_err().kind(), "unknown_task");
    /// let cfg = TasksConfig::from_toml_str("[tasks.flip]\nx = 1\n")?;
    /// assert!(cfg.check_tables(&reg).is_err());
    /// # Ok::<(), spatial_ssrl_tasks::Error>(())
    /// ```
    pub fn check_tables(&self, registry: &Registry) -> Result<()> {
        for name in self.tasks.keys() {
            if BUILTIN_TASKS.contains(&name.as_str()) {
                return Err(Error::Malformed {
                    what: "task configuration",
                    path: PathBuf::from(format!("[tasks.{name}]")),
                    message: format!("built-in task {name} is configured by its [{name}] table"),
                });
            }
            if registry.get(name).is_none() {
                return Err(Error::UnknownTask {
                    name: format!("{name} (table [tasks.{name}])"),
                    known: registry.names().join(", "),
                });
            }
        }
        Ok(())
    }

    /// A shipped preset by name (one of [`PRESETS`]): `"default"` is
    /// [`TasksConfig::default`], our own wording and look; `"spatial-ssrl"` reproduces the
    /// released Spatial-SSRL-81k data: the `Position.py` questions word for word, blue
    /// borders and small outlined labels, the shuffle variants of the paper's Table 6 with
    /// 3 and 4 strips, and the task mix of Table 5 with RGB tasks on RGB sources and depth
    /// tasks on RGB-D sources. Its TOML ships inside the crate (`presets/`).
    ///
    /// ```
    /// use spatial_ssrl_tasks::{Routing, TasksConfig};
    /// let paper = TasksConfig::preset("spatial-ssrl")?;
    /// assert_eq!(paper.mix.routing, Routing::ByInput);
    /// assert_eq!(paper.mix.weights["crop"], 20200);
    /// assert_eq!(paper.shuffle.border_color, [0, 0, 255]);
    /// assert_eq!(TasksConfig::preset("default")?, TasksConfig::default());
    /// assert!(TasksConfig::preset("paper").is_err());
    /// # Ok::<(), spatial_ssrl_tasks::Error>(())
    /// ```
    pub fn preset(name: &str) -> Result<Self> {
        match name {
            "default" => Ok(Self::default()),
            "spatial-ssrl" => Self::parse(SPATIAL_SSRL, Path::new("presets/spatial-ssrl.toml")),
            other => Err(Error::InvalidOption {
                option: "preset",
                message: format!("{other:?} is not one of {}", PRESETS.join(", ")),
            }),
        }
    }

    /// This configuration with a TOML file laid over it (a `--config` file on top of a
    /// `--preset`): the tables and fields the file names replace those here, the rest stays.
    ///
    /// ```no_run
    /// use spatial_ssrl_tasks::TasksConfig;
    /// let cfg = TasksConfig::preset("spatial-ssrl")?.load_over("my-prompts.toml")?;
    /// # Ok::<(), spatial_ssrl_tasks::Error>(())
    /// ```
    pub fn load_over(&self, path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        self.overlay(&text, path)
    }

    /// [`TasksConfig::load_over`] for a TOML document in memory.
    ///
    /// ```
    /// use spatial_ssrl_tasks::TasksConfig;
    /// let base = TasksConfig::preset("spatial-ssrl")?;
    /// let cfg = base.overlay_str("[mix.weights]\nshuffle = 1\n")?;
    /// assert_eq!(cfg.mix.weights.len(), 1); // a table's own keys replace the table's
    /// let counted = base.overlay_str("[mix.counts]\nshuffle = 100\n")?;
    /// assert!(counted.mix.weights.is_empty()); // counts replace the preset's weights
    /// assert_eq!(cfg.shuffle, base.shuffle);
    /// assert!(base.overlay_str("[shuffle]\nstrip = 3\n").is_err());
    /// # Ok::<(), spatial_ssrl_tasks::Error>(())
    /// ```
    pub fn overlay_str(&self, text: &str) -> Result<Self> {
        self.overlay(text, Path::new("<string>"))
    }

    fn overlay(&self, text: &str, path: &Path) -> Result<Self> {
        let malformed = |message: String| Error::Malformed {
            what: "task configuration",
            path: path.to_path_buf(),
            message: message.trim().replace('\n', " "),
        };
        let mut base: toml::Table =
            toml::from_str(&self.to_toml()).map_err(|e| malformed(e.to_string()))?;
        let top: toml::Table = toml::from_str(text).map_err(|e| malformed(e.to_string()))?;
        merge_tables(&mut base, top);
        toml::Value::Table(base)
            .try_into()
            .map_err(|e: toml::de::Error| malformed(e.to_string()))
    }

    fn parse(text: &str, path: &Path) -> Result<Self> {
        toml::from_str(text).map_err(|e| Error::Malformed {
            what: "task configuration",
            path: path.to_path_buf(),
            message: e.to_string().trim().replace('\n', " "),
        })
    }
}

/// Names accepted by [`TasksConfig::preset`].
pub const PRESETS: [&str; 2] = ["default", "spatial-ssrl"];

/// The `spatial-ssrl` preset, compiled in so a packaged crate carries it.
const SPATIAL_SSRL: &str = include_str!("../presets/spatial-ssrl.toml");

/// Lays `top` over `base`: tables merge key by key, any other value replaces. A weights or
/// counts table (`[mix.weights]`, `[mix.counts]`) is replaced whole, since its keys are data,
/// not fields, and either one drops the other.
fn merge_tables(base: &mut toml::Table, top: toml::Table) {
    // Mix weights and counts exclude each other: a mix given one way replaces the other.
    for (given, other) in [("weights", "counts"), ("counts", "weights")] {
        if top.get(given).is_some_and(toml::Value::is_table) {
            base.remove(other);
        }
    }
    for (key, value) in top {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(t))
                if key != "weights" && key != "counts" =>
            {
                merge_tables(b, t)
            }
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_overrides_only_what_it_names() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tasks.toml");
        let mut want = TasksConfig::default();
        // Round-trip a changed default through a file: the override survives, the rest stays.
        let text = want.to_toml();
        std::fs::write(&p, &text).unwrap();
        assert_eq!(TasksConfig::load(&p).unwrap(), want);
        want.depth = DepthOrderConfig::default();
        let e = TasksConfig::from_toml_str("[depth]\nno_such_field = 1\n").unwrap_err();
        assert!(e.to_string().contains("no_such_field"), "{e}");
        std::fs::write(&p, "[crop\n").unwrap();
        assert!(
            TasksConfig::load(&p)
                .unwrap_err()
                .to_string()
                .contains("tasks.toml")
        );
    }
}
