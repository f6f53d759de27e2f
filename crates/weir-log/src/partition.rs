//! A partition: an ordered, append-only sequence of records with dense offsets, stored as
//! segments. [`Partition`] is the handle appenders and readers use; the writer thread (see
//! `writer.rs`) does all its writes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Waker;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::{Condvar, Mutex};

use crate::signal::Signal;

use crate::completion::{AppendAck, AppendFuture, Completion};
use crate::config::LogConfig;
use crate::consumer;
use crate::error::{Error, Result};
use crate::format::{encode_record, encoded_len};
use crate::layout::{Layout, PartitionLayout, check_name};
use crate::reader::{Reader, StartAt, TailWait};
use crate::segment::Segment;
use crate::stats::PartitionStats;
use crate::storage::Storage;

/// A record to append. Without a timestamp it gets the wall-clock time of the append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewRecord<'a> {
    /// Optional key (kept apart from "empty key").
    pub key: Option<&'a [u8]>,
    /// The payload.
    pub value: &'a [u8],
    /// Milliseconds since the Unix epoch; `None`: now.
    pub timestamp_ms: Option<i64>,
}

impl<'a> NewRecord<'a> {
    /// A record with this value, no key, timestamped at append.
    #[must_use]
    pub fn new(value: &'a [u8]) -> Self {
        Self {
            key: None,
            value,
            timestamp_ms: None,
        }
    }

    /// The same record with a key.
    #[must_use]
    pub fn with_key(mut self, key: &'a [u8]) -> Self {
        self.key = Some(key);
        self
    }

    /// The same record with an explicit timestamp (ms since the Unix epoch).
    #[must_use]
    pub fn at(mut self, timestamp_ms: i64) -> Self {
        self.timestamp_ms = Some(timestamp_ms);
        self
    }
}

/// A record read back from the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Its offset in the partition.
    pub offset: u64,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// The key, if it had one.
    pub key: Option<Vec<u8>>,
    /// The payload.
    pub value: Vec<u8>,
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// State shared by every partition of a log.
#[derive(Debug)]
pub(crate) struct LogShared {
    pub storage: Arc<dyn Storage>,
    pub config: LogConfig,
    pub layout: Layout,
    /// Bytes of segment and index files, plus bytes reserved by queued appends.
    pub usage: AtomicU64,
}

impl LogShared {
    /// Reserves `bytes` of the quota for an append.
    fn reserve(&self, bytes: u64) -> Result<()> {
        let Some(quota) = self.config.quota_bytes else {
            self.usage.fetch_add(bytes, Ordering::AcqRel);
            return Ok(());
        };
        let mut usage = self.usage.load(Ordering::Acquire);
        loop {
            if usage.saturating_add(bytes) > quota {
                return Err(Error::QuotaExceeded {
                    quota,
                    usage,
                    requested: bytes,
                });
            }
            match self.usage.compare_exchange_weak(
                usage,
                usage + bytes,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => usage = actual,
            }
        }
    }

    /// Counts bytes written outside appends (segment headers, index files).
    pub fn add_usage(&self, bytes: u64) {
        self.usage.fetch_add(bytes, Ordering::AcqRel);
    }

    /// Gives back bytes of deleted files.
    pub fn release(&self, bytes: u64) {
        let _ = self
            .usage
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                Some(u.saturating_sub(bytes))
            });
    }
}

/// One record of a queued batch.
#[derive(Clone, Copy, Debug)]
pub(crate) struct QueuedRecord {
    pub offset: u64,
    pub timestamp_ms: i64,
    pub len: u32,
}

/// Appends queued for the writer: their frames back to back, and who waits for them.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub bytes: Vec<u8>,
    pub records: Vec<QueuedRecord>,
    pub waiters: Vec<Arc<Completion>>,
}

impl Batch {
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.records.clear();
        self.waiters.clear();
    }
}

/// Requests to the writer besides appends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Request {
    Sync,
    Roll,
}

/// What appenders hand to the writer, under one lock.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    pub pending: Batch,
    pub requests: Vec<(Request, Arc<Completion>)>,
    /// Offset the next queued record gets.
    pub next_offset: u64,
    /// Why the writer refuses appends, once a write or fsync failed.
    pub poisoned: Option<String>,
    pub closing: bool,
}

/// What readers wait on.
#[derive(Debug, Default)]
pub(crate) struct Tail {
    pub visible_next: u64,
    pub wakers: Vec<Waker>,
    pub closed: bool,
}

/// Counters since open.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub batches: AtomicU64,
    pub syncs: AtomicU64,
}

