//! Running records through a pipeline's transform chain.
//!
//! A record that fails any stage fails whole: none of its outputs are kept, and it joins the
//! failed records with the stage, class and reason. In isolation (see [`super::poison`]) each
//! record is first written into the lane's marker as the suspect, and a panic while processing
//! it fails that record alone, with reason `crash`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use super::poison::MarkerFile;
use crate::error::{Classified, ErrorClass};
use crate::record::{FailedPayload, FailedRecord, Record};
use crate::transforms::Transform;

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
        apply_one(transforms, &record, &mut out, failed, &mut scratch);
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
                    payload: FailedPayload::Value(record.value.clone()),
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
            apply_one(transforms, &record, &mut out, failed, &mut scratch);
            continue;
        }
        marker.suspect(Some(record.meta.id.offset))?;
        let start = out.len();
        let caught = catch_unwind(AssertUnwindSafe(|| {
            apply_one(transforms, &record, &mut out, failed, &mut scratch)
        }));
        if let Err(payload) = caught {
            out.truncate(start);
            scratch = (Vec::new(), Vec::new());
            failed.push(FailedRecord {
                id: record.meta.id.clone(),
                stage: "lane".into(),
                class: ErrorClass::Fatal,
                payload: FailedPayload::Value(record.value.clone()),
                reason: "crash",
                message: format!(
                    "this record crashed its lane (found in isolation): panic: {}",
                    panic_message(&*payload)
                ),
            });
        }
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
    record: &Record,
    out: &mut Vec<Record>,
    failed: &mut Vec<FailedRecord>,
    (cur, next): &mut (Vec<Record>, Vec<Record>),
) {
    #[cfg(feature = "fault-injection")]
    crate::fault::check(record);
    if transforms.is_empty() {
        out.push(record.clone());
        return;
    }
    cur.clear();
    for (i, t) in transforms.iter().enumerate() {
        next.clear();
        let inputs: &[Record] = if i == 0 {
            std::slice::from_ref(record)
        } else {
            cur
        };
        for r in inputs {
            if let Err(e) = t.apply(r, next) {
                failed.push(FailedRecord {
                    id: record.meta.id.clone(),
                    stage: t.name().clone(),
                    class: e.class(),
                    payload: FailedPayload::Value(record.value.clone()),
                    reason: e.code(),
                    message: e.to_string(),
                });
                return;
            }
        }
        std::mem::swap(cur, next);
    }
    out.append(cur);
}
