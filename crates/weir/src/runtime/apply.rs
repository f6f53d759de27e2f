//! Running records through a pipeline's transform chain.
//!
//! A record that fails any stage fails whole: none of its outputs are kept, and it joins the
//! failed records with the stage, class and reason. In isolation (see [`super::poison`]) each
//! record is first written into the lane's marker as the suspect (and cleared once it is
//! processed), and a panic while processing it fails that record alone, with reason `crash`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use serde_json::Value;

use super::poison::MarkerFile;
use crate::error::{Classified, ErrorClass};
use crate::record::{FailedPayload, FailedRecord, Record, RecordId};
use crate::transforms::{Transform, TransformError};

/// Runs every record through `transforms`; failures are appended to `failed`.
pub fn apply_all(
    transforms: &[Arc<dyn Transform>],
    records: Vec<Record>,
    failed: &mut Vec<FailedRecord>,
) -> Vec<Record> {
    if transforms.is_empty() && !cfg!(feature = "fault-injection") {
        return records;
    }
    if transforms.iter().any(|t| t.batched()) {
        return apply_staged(transforms, records, failed);
    }
    let mut out = Vec::with_capacity(records.len());
    let mut scratch = (Vec::new(), Vec::new());
    for record in records {
        apply_one(transforms, record, &mut out, failed, &mut scratch);
    }
    out
}

/// Like [`apply_all`], on up to `threads` workers of the shared pool: the batch is cut into
/// contiguous chunks, each transformed on its own worker, and the results are put back in
/// input order, so the output (and the failures) are exactly what [`apply_all`] gives.
pub fn apply_parallel(
    transforms: &[Arc<dyn Transform>],
    mut records: Vec<Record>,
    failed: &mut Vec<FailedRecord>,
    threads: usize,
) -> Vec<Record> {
    use rayon::prelude::*;
    const MIN_CHUNK: usize = 128;
    let threads = threads.min(records.len() / MIN_CHUNK).max(1);
    // A batched stage (one that calls a dependency) sees the whole batch, on the lane's thread.
    if threads == 1 || transforms.is_empty() || transforms.iter().any(|t| t.batched()) {
        return apply_all(transforms, records, failed);
    }
    let chunk = records.len().div_ceil(threads);
    let mut chunks = Vec::with_capacity(threads);
    while records.len() > chunk {
        let tail = records.split_off(records.len() - chunk);
        chunks.push(tail);
    }
    chunks.push(records);
    chunks.reverse();
    // A panic in a transform is re-raised here, as it would be on one thread.
    let results: Vec<(Vec<Record>, Vec<FailedRecord>)> = chunks
        .into_par_iter()
        .map(|c| {
            let mut f = Vec::new();
            let out = apply_all(transforms, c, &mut f);
            (out, f)
        })
        .collect();
    let mut out = Vec::with_capacity(results.iter().map(|(o, _)| o.len()).sum());
    for (o, f) in results {
        out.extend(o);
        failed.extend(f);
    }
    out
}

/// Stage by stage over the whole batch, so a batched stage (one that calls a dependency) sees
/// all its inputs at once. Each output remembers the input it came from: when an input fails
/// at any stage, everything it produced is dropped and it fails whole, as in the record-at-a-time
/// path, and the output keeps the input order.
fn apply_staged(
    transforms: &[Arc<dyn Transform>],
    records: Vec<Record>,
    failed: &mut Vec<FailedRecord>,
) -> Vec<Record> {
    #[cfg(feature = "fault-injection")]
    for r in &records {
        crate::fault::check(r);
    }
    let mut dead = vec![false; records.len()];
    let mut cur: Vec<(usize, Record)> = Vec::new();
    for (stage, t) in transforms.iter().enumerate() {
        let mut next: Vec<(usize, Record)> = Vec::with_capacity(records.len());
        {
            let inputs: Vec<(usize, &Record)> = if stage == 0 {
                records.iter().enumerate().collect()
            } else {
                cur.iter().map(|(i, r)| (*i, r)).collect()
            };
            let fail = |i: usize, e: crate::transforms::TransformError| {
                let record = &records[i];
                FailedRecord {
                    id: record.meta.id.clone(),
                    stage: t.name().clone(),
                    class: e.class(),
                    payload: FailedPayload::Value(record.as_read()),
                    reason: e.code(),
                    message: e.to_string(),
                }
            };
            if t.batched() {
                let refs: Vec<&Record> = inputs.iter().map(|(_, r)| *r).collect();
                for ((i, _), result) in inputs.iter().zip(t.apply_batch(&refs)) {
                    match result {
                        Ok(outs) => next.extend(outs.into_iter().map(|o| (*i, o))),
                        Err(e) if !dead[*i] => {
                            dead[*i] = true;
                            failed.push(fail(*i, e));
                        }
                        Err(_) => {}
                    }
                }
            } else {
                let mut out = Vec::new();
                for (i, r) in inputs {
                    if dead[i] {
                        continue;
                    }
                    out.clear();
                    match t.apply(r, &mut out) {
                        Ok(()) => next.extend(out.drain(..).map(|o| (i, o))),
                        Err(e) => {
                            dead[i] = true;
                            failed.push(fail(i, e));
                        }
                    }
                }
            }
        }
        next.retain(|(i, _)| !dead[*i]);
        cur = next;
    }
    cur.into_iter().map(|(_, r)| r).collect()
}

