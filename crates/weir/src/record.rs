//! Records and their identity.
//!
//! A record is a JSON value plus metadata. Its [`RecordId`] — `(source, partition, offset)` — is
//! deterministic across replays: reading the same input again yields the same ids, so every
//! idempotent write can derive its key from it.

use std::fmt;
use std::sync::Arc;

/// Identifies one input record: the same input always gets the same id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId {
    /// The source that produced the record (the pipeline's source name).
    pub source: Arc<str>,
    /// The partition (lane) within the source; for the file source, the input file.
    pub partition: Arc<str>,
    /// Position within the partition; for the file source, the byte offset of the record.
    pub offset: u64,
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}@{}", self.source, self.partition, self.offset)
    }
}

/// What weir knows about a record besides its value.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordMeta {
    /// Deterministic identity of the input record this record came from.
    pub id: RecordId,
    /// Partitioning key, where the source has one.
    pub key: Option<Arc<str>>,
    /// Event time in milliseconds since the Unix epoch, where the source has one.
    pub event_time_ms: Option<i64>,
    /// How many times this record has been attempted (0 on first delivery).
    pub attempts: u32,
    /// Dependencies whose fallback value this record carries (empty: fully enriched).
    pub degraded: Vec<Arc<str>>,
}

impl RecordMeta {
    /// Metadata of a freshly read record.
    #[must_use]
    pub fn new(id: RecordId) -> Self {
        Self {
            id,
            key: None,
            event_time_ms: None,
            attempts: 0,
            degraded: Vec::new(),
        }
    }
}

/// A JSON value travelling through a pipeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// The payload.
    pub value: serde_json::Value,
    /// Identity and metadata.
    pub meta: RecordMeta,
    /// The record's bytes as read, when `value` holds only the fields the first stage reads
    /// (see `sources/projection.rs`).
    pub raw: Option<Box<[u8]>>,
}

impl Record {
    /// A record with the given value and metadata.
    #[must_use]
    pub fn new(value: serde_json::Value, meta: RecordMeta) -> Self {
        Self {
            value,
            meta,
            raw: None,
        }
    }

    /// The record as read: its whole value, also when only some fields were parsed.
    #[must_use]
    pub fn as_read(&self) -> serde_json::Value {
        match &self.raw {
            Some(raw) => serde_json::from_slice(raw).unwrap_or_else(|_| self.value.clone()),
            None => self.value.clone(),
        }
    }

    /// Like [`Record::as_read`], consuming the record.
    #[must_use]
    pub fn into_as_read(self) -> serde_json::Value {
        match &self.raw {
            Some(raw) => serde_json::from_slice(raw).unwrap_or(self.value),
            None => self.value,
        }
    }
}

/// An input that could not become a record, or a record a stage rejected: kept with its
/// identity, its raw bytes where it could not be parsed, and why.
#[derive(Clone, Debug)]
pub struct FailedRecord {
    /// Identity of the input record.
    pub id: RecordId,
    /// The stage that rejected it (`source`, or the transform's name).
    pub stage: Arc<str>,
    /// The error's class.
    pub class: crate::error::ErrorClass,
    /// The record as far as it was understood: the parsed value, or the raw bytes.
    pub payload: FailedPayload,
    /// Stable reason code (`parse`, `transform`, ...).
    pub reason: &'static str,
    /// Human-readable description.
    pub message: String,
}

/// What is kept of a failed record.
#[derive(Clone, Debug)]
pub enum FailedPayload {
    /// The record was parsed; this is its value when it failed.
    Value(serde_json::Value),
    /// The input could not be parsed; these are its bytes.
    Raw(Vec<u8>),
}
