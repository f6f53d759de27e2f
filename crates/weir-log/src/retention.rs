//! Retention: deletes whole sealed segments, oldest first, by age and by size, never past the
//! smallest offset committed by a consumer of the partition (unless `ignore_consumers`).
//! The decision is a pure function; [`apply`] does the I/O.

use std::sync::Arc;

use crate::config::Retention;
use crate::error::{Error, Result};
use crate::layout::SegmentFile;
use crate::partition::PartitionShared;
use crate::segment::Segment;
use crate::storage::remove_if_exists;

/// What retention needs to know of a sealed segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SegmentFacts {
    /// Offset after its last record.
    pub next_offset: u64,
    /// Size of its `.log` file.
    pub bytes: u64,
    pub max_timestamp: Option<i64>,
}

/// How many of the oldest `sealed` segments to delete. `partition_bytes` is the size of all the
/// partition's `.log` files, the active one included; `min_committed` the smallest offset
/// committed by a consumer of the partition, if it has any.
pub(crate) fn segments_to_delete(
    sealed: &[SegmentFacts],
    partition_bytes: u64,
    policy: &Retention,
    now_ms: i64,
    min_committed: Option<u64>,
) -> usize {
    let cutoff = policy.max_age.map(|age| {
        let age_ms = i64::try_from(age.as_millis()).unwrap_or(i64::MAX);
        now_ms.saturating_sub(age_ms)
    });
    let mut remaining = partition_bytes;
    let mut count = 0;
    for seg in sealed {
        let too_old = cutoff.is_some_and(|c| seg.max_timestamp.is_none_or(|m| m < c));
        let too_big = policy.max_bytes.is_some_and(|max| remaining > max);
        if !(too_old || too_big) {
            break;
        }
        let consumed =
            policy.ignore_consumers || min_committed.is_none_or(|c| seg.next_offset <= c);
        if !consumed {
            break;
        }
        remaining = remaining.saturating_sub(seg.bytes);
        count += 1;
    }
    count
}

/// A segment deleted by retention.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeletedSegment {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// Offset of its first record.
    pub base_offset: u64,
    /// Offset after its last record.
    pub next_offset: u64,
    /// Bytes freed (segment and index files).
    pub bytes: u64,
}

/// What a retention pass deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Deleted segments, oldest first per partition.
    pub deleted: Vec<DeletedSegment>,
}

impl RetentionReport {
    /// Bytes freed.
    #[must_use]
    pub fn bytes_freed(&self) -> u64 {
        self.deleted.iter().map(|d| d.bytes).sum()
    }
}

/// Applies `policy` to one partition at `now_ms`.
pub(crate) fn apply(
    part: &PartitionShared,
    policy: &Retention,
    now_ms: i64,
    report: &mut RetentionReport,
) -> Result<()> {
    let min_committed = part.consumers.lock().values().min().copied();
    let doomed: Vec<Arc<Segment>> = {
        let mut segs = part.segments.lock();
        let sealed = &segs[..segs.len().saturating_sub(1)];
        let facts: Vec<SegmentFacts> = sealed
            .iter()
            .map(|s| SegmentFacts {
                next_offset: s.next_offset(),
                bytes: s.end(),
                max_timestamp: s.index.read().max_timestamp,
            })
            .collect();
        let total = segs.iter().map(|s| s.end()).sum();
        let n = segments_to_delete(&facts, total, policy, now_ms, min_committed);
        segs.drain(..n).collect()
    };
    if doomed.is_empty() {
        return Ok(());
    }
    let storage = part.log.storage.as_ref();
    for seg in doomed {
        for kind in [
            SegmentFile::Log,
            SegmentFile::OffsetIndex,
            SegmentFile::TimeIndex,
        ] {
            let path = part.layout.segment(seg.base, kind);
            remove_if_exists(storage, &path).map_err(|e| Error::io("remove", &path, e))?;
        }
        let bytes = seg.end() + seg.index_bytes();
        part.log.release(bytes);
        tracing::info!(
            topic = %part.topic,
            partition = part.id,
            segment = %seg.path.display(),
            first_offset = seg.base,
            next_offset = seg.next_offset(),
            bytes,
            "weir-log: retention deleted a segment"
        );
        report.deleted.push(DeletedSegment {
            topic: part.topic.clone(),
            partition: part.id,
            base_offset: seg.base,
            next_offset: seg.next_offset(),
            bytes,
        });
    }
    let dir = &part.layout.dir;
    storage
        .sync_dir(dir)
        .map_err(|e| Error::io("sync directory", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn seg(next_offset: u64, max_ts: i64) -> SegmentFacts {
        SegmentFacts {
            next_offset,
            bytes: 100,
            max_timestamp: Some(max_ts),
        }
    }

    #[test]
    fn by_size_oldest_first_down_to_the_limit() {
        let sealed = [seg(10, 0), seg(20, 0), seg(30, 0)];
        let policy = Retention {
            max_bytes: Some(250),
            ..Retention::default()
        };
        // 3 sealed + 50 bytes of active = 350: deleting one leaves 250.
        assert_eq!(segments_to_delete(&sealed, 350, &policy, 0, None), 1);
        assert_eq!(segments_to_delete(&sealed, 351, &policy, 0, None), 2);
    }

    #[test]
    fn by_age_stops_at_the_first_young_segment() {
        let sealed = [seg(10, 1_000), seg(20, 5_000), seg(30, 1_000)];
        let policy = Retention {
            max_age: Some(Duration::from_secs(3)),
            ..Retention::default()
        };
        assert_eq!(segments_to_delete(&sealed, 0, &policy, 6_000, None), 1);
        assert_eq!(segments_to_delete(&sealed, 0, &policy, 9_000, None), 3);
    }

    #[test]
    fn never_past_a_committed_offset_unless_told_to() {
        let sealed = [seg(10, 0), seg(20, 0)];
        let mut policy = Retention {
            max_bytes: Some(0),
            ..Retention::default()
        };
        assert_eq!(segments_to_delete(&sealed, 300, &policy, 0, Some(15)), 1);
        assert_eq!(segments_to_delete(&sealed, 300, &policy, 0, Some(9)), 0);
        assert_eq!(segments_to_delete(&sealed, 300, &policy, 0, Some(20)), 2);
        policy.ignore_consumers = true;
        assert_eq!(segments_to_delete(&sealed, 300, &policy, 0, Some(0)), 2);
    }
}
