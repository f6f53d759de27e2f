//! weir-log: an embedded durable log — the "Kafka as a buffer" of one machine.
//!
//! A [`Log`] is a directory of **topics**; a topic has a fixed number of **partitions**; a
//! partition is an ordered, append-only sequence of records with dense offsets `0, 1, 2, ...`,
//! stored as a run of **segment** files. Each record has an offset, a timestamp (ms since the
//! Unix epoch), an optional key and a value. weir-log knows nothing of pipelines; the engine
//! uses it as a source, a sink and the buffer behind HTTP ingest.
//!
//! ```no_run
//! use weir_log::{Log, LogConfig, NewRecord, StartAt};
//! # fn main() -> weir_log::Result<()> {
//! let log = Log::open("/var/lib/weir/log", LogConfig::default())?;
//! log.ensure_topic("orders", 4)?;
//! let p = log.partition("orders", 0)?;
//! let ack = p.append(&[NewRecord::new(b"{\"id\":1}").with_key(b"1")])?; // durable when Ok
//! let mut reader = p.reader(StartAt::Offset(ack.first_offset))?;
//! let batch = reader.read_wait(100, 1 << 20, std::time::Duration::from_secs(1))?;
//! p.commit("my-consumer", reader.position())?;
//! # Ok(()) }
//! ```
//!
//! # Invariants
//!
//! 1. **Acknowledged means durable** under [`Fsync::Always`]: an append returns `Ok` only after
//!    the bytes of its records were written and `fdatasync`ed (and, for a new segment, the
//!    directory entry synced) — to its segment, or, when its group commit spans several
//!    partitions of the topic, to the topic's journal (see below). Concurrent appends to a
//!    topic share one write per partition and one fsync (group commit, see `topic_writer.rs`). Under [`Fsync::Interval`] and [`Fsync::Never`] `Ok` means "written to
//!    the OS"; a crash may lose a suffix of acknowledged records, never a record in the middle.
//! 2. **Readers see only visible records**: under `Always` those are exactly the acknowledged
//!    ones, so a reader never sees a record a crash could take back.
//! 3. **Offsets are dense and never reused for different data while acknowledged data stands**:
//!    the `n`-th record of a partition has offset `n`; recovery cuts only records that were
//!    never acknowledged (under `Always`), so their offsets are handed out again.
//! 4. **Only the active (last) segment of a partition can have a torn tail.** Sealing a segment
//!    fsyncs it whatever the `Fsync` mode, before the next segment is created.
//! 5. **Damage is never skipped silently.** A torn or corrupt tail of the active segment is cut
//!    on open and reported; damage anywhere in a sealed segment is reported on open (when it is
//!    scanned) and returned as [`Error::Corrupt`] — naming the segment file, offset and byte
//!    position — by every read that reaches it.
//! 6. **Retention deletes whole sealed segments, oldest first**, never the active one, and never
//!    a segment holding an offset at or after the smallest offset committed by a consumer of the
//!    partition, unless `retention.ignore_consumers` is set.
//! 7. **A failed write or fsync poisons the partition's writer**: the appenders of the failed
//!    batch get the I/O error, every later append [`Error::Poisoned`]. After a failed fsync
//!    nothing is known about what reached the disk, so the writer does not pretend; reopening
//!    the log recovers from what is actually there.
//! 8. **The disk quota** (`quota_bytes`, whole log) is checked before an append is queued; an
//!    append that does not fit fails with [`Error::QuotaExceeded`], the one retryable error
//!    ([`Error::is_retryable`]), naming quota and usage. Segment headers and index files written
//!    when a segment is sealed are counted but may take usage a few KiB past the quota. A
//!    topic's journal (at most `journal_bytes`, fixed) is outside the quota.
//!
//! # On-disk format
//!
//! All integers little-endian. Checksums are CRC32C (Castagnoli, the `crc32c` crate).
//!
//! ```text
//! <dir>/topics/<topic>/topic.meta                  "WTOP" | version u32 = 1 | partitions u32 | crc32c u32
//! <dir>/topics/<topic>/journal                     the topic's journal (several partitions, Fsync::Always)
//! <dir>/topics/<topic>/<p>/<base:020>.log          segment: header, then frames back to back
//! <dir>/topics/<topic>/<p>/<base:020>.index        sparse offset index (sealed segments only)
//! <dir>/topics/<topic>/<p>/<base:020>.timeindex    time index (sealed segments only)
//! <dir>/topics/<topic>/<p>/consumers/<name>.offset "WCOF" | committed offset u64 | crc32c u32
//!
//! segment header (16 bytes):
//!   magic "WLOG" (4) | version u32 = 1 (4) | base offset u64 (8)
//!
//! record frame (28 bytes + key + value):
//!   +-------------+-------------+------------+------------------+-------------+-----+-------+
//!   | body_len u32| crc32c u32  | offset u64 | timestamp_ms i64 | key_len u32 | key | value |
//!   +-------------+-------------+------------+------------------+-------------+-----+-------+
//!   body     = offset .. value (body_len bytes, 20 <= body_len <= 2^30)
//!   crc32c   = CRC32C(body_len bytes ++ body)
//!   key_len  = 0xFFFF_FFFF: no key; else key is key_len bytes, value is the rest of the body
//!
//! index files (written once, when the segment is sealed; temp file, fsync, rename):
//!   magic "WIDX" (.index) or "WTIX" (.timeindex) (4) | version u32 = 1 | base offset u64
//!   | segment length u64 | next offset u64 | max timestamp i64 | entry count u32
//!   | entries | crc32c u32 of everything before
//!   .index entry     = offset - base u32 | byte position of the frame u32
//!   .timeindex entry = largest timestamp up to this record i64 | offset - base u32
//!   An entry is added for the first record of a segment and then every
//!   index_interval_bytes of frames.
//! ```
//!
//! A frame's offset is stored (not only implied by its position) so that recovery and readers
//! verify that frame `n` of a segment really is offset `base + n`.
//!
//! **Index files are a cache.** The active segment's indexes live in memory and are rebuilt by
//! the recovery scan; a sealed segment's index files are written once when it is sealed and
//! used on open only if their checksum verifies and the segment length they record matches
//! the segment file. Otherwise (missing, damaged, stale) the segment is scanned — verifying
//! every frame's CRC — and the files are rebuilt. This keeps opening a log with many sealed
//! segments cheap without making any index file something that can lose data.
//!
//! **The journal** of a topic with several partitions (format in `journal.rs`) makes a group
//! commit that spans partitions durable with one fsync: each partition's frames go to its
//! segment unsynced and, as one entry per partition, to the journal, which alone is fsynced.
//! Before the journal is reused from its start (once `journal_bytes` are written), every
//! segment written since its last reuse is synced; entries carry the journal's generation so
//! leftovers of an earlier one are never read as new. A group that touches one partition is
//! fsynced in its segment and does not use the journal.
//!
//! # Recovery
//!
//! On open, per partition (the report is returned by [`Log::recovery_report`] and logged):
//!
//! - `*.tmp` files (an interrupted atomic write) and index files without a segment, or of the
//!   active segment, are removed.
//! - **The active (last) segment is scanned frame by frame**: length in range, CRC32C matches,
//!   offset is the next expected one. At the first frame that fails — a torn write (frame runs
//!   past the end of the file), flipped bytes, garbage — the file is truncated to the end of
//!   the last good frame and fsynced; the records before it survive exactly, everything from
//!   it on is gone. The cut ([`Truncation`]: segment, byte position, bytes cut, first lost
//!   offset, what was found) is reported and logged as a warning. A segment whose header is
//!   torn or wrong is cut to an empty segment the same way. Under `Fsync::Always` only records
//!   that were never acknowledged can be in a torn tail.
//! - **Sealed segments** are trusted through their index files, or scanned if those do not
//!   verify. Damage found by a scan, or a gap between a segment's end and the next segment's
//!   base, is reported ([`CorruptionFound`]) and left in place: a sealed segment was fsynced
//!   complete, so damage there is real corruption, which is the operator's to judge, and
//!   cutting it would silently drop acknowledged records and every segment after it.
//! - Committed consumer offsets are loaded; a damaged one counts as 0 (holds back retention).
//! - Per topic, after its partitions: **the journal is replayed**. Every record it holds past
//!   what a partition's segments hold (after a cut, or where a crash lost unsynced segment
//!   writes) is written to the segment again and synced; the count is reported
//!   ([`PartitionRecovery::replayed`]). Then the journal starts its next generation. A torn or
//!   damaged tail of the journal ends it (those groups were never acknowledged).
//!
//! # Threads
//!
//! One writer thread per topic (all writes of its partitions and its journal happen there) and,
//! if
//! `retention.check_interval` is set, one retention thread per log. Appends block the calling
//! thread ([`Partition::append`]) or return a runtime-agnostic future
//! ([`Partition::append_async`], or [`Partition::append_all`] for several partitions in one
//! group commit); readers can block with a timeout ([`Reader::read_wait`]) or
//! await [`Reader::wait`].
//!
//! Not done (yet): a lock against two processes opening the same directory; deleting topics
//! or changing a topic's partition count; compaction by key; a bound on the bytes queued for
//! a writer (appenders are bounded only by the disk quota); non-Unix file systems
//! ([`DiskStorage`] uses positional I/O from `std::os::unix`).

