//! Validation of `http` sinks.
//!
//! ```yaml
//! sinks:
//!   - { type: http, dependency: events_api, url: "http://127.0.0.1:8080/ingest", format: jsonl, max_batch: 500 }
//! ```

use serde::Deserialize;

use super::diagnostic::{Pos, locate_value};
use super::validate::Ctx;
use crate::sinks::http::{DEFAULT_MAX_BATCH, HttpFormat, HttpSinkPlan};

/// An `http` sink as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttpSink {
    /// Name of an entry of `dependencies:`.
    pub dependency: Option<String>,
    /// Endpoint (`http://...`).
    pub url: String,
    /// `jsonl` (default) or `json_array`.
    #[serde(default)]
    pub format: HttpFormat,
    /// Records per request at most (default 500).
    pub max_batch: Option<usize>,
}

pub(super) fn sink(
    cx: &mut Ctx<'_>,
    name: String,
    at: Pos,
    raw: &RawHttpSink,
) -> Option<HttpSinkPlan> {
    let before = cx.problems_len();
    let dependency = super::dependencies::resolve(cx, at, raw.dependency.as_deref(), &name);
    let valid = raw.url.starts_with("http://")
        && raw
            .url
            .parse::<hyper::Uri>()
            .is_ok_and(|u| u.host().is_some_and(|h| !h.is_empty()));
    if !valid {
        cx.err(
            locate_value(cx.source, at, "url"),
            format!(
                "http sink `url` `{}` is not an http:// URL (https is not supported)",
                raw.url
            ),
        );
    }
    if raw.max_batch == Some(0) {
        cx.err(
            locate_value(cx.source, at, "max_batch"),
            "http sink `max_batch` must be at least 1",
        );
    }
    (cx.problems_len() == before).then(|| HttpSinkPlan {
        name,
        dependency: dependency.unwrap_or_else(|| unreachable!("reported above")),
        url: raw.url.clone(),
        format: raw.format,
        max_batch: raw.max_batch.unwrap_or(DEFAULT_MAX_BATCH),
    })
}
