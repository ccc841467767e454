//! The error an input source returns when it cannot go on.
//!
//! Every message names the file and, where it applies, the byte offset or
//! record number, so that a user can find the damage with a hex editor.

use std::path::PathBuf;

/// A fatal problem with one input file. Recoverable damage is counted by the
/// source instead and never becomes an `InputError`.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: at byte offset {offset}: {what}")]
    Malformed {
        path: PathBuf,
        offset: u64,
        what: String,
    },
    #[error("{path}: record {record}: {what}")]
    BadRecord {
        path: PathBuf,
        record: u64,
        what: String,
    },
    #[error("{path}: {what}")]
    Unsupported { path: PathBuf, what: String },
}
