//! Failures of the PostgreSQL sink, classified: a lost connection, a server shutting down or
//! restarting, a timeout, a serialization failure or deadlock are transient (retried, and they
//! open the breaker); data and constraint violations, unknown tables or columns are permanent;
//! a bookkeeping row that contradicts the protocol is fatal.

use std::time::Duration;

use crate::dependency::TimedOut;
use crate::error::{Classified, ErrorClass};
use crate::sinks::SinkError;

/// A PostgreSQL sink failure.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The server or the connection failed.
    #[error("{}", describe(.0))]
    Db(#[from] tokio_postgres::Error),
    /// A statement did not finish within the dependency's timeout.
    #[error("statement timed out after {0:?}")]
    Timeout(Duration),
    /// The table does not fit the configuration (no such key column, no columns).
    #[error("{0}")]
    Schema(String),
    /// Rows the database refuses (data exceptions, constraint violations), found one by one.
    #[error("{} row(s) refused", .0.len())]
    Refused(Vec<crate::sinks::Refusal>),
    /// The database contradicts the epoch protocol (e.g. an epoch to commit is neither
    /// prepared nor recorded): someone else changed the bookkeeping.
    #[error("{0}")]
    Protocol(String),
}

fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{} ({}): {}", db.severity(), db.code().code(), db.message());
            if let Some(d) = db.detail() {
                s.push_str(&format!(" — {d}"));
            }
            if let Some(w) = db.where_() {
                // `COPY t, line 17, column amount: "<the value>"`: the place, not the data.
                let place = w.split(": \"").next().unwrap_or(w);
                s.push_str(&format!(" [{place}]"));
            }
            s
        }
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(x) = src {
                s.push_str(&format!(": {x}"));
                src = x.source();
            }
            s
        }
    }
}

impl From<TimedOut> for PgError {
    fn from(t: TimedOut) -> Self {
        Self::Timeout(t.0)
    }
}

impl PgError {
    /// SQLSTATE of a server error.
    #[must_use]
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            Self::Db(e) => e.as_db_error().map(|d| d.code().code()),
            _ => None,
        }
    }

    /// Whether the connection that produced this error must be dropped (it is closed, or in
    /// an unknown state after a timeout).
    #[must_use]
    pub fn breaks_connection(&self) -> bool {
        match self {
            Self::Db(e) => e.is_closed() || e.as_db_error().is_none(),
            Self::Timeout(_) => true,
            _ => false,
        }
    }
}

/// Whether a client-side error is about the connection (closed, refused, broken, timed out
/// connecting) rather than about weir's use of the client (a parameter that does not convert).
/// The client exposes no kind, so the cause is looked at: an I/O error anywhere in the chain,
/// or its connect timeout.
fn connection_failure(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        if c.is::<std::io::Error>() {
            return true;
        }
        cause = c.source();
    }
    e.to_string().starts_with("timeout waiting for server")
}

impl Classified for PgError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Db(e) => match e.as_db_error() {
                None if connection_failure(e) => ErrorClass::Transient,
                None => ErrorClass::Fatal,
                Some(db) => {
                    let code = db.code().code();
                    let transient = code.starts_with("08")
                        || code.starts_with("53")
                        || code.starts_with("58")
                        || matches!(
                            code,
                            "57P01" | "57P02" | "57P03" | "57014" | "40001" | "40P01" | "55P03"
                        );
                    if transient {
                        ErrorClass::Transient
                    } else {
                        ErrorClass::Permanent
                    }
                }
            },
            Self::Timeout(_) => ErrorClass::Transient,
            Self::Schema(_) | Self::Refused(_) => ErrorClass::Permanent,
            Self::Protocol(_) => ErrorClass::Fatal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Db(_) => match self.sqlstate() {
                None if self.class() == ErrorClass::Transient => "pg_connection",
                None => "pg_client",
                Some(c) if c.starts_with("22") => "pg_data",
                Some(c) if c.starts_with("23") => "pg_constraint",
                Some(c) if c.starts_with("42") => "pg_schema",
                Some(_) if self.class() == ErrorClass::Transient => "pg_unavailable",
                Some(_) => "pg_error",
            },
            Self::Timeout(_) => "pg_timeout",
            Self::Refused(_) => "sink_refused",
            Self::Schema(_) => "pg_schema",
            Self::Protocol(_) => "pg_protocol",
        }
    }
}

impl From<PgError> for SinkError {
    fn from(e: PgError) -> Self {
        if let PgError::Refused(refused) = e {
            return SinkError::Refused(refused);
        }
        SinkError::Remote {
            class: e.class(),
            code: e.code(),
            message: e.to_string(),
        }
    }
}
