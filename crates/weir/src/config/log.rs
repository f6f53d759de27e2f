//! The embedded log in the configuration: the top-level `log:` section (durability, quota,
//! retention of the one log under `data_dir`), the `http` and `log` sources and the `log` sink.
//!
//! ```yaml
//! log: { fsync: always, quota: 10GiB, retention: { max_age: 7d } }
//! pipelines:
//!   events:
//!     source: { type: http, key: .user_id, partitions: 8, max_body: 8MiB }
//!     sinks: [ { type: log, topic: clean-events, partitions: 4, key: .user_id } ]
//!   downstream:
//!     source: { type: log, topic: clean-events }
//!     sinks: [ { type: file, path: out } ]
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::diagnostic::{Pos, locate_value};
use super::size::RawSize;
use super::validate::{Ctx, pos};
use crate::keypath::KeyPath;

/// Default `partitions` of an `http` source and a `log` sink.
pub const DEFAULT_PARTITIONS: u32 = 1;
/// Default `max_body` of an `http` source.
pub const DEFAULT_MAX_BODY: u64 = 8 << 20;
/// Default `idempotency_window` of an `http` source.
pub const DEFAULT_IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// Default `retry_after` of an `http` source.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// Default `log.retention.max_age`.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
/// Default `log.retention.check_interval`.
pub const DEFAULT_RETENTION_CHECK: Duration = Duration::from_secs(30);
/// Most partitions a topic may have (as in weir-log).
const MAX_PARTITIONS: u32 = 4096;

/// The top-level `log:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    /// `always` (default), `never`, or an interval such as `"10ms"`.
    pub fsync: Option<Spanned<String>>,
    /// Disk quota of the whole log; appends beyond it are refused (HTTP 503).
    pub quota: Option<Spanned<RawSize>>,
    /// Size at which a segment file is sealed (default 64MiB).
    pub segment_bytes: Option<Spanned<RawSize>>,
    /// Deleting old segments.
    pub retention: Option<Spanned<RawRetention>>,
}

/// `log.retention`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetention {
    /// Delete a sealed segment once its newest record is older than this (default `7d`).
    pub max_age: Option<String>,
    /// Keep at most this many bytes per partition (oldest sealed segments go first).
    pub max_bytes: Option<RawSize>,
    /// How often retention runs (default `30s`).
    pub check_interval: Option<String>,
}

/// `source: { type: http, ... }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttpSource {
    /// Partitioning key path, e.g. `.user_id`.
    pub key: Option<String>,
    /// Partitions (lanes) of the pipeline's input topic.
    pub partitions: Option<u32>,
    /// Largest request body (default 8MiB); larger ones get 413.
    pub max_body: Option<RawSize>,
    /// Quota of this pipeline's topic; when reached, requests get 503.
    pub quota: Option<RawSize>,
    /// How long an `Idempotency-Key` is remembered (default `24h`).
    pub idempotency_window: Option<String>,
    /// `Retry-After` of a 503 (default `1s`).
    pub retry_after: Option<String>,
}

/// `sinks: - { type: log, ... }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLogSink {
    /// The topic written.
    pub topic: String,
    /// Its partitions (created with this many; must match if it exists).
    pub partitions: Option<u32>,
    /// Partitioning key path.
    pub key: Option<String>,
}

/// A validated `http` source.
#[derive(Clone, Debug)]
pub struct HttpSourcePlan {
    /// Partitioning key.
    pub key: Option<KeyPath>,
    /// Partitions of the topic (named after the pipeline).
    pub partitions: u32,
    /// Largest request body, bytes.
    pub max_body: u64,
    /// Quota of the topic, bytes.
    pub quota: Option<u64>,
    /// How long idempotency keys are remembered.
    pub idempotency_window: Duration,
    /// `Retry-After` of a 503.
    pub retry_after: Duration,
}

/// A validated `log` sink.
#[derive(Clone, Debug)]
pub struct LogSinkPlan {
    /// Sink name.
    pub name: String,
    /// The topic written.
    pub topic: String,
    /// Its partitions.
    pub partitions: u32,
    /// Partitioning key.
    pub key: Option<KeyPath>,
    /// Whether the log acknowledges only fsynced appends (exactly-once needs it).
    pub durable: bool,
}

