//! Readers: from an offset or a timestamp, in batches, following the tail.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::error::{Damage, Error, Result};
use crate::format::SEGMENT_HEADER_LEN;
use crate::partition::{PartitionShared, Record};
use crate::segment::{FrameCursor, Segment, Step};

/// Where a reader starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartAt {
    /// At the first record still stored.
    Earliest,
    /// After the last visible record: only new records.
    Latest,
    /// At this offset (between the first and the next offset, inclusive).
    Offset(u64),
    /// At the first record whose timestamp is at or after this (ms since the Unix epoch).
    Timestamp(i64),
}

/// Where in a segment the reader's cursor is.
#[derive(Debug)]
struct Position {
    segment: Arc<Segment>,
    cursor: FrameCursor,
    /// Offset of the frame at the cursor.
    offset: u64,
}

/// Reads one partition in order. Sees only visible records (fsynced ones under
/// `Fsync::Always`). A damaged record is an error naming the segment file and offset, returned
/// again on every read until the reader is moved with [`Reader::seek`]: nothing is skipped
/// silently. A reader inside a segment that retention deletes finishes that segment (its file
/// stays open); a reader positioned before the first offset gets [`Error::OffsetOutOfRange`].
#[derive(Debug)]
pub struct Reader {
    part: Arc<PartitionShared>,
    /// Offset of the next record to return.
    next: u64,
    position: Option<Position>,
}

impl Reader {
    pub(crate) fn new(part: Arc<PartitionShared>, start: StartAt) -> Result<Self> {
        let next = match start {
            StartAt::Earliest => part.first_offset(),
            StartAt::Latest => part.visible_next(),
            StartAt::Offset(o) => o,
            StartAt::Timestamp(ts) => offset_for_timestamp(&part, ts)?,
        };
        let mut reader = Self {
            part,
            next,
            position: None,
        };
        reader.seek(next)?;
        Ok(reader)
    }

    /// Offset of the next record this reader returns.
    #[must_use]
    pub fn position(&self) -> u64 {
        self.next
    }

