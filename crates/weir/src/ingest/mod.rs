//! HTTP ingestion into the embedded log: `POST /ingest/<pipeline>` (served by `server`).
//!
//! A request's body (a JSON object, a JSON array or JSON lines, see [`body`]) is validated
//! whole; each record — stored as the JSON text it was sent as — is keyed by the pipeline's
//! `key` path and hashed to a partition of the topic named after the pipeline (see
//! [`crate::keypath`]); then each partition's records are appended
//! in one append, all partitions at once, and the request is answered only when every append is
//! acknowledged — durable, under `log.fsync: always` (concurrent requests share fsyncs: the
//! log's group commit). The answer:
//!
//! ```json
//! {"records": 3, "first_offset": {"2": 120, "5": 77}, "next_offset": {"2": 122, "5": 78}}
//! ```
//!
//! per partition written, the offsets `[first_offset, next_offset)` holding the request's
//! records there (consecutive, in body order; records of other requests are never in between,
//! except for a keyed request completed over several attempts).
//!
//! Refusals store nothing: a malformed, empty or non-UTF-8 body, a record larger than the log
//! takes, and — checked before appending — a full quota (of the log, or of the pipeline's topic
//! when `quota` is set). A request is stored whole or not at all: the log reserves the bytes
//! of all its appends at once and refuses them together when its quota is full (whatever else
//! writes to it meanwhile). A topic's quota is the engine's own: a request reserves its bytes
//! at the check until it is answered, so concurrent requests cannot both pass on the same
//! free space of the topic.
//!
//! **Idempotency.** A request with an `Idempotency-Key` header is remembered (see [`keys`])
//! for the pipeline's `idempotency_window`, across restarts: a retry with the same key and body
//! gets the original answer and stores nothing; with another body, 422; while the first is
//! still in progress, 409. A retry of a request that was interrupted (crash, 503) stores exactly
//! the records that are missing.

pub mod body;
pub mod error;
mod keyed;
pub mod keys;
pub mod prepare;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use error::IngestError;
use keys::KeyStore;
use prepare::Batch;

use crate::buffer::{Buffer, KeyedRecords, append_group};
use crate::config::{HttpSourcePlan, Plan, SourcePlan};
use crate::keypath::KeyPath;

/// Bodies larger than this are parsed on a blocking thread.
const INLINE_PARSE: usize = 64 * 1024;
/// Keyed requests between two expiries of old keys.
const EXPIRE_EVERY: u64 = 1000;
/// Longest `Idempotency-Key`.
pub const MAX_KEY_LEN: usize = 200;

/// The answer to an accepted request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// Records stored.
    pub records: u64,
    /// Per partition: the offset of its first record of the request.
    pub first_offset: BTreeMap<String, u64>,
    /// Per partition: the offset after its last record of the request.
    pub next_offset: BTreeMap<String, u64>,
}

impl Answer {
    fn add(&mut self, partition: u32, first: u64, next: u64) {
        let p = partition.to_string();
        let f = self.first_offset.entry(p.clone()).or_insert(first);
        *f = (*f).min(first);
        let n = self.next_offset.entry(p).or_insert(next);
        *n = (*n).max(next);
    }
}

/// An accepted request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// What to answer.
    pub answer: Answer,
    /// Whether this is a retry answered from the idempotency store.
    pub replayed: bool,
}

/// One pipeline's ingest endpoint.
#[derive(Debug)]
struct Route {
    partitions: Vec<weir_log::Partition>,
    key: Option<KeyPath>,
    plan: HttpSourcePlan,
}

/// The ingest service of every `http` pipeline of a configuration.
#[derive(Debug)]
pub struct Ingest {
    buffer: Arc<Buffer>,
    routes: BTreeMap<String, Route>,
    keys: KeyStore,
    max_record: u64,
    log_quota: Option<u64>,
    in_flight: Mutex<HashSet<(String, String)>>,
    /// Bytes of requests between their topic-quota check and their answer, by pipeline.
    reserved: Mutex<BTreeMap<String, u64>>,
    /// Keyed requests since keys were last expired.
    keyed: std::sync::atomic::AtomicU64,
}

