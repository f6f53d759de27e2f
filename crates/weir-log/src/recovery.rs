//! Recovery on open: brings a partition directory back to a consistent state and reports what
//! it found and did (see "Recovery" in the crate doc).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::LogConfig;
use crate::consumer;
use crate::error::{Damage, Error, Result};
use crate::format::{SEGMENT_HEADER_LEN, header_is_valid, segment_header};
use crate::index::{
    SealedSummary, SegmentIndex, decode_index_files, encode_offset_index, encode_time_index,
};
use crate::layout::{PartitionLayout, SegmentFile, tmp_path};
use crate::segment::{Segment, scan};
use crate::storage::{self, Storage, read_exact_at, remove_if_exists};
use crate::writer::create_segment;

/// The torn or corrupt tail cut from the active segment of a partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Truncation {
    /// The segment file.
    pub segment: PathBuf,
    /// Byte position it was cut at (its new length).
    pub position: u64,
    /// Bytes cut.
    pub bytes_cut: u64,
    /// Offset of the first record lost (the first offset that will be reused).
    pub first_lost_offset: u64,
    /// What was found at `position`.
    pub damage: Damage,
}

/// Damage found in a sealed segment. Nothing is cut: reading there returns [`Error::Corrupt`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorruptionFound {
    /// The segment file.
    pub segment: PathBuf,
    /// Byte position of the damage.
    pub position: u64,
    /// Offset of the damaged record.
    pub offset: u64,
    /// What is wrong.
    pub damage: Damage,
}

/// What recovery found and did in one partition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartitionRecovery {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// Segments after recovery.
    pub segments: usize,
    /// First offset stored.
    pub first_offset: u64,
    /// Offset the next append gets.
    pub next_offset: u64,
    /// The tail cut from the active segment, if any.
    pub truncation: Option<Truncation>,
    /// Records restored from the topic's journal after the cut (or after what a crash left in
    /// the segments): acknowledged records whose segment writes had not been synced yet.
    pub replayed: u64,
    /// Damage in sealed segments (left in place, reported again on read).
    pub corruption: Vec<CorruptionFound>,
    /// Index files rebuilt from their segment because they were missing or damaged.
    pub rebuilt_indexes: Vec<PathBuf>,
    /// Leftover files removed (temporary files, indexes without a segment).
    pub removed_files: Vec<PathBuf>,
    /// Consumer offset files whose checksum failed: the consumer counts as committed at 0
    /// until it commits again, so retention deletes nothing it may not have read.
    pub corrupt_consumer_offsets: Vec<PathBuf>,
}

impl PartitionRecovery {
    /// Whether recovery found nothing to cut, rebuild, remove or report.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.truncation.is_none()
            && self.replayed == 0
            && self.corruption.is_empty()
            && self.rebuilt_indexes.is_empty()
            && self.removed_files.is_empty()
            && self.corrupt_consumer_offsets.is_empty()
    }
}

/// What recovery found and did when the log was opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// One entry per partition.
    pub partitions: Vec<PartitionRecovery>,
    /// Topic directories without a valid `topic.meta` (a creation that did not complete);
    /// left alone and not opened.
    pub incomplete_topics: Vec<String>,
}

