//! Sources: where records come from, split into lanes.
//!
//! A source lists its lanes and opens a reader on one lane at an offset. Readers hand out
//! batches; each batch says where the lane resumes after it (`next_offset`), which is what a
//! checkpoint records. Inputs that cannot be parsed are returned as failed records with their
//! raw bytes, never dropped silently.

pub mod dlq;
pub mod file;
pub mod log;
pub mod projection;

use std::sync::Arc;

use async_trait::async_trait;

use crate::epoch::LaneId;
use crate::error::{Classified, ErrorClass};
use crate::record::{FailedRecord, Record};

/// One lane of a source.
#[derive(Clone, Debug)]
pub struct LaneSpec {
    /// Stable id (a file name).
    pub id: LaneId,
    /// The partition name in record ids (for files, the path relative to the config file).
    pub partition: Arc<str>,
    /// Total size in offset units when known (bytes for files), for progress.
    pub size_hint: Option<u64>,
}

/// A batch read from one lane.
#[derive(Debug, Default)]
pub struct SourceBatch {
    /// Records read.
    pub records: Vec<Record>,
    /// Inputs that could not be parsed.
    pub failed: Vec<FailedRecord>,
    /// Where the lane resumes after this batch.
    pub next_offset: u64,
}

/// A source could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Reading the input failed.
    #[error("{path}: {source}")]
    Io {
        /// The input.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The input is not what the format requires (e.g. a CSV file without a header row).
    #[error("{path}: {message}")]
    Format {
        /// The input.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A partition of the embedded log could not be read.
    #[error("log partition {partition}: {source}")]
    Log {
        /// `topic/partition`.
        partition: String,
        /// The error.
        source: weir_log::Error,
    },
}

impl Classified for SourceError {
    fn class(&self) -> ErrorClass {
        ErrorClass::Fatal
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Io { .. } => "source_io",
            Self::Format { .. } => "source_format",
            Self::Log { .. } => "source_log",
        }
    }
}

/// A source of records.
#[async_trait]
pub trait Source: Send + Sync {
    /// The source's name in record ids.
    fn name(&self) -> &Arc<str>;

    /// Whether all input is known up front (the run ends when it is processed).
    fn bounded(&self) -> bool;

    /// The lanes, in a stable order.
    ///
    /// # Errors
    /// When the lanes cannot be listed.
    async fn lanes(&self) -> Result<Vec<LaneSpec>, SourceError>;

    /// Opens `lane` so that the first record returned is the one at `offset`.
    ///
    /// # Errors
    /// When the lane cannot be opened or positioned.
    async fn open(&self, lane: &LaneSpec, offset: u64) -> Result<Box<dyn LaneReader>, SourceError>;

    /// Told after each checkpoint of `lane` that everything before `next_offset` is committed
    /// (a log source lets retention free it). Failures are the source's to log.
    async fn checkpointed(&self, _lane: &LaneSpec, _next_offset: u64) {}
}

/// Reads one lane in batches.
#[async_trait]
pub trait LaneReader: Send {
    /// The next batch; `None` at the end of a bounded lane.
    async fn next_batch(&mut self) -> Option<Result<SourceBatch, SourceError>>;
}
