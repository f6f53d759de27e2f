//! Checkpoint stores: where each lane's committed epoch, source offset and operator state live.
//!
//! Writing a checkpoint is the commit point of an epoch (DESIGN.md, "Lanes, epochs and the
//! commit protocol"). Every store keeps a few recent manifests so that a corrupt newest one can
//! be passed over.

pub mod local;
pub mod manifest;
pub mod recovery;

use async_trait::async_trait;

pub use manifest::Checkpoint;
pub use recovery::{Choice, Rejected};

use crate::epoch::LaneId;
use crate::error::{Classified, ErrorClass};

/// Manifests kept per lane.
pub const KEEP: usize = 3;

/// A checkpoint store could not read or write.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// An I/O operation failed.
    #[error("checkpoint store: {op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On what.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// An earlier write failed to sync; the store refuses further writes.
    #[error("checkpoint store is poisoned by an earlier failed write; restart to recover")]
    Poisoned,
}

impl Classified for CheckpointError {
    fn class(&self) -> ErrorClass {
        ErrorClass::Fatal
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Io { .. } => "checkpoint_io",
            Self::Poisoned => "checkpoint_poisoned",
        }
    }
}

/// Where checkpoints are kept.
#[async_trait]
pub trait CheckpointStore: Send + Sync {
    /// The newest usable checkpoint of a lane and the newer manifests that were passed over.
    ///
    /// # Errors
    /// When the store cannot be read at all.
    async fn load(&self, pipeline: &str, lane: &LaneId) -> Result<Choice, CheckpointError>;

    /// Writes a checkpoint durably, then prunes all but the newest [`KEEP`]. When this returns
    /// `Ok`, the epoch is committed.
    ///
    /// # Errors
    /// When the checkpoint could not be made durable; the epoch is then not committed.
    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), CheckpointError>;

    /// The lanes of a pipeline that have a checkpoint directory.
    ///
    /// # Errors
    /// When the store cannot be read.
    async fn lanes(&self, pipeline: &str) -> Result<Vec<LaneId>, CheckpointError>;

    /// Moves manifests that recovery passed over out of the way (kept for inspection as
    /// `*.rejected`), once the lane's sinks have been recovered past them, so they are neither
    /// reported again nor counted when pruning.
    ///
    /// # Errors
    /// When they cannot be moved.
    async fn set_aside(&self, rejected: &[Rejected]) -> Result<(), CheckpointError>;
}
