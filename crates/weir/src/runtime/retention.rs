//! Dead-letter retention, enforced while running: entries whose latest failure is older than
//! the pipeline's `dlq.retention` are deleted, at start and every minute.

use std::sync::Arc;
use std::time::Duration;

use crate::dlq::writer::now_ms;
use crate::dlq::{DlqFilter, DlqStore};
use crate::observe::metrics::metrics;

/// Stops the retention task when dropped.
pub struct Retention(Option<tokio::task::JoinHandle<()>>);

impl Drop for Retention {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            t.abort();
        }
    }
}

/// Starts enforcing `rules` (pipeline, maximum age).
pub fn start(store: Arc<DlqStore>, rules: Vec<(Arc<str>, Duration)>) -> Retention {
    if rules.is_empty() {
        return Retention(None);
    }
    Retention(Some(tokio::spawn(async move {
        loop {
            for (pipeline, keep) in &rules {
                let before = now_ms() - i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
                let filter = DlqFilter {
                    pipeline: Some(pipeline.to_string()),
                    before_ms: Some(before),
                    ..DlqFilter::default()
                };
                match tokio::task::block_in_place(|| store.purge(&filter)) {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(pipeline = %pipeline, expired = n, "dead letters past their retention deleted");
                        if let Ok(depth) = store.depth(pipeline) {
                            metrics()
                                .dlq_depth
                                .with_label_values(&[&**pipeline])
                                .set(i64::try_from(depth).unwrap_or(i64::MAX));
                        }
                    }
                    Err(e) => {
                        tracing::warn!(pipeline = %pipeline, "dead-letter retention failed: {e}")
                    }
                }
            }
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
    })))
}
