//! The configuration file as written: serde types, unknown keys rejected.
//!
//! Values whose meaning is checked after parsing (paths, filters, durations) are kept
//! [`Spanned`] so a semantic error can name the line and column. Inside a `type`-tagged
//! component the parser cannot keep spans, so whole components are spanned instead.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

/// The whole file: one deployment, one or more pipelines.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Where checkpoints (and the dead-letter queue) live; relative to the config file.
    pub data_dir: Option<Spanned<String>>,
    /// The metrics / health / API server.
    #[serde(default)]
    pub server: RawServer,
    /// The embedded log under `data_dir` (HTTP ingest, `log` sources and sinks).
    #[serde(default)]
    pub log: super::log::RawLog,
    /// Pipelines by name.
    pub pipelines: Spanned<BTreeMap<String, Spanned<RawPipeline>>>,
    /// External systems called by sinks and transforms, with their policy stacks.
    #[serde(default)]
    pub dependencies: BTreeMap<String, Spanned<super::dependencies::RawDependency>>,
}

/// `server:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// Address to listen on, `host:port`.
    pub listen: Option<Spanned<String>>,
}

/// One pipeline.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPipeline {
    /// Where records come from.
    pub source: Spanned<RawSource>,
    /// Applied in order to every record.
    #[serde(default)]
    pub transforms: Vec<Spanned<RawTransform>>,
    /// Where records go; every sink receives every record.
    pub sinks: Spanned<Vec<Spanned<RawSink>>>,
    /// Epoch and checkpoint settings.
    #[serde(default)]
    pub checkpoint: RawCheckpoint,
    /// How many lanes run at once (default: number of cores).
    pub parallelism: Option<Spanned<usize>>,
    /// Records per batch read from the source (default 1024).
    pub batch_size: Option<Spanned<usize>>,
    /// The dead-letter queue (on by default).
    #[serde(default)]
    pub dlq: RawDlq,
    /// Fields masked in logs and dead-letter messages (`email`, `card.number`).
    #[serde(default)]
    pub redact: Vec<Spanned<String>>,
    /// How failed lanes are restarted.
    pub restart: Option<Spanned<RawRestart>>,
    /// A record that crashes its lane this many times is quarantined (default 3).
    pub quarantine_after_crashes: Option<Spanned<u32>>,
    /// Checks over each epoch's output before it is committed.
    #[serde(default)]
    pub audits: Vec<Spanned<RawAudit>>,
    /// The failure-ratio gate.
    pub quality: Option<Spanned<RawQuality>>,
}

/// `dlq:` section of a pipeline.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDlq {
    /// `false` drops failed records (they are still logged and counted).
    pub enabled: Option<bool>,
    /// Entries older than this are deleted while running (`30d`).
    pub retention: Option<Spanned<String>>,
    /// Also mask the `redact` fields in the stored record.
    pub redact_records: Option<bool>,
}

/// `restart:` — the supervisor's restart strategy.
#[derive(Debug, Deserialize)]
#[serde(tag = "strategy", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawRestart {
    /// Growing delays.
    Exponential {
        /// First delay (default 1s).
        initial: Option<String>,
        /// Largest delay (default 5m).
        max: Option<String>,
        /// Growth per restart (default 2).
        multiplier: Option<f64>,
        /// Quiet time after which the count starts again (default 10m).
        reset_after: Option<String>,
        /// Consecutive restarts before the pipeline fails (default 10).
        max_restarts: Option<u32>,
    },
    /// A fixed delay, a fixed number of times.
    Fixed {
        /// Delay (default 1s).
        delay: Option<String>,
        /// Restarts before the pipeline fails (default 3).
        attempts: Option<u32>,
    },
    /// Fails the pipeline when failures come too often.
    FailureRate {
        /// Failures tolerated within `interval` (default 3).
        max_failures: Option<u32>,
        /// The window (default 1m).
        interval: Option<String>,
        /// Delay before each restart (default 1s).
        delay: Option<String>,
    },
}

/// Input record formats of the file source.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// One JSON value per line.
    #[default]
    Jsonl,
    /// Comma-separated values with a header row.
    Csv,
}

/// Output formats of the file sink.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormat {
    /// One JSON value per line.
    #[default]
    Jsonl,
}