fn duration(
    cx: &mut Ctx<'_>,
    at: Pos,
    key: &str,
    text: Option<&String>,
    default: Duration,
) -> Duration {
    let Some(text) = text else { return default };
    match humantime::parse_duration(text.trim()) {
        Ok(d) if d.is_zero() => {
            cx.err(at, format!("`{key}` must be greater than zero"));
            default
        }
        Ok(d) => d,
        Err(e) => {
            cx.err(at, format!("`{key}`: `{text}` is not a duration ({e}): expected e.g. \"500ms\", \"30s\", \"24h\""));
            default
        }
    }
}

fn size(cx: &mut Ctx<'_>, at: Pos, key: &str, raw: Option<&RawSize>) -> Option<u64> {
    match raw.map(RawSize::bytes) {
        None => None,
        Some(Ok(0)) => {
            cx.err(at, format!("`{key}` must be more than 0 bytes"));
            None
        }
        Some(Ok(n)) => Some(n),
        Some(Err(e)) => {
            cx.err(at, format!("`{key}`: {e}"));
            None
        }
    }
}

fn partitions(cx: &mut Ctx<'_>, at: Pos, raw: Option<u32>) -> u32 {
    match raw {
        None => DEFAULT_PARTITIONS,
        Some(n) if (1..=MAX_PARTITIONS).contains(&n) => n,
        Some(n) => {
            cx.err(
                at,
                format!("`partitions` must be between 1 and {MAX_PARTITIONS}, not {n}"),
            );
            DEFAULT_PARTITIONS
        }
    }
}

fn key_path(cx: &mut Ctx<'_>, at: Pos, raw: Option<&String>) -> Option<KeyPath> {
    match KeyPath::parse(raw?) {
        Ok(k) => Some(k),
        Err(e) => {
            cx.err(at, format!("`key`: {e}"));
            None
        }
    }
}

/// Checks a topic name against weir-log's rules.
pub(super) fn topic_name(cx: &mut Ctx<'_>, at: Pos, topic: &str) {
    let ok = !topic.is_empty()
        && topic.len() <= 200
        && !topic.starts_with('.')
        && topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !ok {
        cx.err(at, format!("topic name `{topic}` is not allowed: use 1 to 200 of letters, digits, `.`, `_` and `-`, not starting with `.`"));
    }
}

/// Validates the top-level `log:` section into the log's configuration.
pub(super) fn log_section(cx: &mut Ctx<'_>, raw: &RawLog) -> weir_log::LogConfig {
    let mut config = weir_log::LogConfig {
        retention: weir_log::Retention {
            max_age: Some(DEFAULT_MAX_AGE),
            check_interval: Some(DEFAULT_RETENTION_CHECK),
            ..weir_log::Retention::default()
        },
        ..weir_log::LogConfig::default()
    };
    if let Some(f) = &raw.fsync {
        config.fsync = match f.value.trim() {
            "always" => weir_log::Fsync::Always,
            "never" => weir_log::Fsync::Never,
            text => match humantime::parse_duration(text) {
                Ok(d) if !d.is_zero() => weir_log::Fsync::Interval(d),
                _ => {
                    cx.err(pos(f), format!("`log.fsync`: `{}` is not `always`, `never` or an interval such as \"10ms\"", f.value));
                    weir_log::Fsync::Always
                }
            },
        };
    }
    if let Some(q) = &raw.quota {
        config.quota_bytes = size(cx, pos(q), "log.quota", Some(&q.value));
    }
    if let Some(s) = &raw.segment_bytes {
        match size(cx, pos(s), "log.segment_bytes", Some(&s.value)) {
            Some(n) if (1024..=u64::from(u32::MAX)).contains(&n) => config.segment_bytes = n,
            Some(n) => cx.err(
                pos(s),
                format!("`log.segment_bytes` must be between 1KiB and 4GiB, not {n}"),
            ),
            None => {}
        }
    }
    if let Some(r) = &raw.retention {
        let at = |cx: &Ctx<'_>, key: &str| locate_value(cx.source, pos(r), key);
        let max_age = at(cx, "max_age");
        config.retention.max_age = Some(duration(
            cx,
            max_age,
            "log.retention.max_age",
            r.value.max_age.as_ref(),
            DEFAULT_MAX_AGE,
        ));
        let max_bytes = at(cx, "max_bytes");
        config.retention.max_bytes = size(
            cx,
            max_bytes,
            "log.retention.max_bytes",
            r.value.max_bytes.as_ref(),
        );
        let check = at(cx, "check_interval");
        config.retention.check_interval = Some(duration(
            cx,
            check,
            "log.retention.check_interval",
            r.value.check_interval.as_ref(),
            DEFAULT_RETENTION_CHECK,
        ));
    }
    config
}

