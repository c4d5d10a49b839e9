//! Parameters and prompt templates of the built-in tasks, loadable from one TOML file.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
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

    fn parse(text: &str, path: &Path) -> Result<Self> {
        toml::from_str(text).map_err(|e| Error::Malformed {
            what: "task configuration",
            path: path.to_path_buf(),
            message: e.to_string().trim().replace('\n', " "),
        })
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
