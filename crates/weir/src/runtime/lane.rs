//! One lane: read batches, transform, write, and cut epochs under the commit protocol.
//!
//! At the end of epoch `e` (interval elapsed, `max_records` reached, end of input, or
//! shutdown): every sink and the dead-letter queue `precommit(e)`, then the checkpoint
//! `{e, next offset, counts}` is written — the commit point — then every sink and the DLQ
//! `commit(e)`. A crash anywhere before the checkpoint loses nothing (the epoch is replayed from
//! the previous offset); a crash after it loses nothing either (recovery commits `e` again,
//! which is idempotent). Every input record ends in the output or in the DLQ of the same epoch.
//! Records a sink refuses make the lane read the open epoch again without them (see
//! [`super::refusal`]).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;

use super::apply::{apply_isolated, apply_parallel};
use super::build::Pipeline;
use super::error::LaneError;
use super::poison::{MarkerFile, Mode};
use super::recover::Recovered;
use super::refusal::{Diversions, MAX_REWINDS};
use crate::checkpoint::Checkpoint;
use crate::epoch::Epoch;
use crate::error::ErrorClass;
use crate::observe::events::{CheckpointCommitted, RecordFailed, RecordsRead, RecordsWritten};
use crate::observe::metrics::metrics;
use crate::observe::progress::Progress;
use crate::quality::audit::EpochAudit;
use crate::quality::coerce::RecordSchema;
use crate::quality::gate::FailureGate;
use crate::record::Record;
use crate::record::{FailedPayload, FailedRecord, RecordId};
use crate::sinks::{Refusal, SinkError};
use crate::sources::{LaneSpec, SourceBatch};

/// How a lane ended without failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaneExit {
    /// All input was processed and committed.
    Finished,
    /// Shutdown was requested; the open epoch was committed.
    Stopped,
}

/// How a lane runs, beyond its pipeline's configuration.
pub struct LaneRun {
    /// Normal or isolated (poison-pill search).
    pub mode: Mode,
    /// The lane's crash marker, when it has one.
    pub marker: Option<MarkerFile>,
    /// A DLQ replay lane: records that go through leave the DLQ.
    pub replay: bool,
}

/// A lane's running state.
struct Lane<'a> {
    pipeline: &'a Pipeline,
    spec: &'a LaneSpec,
    state: Recovered,
    run: LaneRun,
    /// The epoch being filled.
    epoch: Epoch,
    /// Offset after the last batch taken in.
    offset: u64,
    /// Whether the open epoch has taken in anything.
    dirty: bool,
    epoch_records: u64,
    progress: &'a Progress,
    /// Audit figures of the open epoch.
    audit: EpochAudit,
    /// The failure-ratio gate.
    gate: Option<FailureGate>,
    /// Where the open epoch began: offset, records in, records out.
    start: (u64, u64, u64),
    /// Input records refused by a sink, diverted to the DLQ.
    diversions: Diversions,
    /// How often the open epoch was read again after a refusal.
    rewinds: u32,
}

