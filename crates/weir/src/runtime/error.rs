//! Why a lane stopped.

use crate::checkpoint::CheckpointError;
use crate::error::{Classified, ErrorClass};
use crate::sinks::SinkError;
use crate::sources::SourceError;

/// A failure that stops a lane; the supervisor restarts it from its last checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum LaneError {
    /// The source failed.
    #[error("source: {0}")]
    Source(#[from] SourceError),
    /// A sink failed.
    #[error("sink `{sink}`: {source}")]
    Sink {
        /// Which sink.
        sink: String,
        /// The failure.
        source: SinkError,
    },
    /// The checkpoint store failed.
    #[error("{0}")]
    Checkpoint(#[from] CheckpointError),
    /// The dead-letter store failed.
    #[error("{0}")]
    Dlq(#[from] crate::dlq::DlqError),
    /// A quality gate halted the pipeline: a failed epoch audit, the failure-ratio gate, or a
    /// `validate` rule with `on_failure: halt`. The open epoch was aborted; no restart.
    #[error("halted: {0}")]
    Halted(String),
    /// The lane's task panicked.
    #[error("panic: {0}")]
    Panic(String),
    /// A stop was requested while the lane waited for a dependency; the open epoch is
    /// abandoned (replayed by the next run).
    #[error("stopped while waiting for a dependency")]
    Stopped,
}

impl LaneError {
    /// Whether the lane stopped on request while waiting for a dependency.
    #[must_use]
    pub fn is_stop(&self) -> bool {
        match self {
            Self::Stopped => true,
            Self::Sink { source, .. } => source.is_stopped(),
            _ => false,
        }
    }
}

impl Classified for LaneError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Source(e) => e.class(),
            Self::Sink { source, .. } => source.class(),
            Self::Checkpoint(e) => e.class(),
            Self::Dlq(e) => e.class(),
            Self::Panic(_) | Self::Halted(_) => ErrorClass::Fatal,
            Self::Stopped => ErrorClass::Transient,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Source(e) => e.code(),
            Self::Sink { source, .. } => source.code(),
            Self::Checkpoint(e) => e.code(),
            Self::Dlq(e) => e.code(),
            Self::Panic(_) => "panic",
            Self::Halted(_) => "halted",
            Self::Stopped => "stopped",
        }
    }
}
