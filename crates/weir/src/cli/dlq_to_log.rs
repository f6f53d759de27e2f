//! `weir dlq replay --to-log`: dead letters of `http` pipelines go back into the pipeline's
//! input log, where the pipeline reads them like new input (partitioned by their key as
//! before), and leave the DLQ — each exactly once, through any crash:
//!
//! 1. a batch of entries is written down as a replay intent (entry ids, the NDJSON body and an
//!    idempotency key derived from the ids) in `<data_dir>/ingest.sqlite`, durably;
//! 2. the body is ingested with that `Idempotency-Key` — through the running `weir run`'s
//!    server when one has the log open, or directly;
//! 3. the entries are deleted from the DLQ; 4. the intent is deleted.
//!
//! A run interrupted anywhere is finished by the next one: it redoes every intent left, whose
//! ingest is then a no-op (or stores exactly what is missing) and whose deletes find what is
//! left. This holds while the pipeline's `idempotency_window` (default 24h) has not passed.
//! Entries whose record could not be parsed (raw bytes that are not JSON) stay in the DLQ.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use super::client;
use super::dlq::FilterArgs;
use super::outln;
use crate::buffer::lock::{Holder, LockError};
use crate::buffer::{Buffer, BufferError};
use crate::config::{Plan, SourcePlan};
use crate::dlq::{DlqFilter, DlqStore};
use crate::ingest::Ingest;
use crate::ingest::keys::{KeyStore, ReplayIntent};
use crate::layout::Layout;

/// Dead letters per intent.
const BATCH: u64 = 500;

enum Target {
    Local(tokio::runtime::Runtime, Arc<Ingest>),
    Remote(SocketAddr),
}

impl Target {
    fn open(plan: &Plan) -> Result<Target, String> {
        match Buffer::open(plan) {
            Ok(buffer) => {
                let ingest = Ingest::open(plan, buffer).map_err(|e| e.to_string())?;
                let rt = super::runtime().map_err(|_| "cannot start the runtime".to_owned())?;
                Ok(Target::Local(rt, ingest))
            }
            Err(BufferError::Lock(LockError::Held {
                holder: Some(Holder {
                    server: Some(addr), ..
                }),
                ..
            })) => Ok(Target::Remote(addr)),
            Err(e) => Err(e.to_string()),
        }
    }

    fn send(&self, intent: &ReplayIntent) -> Result<(), String> {
        match self {
            Target::Local(rt, ingest) => rt
                .block_on(ingest.ingest(&intent.pipeline, &intent.body, Some(&intent.key)))
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Target::Remote(addr) => {
                let path = format!("/ingest/{}", intent.pipeline);
                let r = client::request(
                    *addr,
                    "POST",
                    &path,
                    &[
                        ("Idempotency-Key", &intent.key),
                        ("Content-Type", "application/x-ndjson"),
                    ],
                    &intent.body,
                    Duration::from_secs(120),
                )
                .map_err(|e| format!("http://{addr}{path}: {e}"))?;
                if r.status == 200 {
                    Ok(())
                } else {
                    Err(format!(
                        "http://{addr}{path}: {} {}",
                        r.status,
                        String::from_utf8_lossy(&r.body)
                    ))
                }
            }
        }
    }
}

fn failed(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(super::EXIT_FAILED)
}

