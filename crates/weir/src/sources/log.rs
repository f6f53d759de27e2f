//! The log source: a topic of the embedded log, one lane per partition; the lane's offset is
//! the log offset. Also the consuming half of an `http` pipeline (its topic is named after it).
//!
//! The source is unbounded: at the end of a partition the lane waits for new records (a
//! `weir run` keeps running until it is stopped). After each checkpoint the lane's
//! checkpointed offset is committed as the pipeline's weir-log consumer offset, so retention
//! deletes only records every consuming pipeline has checkpointed past.

use std::sync::Arc;

use async_trait::async_trait;
use weir_log::{Partition, StartAt};

use super::{LaneReader, LaneSpec, Source, SourceBatch, SourceError};
use crate::buffer::{self, Buffer};
use crate::epoch::LaneId;
use crate::error::ErrorClass;
use crate::keypath;
use crate::record::{FailedPayload, FailedRecord, Record, RecordId, RecordMeta};

/// Bytes read from a partition per batch at most.
const BATCH_BYTES: usize = 4 << 20;

/// A topic of the embedded log as a source.
#[derive(Debug)]
pub struct LogSource {
    name: Arc<str>,
    buffer: Arc<Buffer>,
    topic: String,
    consumer: String,
    batch_size: usize,
}

impl LogSource {
    /// Reads `topic` of `buffer` for pipeline `name`.
    #[must_use]
    pub fn new(name: Arc<str>, buffer: Arc<Buffer>, topic: String, batch_size: usize) -> Self {
        let consumer = buffer::consumer(&name);
        Self {
            name,
            buffer,
            topic,
            consumer,
            batch_size,
        }
    }

    fn partition(&self, lane: &LaneSpec) -> Result<Partition, SourceError> {
        let err = |source| SourceError::Log {
            partition: lane.partition.to_string(),
            source,
        };
        let id = lane
            .partition
            .rsplit_once('/')
            .and_then(|(_, id)| id.parse().ok())
            .ok_or_else(|| err(weir_log::Error::UnknownTopic(lane.partition.to_string())))?;
        self.buffer.log().partition(&self.topic, id).map_err(err)
    }
}

#[async_trait]
impl Source for LogSource {
    fn name(&self) -> &Arc<str> {
        &self.name
    }

    fn bounded(&self) -> bool {
        false
    }

    async fn lanes(&self) -> Result<Vec<LaneSpec>, SourceError> {
        let Some((_, n)) = self
            .buffer
            .log()
            .topics()
            .into_iter()
            .find(|(t, _)| *t == self.topic)
        else {
            return Err(SourceError::Log {
                partition: self.topic.clone(),
                source: weir_log::Error::UnknownTopic(self.topic.clone()),
            });
        };
        Ok((0..n)
            .map(|id| {
                let partition = format!("{}/{id}", self.topic);
                LaneSpec {
                    id: LaneId::sanitized(&partition),
                    partition: partition.into(),
                    size_hint: None,
                }
            })
            .collect())
    }

    async fn open(&self, lane: &LaneSpec, offset: u64) -> Result<Box<dyn LaneReader>, SourceError> {
        let part = self.partition(lane)?;
        let err = |source| SourceError::Log {
            partition: lane.partition.to_string(),
            source,
        };
        let reader = part.reader(StartAt::Offset(offset)).map_err(err)?;
        Ok(Box::new(LogLaneReader {
            reader,
            source: Arc::clone(&self.name),
            partition: Arc::clone(&lane.partition),
            batch_size: self.batch_size,
        }))
    }

    async fn checkpointed(&self, lane: &LaneSpec, next_offset: u64) {
        let result = self
            .partition(lane)
            .map(|p| tokio::task::block_in_place(|| p.commit(&self.consumer, next_offset)));
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(pipeline = %self.name, lane = %lane.id, "cannot commit the consumer offset {next_offset} (retention keeps the records meanwhile): {e}")
            }
            Err(e) => {
                tracing::warn!(pipeline = %self.name, lane = %lane.id, "cannot commit the consumer offset: {e}")
            }
        }
    }
}

struct LogLaneReader {
    reader: weir_log::Reader,
    source: Arc<str>,
    partition: Arc<str>,
    batch_size: usize,
}

impl LogLaneReader {
    fn convert(&self, records: Vec<weir_log::Record>) -> SourceBatch {
        let mut batch = SourceBatch {
            next_offset: self.reader.position(),
            ..SourceBatch::default()
        };
        for r in records {
            let id = RecordId {
                source: Arc::clone(&self.source),
                partition: Arc::clone(&self.partition),
                offset: r.offset,
            };
            match serde_json::from_slice(&r.value) {
                Ok(value) => {
                    let mut meta = RecordMeta::new(id);
                    meta.key = keypath::decode_key(r.key.as_deref())
                        .0
                        .map(|k| String::from_utf8_lossy(k).into());
                    meta.event_time_ms = Some(r.timestamp_ms);
                    batch.records.push(Record::new(value, meta));
                }
                Err(e) => batch.failed.push(FailedRecord {
                    id,
                    stage: "source".into(),
                    class: ErrorClass::Permanent,
                    payload: FailedPayload::Raw(r.value),
                    reason: "parse",
                    message: format!("not valid JSON: {e}"),
                }),
            }
        }
        batch
    }
}

#[async_trait]
impl LaneReader for LogLaneReader {
    /// Cancel-safe: records are returned in the same poll that reads them.
    async fn next_batch(&mut self) -> Option<Result<SourceBatch, SourceError>> {
        loop {
            let read =
                tokio::task::block_in_place(|| self.reader.read(self.batch_size, BATCH_BYTES));
            match read {
                Ok(records) if !records.is_empty() => return Some(Ok(self.convert(records))),
                Ok(_) => {}
                Err(source) => {
                    return Some(Err(SourceError::Log {
                        partition: self.partition.to_string(),
                        source,
                    }));
                }
            }
            if let Err(weir_log::Error::Closed) = self.reader.wait().await {
                return None;
            }
        }
    }
}