impl RecoveryReport {
    /// Whether nothing was cut, rebuilt, removed or found damaged.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.incomplete_topics.is_empty() && self.partitions.iter().all(PartitionRecovery::is_clean)
    }

    /// The tails cut, one per partition at most.
    pub fn truncations(&self) -> impl Iterator<Item = &Truncation> {
        self.partitions.iter().filter_map(|p| p.truncation.as_ref())
    }

    /// Damage found in sealed segments.
    pub fn corruption(&self) -> impl Iterator<Item = &CorruptionFound> {
        self.partitions.iter().flat_map(|p| p.corruption.iter())
    }

    /// Logs the report: a warning per cut and per damage found, info for the rest.
    pub fn log(&self) {
        for p in &self.partitions {
            if let Some(t) = &p.truncation {
                tracing::warn!(
                    topic = %p.topic,
                    partition = p.partition,
                    segment = %t.segment.display(),
                    position = t.position,
                    bytes_cut = t.bytes_cut,
                    first_lost_offset = t.first_lost_offset,
                    damage = %t.damage,
                    "weir-log: cut a torn or corrupt tail"
                );
            }
            if p.replayed > 0 {
                tracing::info!(
                    topic = %p.topic,
                    partition = p.partition,
                    records = p.replayed,
                    next_offset = p.next_offset,
                    "weir-log: restored acknowledged records from the topic's journal"
                );
            }
            for c in &p.corruption {
                tracing::warn!(
                    topic = %p.topic,
                    partition = p.partition,
                    segment = %c.segment.display(),
                    position = c.position,
                    offset = c.offset,
                    damage = %c.damage,
                    "weir-log: damage in a sealed segment; reads there will fail"
                );
            }
            for path in &p.corrupt_consumer_offsets {
                tracing::warn!(file = %path.display(), "weir-log: damaged consumer offset, treated as 0");
            }
            if !p.rebuilt_indexes.is_empty() || !p.removed_files.is_empty() {
                tracing::info!(
                    topic = %p.topic,
                    partition = p.partition,
                    rebuilt_indexes = p.rebuilt_indexes.len(),
                    removed_files = p.removed_files.len(),
                    "weir-log: repaired partition files"
                );
            }
        }
        for t in &self.incomplete_topics {
            tracing::warn!(topic = %t, "weir-log: topic directory without topic.meta ignored");
        }
    }
}

impl fmt::Display for RecoveryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_clean() {
            return write!(f, "clean: {} partitions", self.partitions.len());
        }
        for p in self.partitions.iter().filter(|p| !p.is_clean()) {
            write!(f, "{}/{}:", p.topic, p.partition)?;
            if let Some(t) = &p.truncation {
                write!(
                    f,
                    " cut {} bytes at byte {} of {} (offsets from {} lost: {})",
                    t.bytes_cut,
                    t.position,
                    t.segment.display(),
                    t.first_lost_offset,
                    t.damage
                )?;
            }
            if p.replayed > 0 {
                write!(f, " {} records restored from the journal", p.replayed)?;
            }
            for c in &p.corruption {
                write!(
                    f,
                    " damage in {} at offset {}: {}",
                    c.segment.display(),
                    c.offset,
                    c.damage
                )?;
            }
            if !p.rebuilt_indexes.is_empty() {
                write!(f, " {} indexes rebuilt", p.rebuilt_indexes.len())?;
            }
            if !p.removed_files.is_empty() {
                write!(f, " {} leftover files removed", p.removed_files.len())?;
            }
            if !p.corrupt_consumer_offsets.is_empty() {
                write!(
                    f,
                    " {} damaged consumer offsets",
                    p.corrupt_consumer_offsets.len()
                )?;
            }
            writeln!(f)?;
        }
        for t in &self.incomplete_topics {
            writeln!(f, "topic {t}: incomplete, ignored")?;
        }
        Ok(())
    }
}

/// A partition as recovery leaves it.
pub(crate) struct Recovered {
    pub segments: Vec<Arc<Segment>>,
    pub next_offset: u64,
    pub consumers: BTreeMap<String, u64>,
    /// Bytes of its segment and index files.
    pub bytes: u64,
    pub report: PartitionRecovery,
}

fn io_err<'a>(op: &'static str, path: &'a std::path::Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |e| Error::io(op, path, e)
}

