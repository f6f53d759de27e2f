//! The writing side of a partition: the only code that writes its segments. Its topic's writer
//! thread (`topic_writer.rs`) drives it: takes what appenders queued, writes it with one
//! positional write per segment touched, has it made durable, then handles requests, makes the
//! records visible and acknowledges. A failed write or fsync poisons the partition: the batch's
//! appenders get the I/O error, every later append `Error::Poisoned`; what reached the disk is
//! sorted out by recovery on the next open.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::completion::Completion;
use crate::error::{Error, Result};
use crate::format::{SEGMENT_HEADER_LEN, segment_header};
use crate::index::{SealedSummary, encode_offset_index, encode_time_index};
use crate::layout::{SegmentFile, tmp_path};
use crate::partition::{Batch, PartitionShared, Request};
use crate::segment::Segment;
use crate::storage::{Storage, StorageFile};

/// What the writer took from a partition's queue in one go.
pub(crate) struct Taken {
    pub batch: Batch,
    pub requests: Vec<(Request, Arc<Completion>)>,
    pub closing: bool,
    pub poisoned: Option<String>,
}

/// The writing side of one partition, driven by its topic's writer thread.
pub(crate) struct Writer {
    shared: Arc<PartitionShared>,
    active: Arc<Segment>,
    spare: Batch,
    /// When the oldest unsynced write happened; `None` when everything written is synced.
    dirty_since: Option<Instant>,
}

impl Writer {
    pub fn new(shared: Arc<PartitionShared>, active: Arc<Segment>) -> Self {
        Self {
            shared,
            active,
            spare: Batch::default(),
            dirty_since: None,
        }
    }

    /// Takes everything queued for the writer.
    pub fn take(&mut self) -> Taken {
        let mut q = self.shared.queue.lock();
        let batch = std::mem::replace(&mut q.pending, std::mem::take(&mut self.spare));
        Taken {
            batch,
            requests: std::mem::take(&mut q.requests),
            closing: q.closing,
            poisoned: q.poisoned.clone(),
        }
    }

    /// Answers what was taken with `outcome`, poisoning the partition if it is an error, and
    /// keeps the batch's buffers for the next one.
    pub fn finish(&mut self, mut taken: Taken, outcome: &Result<()>) {
        if let Err(err) = outcome {
            let mut q = self.shared.queue.lock();
            if q.poisoned.is_none() {
                tracing::error!(
                    topic = %self.shared.topic,
                    partition = self.shared.id,
                    error = %err,
                    "weir-log: write failed, partition poisoned: it refuses appends until reopened"
                );
                q.poisoned = Some(err.to_string());
            }
        }
        for waiter in taken.batch.waiters.drain(..) {
            waiter.complete(outcome.clone());
        }
        for (_, waiter) in taken.requests {
            waiter.complete(outcome.clone());
        }
        taken.batch.clear();
        self.spare = taken.batch;
        if taken.closing {
            self.shared.close_tail();
        }
    }

    /// The partition this writer writes.
    pub fn shared(&self) -> &Arc<PartitionShared> {
        &self.shared
    }

    /// When the oldest write not yet synced to the segment happened.
    pub fn dirty_since(&self) -> Option<Instant> {
        self.dirty_since
    }

    /// Handles roll and sync requests and closing after the batch is written and durable, then
    /// makes the records visible.
    pub fn after_batch(&mut self, taken: &Taken) -> Result<()> {
        if taken.requests.iter().any(|(r, _)| *r == Request::Roll)
            && self.active.end() > SEGMENT_HEADER_LEN
        {
            let next = self.active.next_offset();
            self.roll(next)?;
        }
        let sync_requested = taken.requests.iter().any(|(r, _)| *r == Request::Sync);
        if self.dirty_since.is_some() && (sync_requested || taken.closing) {
            self.sync_active()?;
        }
        self.shared.publish(self.active.next_offset());
        Ok(())
    }

    /// Syncs the active segment.
    pub fn sync_active(&mut self) -> Result<()> {
        self.active
            .file
            .sync_data()
            .map_err(|e| Error::io("sync", &self.active.path, e))?;
        self.shared.counters.syncs.fetch_add(1, Ordering::Relaxed);
        self.dirty_since = None;
        Ok(())
    }

