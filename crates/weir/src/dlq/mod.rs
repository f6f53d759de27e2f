//! The dead-letter queue: every record that failed, kept with its context until it is replayed,
//! purged or expired.
//!
//! The DLQ is a transactional sink in the epoch protocol, so a record is in the output or in the
//! DLQ, never both and never neither. One SQLite database under `data_dir` holds every pipeline's
//! entries (WAL, `synchronous=FULL`):
//!
//! ```text
//! dead_letters  one row per failed input record, unique on (pipeline, source, partition, offset)
//!               — the RecordId — so a replayed epoch can never add a second entry.
//!               `lane`/`epoch`: who committed it; `resolved_lane`/`resolved_epoch`: set when a
//!               replay delivered the record (the entry is then no longer listed).
//! pending       operations staged by `precommit(e)` of a lane and applied by `commit(e)`:
//!               `fail` (insert, or attempts+1 when the entry exists) and `resolve`.
//! ```
//!
//! Recovery of a lane to its committed epoch `e`: pending operations of epochs `<= e` are applied
//! (roll forward), newer ones dropped; entries the lane inserted in epochs `> e`, and resolutions
//! it made in them, are withdrawn (they exist only when the newest checkpoint was unreadable and
//! an older one is used: those records are processed again).

pub mod redact;
pub mod store;
pub mod writer;

pub use store::{DlqFilter, DlqStore};
pub use writer::DlqWriter;

use crate::error::{Classified, ErrorClass};

/// One dead-lettered record, as listed and shown.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct DeadLetter {
    /// Entry id (for `dlq show`).
    pub id: i64,
    /// Pipeline.
    pub pipeline: String,
    /// Stage that rejected it (`source`, a transform's name, ...).
    pub stage: String,
    /// Error class.
    pub class: String,
    /// Stable reason code: `parse`, `transform`, `retries_exhausted`, `crash`, `validation`.
    pub reason: String,
    /// What went wrong (fields listed in `redact` are masked).
    pub message: String,
    /// How many times the record has failed.
    pub attempts: u32,
    /// First failure, milliseconds since the Unix epoch.
    pub first_failure_ms: i64,
    /// Latest failure, milliseconds since the Unix epoch.
    pub last_failure_ms: i64,
    /// Source of the original record.
    pub source: String,
    /// Partition (lane) of the original record.
    pub partition: String,
    /// Offset of the original record.
    pub offset: u64,
    /// The original record, when it was parsed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<serde_json::Value>,
    /// The original bytes (lossy UTF-8), when the record could not be parsed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_raw: Option<String>,
}

/// The dead-letter store failed.
#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    /// SQLite failed.
    #[error("dead-letter store {path}: {source}")]
    Sqlite {
        /// The database file.
        path: String,
        /// The error.
        source: rusqlite::Error,
    },
    /// The store's lock was poisoned by a panic elsewhere.
    #[error("dead-letter store is unusable after a panic in another lane")]
    Poisoned,
}

impl Classified for DlqError {
    fn class(&self) -> ErrorClass {
        ErrorClass::Fatal
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Sqlite { .. } => "dlq_io",
            Self::Poisoned => "dlq_poisoned",
        }
    }
}
