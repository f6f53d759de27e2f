//! Validation of a pipeline's failure-handling settings: restart strategy, dead-letter queue,
//! redaction and poison-pill quarantine.

use std::time::Duration;

use serde_saphyr::Spanned;

use super::diagnostic::{Pos, locate_value};
use super::model::{RawDlq, RawRestart};
use super::plan::DlqPlan;
use super::validate::{Ctx, pos};
use crate::policy::restart::RestartStrategy;

/// Default crashes on one record before it is quarantined.
pub const DEFAULT_QUARANTINE_AFTER: u32 = 3;

fn duration(
    cx: &mut Ctx<'_>,
    at: Pos,
    key: &str,
    text: Option<&String>,
    default: Duration,
) -> Duration {
    let Some(text) = text else { return default };
    match humantime::parse_duration(text.trim()) {
        Ok(d) if d.is_zero() => {
            cx.err(at, format!("`{key}` must be greater than zero"));
            default
        }
        Ok(d) => d,
        Err(e) => {
            cx.err(at, format!("`{key}`: `{text}` is not a duration ({e}): expected e.g. \"500ms\", \"1s\", \"5m\""));
            default
        }
    }
}

pub(super) fn restart(cx: &mut Ctx<'_>, raw: Option<&Spanned<RawRestart>>) -> RestartStrategy {
    let Some(raw) = raw else {
        return RestartStrategy::default();
    };
    let at = |cx: &Ctx<'_>, key: &str| locate_value(cx.source, pos(raw), key);
    match &raw.value {
        RawRestart::Exponential {
            initial,
            max,
            multiplier,
            reset_after,
            max_restarts,
        } => {
            let initial = duration(
                cx,
                at(cx, "initial"),
                "restart.initial",
                initial.as_ref(),
                Duration::from_secs(1),
            );
            let max = duration(
                cx,
                at(cx, "max"),
                "restart.max",
                max.as_ref(),
                Duration::from_secs(300),
            );
            let reset_after = duration(
                cx,
                at(cx, "reset_after"),
                "restart.reset_after",
                reset_after.as_ref(),
                Duration::from_secs(600),
            );
            let multiplier = multiplier.unwrap_or(2.0);
            if !(multiplier >= 1.0 && multiplier.is_finite()) {
                cx.err(
                    at(cx, "multiplier"),
                    "`restart.multiplier` must be a number of at least 1",
                );
            }
            if max < initial {
                cx.err(
                    at(cx, "max"),
                    "`restart.max` must not be less than `restart.initial`",
                );
            }
            RestartStrategy::Exponential {
                initial,
                max,
                multiplier,
                reset_after,
                max_restarts: max_restarts.unwrap_or(10),
            }
        }
        RawRestart::Fixed { delay, attempts } => RestartStrategy::Fixed {
            delay: duration(
                cx,
                at(cx, "delay"),
                "restart.delay",
                delay.as_ref(),
                Duration::from_secs(1),
            ),
            attempts: attempts.unwrap_or(3),
        },
        RawRestart::FailureRate {
            max_failures,
            interval,
            delay,
        } => RestartStrategy::FailureRate {
            max_failures: max_failures.unwrap_or(3),
            interval: duration(
                cx,
                at(cx, "interval"),
                "restart.interval",
                interval.as_ref(),
                Duration::from_secs(60),
            ),
            delay: duration(
                cx,
                at(cx, "delay"),
                "restart.delay",
                delay.as_ref(),
                Duration::from_secs(1),
            ),
        },
    }
}

pub(super) fn dlq(cx: &mut Ctx<'_>, raw: &RawDlq) -> DlqPlan {
    let retention = raw.retention.as_ref().map(|r| {
        duration(
            cx,
            pos(r),
            "dlq.retention",
            Some(&r.value),
            Duration::from_secs(30 * 86_400),
        )
    });
    DlqPlan {
        enabled: raw.enabled.unwrap_or(true),
        retention,
        redact_records: raw.redact_records.unwrap_or(false),
    }
}

pub(super) fn redact(cx: &mut Ctx<'_>, raw: &[Spanned<String>]) -> Vec<String> {
    let mut out = Vec::new();
    for f in raw {
        let valid = !f.value.is_empty() && f.value.split('.').all(|part| !part.is_empty());
        if valid {
            out.push(f.value.clone());
        } else {
            cx.err(pos(f), format!("`redact` entry `{}` is not a field path: expected e.g. `email` or `card.number`", f.value));
        }
    }
    out
}

pub(super) fn quarantine(cx: &mut Ctx<'_>, raw: Option<&Spanned<u32>>) -> u32 {
    match raw {
        Some(n) if n.value == 0 => {
            cx.err(pos(n), "`quarantine_after_crashes` must be at least 1");
            DEFAULT_QUARANTINE_AFTER
        }
        Some(n) => n.value,
        None => DEFAULT_QUARANTINE_AFTER,
    }
}
