//! Transforms: record in, zero or more records out.
//!
//! A transform is compiled once per pipeline and shared by all lanes, so it must be
//! `Send + Sync`; it keeps no per-record state of its own.

pub mod enrich_http;
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

    /// Like [`Transform::apply`], given the record: a stage that passes a record on whole
    /// moves it instead of copying it. A failed record is handed back with the error. The
    /// default calls [`Transform::apply`].
    ///
    /// # Errors
    /// As [`Transform::apply`], with the record.
    fn apply_owned(
        &self,
        record: Record,
        out: &mut Vec<Record>,
    ) -> Result<(), Box<(Record, TransformError)>> {
        apply_borrowed(self, record, out)
    }

    /// The top-level fields of its input this stage reads, when it reads only those and never
    /// passes its input on whole: the source may then parse only them. Default: `None`.
    fn input_fields(&self) -> Option<Vec<String>> {
        None
    }

    /// Whether [`Transform::apply_batch`] should be used: the transform calls a dependency and
    /// makes its calls for a batch concurrently.
    fn batched(&self) -> bool {
        false
    }

    /// Applies the transform to a batch: one result per input, in order. The default applies
    /// [`Transform::apply`] to each record. The lane calls it from a blocking section of its
    /// task (inside `block_in_place` on the multi-threaded runtime), so an implementation may
    /// wait for async I/O with `Handle::block_on`.
    fn apply_batch(&self, records: &[&Record]) -> Vec<Result<Vec<Record>, TransformError>> {
        records
            .iter()
            .map(|r| {
                let mut out = Vec::new();
                self.apply(r, &mut out).map(|()| out)
            })
            .collect()
    }
}

/// [`Transform::apply_owned`] through [`Transform::apply`] on a borrow.
///
/// # Errors
/// As [`Transform::apply`], with the record.
pub fn apply_borrowed<T: Transform + ?Sized>(
    t: &T,
    record: Record,
    out: &mut Vec<Record>,
) -> Result<(), Box<(Record, TransformError)>> {
    match t.apply(&record, out) {
        Ok(()) => Ok(()),
        Err(e) => Err(Box::new((record, e))),
    }
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
    /// A call to the stage's dependency failed for this record (a 4xx answer, or transient
    /// failures until the retries ran out while the breaker was closed).
    #[error("{message}")]
    Remote {
        /// Class of the last failure.
        class: ErrorClass,
        /// Dead-letter reason (`http_4xx`, `retries_exhausted`, ...).
        code: &'static str,
        /// Description.
        message: String,
    },
    /// A stop was requested while the stage waited for its dependency: not a failure of the
    /// record; the lane abandons the batch and its open epoch.
    #[error("stopped while waiting for a dependency")]
    Stopped,
}

impl Classified for TransformError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Jq(_) | Self::Invalid(_) | Self::Dropped(_) => ErrorClass::Permanent,
            Self::Halt(_) => ErrorClass::Fatal,
            Self::Remote { class, .. } => *class,
            Self::Stopped => ErrorClass::Transient,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Jq(_) => "transform",
            Self::Invalid(_) => "validation",
            Self::Dropped(_) => "dropped",
            Self::Halt(_) => "halt",
            Self::Remote { code, .. } => code,
            Self::Stopped => "stopped",
        }
    }
}
