//! The validated plan: what `weir run` builds, with every path resolved and every value checked.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use super::dependencies::DependencyPlan;
pub use super::log::{HttpSourcePlan, LogSinkPlan};
pub use super::model::{FileFormat, OutputFormat};

/// Default `server.listen`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9620";

/// A deployment: one or more pipelines sharing a data directory and a server.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The configuration file.
    pub config_path: PathBuf,
    /// Where checkpoints (and the DLQ) are kept.
    pub data_dir: PathBuf,
    /// Where the server listens.
    pub listen: SocketAddr,
    /// The pipelines, ordered by name.
    pub pipelines: Vec<PipelinePlan>,
    /// The embedded log's settings (`log:`).
    pub log: weir_log::LogConfig,
}

/// One pipeline.
#[derive(Clone, Debug)]
pub struct PipelinePlan {
    /// Name (also a directory name under `data_dir`).
    pub name: String,
    /// Where records come from.
    pub source: SourcePlan,
    /// Applied in order.
    pub transforms: Vec<TransformPlan>,
    /// Where records go.
    pub sinks: Vec<SinkPlan>,
    /// Epoch settings.
    pub checkpoint: CheckpointPlan,
    /// Lanes running at once.
    pub parallelism: usize,
    /// Records per source batch.
    pub batch_size: usize,
    /// How failed lanes are restarted.
    pub restart: crate::policy::restart::RestartStrategy,
    /// Dead-letter settings.
    pub dlq: DlqPlan,
    /// Fields masked in logs and dead-letter messages.
    pub redact: Vec<String>,
    /// Crashes on one record before it is quarantined.
    pub quarantine_after_crashes: u32,
    /// Epoch audits.
    pub audits: Vec<crate::quality::audit::Audit>,
    /// The failure-ratio gate: (max ratio, window).
    pub gate: Option<(f64, usize)>,
}

/// Dead-letter settings of a pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DlqPlan {
    /// Whether failed records are kept.
    pub enabled: bool,
    /// Entries older than this are deleted while running.
    pub retention: Option<Duration>,
    /// Mask the `redact` fields in stored records too.
    pub redact_records: bool,
}

impl PipelinePlan {
    /// The end-to-end guarantee: the weakest of the sinks'.
    #[must_use]
    pub fn guarantee(&self) -> Guarantee {
        self.sinks
            .iter()
            .map(SinkPlan::guarantee)
            .min()
            .unwrap_or(Guarantee::ExactlyOnce)
    }
}

/// A source.
#[derive(Clone, Debug)]
pub enum SourcePlan {
    /// Files matching a pattern.
    File {
        /// The absolute glob pattern.
        pattern: String,
        /// Record format.
        format: FileFormat,
        /// Declared fields, coerced on read.
        schema: Option<crate::quality::coerce::RecordSchema>,
    },
    /// HTTP ingest into the topic named after the pipeline.
    Http(HttpSourcePlan),
    /// A topic of the embedded log.
    Log {
        /// The topic.
        topic: String,
    },
}

/// A transform stage.
#[derive(Clone, Debug)]
pub enum TransformPlan {
    /// A jq program.
    Jq {
        /// Stage name.
        name: String,
        /// The program.
        filter: String,
    },
    /// Record rules and an optional JSON Schema.
    Validate {
        /// Stage name.
        name: String,
        /// Field rules.
        rules: Vec<crate::quality::rules::FieldRules>,
        /// The JSON Schema document and its file.
        schema: Option<(std::path::PathBuf, serde_json::Value)>,
        /// What to do with a failing record.
        on_failure: super::model::OnFailure,
    },
    /// An HTTP enrichment.
    EnrichHttp(Box<crate::transforms::enrich_http::EnrichPlan>),
}

/// A sink.
#[derive(Clone, Debug)]
pub enum SinkPlan {
    /// Files in a directory.
    File {
        /// Sink name.
        name: String,
        /// Output directory.
        dir: PathBuf,
        /// Record format.
        format: OutputFormat,
    },
    /// Standard output.
    Stdout {
        /// Sink name.
        name: String,
    },
    /// A topic of the embedded log.
    Log(LogSinkPlan),
    /// A PostgreSQL table.
    Postgres(crate::sinks::postgres::config::PgSinkPlan),
    /// An HTTP endpoint.
    Http(crate::sinks::http::HttpSinkPlan),
}

impl SinkPlan {
    /// The sink's name.
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            Self::File { name, .. } | Self::Stdout { name } => name,
            Self::Log(l) => &l.name,
            Self::Postgres(p) => &p.name,
            Self::Http(p) => &p.name,
        }
    }

    /// What this sink guarantees under the epoch protocol.
    #[must_use]
    pub fn guarantee(&self) -> Guarantee {
        match self {
            Self::File { .. } => Guarantee::ExactlyOnce,
            Self::Stdout { .. } | Self::Http(_) => Guarantee::AtLeastOnce,
            Self::Log(l) if l.durable => Guarantee::ExactlyOnce,
            Self::Log(_) => Guarantee::AtLeastOnce,
            Self::Postgres(p) => match p.mode {
                crate::sinks::postgres::config::PgMode::Upsert => Guarantee::EffectivelyOnce,
                crate::sinks::postgres::config::PgMode::Transactional => Guarantee::ExactlyOnce,
            },
        }
    }
}

/// Epoch and checkpoint settings.
#[derive(Clone, Copy, Debug)]
pub struct CheckpointPlan {
    /// Whether manifests are written.
    pub enabled: bool,
    /// Epoch length.
    pub interval: Duration,
    /// Cut an epoch after this many input records as well.
    pub max_records: Option<u64>,
}

/// End-to-end delivery guarantee, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Guarantee {
    /// Every record arrives, some possibly more than once after a crash.
    AtLeastOnce,
    /// Replays may rewrite a record, but keyed writes leave one copy.
    EffectivelyOnce,
    /// Every record appears once, through any crash.
    ExactlyOnce,
}

impl Guarantee {
    /// The name `weir validate` prints.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AtLeastOnce => "at-least-once",
            Self::EffectivelyOnce => "effectively-once",
            Self::ExactlyOnce => "exactly-once",
        }
    }
}