/// Runs `weir dlq replay --to-log`.
pub(super) fn replay(
    config: &Path,
    filter: &FilterArgs,
    dry_run: bool,
) -> Result<ExitCode, ExitCode> {
    let plan = super::load(config)?;
    let http: Vec<&str> = plan
        .pipelines
        .iter()
        .filter(|p| matches!(p.source, SourcePlan::Http(_)))
        .map(|p| p.name.as_str())
        .collect();
    let pipelines: Vec<&str> = match &filter.pipeline {
        Some(p) if http.contains(&p.as_str()) => vec![p.as_str()],
        Some(p) => {
            eprintln!(
                "error: --to-log: `{p}` is not a pipeline with an http source in {} (its input log is where the records would go)",
                config.display()
            );
            return Err(ExitCode::from(super::EXIT_CONFIG));
        }
        None if http.is_empty() => {
            eprintln!(
                "error: --to-log: {} has no pipeline with an http source",
                config.display()
            );
            return Err(ExitCode::from(super::EXIT_CONFIG));
        }
        None => http,
    };
    let dlq = crate::runtime::open_dlq(&plan).map_err(|e| failed(&e))?;
    if dry_run {
        for p in &pipelines {
            let f = DlqFilter {
                pipeline: Some((*p).to_owned()),
                reason: filter.reason.clone(),
                ..DlqFilter::default()
            };
            let entries = dlq.list(&f, None).map_err(|e| failed(&e))?;
            super::dlq::print_table(&entries);
            outln!(
                "would append {} dead letter(s) to the input log of `{p}`",
                entries.len()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let keys = KeyStore::open(&Layout::new(&plan.data_dir).ingest_db()).map_err(|e| failed(&e))?;
    let target = Target::open(&plan).map_err(|e| failed(&e))?;
    for p in pipelines {
        let (appended, skipped) =
            replay_pipeline(&dlq, &keys, &target, p, filter.reason.as_deref())
                .map_err(|e| failed(&e))?;
        outln!(
            "pipeline {p}: appended {appended} dead letter(s) to its input log; {skipped} left in the DLQ (not JSON)"
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn finish(
    dlq: &DlqStore,
    keys: &KeyStore,
    target: &Target,
    intent: &ReplayIntent,
) -> Result<(), String> {
    target.send(intent)?;
    dlq.remove(&intent.entry_ids).map_err(|e| e.to_string())?;
    keys.remove_intent(&intent.pipeline, &intent.key)
        .map_err(|e| e.to_string())
}

fn replay_pipeline(
    dlq: &DlqStore,
    keys: &KeyStore,
    target: &Target,
    pipeline: &str,
    reason: Option<&str>,
) -> Result<(u64, u64), String> {
    let mut appended = 0u64;
    for intent in keys.intents(pipeline).map_err(|e| e.to_string())? {
        tracing::info!(pipeline, key = %intent.key, entries = intent.entry_ids.len(), "finishing an interrupted replay batch");
        finish(dlq, keys, target, &intent)?;
        appended += intent.entry_ids.len() as u64;
    }
    let filter = DlqFilter {
        pipeline: Some(pipeline.to_owned()),
        reason: reason.map(str::to_owned),
        ..DlqFilter::default()
    };
    let (mut cursor, mut skipped) = (0i64, 0u64);
    loop {
        let entries = dlq
            .list_after(&filter, cursor, BATCH)
            .map_err(|e| e.to_string())?;
        let Some(last) = entries.last() else { break };
        cursor = last.id;
        let mut intent = ReplayIntent {
            pipeline: pipeline.to_owned(),
            key: String::new(),
            entry_ids: Vec::new(),
            body: Vec::new(),
        };
        for e in &entries {
            match &e.record {
                Some(v) => {
                    intent.entry_ids.push(e.id);
                    intent
                        .body
                        .extend(serde_json::to_vec(v).map_err(|e| e.to_string())?);
                    intent.body.push(b'\n');
                }
                None => skipped += 1,
            }
        }
        let (Some(first), Some(last)) = (intent.entry_ids.first(), intent.entry_ids.last()) else {
            continue;
        };
        intent.key = format!(
            "weir-dlq-replay-{pipeline}-{first}-{last}-{}",
            intent.entry_ids.len()
        );
        keys.put_intent(&intent, crate::dlq::writer::now_ms())
            .map_err(|e| e.to_string())?;
        finish(dlq, keys, target, &intent)?;
        appended += intent.entry_ids.len() as u64;
    }
    Ok((appended, skipped))
}