/// Runs a recovered lane until its input ends, shutdown is requested, or it fails.
///
/// # Errors
/// The failure that stopped the lane; nothing after its last committed epoch is visible.
pub async fn run(
    pipeline: &Pipeline,
    spec: &LaneSpec,
    state: Recovered,
    run: LaneRun,
    mut shutdown: watch::Receiver<bool>,
    progress: &Progress,
) -> Result<LaneExit, LaneError> {
    let mut reader = pipeline.source.open(spec, state.next_offset).await?;
    let start = (state.next_offset, state.records_in, state.records_out);
    let mut lane = Lane {
        pipeline,
        spec,
        epoch: state.epoch.next(),
        offset: state.next_offset,
        dirty: false,
        epoch_records: 0,
        state,
        run,
        progress,
        audit: EpochAudit::new(pipeline.audits.clone()),
        gate: pipeline
            .gate
            .map(|(ratio, window)| FailureGate::new(ratio, window)),
        start,
        diversions: Diversions::default(),
        rewinds: 0,
    };
    let interval = pipeline.checkpoint.interval;
    let mut epoch_started = Instant::now();
    let driven = async {
        let exit = loop {
            let step = async {
                if *shutdown.borrow() {
                    lane.end_epoch().await?;
                    return Ok(Some(LaneExit::Stopped));
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
                            return Ok(Some(LaneExit::Finished));
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
                Ok::<Option<LaneExit>, LaneError>(None)
            };
            match step.await {
                Ok(Some(exit)) => break exit,
                Ok(None) => {}
                Err(LaneError::Sink {
                    sink,
                    source: SinkError::Refused(refused),
                }) => {
                    lane.rewind(sink, refused).await?;
                    reader = pipeline.source.open(spec, lane.offset).await?;
                }
                Err(e) => return Err(e),
            }
        };
        Ok::<LaneExit, LaneError>(exit)
    };
    let exit = match driven.await {
        Err(e) if e.is_stop() => {
            lane.abandon().await;
            LaneExit::Stopped
        }
        r => r?,
    };
    if let Some(marker) = lane.run.marker.take() {
        marker.remove();
    }
    Ok(exit)
}

fn marker_err(e: std::io::Error) -> LaneError {
    LaneError::Source(crate::sources::SourceError::Io {
        path: "lane marker".into(),
        source: e,
    })
}

impl Lane<'_> {
    /// Transforms a batch and writes it to every sink (and failures to the DLQ) within the
    /// open epoch.
    async fn take(&mut self, batch: SourceBatch) -> Result<(), LaneError> {
        let SourceBatch {
            mut records,
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
        if let Some(marker) = self.run.marker.as_mut() {
            // Before processing: a crash while processing this batch counts against it.
            marker.read_up_to(next_offset).map_err(marker_err)?;
        }
        if let Mode::Isolated {
            quarantine: Some((q, message)),
            ..
        } = &self.run.mode
            && let Some(i) = records.iter().position(|r| r.meta.id.offset == *q)
        {
            let r = records.remove(i);
            failed.push(FailedRecord {
                id: r.meta.id.clone(),
                stage: "lane".into(),
                class: ErrorClass::Fatal,
                payload: FailedPayload::Value(r.into_as_read()),
                reason: "crash",
                message: message.clone(),
            });
        }
        self.diversions.divert(&mut records, &mut failed);
        if let Some(schema) = &self.pipeline.schema {
            coerce(schema, &mut records, &mut failed);
        }
        let inputs: Vec<RecordId> = if self.run.replay || self.gate.is_some() {
            let mut ids: Vec<RecordId> = records
                .iter()
                .map(|r| r.meta.id.clone())
                .chain(failed.iter().map(|f| f.id.clone()))
                .collect();
            ids.sort_by_key(|id| id.offset);
            ids
        } else {
            Vec::new()
        };
        let transforms = Arc::clone(&self.pipeline.transforms);
        let isolate_until = match &self.run.mode {
            Mode::Isolated { until, .. } if self.offset < *until => Some(*until),
            _ => None,
        };
        let out = match (isolate_until, self.run.marker.as_mut()) {
            (Some(until), Some(marker)) => tokio::task::block_in_place(|| {
                apply_isolated(&transforms, records, &mut failed, marker, until)
            })
            .map_err(marker_err)?,
            _ => {
                let threads = self
                    .pipeline
                    .transform_threads
                    .load(std::sync::atomic::Ordering::Relaxed);
                tokio::task::block_in_place(|| {
                    apply_parallel(&transforms, records, &mut failed, threads)
                })
            }
        };
        if failed.iter().any(|f| f.reason == "stopped") {
            // A stage was waiting for a dependency when the stop came: nothing of this batch
            // is kept; the open epoch is abandoned and replayed by the next run.
            return Err(LaneError::Stopped);
        }
        if let Some(halt) = failed.iter().find(|f| f.reason == "halt") {
            let message = format!(
                "record {} in stage {}: {}",
                halt.id, halt.stage, halt.message
            );
            let message = self.pipeline.redactor.redact_message(
                match &halt.payload {
                    FailedPayload::Value(v) => Some(v),
                    FailedPayload::Raw(_) => None,
                },
                &message,
            );
            return Err(self.halt(message).await);
        }
        self.failed(&mut failed);
        if let Some(gate) = self.gate.as_mut() {
            let invalid: HashSet<&RecordId> = failed
                .iter()
                .filter(|f| f.reason == "validation")
                .map(|f| &f.id)
                .collect();
            for id in &inputs {
                if let Some(n) = gate.record(invalid.contains(id)) {
                    metrics()
                        .gate_trips
                        .with_label_values(&[&*self.pipeline.name])
                        .inc();
                    let (ratio, window) = self.pipeline.gate.unwrap_or_default();
                    let message = format!(
                        "failure-ratio gate: {n} of the last {window} records failed validation (more than {ratio}); the upstream looks broken"
                    );
                    return Err(self.halt(message).await);
                }
            }
        }
        if self.run.replay
            && let Some(dlq) = self.state.dlq.as_mut()
        {
            let still: HashSet<&RecordId> = failed.iter().map(|f| &f.id).collect();
            dlq.resolve(inputs.into_iter().filter(|id| !still.contains(id)));
        }
        self.audit.input(input);
        if !self.audit.is_empty() {
            self.audit.output(out.iter().map(|r| &r.value));
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

    /// Redacts, logs, counts and dead-letters failed records.
    fn failed(&mut self, failed: &mut [FailedRecord]) {
        let redactor = &self.pipeline.redactor;
        for f in failed.iter_mut() {
            if !redactor.is_empty() {
                let value = match &f.payload {
                    FailedPayload::Value(v) => Some(v.clone()),
                    FailedPayload::Raw(raw) => serde_json::from_slice(raw).ok(),
                };
                f.message = redactor.redact_message(value.as_ref(), &f.message);
                if self.pipeline.dlq_plan.redact_records {
                    match &mut f.payload {
                        FailedPayload::Value(v) => redactor.redact_value(v),
                        FailedPayload::Raw(raw) => *raw = redactor.redact_raw(raw),
                    }
                }
            }
            RecordFailed {
                pipeline: &self.pipeline.name,
                record: f,
            }
            .emit();
        }
        if let Some(dlq) = self.state.dlq.as_mut() {
            let kept: Vec<FailedRecord> = failed
                .iter()
                .filter(|f| f.reason != "dropped")
                .cloned()
                .collect();
            dlq.fail(&kept);
        }
    }

    /// Aborts the open epoch in every sink and the DLQ (nothing of it becomes visible) and
    /// returns the halt.
    async fn halt(&mut self, message: String) -> LaneError {
        let epoch = self.epoch;
        self.abort_open().await;
        LaneError::Halted(format!("lane {} epoch {epoch}: {message}", self.spec.id))
    }

    /// Drops the open epoch after a stop that came while a dependency was awaited: nothing of
    /// it becomes visible, the next run produces it again from the last checkpoint.
    async fn abandon(&mut self) {
        let epoch = self.epoch;
        tracing::info!(pipeline = %self.pipeline.name, lane = %self.spec.id, epoch = epoch.0,
            "stopped while waiting for a dependency: epoch {epoch} is not committed; the next run replays it");
        self.abort_open().await;
    }

    /// Aborts the open epoch in every sink and the DLQ.
    async fn abort_open(&mut self) {
        let epoch = self.epoch;
        for sink in &mut self.state.sinks {
            if let Err(e) = sink.abort(epoch).await {
                tracing::warn!(pipeline = %self.pipeline.name, lane = %self.spec.id, "abort of epoch {epoch} failed (recovery discards it): {e}");
            }
        }
        if let Some(dlq) = self.state.dlq.as_mut()
            && let Err(e) = dlq.abort(epoch)
        {
            tracing::warn!(pipeline = %self.pipeline.name, lane = %self.spec.id, "abort of epoch {epoch} in the DLQ failed (recovery discards it): {e}");
        }
    }

    /// A sink refused records of the open epoch: the epoch is aborted everywhere and read
    /// again from its first offset, the refused input records going to the DLQ this time.
    async fn rewind(&mut self, sink: String, refused: Vec<Refusal>) -> Result<(), LaneError> {
        let count = refused.len();
        let new = self.diversions.note(&sink, refused);
        self.rewinds += 1;
        if self.rewinds > MAX_REWINDS {
            self.abort_open().await;
            let message = format!(
                "sink {sink} refused records of epoch {} again after {MAX_REWINDS} rewrites; it does not refuse the same records each time",
                self.epoch
            );
            return Err(LaneError::Sink {
                sink,
                source: SinkError::Remote {
                    class: ErrorClass::Permanent,
                    code: "sink_refused",
                    message,
                },
            });
        }
        let epoch = self.epoch;
        tracing::warn!(pipeline = %self.pipeline.name, lane = %self.spec.id, sink = %sink, epoch = epoch.0, refused = count, new,
            "sink refused records: epoch {epoch} is written again, the refused records go to the dead-letter queue");
        self.abort_open().await;
        self.diversions.rewound();
        let (offset, records_in, records_out) = self.start;
        self.progress
            .rewind(self.offset.saturating_sub(offset), self.epoch_records);
        self.offset = offset;
        self.state.records_in = records_in;
        self.state.records_out = records_out;
        self.dirty = false;
        self.epoch_records = 0;
        self.audit.reset();
        Ok(())
    }

    /// Runs the epoch audits; a failure not accepted by an operator's override halts.
    async fn audit_epoch(&mut self, epoch: Epoch) -> Result<(), LaneError> {
        let Err(failure) = self.audit.check() else {
            return Ok(());
        };
        metrics()
            .audit_failures
            .with_label_values(&[&*self.pipeline.name, failure.kind])
            .inc();
        let dir = &self.pipeline.overrides;
        let candidates = [
            dir.join(format!("{}@{}", self.spec.id, epoch.0)),
            dir.join(epoch.0.to_string()),
        ];
        if let Some(found) = candidates.iter().find(|p| p.exists()) {
            tracing::warn!(pipeline = %self.pipeline.name, lane = %self.spec.id, epoch = epoch.0, override_file = %found.display(),
                "audit failed but the epoch is committed: accepted by an operator's override ({})", failure.message);
            let _ = std::fs::remove_file(found);
            return Ok(());
        }
        Err(self.halt(format!("audit {} failed", failure.message)).await)
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
            sink.epoch_ends_at(epoch, self.offset);
            sink.precommit(epoch).await.map_err(sink_err(i))?;
        }
        if let Some(dlq) = self.state.dlq.as_mut() {
            dlq.precommit(epoch)?;
        }
        if !self.audit.is_empty() {
            self.audit_epoch(epoch).await?;
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
        if let Some(dlq) = self.state.dlq.as_mut() {
            dlq.commit(epoch)?;
        }
        if self.pipeline.checkpoint.enabled {
            self.pipeline
                .source
                .checkpointed(self.spec, self.offset)
                .await;
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
        self.audit.reset();
        self.start = (self.offset, self.state.records_in, self.state.records_out);
        self.rewinds = 0;
        self.diversions.committed();
        Ok(())
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Coerces records to the source's declared schema; records that do not fit fail with reason
/// `validation` (stage `schema`).
fn coerce(schema: &RecordSchema, records: &mut Vec<Record>, failed: &mut Vec<FailedRecord>) {
    let mut kept = Vec::with_capacity(records.len());
    for mut r in records.drain(..) {
        match schema.apply(&mut r.value) {
            Ok(()) => kept.push(r),
            Err(problems) => failed.push(FailedRecord {
                id: r.meta.id.clone(),
                stage: "schema".into(),
                class: ErrorClass::Permanent,
                payload: FailedPayload::Value(r.value),
                reason: "validation",
                message: problems.join("; "),
            }),
        }
    }
    *records = kept;
}
