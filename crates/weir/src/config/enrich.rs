//! Validation of `enrich_http` transforms.

use serde::Deserialize;

use super::diagnostic::{Pos, locate_value};
use super::plan::TransformPlan;
use super::validate::Ctx;
use crate::transforms::enrich_http::{CachePlan, EnrichPlan, Fallback, Method, UrlTemplate};

/// An `enrich_http` transform as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnrichHttp {
    /// Name of an entry of `dependencies:`.
    pub dependency: Option<String>,
    /// URL template, `{.field}` filled from the record.
    pub url: String,
    /// `get` (default) or `post`.
    #[serde(default)]
    pub method: Method,
    /// Field the answer is merged at.
    pub into: String,
    /// `last_good` or `{ value: ... }`.
    pub fallback: Option<RawFallback>,
    /// `{ ttl: 60s, max_entries: 10000 }`.
    pub cache: Option<RawCache>,
}

/// `fallback:` as written.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawFallback {
    /// `last_good`.
    Named(String),
    /// `{ value: ... }`.
    Value(RawFallbackValue),
}

/// `fallback: { value: ... }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFallbackValue {
    /// The value used instead of an answer.
    pub value: serde_json::Value,
}

/// `cache:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCache {
    /// How long an answer is reused.
    pub ttl: String,
    /// Answers kept at most (default 10000).
    pub max_entries: Option<usize>,
}

pub(super) fn transform(
    cx: &mut Ctx<'_>,
    index: usize,
    at: Pos,
    raw: &RawEnrichHttp,
) -> Option<TransformPlan> {
    let before = cx.problems_len();
    let name = format!("enrich_http_{index}");
    let dependency = super::dependencies::resolve(cx, at, raw.dependency.as_deref(), &name);
    let url = match UrlTemplate::parse(&raw.url) {
        Ok(t) => {
            if !raw.url.starts_with("http://") {
                cx.err(
                    locate_value(cx.source, at, "url"),
                    format!("transforms[{index}]: `url` must start with http:// (https is not supported)"),
                );
            }
            Some(t)
        }
        Err(e) => {
            cx.err(
                locate_value(cx.source, at, "url"),
                format!("transforms[{index}]: `url`: {e}"),
            );
            None
        }
    };
    let into: Vec<String> = raw.into.split('.').map(str::to_owned).collect();
    if into.iter().any(String::is_empty) {
        cx.err(
            locate_value(cx.source, at, "into"),
            format!(
                "transforms[{index}]: `into` `{}` is not a field path: expected e.g. `user` or `user.profile`",
                raw.into
            ),
        );
    }
    let fallback = match &raw.fallback {
        None => None,
        Some(RawFallback::Named(n)) if n == "last_good" => Some(Fallback::LastGood),
        Some(RawFallback::Named(n)) => {
            cx.err(
                locate_value(cx.source, at, "fallback"),
                format!("transforms[{index}]: `fallback: {n}` is not known: expected `last_good` or `{{ value: ... }}`"),
            );
            None
        }
        Some(RawFallback::Value(v)) => Some(Fallback::Value(v.value.clone())),
    };
    let cache = raw.cache.as_ref().and_then(|c| {
        let ttl = match humantime::parse_duration(c.ttl.trim()) {
            Ok(d) if !d.is_zero() => d,
            _ => {
                cx.err(
                    locate_value(cx.source, at, "ttl"),
                    format!("transforms[{index}]: cache `ttl` `{}` is not a duration greater than zero: expected e.g. \"60s\"", c.ttl),
                );
                return None;
            }
        };
        let max_entries = c.max_entries.unwrap_or(10_000);
        if max_entries == 0 {
            cx.err(
                locate_value(cx.source, at, "max_entries"),
                format!("transforms[{index}]: cache `max_entries` must be at least 1"),
            );
        }
        Some(CachePlan { ttl, max_entries })
    });
    (cx.problems_len() == before).then(|| {
        TransformPlan::EnrichHttp(Box::new(EnrichPlan {
            name,
            dependency: dependency.unwrap_or_else(|| unreachable!("reported above")),
            url: url.unwrap_or_else(|| unreachable!("reported above")),
            method: raw.method,
            into,
            fallback,
            cache,
        }))
    })
}
