//! The validated configuration of a `postgres` sink.

use std::fmt;

use crate::config::dependencies::DependencyPlan;

/// How rows reach the table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PgMode {
    /// `INSERT ... ON CONFLICT (key) DO UPDATE`, one transaction per epoch: a replayed epoch
    /// rewrites the same rows (effectively-once).
    Upsert,
    /// The epoch's rows and the lane's offset in one prepared transaction, committed after the
    /// checkpoint (exactly-once).
    #[default]
    Transactional,
}

/// A connection string: kept out of `Debug` output because it may hold a password.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnString(pub String);

impl fmt::Debug for ConnString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConnString(<redacted>)")
    }
}

/// A `postgres` sink.
#[derive(Clone, Debug, PartialEq)]
pub struct PgSinkPlan {
    /// Sink name.
    pub name: String,
    /// The dependency whose policy stack every database call goes through.
    pub dependency: DependencyPlan,
    /// Connection string (`postgres://user@host:port/db`, or key=value form).
    pub url: ConnString,
    /// Target table, optionally schema-qualified (`orders`, `app.orders`).
    pub table: Vec<String>,
    /// Upsert or transactional.
    pub mode: PgMode,
    /// Conflict key columns (required for upsert).
    pub key: Vec<String>,
    /// Columns and SQL types to create the table with (`create_table: true`), in order.
    pub create_table: Option<Vec<(String, String)>>,
}
