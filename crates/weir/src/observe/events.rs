//! Internal events: each is one typed struct whose `emit()` both logs and counts, so logs and
//! metrics never disagree.

use std::path::Path;
use std::time::Duration;

use super::metrics::metrics;
use crate::epoch::{Epoch, LaneId};
use crate::record::{FailedPayload, FailedRecord};

/// A lane resumed from its checkpoint (or from the beginning).
pub struct LaneRecovered<'a> {
    /// Pipeline.
    pub pipeline: &'a str,
    /// Lane.
    pub lane: &'a LaneId,
    /// Committed epoch resumed from.
    pub epoch: Epoch,
    /// Source offset resumed at.
    pub offset: u64,
}

impl LaneRecovered<'_> {
    /// Logs the event.
    pub fn emit(&self) {
        tracing::debug!(pipeline = self.pipeline, lane = %self.lane, epoch = self.epoch.0, offset = self.offset, "lane recovered");
    }
}

/// A manifest could not be used and recovery fell back to an older one.
pub struct CheckpointRejected<'a> {
    /// Pipeline.
    pub pipeline: &'a str,
    /// Lane.
    pub lane: &'a LaneId,
    /// The manifest file.
    pub path: &'a Path,
    /// Stable reason code.
    pub reason: &'static str,
    /// Description.
    pub message: String,
}

impl CheckpointRejected<'_> {
    /// Logs and counts the event.
    pub fn emit(&self) {
        tracing::warn!(pipeline = self.pipeline, lane = %self.lane, reason = self.reason,
            "checkpoint manifest {} is unusable ({}); falling back to the previous one", self.path.display(), self.message);
        metrics()
            .checkpoints_rejected
            .with_label_values(&[self.pipeline, self.reason])
            .inc();
    }
}

/// An epoch was committed.
pub struct CheckpointCommitted<'a> {
    /// Pipeline.
    pub pipeline: &'a str,
    /// Lane.
    pub lane: &'a LaneId,
    /// The epoch.
    pub epoch: Epoch,
    /// Source offset after it.
    pub offset: u64,
    /// Precommit + checkpoint + commit.
    pub duration: Duration,
}

impl CheckpointCommitted<'_> {
    /// Logs and counts the event.
    pub fn emit(&self) {
        tracing::debug!(pipeline = self.pipeline, lane = %self.lane, epoch = self.epoch.0, offset = self.offset,
            duration_ms = self.duration.as_secs_f64() * 1e3, "epoch committed");
        let m = metrics();
        m.checkpoints.with_label_values(&[self.pipeline]).inc();
        m.checkpoint_duration
            .with_label_values(&[self.pipeline])
            .observe(self.duration.as_secs_f64());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        m.last_checkpoint
            .with_label_values(&[self.pipeline])
            .set(i64::try_from(now).unwrap_or(i64::MAX));
    }
}

/// Records were read from a source.
pub struct RecordsRead<'a> {
    /// Pipeline.
    pub pipeline: &'a str,
    /// How many (parsed or not).
    pub count: u64,
}

impl RecordsRead<'_> {
    /// Counts the event.
    pub fn emit(&self) {
        metrics()
            .records_in
            .with_label_values(&[self.pipeline])
            .inc_by(self.count);
    }
}

/// Records were written to a sink.
pub struct RecordsWritten<'a> {
    /// Pipeline.
    pub pipeline: &'a str,
    /// Sink.
    pub sink: &'a str,
    /// How many.
    pub count: u64,
}

impl RecordsWritten<'_> {
    /// Counts the event.
    pub fn emit(&self) {
        metrics()
            .records_out
            .with_label_values(&[self.pipeline, self.sink])
            .inc_by(self.count);
    }
}

/// A record failed a stage.
pub struct RecordFailed<'a> {
    /// Pipeline.
    pub pipeline: &'a str,
    /// The failure.
    pub record: &'a FailedRecord,
}

impl RecordFailed<'_> {
    /// Logs and counts the event. The record's content is not logged, only its id.
    pub fn emit(&self) {
        let r = self.record;
        let size = match &r.payload {
            FailedPayload::Raw(b) => b.len(),
            FailedPayload::Value(_) => 0,
        };
        tracing::warn!(pipeline = self.pipeline, record = %r.id, stage = %r.stage, reason = r.reason, raw_bytes = size, "record failed: {}", r.message);
        metrics()
            .records_failed
            .with_label_values(&[self.pipeline, &r.stage, r.reason])
            .inc();
    }
}

/// The supervisor restarts a lane after a failure.
pub struct LaneRestarting<'a> {
    /// Pipeline.
    pub pipeline: &'a str,
    /// Lane.
    pub lane: &'a LaneId,
    /// Restarts so far, including this one.
    pub restarts: u32,
    /// The failure.
    pub error: &'a str,
    /// Wait before the restart.
    pub delay: Duration,
}

impl LaneRestarting<'_> {
    /// Logs and counts the event.
    pub fn emit(&self) {
        tracing::error!(pipeline = self.pipeline, lane = %self.lane, restarts = self.restarts, delay_ms = self.delay.as_millis() as u64,
            "lane failed, restarting from its last checkpoint: {}", self.error);
        metrics()
            .lane_restarts
            .with_label_values(&[self.pipeline])
            .inc();
    }
}

/// The supervisor gave up on a lane; its pipeline has failed.
pub struct PipelineFailed<'a> {
    /// Pipeline.
    pub pipeline: &'a str,
    /// Lane whose failures exhausted the restart strategy.
    pub lane: &'a LaneId,
    /// The last failure.
    pub error: &'a str,
}

impl PipelineFailed<'_> {
    /// Logs and counts the event.
    pub fn emit(&self) {
        tracing::error!(pipeline = self.pipeline, lane = %self.lane, "pipeline failed, restart strategy exhausted: {}", self.error);
        metrics()
            .pipeline_failed
            .with_label_values(&[self.pipeline])
            .set(1);
    }
}