#![forbid(unsafe_code)]

mod completion;
mod config;
mod consumer;
mod error;
mod format;
mod index;
mod journal;
mod layout;
mod log;
mod partition;
mod reader;
mod recovery;
mod replay;
mod retention;
mod segment;
mod signal;
mod stats;
pub mod storage;
mod topic_writer;
mod writer;

pub use completion::{AppendAck, AppendFuture};
pub use config::{Fsync, LogConfig, Retention};
pub use error::{Damage, Error, ErrorClass, Result};
pub use format::{RECORD_OVERHEAD, encoded_len};
pub use log::Log;
pub use partition::{NewRecord, Partition, Record};
pub use reader::{Reader, StartAt, TailWait};
pub use recovery::{CorruptionFound, PartitionRecovery, RecoveryReport, Truncation};
pub use retention::{DeletedSegment, RetentionReport};
pub use stats::{LogStats, PartitionStats, TopicStats};
pub use storage::{CrashMode, DiskStorage, MemStorage, Storage, StorageFile};

#[cfg(test)]
mod tests {
    fn send_sync<T: Send + Sync>() {}

    #[test]
    fn handles_can_cross_threads_and_tasks() {
        send_sync::<crate::Log>();
        send_sync::<crate::Partition>();
        send_sync::<crate::Reader>();
        send_sync::<crate::AppendFuture>();
        send_sync::<crate::TailWait>();
        send_sync::<crate::Error>();
    }
}
