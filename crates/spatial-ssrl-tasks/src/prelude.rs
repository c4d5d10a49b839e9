//! What a task implementation usually needs, in one `use spatial_ssrl_tasks::prelude::*;`:
//! the task trait and the values that flow through it, the random-number traits, the image
//! types, and the registry and configuration a custom `main` builds.
//!
//! ```
//! use spatial_ssrl_tasks::prelude::*;
//!
//! struct Coin;
//! impl PretextTask for Coin {
//!     fn name(&self) -> &str { "coin" }
//!     fn inputs(&self) -> Inputs { Inputs::Rgb }
//!     fn generate(&self, scene: &Scene, rng: &mut TaskRng) -> Result<Vec<Sample>> {
//!         let heads = rng.random_bool(0.5);
//!         Ok(vec![Sample::new(self.name(), &scene.id, "Heads? A. yes B. no",
//!             if heads { "A" } else { "B" }, vec![])])
//!     }
//! }
//! let scene = Scene::rgb("s", RgbImage::new(2, 2));
//! let out = Coin.generate(&scene, &mut TaskRng::seed_from_u64(1))?;
//! out[0].validate("coin", "s")?;
//! # Ok::<(), spatial_ssrl_tasks::Error>(())
//! ```

pub use crate::{
    DepthMap, Error, IMAGE_PLACEHOLDER, Inputs, PretextTask, Registry, Result, Sample, Scene,
    TaskRng, TasksConfig,
};
pub use image::{Rgb, RgbImage};
pub use rand::seq::{IndexedRandom, SliceRandom};
pub use rand::{Rng, SeedableRng};
