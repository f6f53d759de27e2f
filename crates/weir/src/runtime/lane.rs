//! One lane: read batches, transform, write, and cut epochs under the commit protocol.
//!
//! At the end of epoch `e` (interval elapsed, `max_records` reached, end of input, or
//! shutdown): every sink `precommit(e)`, then the checkpoint `{e, next offset, counts}` is
//! written — the commit point — then every sink `commit(e)`. A crash anywhere before the
//! checkpoint loses nothing (the epoch is replayed from the previous offset); a crash after it
//! loses nothing either (recovery commits `e` again, which is idempotent).

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;

use super::build::Pipeline;
use super::error::LaneError;
use super::recover::Recovered;
use crate::checkpoint::Checkpoint;
use crate::epoch::Epoch;
use crate::observe::events::{CheckpointCommitted, RecordFailed, RecordsRead, RecordsWritten};
use crate::observe::progress::Progress;
use crate::record::{FailedPayload, FailedRecord, Record};
use crate::sources::{LaneSpec, SourceBatch};

/// How a lane ended without failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaneExit {
    /// All input was processed and committed.
    Finished,
    /// Shutdown was requested; the open epoch was committed.
    Stopped,
}

/// A lane's running state.
struct Lane<'a> {
    pipeline: &'a Pipeline,
    spec: &'a LaneSpec,
    state: Recovered,
    /// The epoch being filled.
    epoch: Epoch,
    /// Offset after the last batch taken in.
    offset: u64,
    /// Whether the open epoch has taken in anything.
    dirty: bool,
    epoch_records: u64,
    progress: &'a Progress,
}

/// Runs a recovered lane until its input ends, shutdown is requested, or it fails.
///
/// # Errors
/// The failure that stopped the lane; nothing after its last committed epoch is visible.
pub async fn run(
    pipeline: &Pipeline,
    spec: &LaneSpec,
    state: Recovered,
    mut shutdown: watch::Receiver<bool>,
    progress: &Progress,
) -> Result<LaneExit, LaneError> {
    let mut reader = pipeline.source.open(spec, state.next_offset).await?;
    let mut lane = Lane {
        pipeline,
        spec,
        epoch: state.epoch.next(),
        offset: state.next_offset,
        dirty: false,
        epoch_records: 0,
        state,
        progress,
    };
    let interval = pipeline.checkpoint.interval;
    let mut epoch_started = Instant::now();
    loop {
        if *shutdown.borrow() {
            lane.end_epoch().await?;
            return Ok(LaneExit::Stopped);
        }
        let deadline = tokio::time::Instant::from_std(epoch_started + interval);
        let cut_by_time = pipeline.checkpoint.enabled && lane.dirty;
        tokio::select! {
            biased;
            _ = shutdown.changed() => {}
            () = tokio::time::sleep_until(deadline), if cut_by_time => {
                lane.end_epoch().await?;
                epoch_started = Instant::now();
            }
            batch = reader.next_batch() => match batch {
                None => {
                    lane.end_epoch().await?;
                    return Ok(LaneExit::Finished);
                }
                Some(batch) => {
                    lane.take(batch?).await?;
                    let full = pipeline.checkpoint.max_records.is_some_and(|m| lane.epoch_records >= m);
                    let late = Instant::now() >= epoch_started + interval;
                    if pipeline.checkpoint.enabled && (full || late) {
                        lane.end_epoch().await?;
                        epoch_started = Instant::now();
                    }
                }
            }
        }
    }
}

impl Lane<'_> {
    /// Transforms a batch and writes it to every sink within the open epoch.
    async fn take(&mut self, batch: SourceBatch) -> Result<(), LaneError> {
        let SourceBatch {
            records,
            mut failed,
            next_offset,
        } = batch;
        let input = (records.len() + failed.len()) as u64;
        let name = &self.pipeline.name;
        RecordsRead {
            pipeline: name,
            count: input,
        }
        .emit();
        let transforms = Arc::clone(&self.pipeline.transforms);
        let out = tokio::task::block_in_place(|| apply_all(&transforms, records, &mut failed));
        for f in &failed {
            RecordFailed {
                pipeline: name,
                record: f,
            }
            .emit();
        }
        if !out.is_empty() {
            for (sink, factory) in self.state.sinks.iter_mut().zip(self.pipeline.sinks.iter()) {
                sink.write(self.epoch, &out)
                    .await
                    .map_err(|source| LaneError::Sink {
                        sink: factory.name().to_owned(),
                        source,
                    })?;
                RecordsWritten {
                    pipeline: name,
                    sink: factory.name(),
                    count: out.len() as u64,
                }
                .emit();
            }
        }
        self.progress
            .advance(next_offset.saturating_sub(self.offset), input);
        self.offset = next_offset;
        self.state.records_in += input;
        self.state.records_out += out.len() as u64;
        self.epoch_records += input;
        self.dirty = true;
        Ok(())
    }

    /// Commits the open epoch if it took in anything: precommit, checkpoint, commit.
    async fn end_epoch(&mut self) -> Result<(), LaneError> {
        if !self.dirty {
            return Ok(());
        }
        let started = Instant::now();
        let epoch = self.epoch;
        let sink_err = |i: usize| {
            let name = self.pipeline.sinks[i].name().to_owned();
            move |source| LaneError::Sink { sink: name, source }
        };
        for (i, sink) in self.state.sinks.iter_mut().enumerate() {
            sink.precommit(epoch).await.map_err(sink_err(i))?;
        }
        if self.pipeline.checkpoint.enabled {
            let checkpoint = Checkpoint {
                pipeline: self.pipeline.name.to_string(),
                lane: self.spec.id.to_string(),
                epoch,
                next_offset: self.offset,
                records_in: self.state.records_in,
                records_out: self.state.records_out,
                created_at_ms: now_ms(),
                state: serde_json::Map::new(),
                sinks: serde_json::Map::new(),
            };
            self.pipeline.store.save(&checkpoint).await?;
        }
        for (i, sink) in self.state.sinks.iter_mut().enumerate() {
            sink.commit(epoch).await.map_err(sink_err(i))?;
        }
        CheckpointCommitted {
            pipeline: &self.pipeline.name,
            lane: &self.spec.id,
            epoch,
            offset: self.offset,
            duration: started.elapsed(),
        }
        .emit();
        self.epoch = epoch.next();
        self.dirty = false;
        self.epoch_records = 0;
        Ok(())
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Runs every record through the transform chain. A record that fails any stage fails whole:
/// none of its outputs are kept, and it joins `failed` with the stage and reason.
fn apply_all(
    transforms: &[Arc<dyn crate::transforms::Transform>],
    records: Vec<Record>,
    failed: &mut Vec<FailedRecord>,
) -> Vec<Record> {
    if transforms.is_empty() {
        return records;
    }
    use crate::error::Classified;
    let mut out = Vec::with_capacity(records.len());
    let mut cur = Vec::new();
    let mut next = Vec::new();
    'records: for record in records {
        cur.clear();
        for (i, t) in transforms.iter().enumerate() {
            next.clear();
            let inputs: &[Record] = if i == 0 {
                std::slice::from_ref(&record)
            } else {
                &cur
            };
            for r in inputs {
                if let Err(e) = t.apply(r, &mut next) {
                    failed.push(FailedRecord {
                        id: record.meta.id.clone(),
                        stage: t.name().clone(),
                        payload: FailedPayload::Value(record.value.clone()),
                        reason: e.code(),
                        message: e.to_string(),
                    });
                    continue 'records;
                }
            }
            std::mem::swap(&mut cur, &mut next);
        }
        out.append(&mut cur);
    }
    out
}