impl Ingest {
    /// The ingest service of `plan`'s `http` pipelines over the open `buffer`. Opens the
    /// idempotency store and settles requests a crash interrupted (before anything else
    /// appends to the log), and forgets expired keys.
    ///
    /// # Errors
    /// When the store cannot be opened or the log read.
    pub fn open(plan: &Plan, buffer: Arc<Buffer>) -> Result<Arc<Ingest>, IngestError> {
        let mut routes = BTreeMap::new();
        for p in &plan.pipelines {
            if let SourcePlan::Http(h) = &p.source {
                let partitions = (0..h.partitions)
                    .map(|id| buffer.log().partition(&p.name, id))
                    .collect::<Result<Vec<_>, _>>()?;
                routes.insert(
                    p.name.clone(),
                    Route {
                        partitions,
                        key: h.key.clone(),
                        plan: h.clone(),
                    },
                );
            }
        }
        let keys = KeyStore::open(&buffer.layout().ingest_db())?;
        let ingest = Ingest {
            max_record: u64::from(plan.log.max_record_bytes),
            log_quota: plan.log.quota_bytes,
            buffer,
            routes,
            keys,
            in_flight: Mutex::default(),
            reserved: Mutex::default(),
            keyed: 0.into(),
        };
        ingest.settle_interrupted()?;
        ingest.expire_keys()?;
        Ok(Arc::new(ingest))
    }

    /// Forgets idempotency keys older than their pipeline's window (on open, and every
    /// [`EXPIRE_EVERY`] keyed requests).
    fn expire_keys(&self) -> Result<(), IngestError> {
        let now = crate::dlq::writer::now_ms();
        for (name, route) in &self.routes {
            let window =
                i64::try_from(route.plan.idempotency_window.as_millis()).unwrap_or(i64::MAX);
            self.keys.expire(name, now.saturating_sub(window))?;
        }
        Ok(())
    }

    /// The pipelines served.
    pub fn pipelines(&self) -> impl Iterator<Item = &str> {
        self.routes.keys().map(String::as_str)
    }

    /// `max_body` of `pipeline`.
    #[must_use]
    pub fn max_body(&self, pipeline: &str) -> Option<u64> {
        self.routes.get(pipeline).map(|r| r.plan.max_body)
    }

    /// `Retry-After` of `pipeline`'s 503 answers.
    #[must_use]
    pub fn retry_after(&self, pipeline: &str) -> Duration {
        self.routes
            .get(pipeline)
            .map_or(crate::config::log::DEFAULT_RETRY_AFTER, |r| {
                r.plan.retry_after
            })
    }

    /// The open log buffer.
    #[must_use]
    pub fn buffer(&self) -> &Arc<Buffer> {
        &self.buffer
    }

    /// Stores the records of `body` in `pipeline`'s topic; see the module doc.
    ///
    /// # Errors
    /// See [`IngestError`]; each says whether anything was stored.
    pub async fn ingest(
        &self,
        pipeline: &str,
        body: &[u8],
        key: Option<&str>,
    ) -> Result<Outcome, IngestError> {
        let route = self
            .routes
            .get(pipeline)
            .ok_or_else(|| IngestError::UnknownPipeline(pipeline.to_owned()))?;
        if body.len() as u64 > route.plan.max_body {
            return Err(IngestError::TooLarge {
                limit: route.plan.max_body,
            });
        }
        if let Some(k) = key {
            check_key(k)?;
        }
        let parse = || {
            let values = body::parse(body)?;
            prepare::prepare(
                values,
                route.key.as_ref(),
                route.plan.partitions,
                self.max_record,
            )
        };
        let batch = if body.len() > INLINE_PARSE {
            tokio::task::block_in_place(parse)?
        } else {
            parse()?
        };
        let _reserved = self.reserve(pipeline, route, batch.bytes)?;
        #[cfg(feature = "fault-injection")]
        crate::fault::ingest_pause().await;
        match key {
            Some(k) => {
                let n = self
                    .keyed
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n % EXPIRE_EVERY == EXPIRE_EVERY - 1 {
                    tokio::task::block_in_place(|| self.expire_keys())?;
                }
                self.ingest_keyed(pipeline, route, body, k, &batch).await
            }
            None => {
                let plan: Vec<(u32, usize)> =
                    batch.groups.iter().map(|g| (g.partition, 0)).collect();
                let mut answer = Answer {
                    records: batch.records,
                    ..Answer::default()
                };
                for ((p, _), result) in plan.iter().zip(append(route, &batch, &plan, None).await) {
                    let ack = result?;
                    answer.add(*p, ack.first_offset, ack.next_offset);
                }
                Ok(Outcome {
                    answer,
                    replayed: false,
                })
            }
        }
    }

