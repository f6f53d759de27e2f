//! `enrich_http`: calls an HTTP API for each record and merges the JSON answer into it.
//!
//! ```yaml
//! - { type: enrich_http, dependency: users_api, url: "http://127.0.0.1:8080/users/{.user_id}",
//!     into: user, fallback: last_good }
//! ```
//!
//! The URL is filled from the record (see [`template`]); `method: post` sends the record as the
//! JSON body. The calls of a batch are made concurrently, within the dependency's bulkhead,
//! each through its breaker, retry policy and timeout. A 2xx JSON answer is merged at `into`
//! (a dotted path; missing objects are created).
//!
//! Failures: a 4xx answer (other than 408/429) is permanent — the record is dead-lettered with
//! reason `http_4xx`; 5xx, 408, 429, timeouts and connection errors are transient — retried, and
//! when the retries run out while the breaker is closed the record is dead-lettered with reason
//! `retries_exhausted`. While the breaker is open, a required enrichment (no `fallback`) waits:
//! the lane pauses and nothing is dead-lettered.
//!
//! `fallback: { value: ... }` or `fallback: last_good` makes the dependency optional: on any
//! failure, or at once while the breaker is open, the record goes on with the static value or
//! the last good answer for the same URL (`null` when there is none yet), is marked degraded
//! in its metadata, and `weir_degraded_records_total{pipeline,dependency}` counts it. The last
//! good answers are kept in memory (bounded, oldest evicted first), not across restarts.
//!
//! `cache: { ttl: 60s, max_entries: 10000 }` keeps answers by URL (by URL and body for POST)
//! for `ttl`; off by default.

pub mod cache;
pub mod template;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;

use super::{Transform, TransformError};
use crate::config::dependencies::DependencyPlan;
use crate::dependency::http::{HttpClient, HttpError};
use crate::dependency::{CallError, Dependency, Interrupted, OnOpen};
use crate::error::{Classified, ErrorClass};
use crate::observe::dependency::RecordDegraded;
use crate::record::Record;
use cache::Answers;
pub use template::UrlTemplate;

/// Last good answers kept for `fallback: last_good` without a cache bound.
pub const DEFAULT_LAST_GOOD_ENTRIES: usize = 10_000;

/// GET with the URL, or POST with the record as body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// `GET url`.
    #[default]
    Get,
    /// `POST url` with the record as JSON body.
    Post,
}

/// What a failed or refused call is replaced by.
#[derive(Clone, Debug, PartialEq)]
pub enum Fallback {
    /// A fixed value.
    Value(Value),
    /// The last good answer for the same key.
    LastGood,
}

/// Answer cache settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CachePlan {
    /// How long an answer is reused.
    pub ttl: Duration,
    /// Answers kept at most.
    pub max_entries: usize,
}

/// A validated `enrich_http` stage.
#[derive(Clone, Debug, PartialEq)]
pub struct EnrichPlan {
    /// Stage name.
    pub name: String,
    /// Its dependency.
    pub dependency: DependencyPlan,
    /// The URL template.
    pub url: UrlTemplate,
    /// GET or POST.
    pub method: Method,
    /// Where the answer goes (field path).
    pub into: Vec<String>,
    /// Makes the dependency optional.
    pub fallback: Option<Fallback>,
    /// Answer cache.
    pub cache: Option<CachePlan>,
}

/// The compiled stage, shared by all lanes of a pipeline.
pub struct EnrichHttp {
    name: Arc<str>,
    pipeline: Arc<str>,
    plan: EnrichPlan,
    dep: Arc<Dependency>,
    client: HttpClient,
    cache: Option<Mutex<Answers>>,
    last_good: Option<Mutex<Answers>>,
    origin: Instant,
}