/// Opens (creating it if needed) one partition directory and recovers it.
pub(crate) fn recover_partition(
    storage: &dyn Storage,
    layout: &PartitionLayout,
    config: &LogConfig,
    topic: &str,
    partition: u32,
) -> Result<Recovered> {
    let mut report = PartitionRecovery {
        topic: topic.to_owned(),
        partition,
        ..PartitionRecovery::default()
    };
    let dir = &layout.dir;
    let consumers_dir = layout.consumers_dir();
    storage
        .create_dir_all(&consumers_dir)
        .map_err(io_err("create directory", &consumers_dir))?;
    if let Some(topic_dir) = dir.parent() {
        storage
            .sync_dir(topic_dir)
            .map_err(io_err("sync directory", topic_dir))?;
    }
    storage
        .sync_dir(dir)
        .map_err(io_err("sync directory", dir))?;

    let mut logs = BTreeSet::new();
    let mut indexes = Vec::new();
    for name in storage.list(dir).map_err(io_err("list", dir))? {
        let path = dir.join(&name);
        if name.ends_with(".tmp") {
            storage
                .remove_file(&path)
                .map_err(io_err("remove", &path))?;
            report.removed_files.push(path);
        } else if let Some((base, kind)) = PartitionLayout::parse_segment(&name) {
            if kind == SegmentFile::Log {
                logs.insert(base);
            } else {
                indexes.push((base, path));
            }
        }
    }
    let last = logs.last().copied();
    for (base, path) in indexes {
        // Index files exist only for sealed segments: remove orphans and the active's.
        if !logs.contains(&base) || Some(base) == last {
            storage
                .remove_file(&path)
                .map_err(io_err("remove", &path))?;
            report.removed_files.push(path);
        }
    }

    let mut segments = Vec::new();
    let mut bytes = 0;
    let bases: Vec<u64> = logs.into_iter().collect();
    for (i, &base) in bases.iter().enumerate() {
        let seg = match bases.get(i + 1) {
            Some(&next_base) => open_sealed(storage, layout, config, base, next_base, &mut report)?,
            None => open_active(storage, layout, config, base, &mut report)?,
        };
        bytes += seg.end() + seg.index_bytes();
        segments.push(Arc::new(seg));
    }
    if segments.is_empty() {
        let path = layout.segment(0, SegmentFile::Log);
        let seg = create_segment(storage, &path, 0)?;
        bytes += seg.end();
        segments.push(Arc::new(seg));
    }
    if !report.removed_files.is_empty() || segments.len() != bases.len() {
        storage
            .sync_dir(dir)
            .map_err(io_err("sync directory", dir))?;
    }

    let loaded =
        consumer::load(storage, layout).map_err(io_err("load consumer offsets", &consumers_dir))?;
    report.removed_files.extend(loaded.removed_tmp);
    report.corrupt_consumer_offsets = loaded.corrupt;

    let next_offset = segments.last().map_or(0, |s| s.next_offset());
    report.segments = segments.len();
    report.first_offset = segments.first().map_or(0, |s| s.base);
    report.next_offset = next_offset;
    Ok(Recovered {
        segments,
        next_offset,
        consumers: loaded.offsets,
        bytes,
        report,
    })
}

fn read_header(file: &dyn crate::storage::StorageFile, len: u64) -> io::Result<Vec<u8>> {
    let mut header = vec![0u8; SEGMENT_HEADER_LEN.min(len) as usize];
    read_exact_at(file, &mut header, 0)?;
    Ok(header)
}

/// A sealed segment: its index files are used if they verify, else it is scanned (verifying
/// every frame) and they are rebuilt. Damage is reported, never cut.
fn open_sealed(
    storage: &dyn Storage,
    layout: &PartitionLayout,
    config: &LogConfig,
    base: u64,
    next_base: u64,
    report: &mut PartitionRecovery,
) -> Result<Segment> {
    let path = layout.segment(base, SegmentFile::Log);
    let file = storage.open(&path).map_err(io_err("open", &path))?;
    let len = file.size().map_err(io_err("stat", &path))?;
    let header = read_header(file.as_ref(), len).map_err(io_err("read", &path))?;
    if !header_is_valid(&header, base) {
        report.corruption.push(CorruptionFound {
            segment: path.clone(),
            position: 0,
            offset: base,
            damage: Damage::BadSegmentHeader,
        });
        return Ok(Segment::new(
            base,
            path,
            file,
            len,
            next_base,
            0,
            SegmentIndex::default(),
        ));
    }
    let index_path = layout.segment(base, SegmentFile::OffsetIndex);
    let time_path = layout.segment(base, SegmentFile::TimeIndex);
    let from_files = match (
        storage::read_file(storage, &index_path),
        storage::read_file(storage, &time_path),
    ) {
        (Ok(o), Ok(t)) => decode_index_files(&o, &t, base)
            .filter(|(_, summary)| summary.log_len == len)
            .map(|(idx, summary)| (idx, summary, (o.len() + t.len()) as u64)),
        _ => None,
    };
    let (index, next_offset, index_bytes) = match from_files {
        Some((idx, summary, n)) => (idx, summary.next_offset, n),
        None => {
            let mut idx = SegmentIndex::default();
            let out = scan(
                file.as_ref(),
                base,
                len,
                config.index_interval_bytes,
                &mut idx,
            )
            .map_err(io_err("read", &path))?;
            match out.damage {
                Some(damage) => {
                    report.corruption.push(CorruptionFound {
                        segment: path.clone(),
                        position: out.end,
                        offset: out.next_offset,
                        damage,
                    });
                    // Index files are not written for a damaged segment: the next open scans
                    // and reports it again.
                    (idx, next_base, 0)
                }
                None => {
                    let summary = SealedSummary {
                        log_len: len,
                        next_offset: out.next_offset,
                    };
                    let o = encode_offset_index(base, summary, &idx);
                    let t = encode_time_index(base, summary, &idx);
                    for (p, bytes) in [(&index_path, &o), (&time_path, &t)] {
                        storage::write_atomic(storage, p, &tmp_path(p), bytes)
                            .map_err(io_err("write", p))?;
                    }
                    report.rebuilt_indexes.push(index_path.clone());
                    report.rebuilt_indexes.push(time_path.clone());
                    (idx, out.next_offset, (o.len() + t.len()) as u64)
                }
            }
        }
    };
    if next_offset != next_base && !report.corruption.iter().any(|c| c.segment == path) {
        report.corruption.push(CorruptionFound {
            segment: path.clone(),
            position: len,
            offset: next_offset,
            damage: if next_offset < next_base {
                Damage::MissingOffsets {
                    from: next_offset,
                    to: next_base,
                }
            } else {
                Damage::OffsetMismatch {
                    expected: next_base,
                    found: next_offset,
                }
            },
        });
    }
    Ok(Segment::new(
        base,
        path,
        file,
        len,
        next_offset,
        index_bytes,
        index,
    ))
}

