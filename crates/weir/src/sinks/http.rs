//! The `http` sink: records are POSTed in batches (JSON lines or a JSON array) as they are
//! written, each batch through the sink's dependency (bulkhead, breaker, retry, timeout).
//!
//! Every request carries `Idempotency-Key: weir-<epoch>-<64-bit hash>`, the hash taken over the
//! pipeline, the sink, the lane, the epoch and the batch's RecordIds: a retried request, and a
//! batch sent again when its epoch is replayed after a crash, carry the same key, so a receiver
//! that honours the header stores it once. Without that the sink is at-least-once (what `weir
//! validate` reports). `Weir-Lane` and `Weir-Epoch` headers name the batch's origin.
//!
//! An answer that refuses the data — 400, 409, 413, 415 or 422 — refuses the records of the
//! batch: a single record's batch names that record (it goes to the dead-letter queue, see
//! `runtime/refusal.rs`); a larger batch makes its records suspects, sent one per request when
//! the lane writes the epoch again, so the refused ones are found and the rest delivered. The
//! other 4xx answers (401, 403, 404, ...) say the endpoint or its credentials are wrong, not the
//! record: permanent, the lane stops and is restarted under its restart strategy. 5xx, 408,
//! 429, timeouts and connection errors are transient: retried, and while the breaker is open
//! the lane pauses in the write.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use super::{Refusal, Sink, SinkError, SinkFactory};
use crate::config::Guarantee;
use crate::config::dependencies::DependencyPlan;
use crate::dependency::http::{HttpClient, HttpError};
use crate::dependency::{CallError, Dependency, Interrupted, OnOpen};
use crate::epoch::{Epoch, LaneId};
use crate::error::{Classified, ErrorClass};
use crate::record::{Record, RecordId};

/// Default records per request.
pub const DEFAULT_MAX_BATCH: usize = 500;

/// Body format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpFormat {
    /// One JSON value per line (`application/x-ndjson`).
    #[default]
    Jsonl,
    /// One JSON array (`application/json`).
    JsonArray,
}

/// A validated `http` sink.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpSinkPlan {
    /// Sink name.
    pub name: String,
    /// Its dependency.
    pub dependency: DependencyPlan,
    /// Endpoint.
    pub url: String,
    /// Body format.
    pub format: HttpFormat,
    /// Records per request at most.
    pub max_batch: usize,
}

/// Builds per-lane HTTP writers.
pub struct HttpSinkFactory {
    shared: Arc<Shared>,
}

struct Shared {
    plan: HttpSinkPlan,
    pipeline: Arc<str>,
    dep: Arc<Dependency>,
    client: HttpClient,
}

impl HttpSinkFactory {
    /// The sink of `plan` in `pipeline`, calling through `dep`.
    #[must_use]
    pub fn new(pipeline: &str, plan: HttpSinkPlan, dep: Arc<Dependency>) -> Self {
        Self {
            shared: Arc::new(Shared {
                client: HttpClient::new(dep.timeout()),
                plan,
                pipeline: pipeline.into(),
                dep,
            }),
        }
    }
}

impl SinkFactory for HttpSinkFactory {
    fn name(&self) -> &str {
        &self.shared.plan.name
    }

    fn guarantee(&self) -> Guarantee {
        Guarantee::AtLeastOnce
    }

    fn for_lane(&self, lane: &LaneId) -> Box<dyn Sink> {
        Box::new(HttpSink {
            shared: Arc::clone(&self.shared),
            lane: lane.clone(),
            suspects: HashSet::new(),
        })
    }
}

struct HttpSink {
    shared: Arc<Shared>,
    lane: LaneId,
    /// Records of refused batches: sent one per request from now on.
    suspects: HashSet<RecordId>,
}

/// Whether an answer refuses the data rather than the request's target or credentials.
fn refuses_data(e: &HttpError) -> bool {
    matches!(
        e,
        HttpError::Status {
            status: 400 | 409 | 413 | 415 | 422,
            ..
        }
    )
}

/// How a batch went.
enum Posted {
    Delivered,
    /// The receiver refused the data.
    Refused(String),
}

/// The idempotency key of a batch.
#[must_use]
pub fn idempotency_key(
    pipeline: &str,
    sink: &str,
    lane: &LaneId,
    epoch: Epoch,
    records: &[Record],
) -> String {
    let mut text = format!("{pipeline}\u{0}{sink}\u{0}{lane}\u{0}{epoch}");
    for r in records {
        let id = &r.meta.id;
        text.push_str(&format!(
            "\u{0}{}\u{1}{}\u{1}{}",
            id.source, id.partition, id.offset
        ));
    }
    let a = crc32c::crc32c(text.as_bytes());
    let b = crc32c::crc32c_append(0x9E37_79B9, text.as_bytes());
    format!("weir-{epoch}-{a:08x}{b:08x}")
}

fn body(format: HttpFormat, records: &[Record]) -> (Bytes, &'static str) {
    let mut out = Vec::new();
    match format {
        HttpFormat::Jsonl => {
            for r in records {
                out.extend_from_slice(r.value.to_string().as_bytes());
                out.push(b'\n');
            }
            (Bytes::from(out), "application/x-ndjson")
        }
        HttpFormat::JsonArray => {
            out.push(b'[');
            for (i, r) in records.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(r.value.to_string().as_bytes());
            }
            out.push(b']');
            (Bytes::from(out), "application/json")
        }
    }
}

