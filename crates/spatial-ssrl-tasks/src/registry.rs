//! Task lookup by name: the built-in tasks and any the user registers.

use crate::config::TasksConfig;
use crate::error::{Error, Result};
use crate::task::PretextTask;
use crate::tasks::{
    crop::Crop, depth_order::DepthOrder, flip::Flip, relative_position::RelativePosition,
    shuffle::Shuffle,
};

/// Names of the built-in tasks, in the order [`Registry::builtin`] registers them.
pub const BUILTIN_TASKS: [&str; 5] = [
    crate::tasks::shuffle::NAME,
    crate::tasks::flip::NAME,
    crate::tasks::crop::NAME,
    crate::tasks::depth_order::NAME,
    crate::tasks::relative_position::NAME,
];

/// Tasks by name, in registration order.
///
/// Built-in and user tasks are the same to it: each is a `Box<dyn PretextTask>`.
///
/// ```
/// use spatial_ssrl_tasks::{Registry, TasksConfig, BUILTIN_TASKS};
/// let reg = Registry::builtin(&TasksConfig::default());
/// assert_eq!(reg.names(), BUILTIN_TASKS);
/// assert!(reg.get("depth").is_some());
/// assert!(reg.select(&["flip", "nope"]).is_err());
/// ```
#[derive(Default)]
pub struct Registry {
    tasks: Vec<Box<dyn PretextTask>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The five built-in tasks, configured by `config`.
    pub fn builtin(config: &TasksConfig) -> Self {
        let mut reg = Self::new();
        let builtins: [Box<dyn PretextTask>; 5] = [
            Box::new(Shuffle::new(config.shuffle.clone())),
            Box::new(Flip::new(config.flip.clone())),
            Box::new(Crop::new(config.crop.clone())),
            Box::new(DepthOrder::new(config.depth.clone())),
            Box::new(RelativePosition::new(config.position.clone())),
        ];
        for task in builtins {
            reg.register_boxed(task)
                .expect("built-in task names are distinct");
        }
        reg
    }

    /// Adds a task; [`Error::DuplicateTask`] when its name is taken.
    ///
    /// ```
    /// # use spatial_ssrl_tasks::{Inputs, PretextTask, Registry, Result, Sample, Scene, TaskRng};
    /// struct Noop;
    /// impl PretextTask for Noop {
    ///     fn name(&self) -> &str { "noop" }
    ///     fn inputs(&self) -> Inputs { Inputs::Rgb }
    ///     fn generate(&self, _: &Scene, _: &mut TaskRng) -> Result<Vec<Sample>> { Ok(vec![]) }
    /// }
    /// let mut reg = Registry::new();
    /// reg.register(Noop)?;
    /// assert!(reg.register(Noop).is_err());
    /// # Ok::<(), spatial_ssrl_tasks::Error>(())
    /// ```
    pub fn register(&mut self, task: impl PretextTask + 'static) -> Result<&mut Self> {
        self.register_boxed(Box::new(task))
    }

    /// Adds an already boxed task; [`Error::DuplicateTask`] when its name is taken.
    pub fn register_boxed(&mut self, task: Box<dyn PretextTask>) -> Result<&mut Self> {
        if self.get(task.name()).is_some() {
            return Err(Error::DuplicateTask {
                name: task.name().to_string(),
            });
        }
        self.tasks.push(task);
        Ok(self)
    }

    /// The task registered under `name`.
    pub fn get(&self, name: &str) -> Option<&dyn PretextTask> {
        self.tasks
            .iter()
            .find(|t| t.name() == name)
            .map(|t| t.as_ref())
    }

    /// Registered names, in registration order.
    pub fn names(&self) -> Vec<&str> {
        self.tasks.iter().map(|t| t.name()).collect()
    }

    /// The tasks named, in the order given; [`Error::UnknownTask`] for a name not registered.
    pub fn select<S: AsRef<str>>(&self, names: &[S]) -> Result<Vec<&dyn PretextTask>> {
        names
            .iter()
            .map(|n| {
                let n = n.as_ref().trim();
                self.get(n).ok_or_else(|| Error::UnknownTask {
                    name: n.to_string(),
                    known: self.names().join(", "),
                })
            })
            .collect()
    }

    /// All registered tasks, in registration order.
    pub fn tasks(&self) -> impl Iterator<Item = &dyn PretextTask> {
        self.tasks.iter().map(|t| t.as_ref())
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("tasks", &self.names())
            .finish()
    }
}