impl EnrichHttp {
    /// The stage of `plan` in `pipeline`, calling through `dep`.
    #[must_use]
    pub fn new(pipeline: &str, plan: EnrichPlan, dep: Arc<Dependency>) -> Self {
        let cache = plan
            .cache
            .map(|c| Mutex::new(Answers::new(Some(c.ttl), c.max_entries)));
        let last_good = (plan.fallback == Some(Fallback::LastGood)).then(|| {
            let max = plan
                .cache
                .map_or(DEFAULT_LAST_GOOD_ENTRIES, |c| c.max_entries);
            Mutex::new(Answers::new(None, max))
        });
        Self {
            name: plan.name.as_str().into(),
            pipeline: pipeline.into(),
            client: HttpClient::new(dep.timeout()),
            plan,
            dep,
            cache,
            last_good,
            origin: Instant::now(),
        }
    }

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    async fn enrich(&self, record: &Record) -> Result<Vec<Record>, TransformError> {
        let permanent = |code: &'static str, message: String| TransformError::Remote {
            class: ErrorClass::Permanent,
            code,
            message,
        };
        if !record.value.is_object() {
            return Err(permanent(
                "enrich_into",
                "the record is not a JSON object: nothing to merge into".into(),
            ));
        }
        let url = self
            .plan
            .url
            .fill(&record.value)
            .map_err(|m| permanent("enrich_template", m))?;
        let body = match self.plan.method {
            Method::Get => None,
            Method::Post => Some(Bytes::from(record.value.to_string())),
        };
        let key = match &body {
            Some(b) => format!("{url}\n{}", String::from_utf8_lossy(b)),
            None => url.clone(),
        };
        if let Some(cache) = &self.cache
            && let Some(hit) = cache.lock().ok().and_then(|mut c| c.get(&key, self.now()))
        {
            return Ok(vec![self.merged(record, hit, false)]);
        }
        let on_open = if self.plan.fallback.is_some() {
            OnOpen::GiveUp
        } else {
            OnOpen::Wait
        };
        let method = match self.plan.method {
            Method::Get => hyper::Method::GET,
            Method::Post => hyper::Method::POST,
        };
        let headers = [("accept", "application/json".to_owned())];
        let result = self
            .dep
            .call(&self.name, on_open, || async {
                let resp = self
                    .client
                    .send(
                        method.clone(),
                        &url,
                        &headers,
                        body.clone().map(|b| (b, "application/json")),
                    )
                    .await?;
                serde_json::from_slice::<Value>(&resp.body)
                    .map_err(|e| HttpError::Body(format!("not JSON: {e}")))
            })
            .await;
        match result {
            Ok(answer) => {
                let now = self.now();
                if let Some(cache) = &self.cache
                    && let Ok(mut c) = cache.lock()
                {
                    c.put(&key, answer.clone(), now);
                }
                if let Some(lg) = &self.last_good
                    && let Ok(mut l) = lg.lock()
                {
                    l.put(&key, answer.clone(), now);
                }
                Ok(vec![self.merged(record, answer, false)])
            }
            Err(CallError::Interrupted(Interrupted::Stopped)) => Err(TransformError::Stopped),
            Err(e) => match &self.plan.fallback {
                Some(fallback) => {
                    let value = match fallback {
                        Fallback::Value(v) => v.clone(),
                        Fallback::LastGood => self
                            .last_good
                            .as_ref()
                            .and_then(|l| l.lock().ok().and_then(|mut l| l.get(&key, self.now())))
                            .unwrap_or(Value::Null),
                    };
                    Ok(vec![self.merged(record, value, true)])
                }
                None => Err(match e {
                    CallError::Failed {
                        error, attempts, ..
                    } if error.class() == ErrorClass::Transient => TransformError::Remote {
                        class: ErrorClass::Transient,
                        code: "retries_exhausted",
                        message: format!("{url}: gave up after {attempts} attempts: {error}"),
                    },
                    CallError::Failed { error, .. } => TransformError::Remote {
                        class: error.class(),
                        code: error.code(),
                        message: format!("{url}: {error}"),
                    },
                    // Only calls with a fallback give up on an open breaker.
                    CallError::Interrupted(_) => TransformError::Stopped,
                }),
            },
        }
    }

    fn merged(&self, record: &Record, value: Value, degraded: bool) -> Record {
        let mut out = record.clone();
        let mut target = &mut out.value;
        let (last, parents) = self
            .plan
            .into
            .split_last()
            .unwrap_or_else(|| unreachable!("validated: `into` is not empty"));
        for p in parents {
            let Value::Object(map) = target else { break };
            let slot = map
                .entry(p.clone())
                .or_insert_with(|| Value::Object(serde_json::Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(serde_json::Map::new());
            }
            target = slot;
        }
        if let Value::Object(map) = target {
            map.insert(last.clone(), value);
        }
        if degraded {
            out.meta.degraded.push(self.dep.name().into());
            RecordDegraded {
                pipeline: &self.pipeline,
                dependency: self.dep.name(),
            }
            .emit();
        }
        out
    }
}

impl Transform for EnrichHttp {
    fn name(&self) -> &Arc<str> {
        &self.name
    }

    fn apply(&self, record: &Record, out: &mut Vec<Record>) -> Result<(), TransformError> {
        let mut results = self.apply_batch(&[record]);
        out.extend(results.pop().unwrap_or(Ok(Vec::new()))?);
        Ok(())
    }

    fn batched(&self) -> bool {
        true
    }

    fn apply_batch(&self, records: &[&Record]) -> Vec<Result<Vec<Record>, TransformError>> {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return records
                .iter()
                .map(|_| {
                    Err(TransformError::Remote {
                        class: ErrorClass::Fatal,
                        code: "no_runtime",
                        message: "enrich_http runs only inside the weir runtime".into(),
                    })
                })
                .collect();
        };
        let calls = futures_util::future::join_all(records.iter().map(|r| self.enrich(r)));
        tokio::task::block_in_place(|| handle.block_on(calls))
    }
}

#[cfg(test)]
mod tests;
