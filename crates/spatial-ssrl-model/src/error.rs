//! Errors of the model crate: configuration, weights, inputs.

use std::path::PathBuf;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while loading, running or saving a Qwen2.5-VL model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("cannot access {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file (config, shard index) is not valid for its schema.
    #[error("cannot parse {path}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// A configuration value this port does not implement (or that is inconsistent).
    #[error("unsupported config value {field} = {value}: {reason}")]
    UnsupportedConfig {
        /// The `config.json` key.
        field: &'static str,
        /// The offending value, rendered.
        value: String,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// A safetensors file is malformed or truncated.
    #[error("invalid safetensors file {path}: {reason}")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// What the safetensors parser reported.
        reason: String,
    },
    /// A tensor the model needs is not in the checkpoint.
    #[error("tensor {name} is missing from the checkpoint in {dir}")]
    MissingTensor {
        /// Checkpoint key (HF naming).
        name: String,
        /// The model folder or file.
        dir: PathBuf,
    },
    /// `model.safetensors.index.json` names a shard file the folder does not have.
    #[error("shard {shard} named in {index} is missing")]
    MissingShard {
        /// The absent shard file.
        shard: PathBuf,
        /// The index that names it.
        index: PathBuf,
    },
    /// A tensor has a different shape than the config implies.
    #[error("tensor {name} has shape {found:?}, the config expects {expected:?}")]
    ShapeMismatch {
        /// Checkpoint key (HF naming).
        name: String,
        /// Shape implied by the config.
        expected: Vec<usize>,
        /// Shape stored in the file.
        found: Vec<usize>,
    },
    /// A tensor is stored in a dtype that cannot be converted to f32.
    #[error("tensor {name} has unsupported dtype {dtype}")]
    UnsupportedDtype {
        /// Checkpoint key.
        name: String,
        /// The stored dtype.
        dtype: String,
    },
    /// The backend cannot hold weights in the requested dtype (for example f16 on a device
    /// without half-precision storage).
    #[error("device {device} cannot hold weights as {dtype}")]
    UnsupportedDeviceDtype {
        /// The requested dtype.
        dtype: String,
        /// The device, as burn prints it.
        device: String,
    },
    /// Preprocessing, tokenizer, chat template or rope index failed.
    #[error(transparent)]
    Processor(#[from] crate::processor::ProcessorError),
    /// Inputs given to the model are inconsistent (lengths, image token counts, ids).
    #[error("invalid model input: {0}")]
    BadInput(String),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
