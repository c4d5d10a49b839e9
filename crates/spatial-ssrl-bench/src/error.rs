//! The crate's error type: every malformed benchmark file, predictions file or report
//! becomes a typed error that names the offending path, line and value.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while loading, scoring or reporting a benchmark.
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
    /// A JSON document (annotation file, report) did not parse.
    #[error("{path}: invalid JSON")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's error, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// A parquet file could not be read.
    #[error("{path}: cannot read parquet: {message}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The reader's message.
        message: String,
    },
    /// A line of a JSON Lines file did not parse.
    #[error("{path}:{line}: invalid JSON line")]
    JsonLine {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A TSV header lacks a column the benchmark needs.
    #[error("{path}: missing column `{column}`")]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The absent column.
        column: String,
    },
    /// A TSV row has more or fewer cells than the header.
    #[error("{path}:{line}: row has {got} cells, header has {expected}")]
    RowWidth {
        /// The file.
        path: PathBuf,
        /// 1-based line number where the row starts.
        line: usize,
        /// Cells in the header.
        expected: usize,
        /// Cells in this row.
        got: usize,
    },
    /// A quoted TSV cell never closes.
    #[error("{path}:{line}: unterminated quoted cell")]
    UnterminatedQuote {
        /// The file.
        path: PathBuf,
        /// 1-based line number where the cell starts.
        line: usize,
    },
    /// A record lacks a field the benchmark needs (JSON formats).
    #[error("{path}: record {record}: missing field `{field}`")]
    MissingField {
        /// The file.
        path: PathBuf,
        /// 0-based record position.
        record: usize,
        /// The absent field.
        field: String,
    },
    /// A field is present but its value is unusable.
    #[error("{path}: record {record}: bad `{field}` value {value:?}: {reason}")]
    BadValue {
        /// The file.
        path: PathBuf,
        /// 0-based record position.
        record: usize,
        /// The field.
        field: String,
        /// The raw value.
        value: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// Two records share one `index`.
    #[error("{path}: index {index} appears twice")]
    DuplicateIndex {
        /// The file.
        path: PathBuf,
        /// The repeated index.
        index: i64,
    },
    /// A benchmark file holds no records.
    #[error("{path}: no records")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The format of a data path could not be recognised.
    #[error("{path}: {bench} cannot read this file (expected {expected})")]
    UnknownFormat {
        /// The data path.
        path: PathBuf,
        /// The benchmark.
        bench: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A predictions line names an index the benchmark does not have.
    #[error("{path}:{line}: index {index} is not in the benchmark")]
    UnknownIndex {
        /// The predictions file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The index.
        index: i64,
    },
    /// Items have no prediction (offline mode without `allow_partial`).
    #[error("{missing} of {total} items have no prediction (first missing index: {first})")]
    MissingPredictions {
        /// How many items lack a prediction.
        missing: usize,
        /// Items in the benchmark.
        total: usize,
        /// The first item without one.
        first: i64,
    },
    /// No benchmark of that name is registered.
    #[error("unknown benchmark `{name}` (known: {known})")]
    UnknownBenchmark {
        /// The requested name.
        name: String,
        /// Registered names, comma-separated.
        known: String,
    },
    /// An image is not valid base64.
    #[error("item {index}: image {image} is not valid base64")]
    Base64 {
        /// The item.
        index: i64,
        /// 0-based image position within the item.
        image: usize,
        /// The decoder's error.
        #[source]
        source: base64::DecodeError,
    },
    /// A frames folder has no image files.
    #[error("{path}: no frames (extract the video's frames into this folder first)")]
    NoFrames {
        /// The folder.
        path: PathBuf,
    },
    /// The responder (a model) failed during live evaluation.
    #[error("responder failed on items {first}..={last}")]
    Responder {
        /// First item index of the failed batch.
        first: i64,
        /// Last item index of the failed batch.
        last: i64,
        /// The responder's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The responder returned a different number of answers than prompts.
    #[error("responder returned {got} answers for {expected} prompts")]
    ResponderCount {
        /// Prompts sent.
        expected: usize,
        /// Answers received.
        got: usize,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
