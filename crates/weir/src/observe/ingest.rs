//! Internal events of HTTP ingest.

use super::metrics::metrics;

/// A request was answered 200.
pub struct IngestAccepted<'a> {
    /// Pipeline.
    pub pipeline: &'a str,
    /// Records in it.
    pub records: u64,
    /// Whether it was a retry answered from the idempotency store (nothing stored).
    pub replayed: bool,
}

impl IngestAccepted<'_> {
    /// Logs and counts the event.
    pub fn emit(&self) {
        tracing::debug!(
            pipeline = self.pipeline,
            records = self.records,
            replayed = self.replayed,
            "ingest request acknowledged"
        );
        if !self.replayed {
            metrics()
                .ingest_records
                .with_label_values(&[self.pipeline])
                .inc_by(self.records);
        }
    }
}

/// A request was refused.
pub struct IngestRefused<'a> {
    /// Pipeline (only pipelines that exist are counted).
    pub pipeline: &'a str,
    /// Stable reason code.
    pub reason: &'static str,
    /// HTTP status.
    pub status: u16,
    /// Description.
    pub message: &'a str,
}

impl IngestRefused<'_> {
    /// Logs and counts the event: server-side failures as warnings, refused input at debug.
    pub fn emit(&self) {
        if self.status >= 500 {
            tracing::warn!(
                pipeline = self.pipeline,
                status = self.status,
                reason = self.reason,
                "ingest refused: {}",
                self.message
            );
        } else {
            tracing::debug!(
                pipeline = self.pipeline,
                status = self.status,
                reason = self.reason,
                "ingest refused: {}",
                self.message
            );
        }
        metrics()
            .ingest_refused
            .with_label_values(&[self.pipeline, self.reason])
            .inc();
    }
}
