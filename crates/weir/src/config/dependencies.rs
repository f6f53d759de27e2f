//! `dependencies:` — the external systems pipelines call, each with its policy stack (bulkhead,
//! circuit breaker, retry, timeout) — and how sinks and transforms name one.
//!
//! ```yaml
//! dependencies:
//!   users_api:
//!     timeout: 2s                 # required, > 0: a call can never wait forever
//!     concurrency: 16             # bulkhead: calls in flight at once (per pipeline)
//!     retry: { max_attempts: 4, initial: 50ms, max: 2s, multiplier: 2, jitter: full, max_elapsed: 30s }
//!     breaker: { failure_rate: 0.5, window: 20, min_calls: 10, open_for: 30s, half_open_probes: 3 }
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::diagnostic::{Pos, locate_key_before};
use super::validate::{Ctx, pos};
use crate::policy::breaker::BreakerPolicy;
use crate::policy::retry::{Jitter, RetryPolicy};

/// Default bulkhead size.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// Timeout of the implicit dependency of a component that names none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// One entry of `dependencies:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDependency {
    /// Per-attempt timeout (required).
    pub timeout: Option<Spanned<RawScalar>>,
    /// Calls in flight at once.
    pub concurrency: Option<Spanned<usize>>,
    /// Retry policy.
    pub retry: Option<RawRetry>,
    /// Circuit breaker.
    pub breaker: Option<RawBreaker>,
}

/// A duration or number as written: YAML reads `0` as a number and `2s` as text; both are
/// accepted here so that `timeout: 0` gets a message about timeouts, not about types.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawScalar {
    /// Text such as `2s`.
    Text(String),
    /// A bare number.
    Number(f64),
}

/// `retry:` of a dependency.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    /// Attempts in all, the first included.
    pub max_attempts: Option<Spanned<u32>>,
    /// First backoff.
    pub initial: Option<Spanned<RawScalar>>,
    /// Largest backoff.
    pub max: Option<Spanned<RawScalar>>,
    /// Growth per retry.
    pub multiplier: Option<Spanned<f64>>,
    /// `full`, `equal` or `none`.
    pub jitter: Option<Jitter>,
    /// No retry starts after this long (`none`: no budget).
    pub max_elapsed: Option<Spanned<RawScalar>>,
}

/// `breaker:` of a dependency.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBreaker {
    /// Failure share that opens the breaker.
    pub failure_rate: Option<Spanned<f64>>,
    /// Outcomes kept.
    pub window: Option<Spanned<u32>>,
    /// Outcomes needed before judging.
    pub min_calls: Option<Spanned<u32>>,
    /// Time open before a probe.
    pub open_for: Option<Spanned<RawScalar>>,
    /// Successful probes that close it.
    pub half_open_probes: Option<Spanned<u32>>,
}

/// A validated dependency: its name and policy stack.
#[derive(Clone, Debug, PartialEq)]
pub struct DependencyPlan {
    /// Name (a key of `dependencies:`, or the component's stage name when it names none).
    pub name: String,
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// Bulkhead size.
    pub concurrency: usize,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Breaker policy.
    pub breaker: BreakerPolicy,
}

impl DependencyPlan {
    /// The implicit dependency of a component that names none: default policies.
    #[must_use]
    pub fn implicit(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            concurrency: DEFAULT_CONCURRENCY,
            retry: RetryPolicy::default(),
            breaker: BreakerPolicy::default(),
        }
    }
}

fn duration(
    cx: &mut Ctx<'_>,
    what: &str,
    raw: &Spanned<RawScalar>,
    allow_none: bool,
) -> Option<Option<Duration>> {
    let text = match &raw.value {
        RawScalar::Number(n) if *n == 0.0 => "0".to_owned(),
        RawScalar::Number(n) => {
            cx.err(
                pos(raw),
                format!("`{what}`: `{n}` has no unit: expected e.g. \"250ms\", \"2s\""),
            );
            return None;
        }
        RawScalar::Text(t) => t.trim().to_owned(),
    };
    if text == "none" || text == "0" {
        if allow_none {
            return Some(None);
        }
        cx.err(
            pos(raw),
            format!(
                "`{what}` must be greater than zero: every call needs a time limit (e.g. \"2s\")"
            ),
        );
        return None;
    }
    match humantime::parse_duration(&text) {
        Ok(d) if d.is_zero() => {
            cx.err(pos(raw), format!("`{what}` must be greater than zero"));
            None
        }
        Ok(d) => Some(Some(d)),
        Err(e) => {
            cx.err(
                pos(raw),
                format!(
                    "`{what}`: `{text}` is not a duration ({e}): expected e.g. \"250ms\", \"2s\""
                ),
            );
            None
        }
    }
}

fn at_least_one<T: Copy + Into<u64>>(cx: &mut Ctx<'_>, what: &str, raw: &Spanned<T>) -> T {
    if raw.value.into() == 0 {
        cx.err(pos(raw), format!("`{what}` must be at least 1"));
    }
    raw.value
}

