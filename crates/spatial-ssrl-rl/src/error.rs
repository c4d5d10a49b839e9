//! The crate's error type: every fallible public function returns [`Result`].

use std::path::PathBuf;

/// Errors of the SFT and GRPO trainers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Two tensors or slices that must agree in shape do not.
    #[error("{what}: expected shape {expected:?}, got {got:?}")]
    Shape {
        /// Which argument is wrong.
        what: &'static str,
        /// The shape the other arguments imply.
        expected: Vec<usize>,
        /// The shape that was passed.
        got: Vec<usize>,
    },
    /// A group-relative estimator saw a group with a single response.
    #[error("estimator {estimator}: group {group} has {size} response(s), it needs at least 2")]
    GroupTooSmall {
        /// Estimator name (`grpo`, `rloo`, ...).
        estimator: &'static str,
        /// The group id.
        group: u64,
        /// How many responses the group has.
        size: usize,
    },
    /// An estimator needs an input that was not given (values for GAE, baselines for ReMax).
    #[error("estimator {estimator} needs {input}")]
    MissingInput {
        /// Estimator name.
        estimator: &'static str,
        /// The missing input.
        input: &'static str,
    },
    /// A name in a config (estimator, loss type, KL penalty, aggregation) is unknown.
    #[error("unknown {kind} {name:?} (expected one of: {expected})")]
    UnknownName {
        /// What kind of name (`advantage estimator`, ...).
        kind: &'static str,
        /// The unknown name.
        name: String,
        /// The accepted names.
        expected: &'static str,
    },
    /// A configuration value is out of range or inconsistent.
    #[error("invalid config: {key} = {value}: {reason}")]
    Config {
        /// The config key.
        key: &'static str,
        /// The offending value.
        value: String,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// A file could not be read or written.
    #[error("cannot access {path}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON or JSONL file could not be parsed.
    #[error("cannot parse {path} (line {line})")]
    Json {
        /// The path.
        path: PathBuf,
        /// 1-based line (0 for a whole-file document).
        line: usize,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A TOML config could not be parsed.
    #[error("cannot parse config {path}")]
    Toml {
        /// The path.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: toml::de::Error,
    },
    /// A dataset row is malformed.
    #[error("dataset {path}, row {row}: {reason}")]
    Dataset {
        /// The dataset file.
        path: PathBuf,
        /// 0-based row.
        row: usize,
        /// What is wrong.
        reason: String,
    },
    /// A data spec (`data.train_files`, `data.val_files`) names nothing usable.
    #[error("data {spec}: {reason}")]
    DataSpec {
        /// The spec as given (path, maybe with `@split`).
        spec: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Online filtering kept too few groups within `max_try_make_batch` prompt draws.
    #[error(
        "online filtering kept {kept} of {wanted} groups after {tries} draws (max_try_make_batch); \
         widen filter_low/filter_high or check the reward"
    )]
    OnlineFiltering {
        /// Draws made.
        tries: usize,
        /// Groups kept.
        kept: usize,
        /// Groups wanted (`rollout_batch_size`).
        wanted: usize,
    },
    /// Reading a dataset shard failed (unreadable file, missing column, no shard of a split).
    #[error(transparent)]
    Tasks(#[from] spatial_ssrl_tasks::Error),
    /// A checkpoint is missing a part or does not match the run.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// Checkpoint directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// burn could not save or load a module record.
    #[error("checkpoint {path}: cannot save or load the module record: {message}")]
    Record {
        /// The record file.
        path: PathBuf,
        /// burn's message.
        message: String,
    },
    /// Drawing the training curves failed.
    #[error("cannot plot {path}: {message}")]
    Plot {
        /// The output file.
        path: PathBuf,
        /// The plotting backend's message.
        message: String,
    },
    /// The policy failed (model-specific error, e.g. a tokenizer or weight problem).
    #[error("policy: {0}")]
    Policy(String),
    /// A data-parallel peer left its group (failed, panicked or returned) while others still
    /// needed it in a collective call.
    #[error("data-parallel peer {rank} left the group before {op}; the run is stopped")]
    PeerLeft {
        /// The first peer that left.
        rank: usize,
        /// The collective call that could not complete.
        op: &'static str,
    },
    /// A collective call waited longer than the group's timeout.
    #[error(
        "collective {op} timed out after {secs} s waiting for peer(s) {missing:?} \
         (trainer.collective_timeout_s)"
    )]
    CollectiveTimeout {
        /// The collective call.
        op: &'static str,
        /// The timeout.
        secs: f64,
        /// Ranks that had not arrived.
        missing: Vec<usize>,
    },
    /// A data-parallel peer's thread panicked.
    #[error("data-parallel peer {rank} panicked: {message}")]
    PeerPanicked {
        /// The peer.
        rank: usize,
        /// The panic message.
        message: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