    /// Refuses a request that would take the log or the topic over its quota; reserves its
    /// bytes until it is answered when the topic has a quota (counting the reservations of
    /// requests in progress). The log's quota needs no reservation here: the log reserves a
    /// request's appends whole.
    fn reserve(
        &self,
        pipeline: &str,
        route: &Route,
        needed: u64,
    ) -> Result<Reservation<'_>, IngestError> {
        let none = Reservation {
            ingest: self,
            pipeline: None,
            bytes: 0,
        };
        if route.plan.quota.is_none() && self.log_quota.is_none() {
            return Ok(none);
        }
        let mut reserved = self
            .reserved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(quota) = route.plan.quota {
            let used: u64 = route
                .partitions
                .iter()
                .map(|p| p.stats().bytes)
                .sum::<u64>()
                + reserved.get(pipeline).copied().unwrap_or(0);
            if used + needed > quota {
                return Err(IngestError::Quota(format!(
                    "the quota of pipeline `{pipeline}` is reached: {used} of {quota} bytes used or reserved, the request needs {needed} more"
                )));
            }
        }
        if let Some(quota) = self.log_quota {
            let used = self.buffer.log().stats().bytes;
            if used + needed > quota {
                return Err(IngestError::Quota(format!(
                    "the log's disk quota is reached: {used} of {quota} bytes used, the request needs {needed} more"
                )));
            }
        }
        if route.plan.quota.is_none() {
            return Ok(none);
        }
        *reserved.entry(pipeline.to_owned()).or_default() += needed;
        Ok(Reservation {
            ingest: self,
            pipeline: Some(pipeline.to_owned()),
            bytes: needed,
        })
    }
}

/// A request's reserved bytes of its topic's quota, given back when it is answered (they are
/// then in the log).
struct Reservation<'a> {
    ingest: &'a Ingest,
    pipeline: Option<String>,
    bytes: u64,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let Some(pipeline) = self.pipeline.take() else {
            return;
        };
        let mut reserved = self
            .ingest
            .reserved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(r) = reserved.get_mut(&pipeline) {
            *r = r.saturating_sub(self.bytes);
        }
    }
}

/// Refuses unusable idempotency keys: 1 to [`MAX_KEY_LEN`] visible ASCII characters.
fn check_key(k: &str) -> Result<(), IngestError> {
    if k.is_empty()
        || k.len() > MAX_KEY_LEN
        || !k.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
    {
        return Err(IngestError::BadKey(format!(
            "expected 1 to {MAX_KEY_LEN} visible ASCII characters"
        )));
    }
    Ok(())
}

/// Appends, for each `(partition, skip)` of `plan`, that partition's records from index `skip`
/// on, the first of them tagged with `tag`; all partitions are queued before the writer is
/// woken, so they go into one group commit. Results in `plan` order.
async fn append(
    route: &Route,
    batch: &Batch,
    plan: &[(u32, usize)],
    tag: Option<&str>,
) -> Vec<Result<weir_log::AppendAck, weir_log::Error>> {
    let groups: Vec<(u32, KeyedRecords<'_>)> = plan
        .iter()
        .map(|&(p, skip)| {
            let records = batch
                .group(p)
                .map_or(&[][..], |g| &g.records[skip.min(g.records.len())..]);
            let keys = prepare::key_bytes(records, tag);
            let keyed = keys
                .into_iter()
                .zip(records)
                .map(|(k, r)| (k, &r.value[..]))
                .collect();
            (p, keyed)
        })
        .collect();
    let futures = append_group(&route.partitions, &groups);
    let mut results = Vec::with_capacity(futures.len());
    for f in futures {
        results.push(f.await);
    }
    results
}
