//! Transforms: record in, zero or more records out.
//!
//! A transform is compiled once per pipeline and shared by all lanes, so it must be
//! `Send + Sync`; it keeps no per-record state of its own.

pub mod jq;
mod jq_value;
mod native;
pub mod validate;

use std::sync::Arc;

use crate::error::{Classified, ErrorClass};
use crate::record::Record;

/// A stage that maps one record to zero, one or many records.
pub trait Transform: Send + Sync {
    /// The stage name used in logs, metrics and dead-letter entries.
    fn name(&self) -> &Arc<str>;

    /// Applies the transform to one record, appending its outputs to `out`.
    ///
    /// # Errors
    /// A [`TransformError`] when the record cannot be transformed. Nothing is appended to `out`
    /// for a failed record: a record fails whole.
    fn apply(&self, record: &Record, out: &mut Vec<Record>) -> Result<(), TransformError>;
}

/// A record a transform could not process.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    /// The jq program failed at run time on this record.
    #[error("jq error: {0}")]
    Jq(String),
    /// The record breaks a data-quality rule; it is dead-lettered.
    #[error("validation failed: {0}")]
    Invalid(String),
    /// The record breaks a rule whose failures are dropped.
    #[error("validation failed (dropped): {0}")]
    Dropped(String),
    /// The record breaks a rule whose failures halt the pipeline.
    #[error("validation failed (halting): {0}")]
    Halt(String),
}

impl Classified for TransformError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Jq(_) | Self::Invalid(_) | Self::Dropped(_) => ErrorClass::Permanent,
            Self::Halt(_) => ErrorClass::Fatal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Jq(_) => "transform",
            Self::Invalid(_) => "validation",
            Self::Dropped(_) => "dropped",
            Self::Halt(_) => "halt",
        }
    }
}
