//! Sinks: where records go, under the epoch protocol.
//!
//! Every lane gets its own instance of each sink. Within epoch `e` the lane calls `write`
//! any number of times, then `precommit(e)` (durable, not visible), then — after the checkpoint
//! is written, the commit point — `commit(e)` (visible). `commit` is idempotent. On recovery
//! the lane calls `recover(e)` with its last committed epoch: the sink rolls `e` (and anything
//! older still staged) forward and discards or withdraws everything newer.
//!
//! A sink that refuses records (an HTTP 4xx for a record, a PostgreSQL constraint violation)
//! answers [`SinkError::Refused`], naming them: the lane aborts the open epoch everywhere,
//! reads it again and sends those input records to the dead-letter queue instead of the sinks
//! (see `runtime/refusal.rs`). The refusal must be deterministic for a record — the same
//! record is refused again when written again — for the rewritten epoch to go through.

pub mod blocking;
pub mod file;
pub mod http;
pub mod log;
pub mod postgres;
pub mod stdout;

use async_trait::async_trait;

use crate::config::Guarantee;
use crate::epoch::{Epoch, LaneId};
use crate::error::{Classified, ErrorClass};
use crate::record::Record;

/// A record a sink refuses: the same record would be refused however often it is written.
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    /// The input record it came from.
    pub id: crate::record::RecordId,
    /// Dead-letter reason (`http_4xx`, `pg_constraint`, ...).
    pub code: &'static str,
    /// Why, as the sink's dependency said it.
    pub message: String,
}

/// A sink failed.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Local I/O failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On what.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// An earlier write or sync failed; this writer refuses to go on until the lane restarts.
    #[error("sink is poisoned by an earlier failed write; the lane must restart")]
    Poisoned,
    /// A call to the sink's dependency failed; class and code come from the connector.
    #[error("{message}")]
    Remote {
        /// What the runtime does about it.
        class: ErrorClass,
        /// Stable code (`pg_connection`, `http_5xx`, ...).
        code: &'static str,
        /// Description.
        message: String,
    },
    /// A stop was requested while the sink waited for its dependency (an open breaker or a
    /// backoff); the open epoch is not committed and is replayed by the next run.
    #[error("stopped while waiting for the sink's dependency")]
    Stopped,
    /// The sink refuses these records; the rest of what it was given is fine. Empty: the sink
    /// could not yet tell which of a refused batch's records are at fault and will write them
    /// one at a time when the epoch is written again.
    #[error("{} record(s) refused{}", .0.len(), .0.first().map(|r| format!(", first {}: {}", r.id, r.message)).unwrap_or_default())]
    Refused(Vec<Refusal>),
}

impl SinkError {
    /// Whether this is [`SinkError::Stopped`].
    #[must_use]
    pub fn is_stopped(&self) -> bool {
        matches!(self, Self::Stopped)
    }
}

impl Classified for SinkError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Remote { class, .. } => *class,
            Self::Stopped => ErrorClass::Transient,
            Self::Refused(_) => ErrorClass::Permanent,
            Self::Io { .. } | Self::Poisoned => ErrorClass::Fatal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Io { .. } => "sink_io",
            Self::Poisoned => "sink_poisoned",
            Self::Remote { code, .. } => code,
            Self::Stopped => "stopped",
            Self::Refused(_) => "sink_refused",
        }
    }
}

/// One lane's writer into a sink.
#[async_trait]
pub trait Sink: Send {
    /// Brings the sink in line with the lane's last committed epoch (`Epoch::NONE` when none):
    /// staged epochs up to it are committed, newer ones discarded, newer visible output withdrawn.
    ///
    /// # Errors
    /// When the sink's state cannot be inspected or repaired.
    async fn recover(&mut self, committed: Epoch) -> Result<(), SinkError>;

    /// Adds records to `epoch`.
    ///
    /// # Errors
    /// When the records cannot be written.
    async fn write(&mut self, epoch: Epoch, records: &[Record]) -> Result<(), SinkError>;

    /// Makes `epoch`'s writes durable without making them visible.
    ///
    /// # Errors
    /// When they cannot be made durable; the epoch must then not be committed.
    async fn precommit(&mut self, epoch: Epoch) -> Result<(), SinkError>;

    /// Makes `epoch` visible. Idempotent.
    ///
    /// # Errors
    /// When it cannot be made visible (it stays staged and recovery rolls it forward).
    async fn commit(&mut self, epoch: Epoch) -> Result<(), SinkError>;

    /// Discards `epoch`'s writes.
    ///
    /// # Errors
    /// When staged data cannot be removed.
    async fn abort(&mut self, epoch: Epoch) -> Result<(), SinkError>;

    /// Tells the sink, just before `precommit(epoch)`, where the lane resumes after `epoch`. A
    /// sink that keeps the lane's position itself (transactional PostgreSQL) stores it with the
    /// epoch's data. Default: ignored.
    fn epoch_ends_at(&mut self, _epoch: Epoch, _next_offset: u64) {}

    /// The newest epoch this sink has committed together with the lane's position, and the
    /// offset after it — for sinks that keep the position themselves. Recovery resumes from it
    /// when it is newer than the checkpoint (the local checkpoint was lost). Default: `None`.
    ///
    /// # Errors
    /// When the sink's bookkeeping cannot be read.
    async fn committed_position(&mut self) -> Result<Option<(Epoch, u64)>, SinkError> {
        Ok(None)
    }
}

/// Makes a sink's per-lane writers.
pub trait SinkFactory: Send + Sync {
    /// The sink's name in logs and metrics.
    fn name(&self) -> &str;

    /// What this sink guarantees.
    fn guarantee(&self) -> Guarantee;

    /// The writer for one lane.
    fn for_lane(&self, lane: &LaneId) -> Box<dyn Sink>;
}
