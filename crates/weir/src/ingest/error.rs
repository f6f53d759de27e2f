//! Why an ingest request was refused.

use super::body::BodyError;
use super::keys::KeyStoreError;
use crate::error::{Classified, ErrorClass};

/// An ingest request failed; nothing of it, or (for the errors that say so) part of it, is
/// stored.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// No `http` source pipeline of that name.
    #[error("no pipeline `{0}` with an http source")]
    UnknownPipeline(String),
    /// The body is larger than the pipeline's `max_body`.
    #[error("the body is larger than max_body ({limit} bytes)")]
    TooLarge {
        /// The limit, bytes.
        limit: u64,
    },
    /// One record is larger than the log's largest record.
    #[error(
        "record {index} is {size} bytes, more than the largest record the log takes ({max} bytes)"
    )]
    RecordTooLarge {
        /// 0-based index of the record in the body.
        index: usize,
        /// Its size.
        size: u64,
        /// The largest size.
        max: u64,
    },
    /// The body is not a JSON object, array or JSON lines.
    #[error("{0}")]
    Body(#[from] BodyError),
    /// The `Idempotency-Key` header is unusable.
    #[error("bad Idempotency-Key: {0}")]
    BadKey(String),
    /// A request with the same key is being processed now.
    #[error("a request with this Idempotency-Key is in progress")]
    InProgress,
    /// The key was used before with another body.
    #[error("this Idempotency-Key was used with a different body")]
    KeyReused,
    /// The disk quota of the log or of the pipeline's topic is reached.
    #[error("{0}")]
    Quota(String),
    /// An earlier attempt of this keyed request failed in a way only a restart can clear up.
    #[error(
        "an earlier attempt of this request failed with an I/O error; it is resolved when weir restarts"
    )]
    Unresolved,
    /// The log failed.
    #[error("embedded log: {0}")]
    Log(#[from] weir_log::Error),
    /// The idempotency store failed.
    #[error(transparent)]
    Store(#[from] KeyStoreError),
}

impl Classified for IngestError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::UnknownPipeline(_)
            | Self::TooLarge { .. }
            | Self::RecordTooLarge { .. }
            | Self::Body(_)
            | Self::BadKey(_)
            | Self::KeyReused => ErrorClass::Permanent,
            Self::InProgress | Self::Quota(_) | Self::Unresolved => ErrorClass::Transient,
            Self::Log(e) => crate::error::log_class(e),
            Self::Store(_) => ErrorClass::Fatal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::UnknownPipeline(_) => "unknown_pipeline",
            Self::TooLarge { .. } | Self::RecordTooLarge { .. } => "too_large",
            Self::Body(_) => "malformed",
            Self::BadKey(_) => "bad_idempotency_key",
            Self::InProgress => "in_progress",
            Self::KeyReused => "idempotency_key_reused",
            Self::Quota(_) => "quota_exceeded",
            Self::Unresolved => "unresolved",
            Self::Log(e) => e.code(),
            Self::Store(_) => "ingest_store_io",
        }
    }
}
