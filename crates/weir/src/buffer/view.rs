//! What `weir log stats` and `weir log tail` show, built from an open log — in this process,
//! or in the running `weir run` that holds the log (served as JSON under `/api/log/*`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use weir_log::{Log, LogConfig, StartAt};

use crate::keypath;

/// The whole log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogView {
    /// The log's directory.
    pub dir: String,
    /// Bytes counted against the quota.
    pub bytes: u64,
    /// The disk quota.
    pub quota_bytes: Option<u64>,
    /// Retention settings.
    pub retention: RetentionView,
    /// Topics by name.
    pub topics: Vec<TopicView>,
}

/// Retention settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionView {
    /// Sealed segments older than this are deleted (seconds).
    pub max_age_secs: Option<u64>,
    /// Partitions are kept under this many bytes.
    pub max_bytes: Option<u64>,
    /// How often retention runs (seconds).
    pub check_interval_secs: Option<u64>,
    /// Whether retention may delete records a consumer has not committed past.
    pub ignore_consumers: bool,
}

/// One topic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicView {
    /// Its name.
    pub name: String,
    /// Its partitions, in order.
    pub partitions: Vec<PartitionView>,
}

/// One partition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionView {
    /// Its number.
    pub partition: u32,
    /// Segment files.
    pub segments: usize,
    /// First offset stored.
    pub first_offset: u64,
    /// Offset after the last record.
    pub next_offset: u64,
    /// Bytes of its files.
    pub bytes: u64,
    /// Consumers and their committed offsets.
    pub consumers: BTreeMap<String, u64>,
}

impl PartitionView {
    /// Records stored.
    #[must_use]
    pub fn records(&self) -> u64 {
        self.next_offset - self.first_offset
    }
}

/// One record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordView {
    /// Its partition.
    pub partition: u32,
    /// Its offset.
    pub offset: u64,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// Its partitioning key (JSON text), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The record (a JSON value; a string holding the bytes if they are not JSON).
    pub value: serde_json::Value,
}

/// Statistics of `log` (opened from `dir` with `config`).
#[must_use]
pub fn stats(log: &Log, dir: &str, config: &LogConfig) -> LogView {
    let s = log.stats();
    let r = &config.retention;
    LogView {
        dir: dir.to_owned(),
        bytes: s.bytes,
        quota_bytes: s.quota_bytes,
        retention: RetentionView {
            max_age_secs: r.max_age.map(|d| d.as_secs()),
            max_bytes: r.max_bytes,
            check_interval_secs: r.check_interval.map(|d| d.as_secs()),
            ignore_consumers: r.ignore_consumers,
        },
        topics: s
            .topics
            .into_iter()
            .map(|t| TopicView {
                name: t.name,
                partitions: t
                    .partitions
                    .into_iter()
                    .map(|p| PartitionView {
                        partition: p.partition,
                        segments: p.segments,
                        first_offset: p.first_offset,
                        next_offset: p.next_offset,
                        bytes: p.bytes,
                        consumers: p.consumers.into_iter().collect(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// The offset of each partition of `topic` of the first record at or after `time_ms`.
///
/// # Errors
/// An unknown topic; damage in the records searched.
pub fn offsets_for_time(log: &Log, topic: &str, time_ms: i64) -> weir_log::Result<Vec<(u32, u64)>> {
    let n = partitions(log, topic)?;
    (0..n)
        .map(|p| Ok((p, log.partition(topic, p)?.offset_for_timestamp(time_ms)?)))
        .collect()
}

fn partitions(log: &Log, topic: &str) -> weir_log::Result<u32> {
    log.topics()
        .into_iter()
        .find(|(t, _)| t == topic)
        .map(|(_, n)| n)
        .ok_or_else(|| weir_log::Error::UnknownTopic(topic.to_owned()))
}

/// Up to `max` records of each partition of `positions` (partition, offset), from there.
/// An offset before the first stored one starts at the first.
///
/// # Errors
/// An unknown topic or partition; damage in the records read.
pub fn read(
    log: &Log,
    topic: &str,
    positions: &[(u32, u64)],
    max: usize,
) -> weir_log::Result<Vec<RecordView>> {
    let mut out = Vec::new();
    for &(p, from) in positions {
        let part = log.partition(topic, p)?;
        let from = from.clamp(part.first_offset(), part.next_offset());
        let mut reader = part.reader(StartAt::Offset(from))?;
        for r in reader.read(max, 8 << 20)? {
            let (key, _) = keypath::decode_key(r.key.as_deref());
            out.push(RecordView {
                partition: p,
                offset: r.offset,
                timestamp_ms: r.timestamp_ms,
                key: key.map(|k| String::from_utf8_lossy(k).into_owned()),
                value: serde_json::from_slice(&r.value).unwrap_or_else(|_| {
                    serde_json::Value::String(String::from_utf8_lossy(&r.value).into_owned())
                }),
            });
        }
    }
    Ok(out)
}
