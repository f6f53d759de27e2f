//! One lane's writer into the dead-letter store, driven by the epoch protocol like any sink.

use std::sync::Arc;

use super::DlqError;
use super::store::{Added, DlqStore, PendingOp};
use crate::epoch::{Epoch, LaneId};
use crate::observe::metrics::metrics;
use crate::record::{FailedRecord, RecordId};

/// Collects a lane's failures and replay resolutions for the open epoch.
pub struct DlqWriter {
    store: Arc<DlqStore>,
    pipeline: Arc<str>,
    lane: LaneId,
    ops: Vec<PendingOp>,
}

impl DlqWriter {
    /// A writer for `lane` of `pipeline`.
    #[must_use]
    pub fn new(store: Arc<DlqStore>, pipeline: Arc<str>, lane: LaneId) -> Self {
        Self {
            store,
            pipeline,
            lane,
            ops: Vec::new(),
        }
    }

    /// Adds failed records to the open epoch.
    pub fn fail(&mut self, records: &[FailedRecord]) {
        let at_ms = now_ms();
        self.ops.extend(records.iter().map(|r| PendingOp::Fail {
            record: r.clone(),
            at_ms,
        }));
    }

    /// Marks replayed records as delivered in the open epoch.
    pub fn resolve(&mut self, ids: impl IntoIterator<Item = RecordId>) {
        self.ops.extend(ids.into_iter().map(PendingOp::Resolve));
    }

    /// Stages the open epoch durably.
    ///
    /// # Errors
    /// When the store cannot be written; the epoch must then not be committed.
    pub fn precommit(&mut self, epoch: Epoch) -> Result<(), DlqError> {
        if self.ops.is_empty() {
            return Ok(());
        }
        let ops = std::mem::take(&mut self.ops);
        tokio::task::block_in_place(|| self.store.stage(&self.pipeline, &self.lane, epoch, &ops))
    }

    /// Makes the staged epoch visible (idempotent).
    ///
    /// # Errors
    /// When the store cannot be written (recovery commits it later).
    pub fn commit(&mut self, epoch: Epoch) -> Result<(), DlqError> {
        let added =
            tokio::task::block_in_place(|| self.store.commit(&self.pipeline, &self.lane, epoch))?;
        self.count(&added);
        Ok(())
    }

    /// Drops the open epoch.
    ///
    /// # Errors
    /// When staged operations cannot be removed.
    pub fn abort(&mut self, epoch: Epoch) -> Result<(), DlqError> {
        self.ops.clear();
        tokio::task::block_in_place(|| self.store.abort(&self.pipeline, &self.lane, epoch))
    }

    /// Recovers the lane's dead letters to its committed epoch.
    ///
    /// # Errors
    /// When the store cannot be written.
    pub fn recover(&mut self, epoch: Epoch) -> Result<(), DlqError> {
        self.ops.clear();
        let added =
            tokio::task::block_in_place(|| self.store.recover(&self.pipeline, &self.lane, epoch))?;
        self.count(&added);
        Ok(())
    }

    fn count(&self, added: &Added) {
        if added.is_empty() {
            return;
        }
        let m = metrics();
        for (reason, n) in added {
            m.dlq_records
                .with_label_values(&[&*self.pipeline, reason.as_str()])
                .inc_by(*n);
        }
        if let Ok(depth) = self.store.depth(&self.pipeline) {
            m.dlq_depth
                .with_label_values(&[&self.pipeline])
                .set(i64::try_from(depth).unwrap_or(i64::MAX));
        }
    }
}

/// Milliseconds since the Unix epoch.
#[must_use]
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
