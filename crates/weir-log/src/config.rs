//! Configuration of a log: durability, segment size, retention, quota.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::format::MAX_BODY_LEN;

/// When appended records are fsynced, and so when an append is acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Fsync {
    /// Every batch of appends is fsynced before any of its callers is acknowledged (group
    /// commit: concurrent appends share one fsync). Readers see only fsynced records.
    #[default]
    Always,
    /// Appends are acknowledged once written to the OS; the writer fsyncs at most this long after
    /// the first unsynced write. A crash loses at most about this interval of acknowledged data.
    Interval(Duration),
    /// Appends are acknowledged once written to the OS; fsync happens only when a segment is
    /// sealed, on [`Partition::sync`](crate::Partition::sync) and on close.
    Never,
}

/// Which sealed segments retention deletes. The active segment is never deleted.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Retention {
    /// Delete a sealed segment once its newest record is older than this.
    pub max_age: Option<Duration>,
    /// Delete the oldest sealed segments of a partition while the partition's segment files
    /// take more than this many bytes.
    pub max_bytes: Option<u64>,
    /// Delete segments even when a consumer has not committed past them. Off by default: a
    /// segment is deleted only when every consumer of the partition has committed an offset at
    /// or past its end.
    pub ignore_consumers: bool,
    /// How often the background thread applies retention; `None`: only on
    /// [`Log::enforce_retention`](crate::Log::enforce_retention).
    pub check_interval: Option<Duration>,
}

/// Configuration of a [`Log`](crate::Log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// Durability of appends.
    pub fsync: Fsync,
    /// A segment is sealed and a new one started when the next record would take it past this.
    pub segment_bytes: u64,
    /// Bytes of records between two entries of the sparse offset and time indexes.
    pub index_interval_bytes: u32,
    /// Largest key plus value of one record.
    pub max_record_bytes: u32,
    /// Retention of sealed segments.
    pub retention: Retention,
    /// Disk quota of the whole log (segment and index files); `None`: unlimited.
    pub quota_bytes: Option<u64>,
    /// Size of the journal of a topic with several partitions (used under `Fsync::Always`):
    /// one fsync of it makes a group of appends to several partitions durable. When full, the
    /// segments written since it was last reused are synced and it is reused from its start.
    /// Recovery after a crash reads at most this much of it. Journals are outside the quota:
    /// each takes up to this much besides (a fixed size, not growing with the data), so that
    /// an append that fits the quota is never refused for the journal's sake.
    pub journal_bytes: u64,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            fsync: Fsync::Always,
            segment_bytes: 64 * 1024 * 1024,
            index_interval_bytes: 4096,
            max_record_bytes: 8 * 1024 * 1024,
            retention: Retention::default(),
            quota_bytes: None,
            journal_bytes: 8 * 1024 * 1024,
        }
    }
}

impl LogConfig {
    /// Checks the configuration, collecting every problem.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] listing each problem.
    pub fn validate(&self) -> Result<()> {
        let mut problems = Vec::new();
        if self.segment_bytes < 1024 || self.segment_bytes > u64::from(u32::MAX) {
            problems.push(format!(
                "segment_bytes must be between 1024 and {} (is {})",
                u32::MAX,
                self.segment_bytes
            ));
        }
        if self.index_interval_bytes == 0 {
            problems.push("index_interval_bytes must be at least 1".to_owned());
        }
        let max_record = MAX_BODY_LEN - crate::format::BODY_FIXED_LEN as u32;
        if self.max_record_bytes == 0 || self.max_record_bytes > max_record {
            problems.push(format!(
                "max_record_bytes must be between 1 and {max_record} (is {})",
                self.max_record_bytes
            ));
        }
        if let Fsync::Interval(d) = self.fsync
            && d.is_zero()
        {
            problems.push("fsync interval must be more than zero".to_owned());
        }
        if self.retention.check_interval.is_some_and(|d| d.is_zero()) {
            problems.push("retention check_interval must be more than zero".to_owned());
        }
        if self.journal_bytes < 4096 {
            problems.push(format!(
                "journal_bytes must be at least 4096 (is {})",
                self.journal_bytes
            ));
        }
        if self.quota_bytes == Some(0) {
            problems.push("quota_bytes must be more than zero".to_owned());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidConfig(problems))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_every_problem_is_listed() {
        LogConfig::default()
            .validate()
            .expect("default config is valid");
        let bad = LogConfig {
            segment_bytes: 10,
            index_interval_bytes: 0,
            max_record_bytes: 0,
            fsync: Fsync::Interval(Duration::ZERO),
            quota_bytes: Some(0),
            ..LogConfig::default()
        };
        match bad.validate() {
            Err(Error::InvalidConfig(problems)) => assert_eq!(problems.len(), 5, "{problems:?}"),
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }
}