/// The active (last) segment: every frame is verified and the file is cut at the first torn or
/// damaged one.
fn open_active(
    storage: &dyn Storage,
    layout: &PartitionLayout,
    config: &LogConfig,
    base: u64,
    report: &mut PartitionRecovery,
) -> Result<Segment> {
    let path = layout.segment(base, SegmentFile::Log);
    let file = storage.open(&path).map_err(io_err("open", &path))?;
    let len = file.size().map_err(io_err("stat", &path))?;
    let header = read_header(file.as_ref(), len).map_err(io_err("read", &path))?;
    let mut index = SegmentIndex::default();
    if !header_is_valid(&header, base) {
        // A segment is created with its header synced before any record is written to it, so
        // a bad header means nothing of it can be trusted.
        if len > 0 {
            report.truncation = Some(Truncation {
                segment: path.clone(),
                position: 0,
                bytes_cut: len,
                first_lost_offset: base,
                damage: if len < SEGMENT_HEADER_LEN {
                    Damage::Torn {
                        needed: SEGMENT_HEADER_LEN,
                        available: len,
                    }
                } else {
                    Damage::BadSegmentHeader
                },
            });
        }
        file.set_len(0)
            .and_then(|()| file.write_all_at(&segment_header(base), 0))
            .and_then(|()| file.sync_data())
            .map_err(io_err("rewrite header", &path))?;
        return Ok(Segment::new(
            base,
            path,
            file,
            SEGMENT_HEADER_LEN,
            base,
            0,
            index,
        ));
    }
    let out = scan(
        file.as_ref(),
        base,
        len,
        config.index_interval_bytes,
        &mut index,
    )
    .map_err(io_err("read", &path))?;
    if let Some(damage) = out.damage {
        file.set_len(out.end)
            .and_then(|()| file.sync_data())
            .map_err(io_err("truncate", &path))?;
        report.truncation = Some(Truncation {
            segment: path.clone(),
            position: out.end,
            bytes_cut: len - out.end,
            first_lost_offset: out.next_offset,
            damage,
        });
    }
    Ok(Segment::new(
        base,
        path,
        file,
        out.end,
        out.next_offset,
        0,
        index,
    ))
}

/// Removes a leftover temporary file if there is one (used for `topic.meta`).
pub(crate) fn remove_tmp(storage: &dyn Storage, path: &std::path::Path) -> Result<()> {
    let tmp = tmp_path(path);
    remove_if_exists(storage, &tmp).map_err(io_err("remove", &tmp))?;
    Ok(())
}
