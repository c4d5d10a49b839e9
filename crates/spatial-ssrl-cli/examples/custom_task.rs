//! A custom pretext task with the whole `spatial-ssrl` command line: "by how much was this
//! photo rotated?". `generate`, `preview`, `merge`, `score` and `eval` work on it as on the
//! built-ins, and it reads its own `[tasks.rotation]` table from `--config`.
//!
//! ```sh
//! printf '[tasks.rotation]\nquarter_turns = [1, 3]\n' > rotation.toml
//! cargo run -p spatial-ssrl-cli --no-default-features --example custom_task -- \
//!     generate --input examples/data --out /tmp/rotation --tasks rotation,flip --config rotation.toml
//! cargo run -p spatial-ssrl-cli --no-default-features --example custom_task -- \
//!     preview --data /tmp/rotation --out /tmp/rotation.html
//! ```

use std::process::ExitCode;

use spatial_ssrl_tasks::image::imageops;
use spatial_ssrl_tasks::prelude::*;
use spatial_ssrl_tasks::serde::Deserialize;
use spatial_ssrl_tasks::tasks::template;

/// Registry name, `--tasks` name and `[tasks.rotation]` table name.
pub const NAME: &str = "rotation";

/// The task's own settings, read from `[tasks.rotation]` (missing keys keep these defaults,
/// unknown keys are an error).
#[derive(Debug, Clone, Deserialize)]
#[serde(crate = "spatial_ssrl_tasks::serde", default, deny_unknown_fields)]
pub struct RotationConfig {
    /// The problem text; `{options}` becomes the lettered choices.
    pub prompt: String,
    /// Which quarter turns (clockwise, 0..=3) may be drawn.
    pub quarter_turns: Vec<usize>,
}

impl Default for RotationConfig {
    fn default() -> Self {
        Self {
            prompt:
                "<image>\nThis photo may have been rotated. By how much was it turned?\n{options}"
                    .into(),
            quarter_turns: vec![0, 1, 2, 3],
        }
    }
}

const OPTIONS: [&str; 4] = [
    "A. 0 degrees",
    "B. 90 degrees clockwise",
    "C. 180 degrees",
    "D. 90 degrees counter-clockwise",
];

/// The rotation task: the photo turned by a multiple of 90 degrees; the answer is a letter.
pub struct Rotation {
    config: RotationConfig,
}

impl Rotation {
    /// Checks the settings once, so a bad table fails the run before any source is read.
    pub fn new(config: RotationConfig) -> Result<Self> {
        let bad = |message: String| Error::InvalidConfig {
            task: NAME,
            message,
        };
        if config.quarter_turns.is_empty() || config.quarter_turns.iter().any(|&q| q > 3) {
            return Err(bad(format!(
                "quarter_turns {:?} must be some of 0..=3",
                config.quarter_turns
            )));
        }
        template::check_images(NAME, &config.prompt, 1)?;
        Ok(Self { config })
    }
}

impl PretextTask for Rotation {
    fn name(&self) -> &str {
        NAME
    }

    fn inputs(&self) -> Inputs {
        Inputs::Rgb
    }

    fn generate(&self, scene: &Scene, rng: &mut TaskRng) -> Result<Vec<Sample>> {
        // All randomness comes from `rng`: the pipeline derives it from (seed, source, task, call).
        let turns = *self
            .config
            .quarter_turns
            .choose(rng)
            .expect("checked non-empty");
        let img = scene.rgb.as_ref();
        let shown = match turns {
            0 => img.clone(),
            1 => imageops::rotate90(img),
            2 => imageops::rotate180(img),
            _ => imageops::rotate270(img),
        };
        let problem = template::render(&self.config.prompt, &[("options", &OPTIONS.join("\n"))]);
        let answer = &OPTIONS[turns][..1];
        let mut sample = Sample::new(NAME, &scene.id, problem, answer, vec![shown]);
        sample.metadata.insert("quarter_turns".into(), turns.into());
        Ok(vec![sample])
    }
}

/// The built-ins plus ours, each configured from the run's `--config` file.
pub fn registry(config: &TasksConfig) -> anyhow::Result<Registry> {
    let mut registry = Registry::builtin(config);
    registry.register(Rotation::new(config.custom(NAME)?)?)?;
    Ok(registry)
}

fn main() -> ExitCode {
    spatial_ssrl_cli::main(registry)
}