    /// Writes a batch, rolling to a new segment where the next frame would take the active one
    /// past `segment_bytes` (a segment always takes at least one frame).
    pub fn write(&mut self, batch: &Batch) -> Result<()> {
        let shared = self.shared.clone();
        let config = &shared.log.config;
        let mut pos = self.active.end();
        let mut chunk_pos = pos;
        let mut chunk_start = 0usize;
        let mut at = 0usize;
        for r in &batch.records {
            let len = u64::from(r.len);
            if pos > SEGMENT_HEADER_LEN && pos + len > config.segment_bytes {
                self.write_chunk(&batch.bytes[chunk_start..at], chunk_pos, pos, r.offset)?;
                self.roll(r.offset)?;
                pos = SEGMENT_HEADER_LEN;
                chunk_pos = pos;
                chunk_start = at;
            }
            // Positions and relative offsets fit in u32: segments are at most u32::MAX bytes.
            let rel = (r.offset - self.active.base) as u32;
            self.active.index.write().on_record(
                config.index_interval_bytes,
                rel,
                pos as u32,
                r.timestamp_ms,
                r.len as usize,
            );
            pos += len;
            at += r.len as usize;
        }
        let next = batch
            .records
            .last()
            .map_or(self.active.next_offset(), |r| r.offset + 1);
        self.write_chunk(&batch.bytes[chunk_start..at], chunk_pos, pos, next)
    }

    fn write_chunk(&mut self, bytes: &[u8], at: u64, end: u64, next_offset: u64) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.active
            .file
            .write_all_at(bytes, at)
            .map_err(|e| Error::io("write", &self.active.path, e))?;
        self.active.advance(end, next_offset);
        self.dirty_since.get_or_insert_with(Instant::now);
        Ok(())
    }

    /// Seals the active segment (fsync, index files) and starts a new one at `next_offset`.
    /// Sealing fsyncs whatever the `Fsync` mode: only the active segment can have a torn tail.
    fn roll(&mut self, next_offset: u64) -> Result<()> {
        let shared = self.shared.clone();
        let log = &shared.log;
        let storage = log.storage.as_ref();
        let old = self.active.clone();
        if self.dirty_since.is_some() {
            self.sync_active()?;
        }
        let summary = SealedSummary {
            log_len: old.end(),
            next_offset,
        };
        let index_bytes = {
            let idx = old.index.read();
            let layout = &self.shared.layout;
            write_index(
                storage,
                &layout.segment(old.base, SegmentFile::OffsetIndex),
                &encode_offset_index(old.base, summary, &idx),
            )? + write_index(
                storage,
                &layout.segment(old.base, SegmentFile::TimeIndex),
                &encode_time_index(old.base, summary, &idx),
            )?
        };
        old.set_index_bytes(index_bytes);
        let new = create_segment(
            storage,
            &self.shared.layout.segment(next_offset, SegmentFile::Log),
            next_offset,
        )?;
        let dir = &self.shared.layout.dir;
        storage
            .sync_dir(dir)
            .map_err(|e| Error::io("sync directory", dir, e))?;
        self.shared.counters.syncs.fetch_add(1, Ordering::Relaxed);
        log.add_usage(index_bytes + SEGMENT_HEADER_LEN);
        let new = Arc::new(new);
        self.shared.segments.lock().push(new.clone());
        self.active = new;
        Ok(())
    }
}

/// Writes an index file through a temporary file (the caller syncs the directory).
fn write_index(storage: &dyn Storage, path: &Path, bytes: &[u8]) -> Result<u64> {
    let tmp = tmp_path(path);
    let file = storage
        .create(&tmp)
        .map_err(|e| Error::io("create", &tmp, e))?;
    file.write_all_at(bytes, 0)
        .and_then(|()| file.sync_data())
        .map_err(|e| Error::io("write", &tmp, e))?;
    storage
        .rename(&tmp, path)
        .map_err(|e| Error::io("rename", &tmp, e))?;
    Ok(bytes.len() as u64)
}

/// Creates an empty segment file with its header, fsynced (the caller syncs the directory).
pub(crate) fn create_segment(storage: &dyn Storage, path: &Path, base: u64) -> Result<Segment> {
    let file: Arc<dyn StorageFile> = storage
        .create(path)
        .map_err(|e| Error::io("create", path, e))?;
    file.write_all_at(&segment_header(base), 0)
        .and_then(|()| file.sync_data())
        .map_err(|e| Error::io("write", path, e))?;
    Ok(Segment::new(
        base,
        path.to_path_buf(),
        file,
        SEGMENT_HEADER_LEN,
        base,
        0,
        Default::default(),
    ))
}