fn retry(cx: &mut Ctx<'_>, dep: &str, raw: Option<&RawRetry>) -> RetryPolicy {
    let mut p = RetryPolicy::default();
    let Some(raw) = raw else { return p };
    if let Some(n) = &raw.max_attempts {
        p.max_attempts = at_least_one(cx, &format!("{dep}.retry.max_attempts"), n);
    }
    if let Some(d) = &raw.initial
        && let Some(Some(d)) = duration(cx, &format!("{dep}.retry.initial"), d, false)
    {
        p.initial = d;
    }
    if let Some(d) = &raw.max
        && let Some(Some(d)) = duration(cx, &format!("{dep}.retry.max"), d, false)
    {
        p.max = d;
    }
    if let Some(m) = &raw.multiplier {
        if !(m.value >= 1.0 && m.value.is_finite()) {
            cx.err(
                pos(m),
                format!("`{dep}.retry.multiplier` must be a number of at least 1"),
            );
        }
        p.multiplier = m.value;
    }
    if let Some(j) = raw.jitter {
        p.jitter = j;
    }
    if let Some(d) = &raw.max_elapsed
        && let Some(d) = duration(cx, &format!("{dep}.retry.max_elapsed"), d, true)
    {
        p.max_elapsed = d;
    }
    if p.max < p.initial
        && let Some(m) = &raw.max
    {
        cx.err(
            pos(m),
            format!("`{dep}.retry.max` must not be less than `{dep}.retry.initial`"),
        );
    }
    p
}

fn breaker(cx: &mut Ctx<'_>, dep: &str, raw: Option<&RawBreaker>) -> BreakerPolicy {
    let mut p = BreakerPolicy::default();
    let Some(raw) = raw else { return p };
    if let Some(r) = &raw.failure_rate {
        if !(r.value > 0.0 && r.value <= 1.0) {
            cx.err(
                pos(r),
                format!(
                    "`{dep}.breaker.failure_rate` must be in (0, 1], e.g. 0.5 (half the calls failing)"
                ),
            );
        }
        p.failure_rate = r.value;
    }
    if let Some(n) = &raw.window {
        p.window = at_least_one(cx, &format!("{dep}.breaker.window"), n);
    }
    if let Some(n) = &raw.min_calls {
        p.min_calls = at_least_one(cx, &format!("{dep}.breaker.min_calls"), n);
        if p.min_calls > p.window {
            cx.err(
                pos(n),
                format!(
                    "`{dep}.breaker.min_calls` ({}) must not exceed `window` ({}): the breaker could never open",
                    p.min_calls, p.window
                ),
            );
        }
    } else {
        p.min_calls = p.min_calls.min(p.window);
    }
    if let Some(d) = &raw.open_for
        && let Some(Some(d)) = duration(cx, &format!("{dep}.breaker.open_for"), d, false)
    {
        p.open_for = d;
    }
    if let Some(n) = &raw.half_open_probes {
        p.half_open_probes = at_least_one(cx, &format!("{dep}.breaker.half_open_probes"), n);
    }
    p
}

/// Validates `dependencies:`.
pub(super) fn dependencies(
    cx: &mut Ctx<'_>,
    raw: &BTreeMap<String, Spanned<RawDependency>>,
) -> BTreeMap<String, DependencyPlan> {
    let mut out = BTreeMap::new();
    for (name, d) in raw {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            cx.err(
                locate_key_before(cx.source, pos(d), name),
                format!(
                    "dependency name `{name}` is not allowed: expected letters, digits, `_` and `-`"
                ),
            );
        }
        let timeout = match &d.value.timeout {
            None => {
                cx.err(
                    pos(d),
                    format!("dependency `{name}` has no `timeout`: every dependency needs one, e.g. `timeout: 2s`"),
                );
                DEFAULT_TIMEOUT
            }
            Some(t) => duration(cx, &format!("{name}.timeout"), t, false)
                .flatten()
                .unwrap_or(DEFAULT_TIMEOUT),
        };
        let concurrency = match &d.value.concurrency {
            Some(c) => {
                if c.value == 0 {
                    cx.err(pos(c), format!("`{name}.concurrency` must be at least 1"));
                }
                c.value.max(1)
            }
            None => DEFAULT_CONCURRENCY,
        };
        let plan = DependencyPlan {
            name: name.clone(),
            timeout,
            concurrency,
            retry: retry(cx, name, d.value.retry.as_ref()),
            breaker: breaker(cx, name, d.value.breaker.as_ref()),
        };
        out.insert(name.clone(), plan);
    }
    out
}

/// The dependency a component at `at` names (`None`: its own, with default policies named
/// after the stage). An unknown name is reported at the component's `dependency:` value.
pub(super) fn resolve(
    cx: &mut Ctx<'_>,
    at: Pos,
    named: Option<&str>,
    stage: &str,
) -> Option<DependencyPlan> {
    let Some(name) = named else {
        return Some(DependencyPlan::implicit(stage));
    };
    if let Some(d) = cx.dependencies.get(name) {
        return Some(d.clone());
    }
    let known: Vec<&str> = cx.dependencies.keys().map(String::as_str).collect();
    let expected = if known.is_empty() {
        "no dependencies are declared: add it under the top-level `dependencies:`".to_owned()
    } else {
        format!("expected one of: {}", known.join(", "))
    };
    cx.err(
        super::diagnostic::locate_value(cx.source, at, "dependency"),
        format!("unknown dependency `{name}`: {expected}"),
    );
    None
}