/// Like [`apply_all`], but records with an offset below `until` are processed one at a time
/// as suspects: the marker names each before it runs, and a panic fails only that record.
///
/// # Errors
/// When the marker cannot be written.
pub fn apply_isolated(
    transforms: &[Arc<dyn Transform>],
    records: Vec<Record>,
    failed: &mut Vec<FailedRecord>,
    marker: &mut MarkerFile,
    until: u64,
) -> std::io::Result<Vec<Record>> {
    let mut out = Vec::with_capacity(records.len());
    let mut scratch = (Vec::new(), Vec::new());
    for record in records {
        if record.meta.id.offset >= until {
            marker.suspect(None)?;
            apply_one(transforms, record, &mut out, failed, &mut scratch);
            continue;
        }
        marker.suspect(Some(record.meta.id.offset))?;
        let start = out.len();
        // A suspect is copied: after a panic it is dead-lettered as read.
        let suspect = record.clone();
        let caught = catch_unwind(AssertUnwindSafe(|| {
            apply_one(transforms, suspect, &mut out, failed, &mut scratch)
        }));
        if let Err(payload) = caught {
            out.truncate(start);
            scratch = (Vec::new(), Vec::new());
            failed.push(FailedRecord {
                id: record.meta.id.clone(),
                stage: "lane".into(),
                class: ErrorClass::Fatal,
                payload: FailedPayload::Value(record.as_read()),
                reason: "crash",
                message: format!(
                    "this record crashed its lane (found in isolation): panic: {}",
                    panic_message(&*payload)
                ),
            });
        }
        // Done with it: a crash from here on (another lane's poison pill, a kill) is not its.
        marker.suspect(None)?;
    }
    Ok(out)
}

/// The text of a panic payload.
#[must_use]
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-text panic payload".to_owned())
}

fn apply_one(
    transforms: &[Arc<dyn Transform>],
    record: Record,
    out: &mut Vec<Record>,
    failed: &mut Vec<FailedRecord>,
    (cur, next): &mut (Vec<Record>, Vec<Record>),
) {
    #[cfg(feature = "fault-injection")]
    crate::fault::check(&record);
    // A failed record is dead-lettered as read.
    let fail =
        |t: &Arc<dyn Transform>, e: TransformError, id: RecordId, value: Value| FailedRecord {
            id,
            stage: t.name().clone(),
            class: e.class(),
            payload: FailedPayload::Value(value),
            reason: e.code(),
            message: e.to_string(),
        };
    match transforms {
        [] => out.push(record),
        // One stage: the record is given to it, and comes back for the DLQ if it fails.
        [t] => {
            let start = out.len();
            if let Err(failure) = t.apply_owned(record, out) {
                out.truncate(start);
                let (input, e) = *failure;
                let id = input.meta.id.clone();
                failed.push(fail(t, e, id, input.into_as_read()));
            }
        }
        // Several: the first borrows the record (a later failure dead-letters it as read),
        // the later ones are given the intermediate records.
        [first, rest @ ..] => {
            cur.clear();
            if let Err(e) = first.apply(&record, cur) {
                failed.push(fail(first, e, record.meta.id.clone(), record.as_read()));
                return;
            }
            for t in rest {
                next.clear();
                for r in cur.drain(..) {
                    if let Err(failure) = t.apply_owned(r, next) {
                        failed.push(fail(t, failure.1, record.meta.id.clone(), record.as_read()));
                        return;
                    }
                }
                std::mem::swap(cur, next);
            }
            out.append(cur);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{RecordId, RecordMeta};
    use crate::runtime::poison::Marker;

    #[test]
    fn a_record_processed_in_isolation_is_no_longer_the_suspect() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("l.marker");
        let mut marker = MarkerFile::create(&path, Marker::default()).expect("marker");
        let records = (0..3)
            .map(|offset| {
                let id = RecordId {
                    source: "s".into(),
                    partition: "p".into(),
                    offset,
                };
                Record::new(serde_json::json!({ "n": offset }), RecordMeta::new(id))
            })
            .collect();
        let mut failed = Vec::new();
        let out = apply_isolated(&[], records, &mut failed, &mut marker, 3).expect("marker");
        assert_eq!((out.len(), failed.len()), (3, 0));
        // The whole batch was isolated: a crash now (say, another lane aborting the process)
        // must not be blamed on its last record.
        assert_eq!(MarkerFile::load(&path).expect("marker").suspect, None);
    }
}
