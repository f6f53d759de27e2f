//! Sinks whose work is local, blocking I/O (the file and log sinks): each step runs inside
//! `block_in_place` on the lane's task, and a failed write or precommit poisons the writer (it
//! refuses to go on until `recover`: what reached the disk is unknown).

use async_trait::async_trait;

use super::{Sink, SinkError};
use crate::epoch::Epoch;
use crate::record::Record;

/// The blocking half of a [`Sink`]; see [`Sink`] for what each step means.
pub trait BlockingSink: Send {
    /// As [`Sink::recover`]; clears the poison.
    ///
    /// # Errors
    /// As [`Sink::recover`].
    fn recover_blocking(&mut self, committed: Epoch) -> Result<(), SinkError>;

    /// As [`Sink::write`].
    ///
    /// # Errors
    /// As [`Sink::write`]; the writer is then poisoned.
    fn write_blocking(&mut self, epoch: Epoch, records: &[Record]) -> Result<(), SinkError>;

    /// As [`Sink::precommit`].
    ///
    /// # Errors
    /// As [`Sink::precommit`]; the writer is then poisoned.
    fn precommit_blocking(&mut self, epoch: Epoch) -> Result<(), SinkError>;

    /// As [`Sink::commit`].
    ///
    /// # Errors
    /// As [`Sink::commit`].
    fn commit_blocking(&mut self, epoch: Epoch) -> Result<(), SinkError>;

    /// As [`Sink::abort`].
    ///
    /// # Errors
    /// As [`Sink::abort`].
    fn abort_blocking(&mut self, epoch: Epoch) -> Result<(), SinkError>;

    /// Marks the writer unusable until `recover` after a failed write or precommit.
    fn poison(&mut self);

    /// As [`Sink::epoch_ends_at`].
    fn epoch_ends_at_blocking(&mut self, _epoch: Epoch, _next_offset: u64) {}

    /// As [`Sink::committed_position`].
    ///
    /// # Errors
    /// As [`Sink::committed_position`].
    fn committed_position_blocking(&mut self) -> Result<Option<(Epoch, u64)>, SinkError> {
        Ok(None)
    }
}

fn poisoning<S: BlockingSink + ?Sized, T>(
    sink: &mut S,
    r: Result<T, SinkError>,
) -> Result<T, SinkError> {
    if r.is_err() {
        sink.poison();
    }
    r
}

#[async_trait]
impl<S: BlockingSink> Sink for S {
    async fn recover(&mut self, committed: Epoch) -> Result<(), SinkError> {
        tokio::task::block_in_place(|| self.recover_blocking(committed))
    }

    async fn write(&mut self, epoch: Epoch, records: &[Record]) -> Result<(), SinkError> {
        let r = tokio::task::block_in_place(|| self.write_blocking(epoch, records));
        poisoning(self, r)
    }

    async fn precommit(&mut self, epoch: Epoch) -> Result<(), SinkError> {
        let r = tokio::task::block_in_place(|| self.precommit_blocking(epoch));
        poisoning(self, r)
    }

    async fn commit(&mut self, epoch: Epoch) -> Result<(), SinkError> {
        tokio::task::block_in_place(|| self.commit_blocking(epoch))
    }

    async fn abort(&mut self, epoch: Epoch) -> Result<(), SinkError> {
        tokio::task::block_in_place(|| self.abort_blocking(epoch))
    }

    fn epoch_ends_at(&mut self, epoch: Epoch, next_offset: u64) {
        self.epoch_ends_at_blocking(epoch, next_offset);
    }

    async fn committed_position(&mut self) -> Result<Option<(Epoch, u64)>, SinkError> {
        tokio::task::block_in_place(|| self.committed_position_blocking())
    }
}