/// Validates an `http` source.
pub(super) fn http_source(cx: &mut Ctx<'_>, at: Pos, raw: &RawHttpSource) -> HttpSourcePlan {
    let loc = |cx: &Ctx<'_>, key: &str| locate_value(cx.source, at, key);
    let key_at = loc(cx, "key");
    let key = key_path(cx, key_at, raw.key.as_ref());
    let parts_at = loc(cx, "partitions");
    let partitions = partitions(cx, parts_at, raw.partitions);
    let body_at = loc(cx, "max_body");
    let max_body = size(cx, body_at, "max_body", raw.max_body.as_ref()).unwrap_or(DEFAULT_MAX_BODY);
    let quota_at = loc(cx, "quota");
    let quota = size(cx, quota_at, "quota", raw.quota.as_ref());
    let window_at = loc(cx, "idempotency_window");
    let idempotency_window = duration(
        cx,
        window_at,
        "idempotency_window",
        raw.idempotency_window.as_ref(),
        DEFAULT_IDEMPOTENCY_WINDOW,
    );
    let retry_at = loc(cx, "retry_after");
    let retry_after = duration(
        cx,
        retry_at,
        "retry_after",
        raw.retry_after.as_ref(),
        DEFAULT_RETRY_AFTER,
    );
    HttpSourcePlan {
        key,
        partitions,
        max_body,
        quota,
        idempotency_window,
        retry_after,
    }
}

/// Validates a `log` sink.
pub(super) fn log_sink(
    cx: &mut Ctx<'_>,
    at: Pos,
    name: String,
    raw: &RawLogSink,
    durable: bool,
) -> LogSinkPlan {
    let topic_at = locate_value(cx.source, at, "topic");
    topic_name(cx, topic_at, &raw.topic);
    let parts_at = locate_value(cx.source, at, "partitions");
    let partitions = partitions(cx, parts_at, raw.partitions);
    let key_at = locate_value(cx.source, at, "key");
    let key = key_path(cx, key_at, raw.key.as_ref());
    LogSinkPlan {
        name,
        topic: raw.topic.clone(),
        partitions,
        key,
        durable,
    }
}

/// An `http` or `log` source never ends: without checkpoints its epochs would never commit.
pub(super) fn check_unbounded(
    cx: &mut Ctx<'_>,
    at: Pos,
    source: Option<&super::plan::SourcePlan>,
    checkpoint: &super::plan::CheckpointPlan,
) {
    use super::plan::SourcePlan;
    if matches!(source, Some(SourcePlan::Http(_) | SourcePlan::Log { .. })) && !checkpoint.enabled {
        cx.err(at, "an http or log source never ends, so its pipeline needs checkpoints: remove `checkpoint: { enabled: false }`");
    }
}

/// Every topic written in this configuration (an `http` source writes the topic named after
/// its pipeline) must be written with one partition count.
pub(super) fn check_topics(
    cx: &mut Ctx<'_>,
    raw: &BTreeMap<String, Spanned<super::model::RawPipeline>>,
    plans: &[super::plan::PipelinePlan],
) {
    use super::plan::{SinkPlan, SourcePlan};
    let mut written: BTreeMap<String, (u32, String)> = BTreeMap::new();
    for plan in plans {
        let Some(raw) = raw.get(&plan.name) else {
            continue;
        };
        let mut writes = Vec::new();
        if let SourcePlan::Http(h) = &plan.source {
            writes.push((
                plan.name.clone(),
                h.partitions,
                pos(&raw.value.source),
                format!("the http source of pipeline `{}`", plan.name),
            ));
        }
        // A pipeline has a plan only when every sink was valid, so plan and raw sinks align.
        for (i, sink) in plan.sinks.iter().enumerate() {
            if let SinkPlan::Log(l) = sink {
                let at = raw.value.sinks.value.get(i).map_or(Pos::START, pos);
                let by = format!("sink `{}` of pipeline `{}`", l.name, plan.name);
                writes.push((l.topic.clone(), l.partitions, at, by));
            }
        }
        for (topic, partitions, at, by) in writes {
            match written.get(&topic) {
                Some((n, other)) if *n != partitions => {
                    let at = locate_value(cx.source, at, "partitions");
                    cx.err(at, format!("topic `{topic}` is written with {partitions} partition(s) by {by} but with {n} by {other}: a topic has one partition count"));
                }
                Some(_) => {}
                None => {
                    written.insert(topic, (partitions, by));
                }
            }
        }
    }
}
