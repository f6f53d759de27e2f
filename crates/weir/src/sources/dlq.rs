//! The dead-letter replay source: the DLQ entries of one pipeline, oldest first, as one lane
//! (`dlq~replay`). Records keep their original [`RecordId`](crate::record::RecordId), so every
//! idempotent write downstream recognises them. The lane's offset is an entry-id cursor.

use std::sync::Arc;

use async_trait::async_trait;

use super::{LaneReader, LaneSpec, Source, SourceBatch, SourceError};
use crate::dlq::{DeadLetter, DlqFilter, DlqStore};
use crate::epoch::LaneId;
use crate::error::ErrorClass;
use crate::record::{FailedPayload, FailedRecord, Record, RecordId, RecordMeta};

/// The lane id of a replay.
pub const REPLAY_LANE: &str = "dlq~replay";

/// Entries of the DLQ as a source.
pub struct DlqSource {
    name: Arc<str>,
    store: Arc<DlqStore>,
    filter: DlqFilter,
    batch_size: usize,
}

impl DlqSource {
    /// Replays entries of `store` matching `filter` (whose pipeline must be set).
    #[must_use]
    pub fn new(name: Arc<str>, store: Arc<DlqStore>, filter: DlqFilter, batch_size: usize) -> Self {
        Self {
            name,
            store,
            filter,
            batch_size,
        }
    }
}

#[async_trait]
impl Source for DlqSource {
    fn name(&self) -> &Arc<str> {
        &self.name
    }

    fn bounded(&self) -> bool {
        true
    }

    async fn lanes(&self) -> Result<Vec<LaneSpec>, SourceError> {
        Ok(vec![LaneSpec {
            id: LaneId::sanitized(REPLAY_LANE),
            partition: "dlq".into(),
            size_hint: None,
        }])
    }

    async fn open(
        &self,
        _lane: &LaneSpec,
        offset: u64,
    ) -> Result<Box<dyn LaneReader>, SourceError> {
        Ok(Box::new(DlqReader {
            store: Arc::clone(&self.store),
            filter: self.filter.clone(),
            cursor: i64::try_from(offset).unwrap_or(i64::MAX),
            batch_size: self.batch_size as u64,
        }))
    }
}

struct DlqReader {
    store: Arc<DlqStore>,
    filter: DlqFilter,
    cursor: i64,
    batch_size: u64,
}

fn to_input(e: DeadLetter) -> Result<Record, Box<FailedRecord>> {
    let id = RecordId {
        source: e.source.into(),
        partition: e.partition.into(),
        offset: e.offset,
    };
    let value = match (e.record, e.record_raw) {
        (Some(v), _) => Ok(v),
        (None, Some(raw)) => serde_json::from_str(&raw).map_err(|err| (raw, err.to_string())),
        (None, None) => Err((String::new(), "entry holds no record".to_owned())),
    };
    match value {
        Ok(value) => {
            let mut meta = RecordMeta::new(id);
            meta.attempts = e.attempts;
            Ok(Record::new(value, meta))
        }
        Err((raw, msg)) => Err(Box::new(FailedRecord {
            id,
            stage: "source".into(),
            class: ErrorClass::Permanent,
            payload: FailedPayload::Raw(raw.into_bytes()),
            reason: "parse",
            message: format!("not valid JSON: {msg}"),
        })),
    }
}

#[async_trait]
impl LaneReader for DlqReader {
    async fn next_batch(&mut self) -> Option<Result<SourceBatch, SourceError>> {
        let entries = tokio::task::block_in_place(|| {
            self.store
                .list_after(&self.filter, self.cursor, self.batch_size)
        });
        let entries = match entries {
            Ok(e) => e,
            Err(e) => {
                return Some(Err(SourceError::Format {
                    path: "dead-letter store".into(),
                    message: e.to_string(),
                }));
            }
        };
        let last = entries.last()?.id;
        let mut batch = SourceBatch {
            next_offset: u64::try_from(last).unwrap_or(0),
            ..SourceBatch::default()
        };
        for e in entries {
            match to_input(e) {
                Ok(r) => batch.records.push(r),
                Err(f) => batch.failed.push(*f),
            }
        }
        self.cursor = last;
        Some(Ok(batch))
    }
}