/// Everything about one partition, shared by its handles, readers and writer thread.
#[derive(Debug)]
pub(crate) struct PartitionShared {
    pub log: Arc<LogShared>,
    pub topic: String,
    pub id: u32,
    pub layout: PartitionLayout,
    /// Oldest first; the last one is the active segment. Never empty.
    pub segments: Mutex<Vec<Arc<Segment>>>,
    pub queue: Mutex<Queue>,
    /// Wakes the topic's writer thread.
    pub signal: Arc<Signal>,
    pub tail: Mutex<Tail>,
    pub tail_cv: Condvar,
    /// Offset after the last record readers may see (fsynced under `Fsync::Always`).
    visible_next: AtomicU64,
    pub consumers: Mutex<BTreeMap<String, u64>>,
    pub counters: Counters,
}

impl PartitionShared {
    pub fn new(
        log: Arc<LogShared>,
        topic: &str,
        id: u32,
        segments: Vec<Arc<Segment>>,
        next_offset: u64,
        consumers: BTreeMap<String, u64>,
        signal: Arc<Signal>,
    ) -> Self {
        Self {
            layout: log.layout.partition(topic, id),
            log,
            topic: topic.to_owned(),
            id,
            segments: Mutex::new(segments),
            queue: Mutex::new(Queue {
                next_offset,
                ..Queue::default()
            }),
            signal,
            tail: Mutex::new(Tail {
                visible_next: next_offset,
                ..Tail::default()
            }),
            tail_cv: Condvar::new(),
            visible_next: AtomicU64::new(next_offset),
            consumers: Mutex::new(consumers),
            counters: Counters::default(),
        }
    }

    pub fn visible_next(&self) -> u64 {
        self.visible_next.load(Ordering::Acquire)
    }

    pub fn first_offset(&self) -> u64 {
        self.segments.lock().first().map_or(0, |s| s.base)
    }

    /// The segment after the one starting at `base`.
    pub fn successor(&self, base: u64) -> Option<Arc<Segment>> {
        self.segments.lock().iter().find(|s| s.base > base).cloned()
    }

    /// Makes records below `next` visible and wakes readers.
    pub fn publish(&self, next: u64) {
        self.visible_next.store(next, Ordering::Release);
        let wakers = {
            let mut tail = self.tail.lock();
            tail.visible_next = next;
            std::mem::take(&mut tail.wakers)
        };
        self.tail_cv.notify_all();
        for w in wakers {
            w.wake();
        }
    }

    /// Tells readers that nothing more will come.
    pub fn close_tail(&self) {
        let wakers = {
            let mut tail = self.tail.lock();
            tail.closed = true;
            std::mem::take(&mut tail.wakers)
        };
        self.tail_cv.notify_all();
        for w in wakers {
            w.wake();
        }
    }

    fn refusal(&self, q: &Queue) -> Option<Error> {
        if q.closing {
            return Some(Error::Closed);
        }
        q.poisoned.as_ref().map(|cause| Error::Poisoned {
            topic: self.topic.clone(),
            partition: self.id,
            cause: cause.clone(),
        })
    }