impl HttpSink {
    /// POSTs one batch through the dependency.
    async fn post(&self, epoch: Epoch, batch: &[Record]) -> Result<Posted, SinkError> {
        let s = &self.shared;
        let key = idempotency_key(&s.pipeline, &s.plan.name, &self.lane, epoch, batch);
        let payload = body(s.plan.format, batch);
        let headers = [
            ("idempotency-key", key),
            ("weir-lane", self.lane.to_string()),
            ("weir-epoch", epoch.to_string()),
        ];
        let result = s
            .dep
            .call(&s.plan.name, OnOpen::Wait, || {
                s.client.send(
                    hyper::Method::POST,
                    &s.plan.url,
                    &headers,
                    Some(payload.clone()),
                )
            })
            .await;
        match result {
            Ok(_) => Ok(Posted::Delivered),
            Err(CallError::Interrupted(Interrupted::Stopped)) => Err(SinkError::Stopped),
            Err(CallError::Interrupted(Interrupted::Open)) => Err(SinkError::Remote {
                class: ErrorClass::Transient,
                code: "breaker_open",
                message: "circuit breaker open".into(),
            }),
            Err(CallError::Failed { error, .. }) if refuses_data(&error) => {
                Ok(Posted::Refused(format!("POST {}: {error}", s.plan.url)))
            }
            Err(CallError::Failed {
                error, attempts, ..
            }) => Err(SinkError::Remote {
                class: error.class(),
                code: error.code(),
                message: format!("POST {}: {error} (after {attempts} attempts)", s.plan.url),
            }),
        }
    }
}

#[async_trait]
impl Sink for HttpSink {
    async fn recover(&mut self, _committed: Epoch) -> Result<(), SinkError> {
        Ok(())
    }

    async fn write(&mut self, epoch: Epoch, records: &[Record]) -> Result<(), SinkError> {
        let max = self.shared.plan.max_batch.max(1);
        let mut refused = Vec::new();
        let mut new_suspects = false;
        let mut rest = records;
        while !rest.is_empty() {
            // A suspect alone, else the longest run of non-suspects up to `max`.
            let n = if self.suspects.contains(&rest[0].meta.id) {
                1
            } else {
                rest.iter()
                    .take(max)
                    .position(|r| self.suspects.contains(&r.meta.id))
                    .unwrap_or(rest.len().min(max))
            };
            let (batch, tail) = rest.split_at(n);
            rest = tail;
            if let Posted::Refused(message) = self.post(epoch, batch).await? {
                if let [one] = batch {
                    refused.push(Refusal {
                        id: one.meta.id.clone(),
                        code: "http_4xx",
                        message,
                    });
                } else {
                    self.suspects
                        .extend(batch.iter().map(|r| r.meta.id.clone()));
                    new_suspects = true;
                }
            }
        }
        if refused.is_empty() && !new_suspects {
            Ok(())
        } else {
            Err(SinkError::Refused(refused))
        }
    }

    async fn precommit(&mut self, _epoch: Epoch) -> Result<(), SinkError> {
        Ok(())
    }

    async fn commit(&mut self, _epoch: Epoch) -> Result<(), SinkError> {
        // The epoch's suspects are sorted out: its records will not be written again.
        self.suspects.clear();
        Ok(())
    }

    async fn abort(&mut self, _epoch: Epoch) -> Result<(), SinkError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{RecordId, RecordMeta};

    fn recs(offsets: &[u64]) -> Vec<Record> {
        offsets
            .iter()
            .map(|o| {
                Record::new(
                    serde_json::json!({ "o": o }),
                    RecordMeta::new(RecordId {
                        source: "s".into(),
                        partition: "p".into(),
                        offset: *o,
                    }),
                )
            })
            .collect()
    }

    #[test]
    fn the_key_is_stable_for_a_replayed_batch_and_differs_otherwise() {
        let lane = LaneId::sanitized("a.jsonl");
        let k = idempotency_key("p", "http", &lane, Epoch(3), &recs(&[1, 2]));
        assert_eq!(
            k,
            idempotency_key("p", "http", &lane, Epoch(3), &recs(&[1, 2]))
        );
        assert!(k.starts_with("weir-3-"));
        assert_ne!(
            k,
            idempotency_key("p", "http", &lane, Epoch(3), &recs(&[1, 3]))
        );
        assert_ne!(
            k,
            idempotency_key("p", "http", &lane, Epoch(4), &recs(&[1, 2]))
        );
        let other = LaneId::sanitized("b.jsonl");
        assert_ne!(
            k,
            idempotency_key("p", "http", &other, Epoch(3), &recs(&[1, 2]))
        );
    }

    #[test]
    fn bodies_are_json_lines_or_an_array() {
        let r = recs(&[1, 2]);
        assert_eq!(
            body(HttpFormat::Jsonl, &r).0,
            Bytes::from("{\"o\":1}\n{\"o\":2}\n")
        );
        assert_eq!(
            body(HttpFormat::JsonArray, &r).0,
            Bytes::from("[{\"o\":1},{\"o\":2}]")
        );
    }
}
