//! A segment: one `.log` file of a partition, its in-memory indexes, and a cursor that walks its
//! frames.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;

use crate::error::Damage;
use crate::format::{Decoded, FrameInfo, SEGMENT_HEADER_LEN, decode_frame};
use crate::index::SegmentIndex;
use crate::storage::StorageFile;

/// Bytes read from a segment at a time.
const CHUNK: usize = 256 * 1024;

/// One segment file of a partition.
#[derive(Debug)]
pub(crate) struct Segment {
    /// Offset of its first record (also in its file name and header).
    pub base: u64,
    /// The `.log` file.
    pub path: PathBuf,
    pub file: Arc<dyn StorageFile>,
    /// Bytes written, header included; every frame below is complete.
    end: AtomicU64,
    /// Offset after its last written record.
    next_offset: AtomicU64,
    /// Bytes of its `.index` and `.timeindex` files (0 while active).
    index_bytes: AtomicU64,
    pub index: RwLock<SegmentIndex>,
}

impl Segment {
    pub fn new(
        base: u64,
        path: PathBuf,
        file: Arc<dyn StorageFile>,
        end: u64,
        next_offset: u64,
        index_bytes: u64,
        index: SegmentIndex,
    ) -> Self {
        Self {
            base,
            path,
            file,
            end: AtomicU64::new(end),
            next_offset: AtomicU64::new(next_offset),
            index_bytes: AtomicU64::new(index_bytes),
            index: RwLock::new(index),
        }
    }

    pub fn end(&self) -> u64 {
        self.end.load(Ordering::Acquire)
    }

    pub fn next_offset(&self) -> u64 {
        self.next_offset.load(Ordering::Acquire)
    }

    pub fn index_bytes(&self) -> u64 {
        self.index_bytes.load(Ordering::Acquire)
    }

    /// Records that frames up to `end` (offsets below `next_offset`) are written.
    pub fn advance(&self, end: u64, next_offset: u64) {
        self.end.store(end, Ordering::Release);
        self.next_offset.store(next_offset, Ordering::Release);
    }

    pub fn set_index_bytes(&self, bytes: u64) {
        self.index_bytes.store(bytes, Ordering::Release);
    }
}

/// What [`FrameCursor::next`] found.
#[derive(Debug)]
pub(crate) enum Step {
    /// A valid frame; its bytes are [`FrameCursor::frame`].
    Frame(FrameInfo),
    /// The end of the readable part of the segment.
    End,
    /// Damaged bytes at [`FrameCursor::pos`].
    Damaged(Damage),
}

/// Walks the frames of a segment file from a byte position, reading it in chunks.
#[derive(Debug, Default)]
pub(crate) struct FrameCursor {
    buf: Vec<u8>,
    /// File position of `buf[0]`.
    buf_pos: u64,
    /// Index in `buf` of the next frame.
    at: usize,
    /// Index in `buf` of the frame last returned.
    last: usize,
}

impl FrameCursor {
    pub fn new(pos: u64) -> Self {
        Self {
            buf_pos: pos,
            ..Self::default()
        }
    }

    /// File position of the next frame.
    pub fn pos(&self) -> u64 {
        self.buf_pos + self.at as u64
    }

    /// The bytes of the frame last returned by `next`.
    pub fn frame(&self, info: &FrameInfo) -> &[u8] {
        &self.buf[self.last..self.last + info.len]
    }

    /// The next frame below byte `end` of `file`. Bytes below `end` must not change while the
    /// cursor is in use (segments are append-only).
    pub fn next(&mut self, file: &dyn StorageFile, end: u64) -> io::Result<Step> {
        loop {
            let pos = self.pos();
            if pos >= end {
                return Ok(Step::End);
            }
            let available = end - pos;
            match decode_frame(&self.buf[self.at..]) {
                Decoded::Frame(info) => {
                    if info.len as u64 > available {
                        return Ok(Step::Damaged(Damage::Torn {
                            needed: info.len as u64,
                            available,
                        }));
                    }
                    self.last = self.at;
                    self.at += info.len;
                    return Ok(Step::Frame(info));
                }
                Decoded::Damaged(damage) => return Ok(Step::Damaged(damage)),
                Decoded::Incomplete { needed } => {
                    if needed as u64 > available {
                        return Ok(Step::Damaged(Damage::Torn {
                            needed: needed as u64,
                            available,
                        }));
                    }
                    self.buf.drain(..self.at);
                    self.buf_pos = pos;
                    self.at = 0;
                    self.last = 0;
                    let have = self.buf.len();
                    // `needed <= available`, so this fits in usize.
                    let want = needed.max(CHUNK).min(available as usize);
                    self.buf.resize(want, 0);
                    let n = read_fill(file, &mut self.buf[have..], pos + have as u64)?;
                    self.buf.truncate(have + n);
                    if n == 0 {
                        return Ok(Step::Damaged(Damage::Torn {
                            needed: needed as u64,
                            available: have as u64,
                        }));
                    }
                }
            }
        }
    }
}