    /// Bytes `records` take in a segment, or why they cannot be appended.
    fn size_of(&self, records: &[NewRecord<'_>]) -> Result<u64> {
        let max = u64::from(self.log.config.max_record_bytes);
        let mut total = 0u64;
        for r in records {
            let size = (r.key.map_or(0, <[u8]>::len) + r.value.len()) as u64;
            if size > max {
                return Err(Error::RecordTooLarge { size, max });
            }
            total += encoded_len(r.key, r.value) as u64;
        }
        Ok(total)
    }

    /// Queues records for the writer and, if `wake`, wakes it; the completion fires when they
    /// are acknowledged. `reserved`: the bytes of quota the caller reserved for them already
    /// (given back if the partition refuses them); without it they are reserved here.
    fn enqueue(
        &self,
        records: &[NewRecord<'_>],
        wake: bool,
        reserved: Option<u64>,
    ) -> Result<(AppendAck, Arc<Completion>)> {
        let total = match reserved {
            Some(total) => total,
            None => self.size_of(records)?,
        };
        let now = if records.iter().any(|r| r.timestamp_ms.is_none()) {
            now_ms()
        } else {
            0
        };
        let mut guard = self.queue.lock();
        if let Some(err) = self.refusal(&guard) {
            drop(guard);
            if reserved.is_some() {
                self.log.release(total);
            }
            return Err(err);
        }
        let first = guard.next_offset;
        if records.is_empty() {
            return Ok((
                AppendAck {
                    first_offset: first,
                    next_offset: first,
                },
                Completion::done(Ok(())),
            ));
        }
        if reserved.is_none() {
            self.log.reserve(total)?;
        }
        let q = &mut *guard;
        for (i, r) in records.iter().enumerate() {
            let offset = first + i as u64;
            let timestamp_ms = r.timestamp_ms.unwrap_or(now);
            encode_record(&mut q.pending.bytes, offset, timestamp_ms, r.key, r.value);
            q.pending.records.push(QueuedRecord {
                offset,
                timestamp_ms,
                len: encoded_len(r.key, r.value) as u32,
            });
        }
        q.next_offset = first + records.len() as u64;
        let completion = Completion::new();
        q.pending.waiters.push(completion.clone());
        let ack = AppendAck {
            first_offset: first,
            next_offset: q.next_offset,
        };
        drop(guard);
        if wake {
            self.signal.notify();
        }
        Ok((ack, completion))
    }

    fn request(&self, request: Request) -> Result<()> {
        let completion = Completion::new();
        {
            let mut q = self.queue.lock();
            if let Some(err) = self.refusal(&q) {
                return Err(err);
            }
            q.requests.push((request, completion.clone()));
        }
        self.signal.notify();
        completion.wait()
    }
}

/// Handle to one partition of a topic: append, read, commit consumer offsets. Cheap to clone
/// and to share between threads.
#[derive(Clone, Debug)]
pub struct Partition {
    pub(crate) shared: Arc<PartitionShared>,
}

impl Partition {
    /// The topic.
    #[must_use]
    pub fn topic(&self) -> &str {
        &self.shared.topic
    }

    /// The partition number.
    #[must_use]
    pub fn id(&self) -> u32 {
        self.shared.id
    }

    /// Appends records and blocks until they are acknowledged: under `Fsync::Always` that is
    /// once they are fsynced. Concurrent appends to the partition are batched by the writer
    /// thread and share one write and one fsync (group commit). The records get consecutive
    /// offsets. Do not call from an async task; use [`Partition::append_async`] there.
    ///
    /// # Errors
    /// [`Error::QuotaExceeded`] (retryable) when the log's quota would be exceeded;
    /// [`Error::RecordTooLarge`]; [`Error::Io`] if the write or fsync of this batch failed,
    /// after which the partition is poisoned and every further append fails with
    /// [`Error::Poisoned`]; [`Error::Closed`].
    pub fn append(&self, records: &[NewRecord<'_>]) -> Result<AppendAck> {
        let (ack, completion) = self.shared.enqueue(records, true, None)?;
        completion.wait().map(|()| ack)
    }

    /// Queues records now and returns a future of their acknowledgement (see
    /// [`Partition::append`]). Runtime-agnostic: the log's writer thread wakes the task.
    pub fn append_async(&self, records: &[NewRecord<'_>]) -> AppendFuture {
        match self.shared.enqueue(records, true, None) {
            Ok((ack, completion)) => AppendFuture::queued(ack, completion),
            Err(err) => AppendFuture::failed(err),
        }
    }

    /// Queues appends to several partitions, whole or not at all, then wakes each topic's
    /// writer once: appends to partitions of one topic made this way go into one group
    /// commit, made durable by one fsync of the topic's journal rather than one per partition.
    /// The quota is checked for all of them at once, so a full quota refuses every append of
    /// the call (each future then fails with [`Error::QuotaExceeded`]), as does a record too
    /// large in any of them; a poisoned or closed partition refuses only its own. See
    /// [`Partition::append_async`] for each future. The partitions must be of one log.
    pub fn append_all(appends: &[(&Partition, &[NewRecord<'_>])]) -> Vec<AppendFuture> {
        let fail_all = |err: Error| {
            appends
                .iter()
                .map(|_| AppendFuture::failed(err.clone()))
                .collect()
        };
        let mut sizes = Vec::with_capacity(appends.len());
        for (p, records) in appends {
            match p.shared.size_of(records) {
                Ok(total) => sizes.push(total),
                Err(err) => return fail_all(err),
            }
        }
        let total: u64 = sizes.iter().sum();
        if let Some((first, _)) = appends.first()
            && total > 0
            && let Err(err) = first.shared.log.reserve(total)
        {
            return fail_all(err);
        }
        let mut signals: Vec<&Arc<Signal>> = Vec::new();
        let futures = appends
            .iter()
            .zip(sizes)
            .map(|((p, records), total)| {
                let signal = &p.shared.signal;
                if !signals.iter().any(|s| Arc::ptr_eq(s, signal)) {
                    signals.push(signal);
                }
                match p.shared.enqueue(records, false, Some(total)) {
                    Ok((ack, completion)) => AppendFuture::queued(ack, completion),
                    Err(err) => AppendFuture::failed(err),
                }
            })
            .collect();
        for s in signals {
            s.notify();
        }
        futures
    }

    /// Makes every record appended so far durable (useful under `Fsync::Interval`/`Never`).
    ///
    /// # Errors
    /// [`Error::Io`] if the fsync failed (the partition is then poisoned), [`Error::Poisoned`],
    /// [`Error::Closed`].
    pub fn sync(&self) -> Result<()> {
        self.shared.request(Request::Sync)
    }

    /// Seals the active segment now (if it holds records) and starts a new one.
    ///
    /// # Errors
    /// As [`Partition::sync`].
    pub fn roll(&self) -> Result<()> {
        self.shared.request(Request::Roll)
    }

    /// A reader starting at `start`.
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`] for an offset before the first or after the next offset;
    /// [`Error::Corrupt`] or [`Error::Io`] when finding a timestamp reads damaged data.
    pub fn reader(&self, start: StartAt) -> Result<Reader> {
        Reader::new(self.shared.clone(), start)
    }

    /// The first offset still stored (older ones were deleted by retention).
    #[must_use]
    pub fn first_offset(&self) -> u64 {
        self.shared.first_offset()
    }

    /// The offset the next visible record will have: readers see offsets below it.
    #[must_use]
    pub fn next_offset(&self) -> u64 {
        self.shared.visible_next()
    }

    /// The offset of the first record whose timestamp is at or after `timestamp_ms`, or
    /// [`Partition::next_offset`] if there is none.
    ///
    /// # Errors
    /// [`Error::Corrupt`] or [`Error::Io`] if the records searched cannot be read.
    pub fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<u64> {
        crate::reader::offset_for_timestamp(&self.shared, timestamp_ms)
    }

    /// A future that resolves once a record at or after `offset` is visible (to
    /// [`Error::Closed`] if the log is closed first). Wrap it in the runtime's timeout to follow
    /// the tail without a thread.
    pub fn wait_for(&self, offset: u64) -> TailWait {
        TailWait::new(self.shared.clone(), offset)
    }

    /// Durably records that `consumer` has processed every offset below `offset`. Retention
    /// does not delete records at or after the smallest committed offset of the partition
    /// (unless `retention.ignore_consumers`).
    ///
    /// # Errors
    /// [`Error::InvalidName`]; [`Error::OffsetOutOfRange`] if `offset` is past
    /// [`Partition::next_offset`]; [`Error::Io`] if the offset file cannot be written.
    pub fn commit(&self, consumer: &str, offset: u64) -> Result<()> {
        check_name("consumer", consumer)?;
        let next = self.next_offset();
        if offset > next {
            return Err(Error::OffsetOutOfRange {
                topic: self.shared.topic.clone(),
                partition: self.shared.id,
                requested: offset,
                first: self.first_offset(),
                next,
            });
        }
        let s = &self.shared;
        // Held across the write: commits of a partition are serialized.
        let mut consumers = s.consumers.lock();
        consumer::store(s.log.storage.as_ref(), &s.layout, consumer, offset)
            .map_err(|e| Error::io("commit offset", s.layout.consumer_offset(consumer), e))?;
        consumers.insert(consumer.to_owned(), offset);
        Ok(())
    }

    /// The offset `consumer` last committed.
    #[must_use]
    pub fn committed(&self, consumer: &str) -> Option<u64> {
        self.shared.consumers.lock().get(consumer).copied()
    }

    /// Every consumer of the partition with its committed offset.
    #[must_use]
    pub fn consumers(&self) -> Vec<(String, u64)> {
        let consumers = self.shared.consumers.lock();
        consumers.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// Forgets a consumer, so it no longer holds back retention.
    ///
    /// # Errors
    /// [`Error::Io`] if its offset file cannot be removed.
    pub fn remove_consumer(&self, consumer: &str) -> Result<()> {
        check_name("consumer", consumer)?;
        let s = &self.shared;
        let mut consumers = s.consumers.lock();
        consumer::remove(s.log.storage.as_ref(), &s.layout, consumer)
            .map_err(|e| Error::io("remove consumer", s.layout.consumer_offset(consumer), e))?;
        consumers.remove(consumer);
        Ok(())
    }

    /// Segments, offsets, bytes and counters of the partition.
    #[must_use]
    pub fn stats(&self) -> PartitionStats {
        let s = &self.shared;
        let (segments, bytes, first_offset) = {
            let segs = s.segments.lock();
            let bytes = segs.iter().map(|seg| seg.end() + seg.index_bytes()).sum();
            (segs.len(), bytes, segs.first().map_or(0, |seg| seg.base))
        };
        PartitionStats {
            partition: s.id,
            segments,
            first_offset,
            next_offset: s.visible_next(),
            bytes,
            consumers: self.consumers(),
            batches: s.counters.batches.load(Ordering::Relaxed),
            syncs: s.counters.syncs.load(Ordering::Relaxed),
            poisoned: s.queue.lock().poisoned.is_some(),
        }
    }
}
