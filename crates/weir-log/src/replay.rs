//! Recovery of a topic's journal: after every partition's segments are recovered, the records
//! the journal holds past what a partition's segments hold are written to its segments again
//! and synced (see `journal.rs`).
//!
//! A partition's entries hold its records with consecutive offsets, in order. For each record:
//! an offset below the partition's next one is in the segments already (skipped); the next one
//! is restored; one past it would leave a gap, which cannot happen unless something other than
//! a crash damaged the files, and is reported as corruption (nothing after it is restored).

use crate::error::{Damage, Result};
use crate::format::{Decoded, decode_frame};
use crate::journal::Contents;
use crate::partition::{Batch, QueuedRecord};
use crate::recovery::{CorruptionFound, PartitionRecovery};
use crate::writer::Writer;

/// Restores from `contents` (the journal at `path`) what `writers`' partitions are missing,
/// recording it in their `reports`. Returns the bytes written.
pub(crate) fn replay(
    contents: &Contents,
    path: &std::path::Path,
    writers: &mut [Writer],
    reports: &mut [PartitionRecovery],
) -> Result<u64> {
    let mut next: Vec<u64> = writers
        .iter()
        .map(|w| w.shared().queue.lock().next_offset)
        .collect();
    let mut batches: Vec<Batch> = writers.iter().map(|_| Batch::default()).collect();
    let mut gapped = vec![false; writers.len()];
    for entry in &contents.entries {
        let p = entry.partition as usize;
        if p >= writers.len() || gapped[p] {
            continue;
        }
        let mut at = 0;
        while at < entry.frames.len() {
            let Decoded::Frame(info) = decode_frame(&entry.frames[at..]) else {
                break;
            };
            let frame = &entry.frames[at..at + info.len];
            at += info.len;
            if info.offset < next[p] {
                continue;
            }
            if info.offset > next[p] {
                reports[p].corruption.push(CorruptionFound {
                    segment: path.to_path_buf(),
                    position: 0,
                    offset: next[p],
                    damage: Damage::MissingOffsets {
                        from: next[p],
                        to: info.offset,
                    },
                });
                gapped[p] = true;
                break;
            }
            batches[p].bytes.extend_from_slice(frame);
            batches[p].records.push(QueuedRecord {
                offset: info.offset,
                timestamp_ms: info.timestamp_ms,
                len: info.len as u32,
            });
            next[p] += 1;
        }
    }
    let mut bytes = 0;
    for (((writer, batch), report), restored_to) in writers
        .iter_mut()
        .zip(&batches)
        .zip(reports.iter_mut())
        .zip(next)
    {
        if batch.records.is_empty() {
            continue;
        }
        writer.write(batch)?;
        writer.sync_active()?;
        let shared = writer.shared();
        shared.queue.lock().next_offset = restored_to;
        shared.publish(restored_to);
        report.replayed = batch.records.len() as u64;
        report.next_offset = restored_to;
        report.segments = shared.segments.lock().len();
        bytes += batch.bytes.len() as u64;
    }
    Ok(bytes)
}