/// Reads into `buf` until it is full or the file ends; returns the bytes read.
fn read_fill(file: &dyn StorageFile, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], pos + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Where a scan of a whole segment stopped.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ScanOutcome {
    /// Position after the last valid frame.
    pub end: u64,
    /// Offset after the last valid frame.
    pub next_offset: u64,
    /// Why the scan stopped before `file_len`, if it did.
    pub damage: Option<Damage>,
}

/// Verifies every frame of a segment starting at `base`, from its header to `file_len`,
/// rebuilding its index. Stops at the first damaged frame or a frame with another offset than
/// the next expected one.
pub(crate) fn scan(
    file: &dyn StorageFile,
    base: u64,
    file_len: u64,
    index_interval: u32,
    index: &mut SegmentIndex,
) -> io::Result<ScanOutcome> {
    let mut cursor = FrameCursor::new(SEGMENT_HEADER_LEN);
    let mut expected = base;
    loop {
        let pos = cursor.pos();
        match cursor.next(file, file_len)? {
            Step::End => {
                return Ok(ScanOutcome {
                    end: pos,
                    next_offset: expected,
                    damage: None,
                });
            }
            Step::Damaged(damage) => {
                return Ok(ScanOutcome {
                    end: pos,
                    next_offset: expected,
                    damage: Some(damage),
                });
            }
            Step::Frame(info) => {
                // A frame past 4 GiB or 2^32 offsets into a segment cannot be written.
                let rel = u32::try_from(info.offset.wrapping_sub(base));
                let at = u32::try_from(pos);
                match (rel, at) {
                    (Ok(rel), Ok(at)) if info.offset == expected => {
                        index.on_record(index_interval, rel, at, info.timestamp_ms, info.len);
                        expected += 1;
                    }
                    _ => {
                        return Ok(ScanOutcome {
                            end: pos,
                            next_offset: expected,
                            damage: Some(Damage::OffsetMismatch {
                                expected,
                                found: info.offset,
                            }),
                        });
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{encode_record, segment_header};
    use crate::storage::{MemStorage, Storage};
    use std::path::Path;

    fn segment_file(records: usize) -> (Arc<dyn StorageFile>, Vec<u8>) {
        let mut bytes = segment_header(10).to_vec();
        for i in 0..records {
            encode_record(&mut bytes, 10 + i as u64, i as i64, None, &[i as u8; 100]);
        }
        let s = MemStorage::new();
        s.create_dir_all(Path::new("/")).expect("mkdir");
        let f = s.create(Path::new("/s")).expect("create");
        f.write_all_at(&bytes, 0).expect("write");
        (f, bytes)
    }

    #[test]
    fn scan_verifies_every_frame_and_finds_a_torn_tail() {
        let (f, bytes) = segment_file(5);
        let mut idx = SegmentIndex::default();
        let out = scan(f.as_ref(), 10, bytes.len() as u64, 1, &mut idx).expect("scan");
        assert_eq!(out.next_offset, 15);
        assert_eq!(out.damage, None);
        assert_eq!(idx.offsets.len(), 5);

        let cut = bytes.len() as u64 - 3;
        f.set_len(cut).expect("truncate");
        let out = scan(f.as_ref(), 10, cut, 1, &mut SegmentIndex::default()).expect("scan");
        assert_eq!(out.next_offset, 14);
        assert!(matches!(out.damage, Some(Damage::Torn { .. })), "{out:?}");
    }

    #[test]
    fn cursor_stops_at_end_and_resumes_when_end_grows() {
        let (f, bytes) = segment_file(3);
        let frame = (bytes.len() - 16) / 3;
        let mut c = FrameCursor::new(16);
        let end1 = 16 + frame as u64;
        assert!(
            matches!(c.next(f.as_ref(), end1).expect("read"), Step::Frame(i) if i.offset == 10)
        );
        assert!(matches!(c.next(f.as_ref(), end1).expect("read"), Step::End));
        let Step::Frame(info) = c.next(f.as_ref(), bytes.len() as u64).expect("read") else {
            panic!("second frame")
        };
        assert_eq!(info.offset, 11);
        assert_eq!(c.frame(&info)[info.value.clone()], vec![1u8; 100][..]);
    }
}