    /// Moves the reader to `offset`.
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`] unless first offset <= `offset` <= next offset.
    pub fn seek(&mut self, offset: u64) -> Result<()> {
        let (first, next) = (self.part.first_offset(), self.part.visible_next());
        if offset < first || offset > next {
            return Err(self.out_of_range(offset));
        }
        self.next = offset;
        self.position = None;
        Ok(())
    }

    fn out_of_range(&self, requested: u64) -> Error {
        Error::OffsetOutOfRange {
            topic: self.part.topic.clone(),
            partition: self.part.id,
            requested,
            first: self.part.first_offset(),
            next: self.part.visible_next(),
        }
    }

    /// Puts the cursor at the indexed frame at or before `self.next`.
    fn locate(&self) -> Result<Position> {
        let segment = {
            let segs = self.part.segments.lock();
            let i = segs.partition_point(|s| s.base <= self.next);
            match i.checked_sub(1) {
                Some(i) => segs[i].clone(),
                None => {
                    drop(segs);
                    return Err(self.out_of_range(self.next));
                }
            }
        };
        let rel = u32::try_from(self.next - segment.base).unwrap_or(u32::MAX);
        let (rel, pos) = segment
            .index
            .read()
            .floor(rel)
            .map_or((0, SEGMENT_HEADER_LEN), |(r, p)| (r, u64::from(p)));
        Ok(Position {
            offset: segment.base + u64::from(rel),
            cursor: FrameCursor::new(pos),
            segment,
        })
    }

    /// Returns up to `max_records` visible records from the reader's position, stopping once
    /// `max_bytes` of keys and values are gathered (at least one record is returned if any is
    /// visible). Returns an empty batch at the tail; never blocks on the writer.
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the segment file and offset of a damaged record (the reader
    /// stays before it); [`Error::OffsetOutOfRange`] if retention deleted the position;
    /// [`Error::Io`].
    pub fn read(&mut self, max_records: usize, max_bytes: usize) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        match self.read_into(&mut out, max_records, max_bytes) {
            // Records before a damaged one are returned first; the next read reports it.
            Err(_) if !out.is_empty() => Ok(out),
            Err(e) => Err(e),
            Ok(()) => Ok(out),
        }
    }

    fn read_into(
        &mut self,
        out: &mut Vec<Record>,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<()> {
        let visible = self.part.visible_next();
        let mut bytes = 0usize;
        while out.len() < max_records
            && self.next < visible
            && (out.is_empty() || bytes < max_bytes)
        {
            let mut p = match self.position.take() {
                Some(p) => p,
                None => self.locate()?,
            };
            let step = p.cursor.next(p.segment.file.as_ref(), p.segment.end());
            let step = match step {
                Ok(step) => step,
                Err(e) => {
                    let path = p.segment.path.clone();
                    self.position = Some(p);
                    return Err(Error::io("read", path, e));
                }
            };
            match step {
                Step::Frame(info) => {
                    if info.offset != p.offset {
                        let err = corrupt(
                            &p,
                            Damage::OffsetMismatch {
                                expected: p.offset,
                                found: info.offset,
                            },
                            info.len as u64,
                        );
                        return Err(err);
                    }
                    p.offset += 1;
                    if info.offset >= self.next {
                        let frame = p.cursor.frame(&info);
                        let record = Record {
                            offset: info.offset,
                            timestamp_ms: info.timestamp_ms,
                            key: info.key.clone().map(|k| frame[k].to_vec()),
                            value: frame[info.value.clone()].to_vec(),
                        };
                        bytes += record.value.len() + record.key.as_ref().map_or(0, Vec::len);
                        out.push(record);
                        self.next += 1;
                    }
                    self.position = Some(p);
                }
                Step::Damaged(damage) => return Err(corrupt(&p, damage, 0)),
                Step::End => {
                    // Past the end of this segment: go on in the next one, once the writer
                    // has finished this one (its end is final before the next is listed).
                    match self.part.successor(p.segment.base) {
                        Some(_) if p.cursor.pos() < p.segment.end() => self.position = Some(p),
                        Some(next) if next.base == p.offset => {
                            self.position = Some(Position {
                                offset: next.base,
                                cursor: FrameCursor::new(SEGMENT_HEADER_LEN),
                                segment: next,
                            });
                        }
                        Some(next) => {
                            let damage = Damage::MissingOffsets {
                                from: p.offset,
                                to: next.base,
                            };
                            return Err(corrupt(&p, damage, 0));
                        }
                        None => {
                            self.position = Some(p);
                            break;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Like [`Reader::read`], but at the tail waits up to `timeout` for new records.
    ///
    /// # Errors
    /// As [`Reader::read`]; [`Error::Closed`] if the log is closed with nothing left to read.
    pub fn read_wait(
        &mut self,
        max_records: usize,
        max_bytes: usize,
        timeout: Duration,
    ) -> Result<Vec<Record>> {
        let deadline = Instant::now() + timeout;
        loop {
            let batch = self.read(max_records, max_bytes)?;
            if !batch.is_empty() || Instant::now() >= deadline {
                return Ok(batch);
            }
            let mut tail = self.part.tail.lock();
            if tail.closed {
                return Err(Error::Closed);
            }
            if tail.visible_next <= self.next {
                let _ = self.part.tail_cv.wait_until(&mut tail, deadline);
            }
        }
    }

    /// A future that resolves once a record at the reader's position is visible; then
    /// [`Reader::read`] returns it. It resolves to [`Error::Closed`] when the log is closed.
    /// Wrap it in the runtime's timeout to follow the tail from an async task.
    pub fn wait(&self) -> TailWait {
        TailWait::new(self.part.clone(), self.next)
    }
}

/// The error for damage at the reader's cursor (`skip` bytes further for an intact frame with
/// the wrong offset).
fn corrupt(p: &Position, damage: Damage, skip: u64) -> Error {
    Error::Corrupt {
        segment: p.segment.path.clone(),
        offset: p.offset,
        position: p.cursor.pos() - skip,
        damage,
    }
}

/// Resolves to `Ok(())` once a record at or after `offset` is visible, or to
/// [`Error::Closed`] once the log is closed (and no such record will come).
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct TailWait {
    part: Arc<PartitionShared>,
    offset: u64,
}

impl TailWait {
    pub(crate) fn new(part: Arc<PartitionShared>, offset: u64) -> Self {
        Self { part, offset }
    }
}

impl Future for TailWait {
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let mut tail = self.part.tail.lock();
        if tail.visible_next > self.offset {
            return Poll::Ready(Ok(()));
        }
        if tail.closed {
            return Poll::Ready(Err(Error::Closed));
        }
        if !tail.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            tail.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// The offset of the first visible record with a timestamp at or after `ts`, or the next offset.
pub(crate) fn offset_for_timestamp(part: &Arc<PartitionShared>, ts: i64) -> Result<u64> {
    let segments: Vec<Arc<Segment>> = part.segments.lock().clone();
    for segment in segments {
        let start = {
            let idx = segment.index.read();
            if idx.max_timestamp.is_none_or(|m| m < ts) {
                continue;
            }
            segment.base + idx.before_time(ts).map_or(0, u64::from)
        };
        let visible = part.visible_next();
        if start >= visible {
            return Ok(visible);
        }
        let mut reader = Reader {
            part: part.clone(),
            next: start,
            position: None,
        };
        loop {
            let batch = reader.read(256, usize::MAX)?;
            if batch.is_empty() {
                return Ok(reader.next);
            }
            if let Some(r) = batch.iter().find(|r| r.timestamp_ms >= ts) {
                return Ok(r.offset);
            }
        }
    }
    Ok(part.visible_next())
}
