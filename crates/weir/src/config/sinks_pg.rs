//! Validation of `postgres` sinks.
//!
//! ```yaml
//! sinks:
//!   - { type: postgres, dependency: db, url: "postgres://weir@127.0.0.1:5432/app",
//!       table: orders, mode: upsert, key: [id],
//!       create_table: true, columns: { id: text, amount: bigint } }
//! ```

use std::str::FromStr;

use serde::Deserialize;

use super::diagnostic::{Pos, locate_value};
use super::validate::Ctx;
use crate::sinks::postgres::config::{ConnString, PgMode, PgSinkPlan};

/// A `postgres` sink as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPostgresSink {
    /// Name of an entry of `dependencies:`.
    pub dependency: Option<String>,
    /// Connection string.
    pub url: String,
    /// Target table.
    pub table: String,
    /// `upsert` or `transactional` (default).
    #[serde(default)]
    pub mode: PgMode,
    /// Conflict key columns.
    #[serde(default)]
    pub key: Vec<String>,
    /// Create the table (from `columns`) when it does not exist.
    #[serde(default)]
    pub create_table: bool,
    /// Column name -> SQL type, in order, for `create_table`.
    pub columns: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Whether `s` is a plain SQL identifier (it is quoted when used, so this only keeps names
/// readable and free of quoting surprises).
pub(super) fn identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 63
}

pub(super) fn sink(
    cx: &mut Ctx<'_>,
    name: String,
    at: Pos,
    raw: &RawPostgresSink,
) -> Option<PgSinkPlan> {
    let before = cx.problems_len();
    let dependency = super::dependencies::resolve(cx, at, raw.dependency.as_deref(), &name);
    if let Err(e) = tokio_postgres::Config::from_str(&raw.url) {
        cx.err(
            locate_value(cx.source, at, "url"),
            format!("postgres `url` is not a connection string ({e}): expected e.g. postgres://user@127.0.0.1:5432/app"),
        );
    }
    let table: Vec<String> = raw.table.split('.').map(str::to_owned).collect();
    if table.len() > 2 || !table.iter().all(|p| identifier(p)) {
        cx.err(
            locate_value(cx.source, at, "table"),
            format!("postgres `table` `{}` is not a table name: expected e.g. `orders` or `app.orders` (letters, digits, `_`)", raw.table),
        );
    }
    for k in &raw.key {
        if !identifier(k) {
            cx.err(
                locate_value(cx.source, at, "key"),
                format!("postgres `key` column `{k}` is not a column name (letters, digits, `_`)"),
            );
        }
    }
    if raw.mode == PgMode::Upsert && raw.key.is_empty() {
        cx.err(
            locate_value(cx.source, at, "mode"),
            "postgres `mode: upsert` needs `key`: the columns a row is identified by, e.g. `key: [id]`",
        );
    }
    let create_table = match (&raw.columns, raw.create_table) {
        (None, false) => None,
        (Some(_), false) => {
            cx.err(
                locate_value(cx.source, at, "columns"),
                "postgres `columns` is only used with `create_table: true`",
            );
            None
        }
        (None, true) => {
            cx.err(
                locate_value(cx.source, at, "create_table"),
                "postgres `create_table: true` needs `columns`: name -> SQL type, e.g. `columns: { id: text, amount: bigint }`",
            );
            None
        }
        (Some(cols), true) => {
            let mut out = Vec::new();
            for (col, ty) in cols {
                let ty = ty.as_str().map(str::trim).unwrap_or_default();
                if !identifier(col) {
                    cx.err(
                        locate_value(cx.source, at, "columns"),
                        format!(
                            "postgres column `{col}` is not a column name (letters, digits, `_`)"
                        ),
                    );
                }
                if ty.is_empty() || ty.contains(';') || ty.contains("--") {
                    cx.err(
                        locate_value(cx.source, at, col),
                        format!("postgres column `{col}`: expected an SQL type such as `text`, `bigint`, `jsonb`"),
                    );
                }
                out.push((col.clone(), ty.to_owned()));
            }
            if out.is_empty() {
                cx.err(
                    locate_value(cx.source, at, "columns"),
                    "postgres `columns` is empty",
                );
            }
            for k in &raw.key {
                if !out.iter().any(|(c, _)| c == k) {
                    cx.err(
                        locate_value(cx.source, at, "key"),
                        format!("postgres `key` column `{k}` is not among `columns`"),
                    );
                }
            }
            Some(out)
        }
    };
    (cx.problems_len() == before).then(|| PgSinkPlan {
        name,
        dependency: dependency.unwrap_or_else(|| unreachable!("reported above")),
        url: ConnString(raw.url.clone()),
        table,
        mode: raw.mode,
        key: raw.key.clone(),
        create_table,
    })
}