/// `source:` — one of the source types.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawSource {
    /// Files matching a glob pattern; one lane per file.
    File {
        /// Glob pattern, relative to the config file.
        path: String,
        /// Record format.
        #[serde(default)]
        format: FileFormat,
        /// Declared fields: types are coerced on read, defaults filled in.
        #[serde(default)]
        schema: BTreeMap<String, RawFieldSchema>,
    },
    /// `POST /ingest/<pipeline>` on the server, buffered in the embedded log.
    Http(super::log::RawHttpSource),
    /// A topic of the embedded log; one lane per partition.
    Log {
        /// The topic.
        topic: String,
    },
}

/// One declared field of a source schema.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFieldSchema {
    /// The field's type; values are coerced to it.
    #[serde(rename = "type")]
    pub ty: crate::quality::rules::FieldType,
    /// The field must be present (after `default`).
    #[serde(default)]
    pub required: bool,
    /// Value used when the field is missing.
    pub default: Option<serde_json::Value>,
}

/// Rules on one field of a `validate` transform.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFieldRules {
    /// Must be present.
    #[serde(default)]
    pub required: bool,
    /// Must not be null.
    #[serde(default)]
    pub not_null: bool,
    /// JSON type.
    #[serde(rename = "type")]
    pub ty: Option<crate::quality::rules::FieldType>,
    /// Smallest number.
    pub min: Option<f64>,
    /// Largest number.
    pub max: Option<f64>,
    /// Shortest string or array.
    pub min_length: Option<usize>,
    /// Longest string or array.
    pub max_length: Option<usize>,
    /// Strings must match this regular expression.
    pub regex: Option<String>,
    /// Allowed values.
    pub one_of: Option<Vec<serde_json::Value>>,
}

/// What a `validate` transform does with a failing record.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// Dead-letter it (reason `validation`).
    #[default]
    Dlq,
    /// Drop it (counted, not kept).
    Drop,
    /// Halt the pipeline (the open epoch is aborted, exit code 3).
    Halt,
}

/// `audits:` entry.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawAudit {
    /// Records out / records in per epoch.
    RowCountRatio {
        /// Lower bound.
        min: Option<f64>,
        /// Upper bound.
        max: Option<f64>,
    },
    /// Share of null (or missing) values of a field.
    NullRatio {
        /// Field path.
        field: String,
        /// Upper bound.
        max: f64,
    },
    /// Mean of a numeric field.
    Mean {
        /// Field path.
        field: String,
        /// Lower bound.
        min: Option<f64>,
        /// Upper bound.
        max: Option<f64>,
    },
    /// No value of the field twice in an epoch.
    Unique {
        /// Field path.
        field: String,
    },
    /// At least this many output records per epoch.
    MinRows {
        /// Lower bound.
        count: u64,
    },
}

/// `quality:` section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQuality {
    /// Halt when more than this share of the last `window` records failed validation.
    pub max_failure_ratio: f64,
    /// How many records the ratio is taken over (default 1000).
    pub window: Option<usize>,
}

/// `transforms:` entry.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawTransform {
    /// A jq program applied to every record.
    Jq {
        /// The jq program.
        filter: String,
    },
    /// Record rules and an optional JSON Schema.
    Validate {
        /// Rules by field path.
        #[serde(default)]
        rules: BTreeMap<String, RawFieldRules>,
        /// A JSON Schema file (draft 2020-12), relative to the config file.
        schema: Option<String>,
        /// What to do with a failing record.
        #[serde(default)]
        on_failure: OnFailure,
    },
    /// Calls an HTTP API per record and merges the JSON answer into it.
    EnrichHttp(super::enrich::RawEnrichHttp),
}

/// `sinks:` entry.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawSink {
    /// Files in a directory, committed atomically per epoch.
    File {
        /// Output directory, relative to the config file.
        path: String,
        /// Record format.
        #[serde(default)]
        format: OutputFormat,
    },
    /// Standard output, one JSON line per record.
    Stdout {},
    /// A topic of the embedded log, appended exactly once per epoch.
    Log(super::log::RawLogSink),
    /// A PostgreSQL table: upsert (effectively-once) or transactional (exactly-once).
    Postgres(super::sinks_pg::RawPostgresSink),
    /// Batched POSTs to an HTTP endpoint with an `Idempotency-Key`.
    Http(super::sinks_http::RawHttpSink),
}

/// `checkpoint:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheckpoint {
    /// Length of an epoch (`"1s"`, `"250ms"`); default 1s.
    pub interval: Option<Spanned<String>>,
    /// Also cut an epoch after this many input records.
    pub max_records: Option<Spanned<u64>>,
    /// `false` turns checkpointing off: no manifests, one epoch per lane at end of input, and a
    /// restart reprocesses everything.
    pub enabled: Option<bool>,
}
