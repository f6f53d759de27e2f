//! Fault injection for the test suite, compiled only with the `fault-injection` feature.
//!
//! `WEIR_FAULT_ABORT_ON=field=value` aborts the whole process, and `WEIR_FAULT_PANIC_ON=field=value`
//! panics the lane, when a record whose top-level `field` equals `value` (compared as text) is
//! processed. They stand in for a bug that a particular record triggers.
//! `WEIR_FAULT_INGEST_PAUSE_MS=n` makes every ingest request wait `n` ms between its quota check
//! and its append, so tests can make concurrent requests meet in that window.

use std::sync::OnceLock;
use std::time::Duration;

use crate::record::Record;

struct Rule {
    field: String,
    value: String,
}

fn rule(var: &str) -> Option<Rule> {
    let text = std::env::var(var).ok()?;
    let (field, value) = text.split_once('=')?;
    Some(Rule {
        field: field.to_owned(),
        value: value.to_owned(),
    })
}

fn matches(rule: Option<&Rule>, record: &Record) -> bool {
    rule.is_some_and(|r| {
        record.value.get(&r.field).is_some_and(|v| match v {
            serde_json::Value::String(s) => *s == r.value,
            other => {
                let text = other.to_string();
                text == r.value
            }
        })
    })
}

/// Aborts or panics if `record` matches an injected fault.
pub fn check(record: &Record) {
    static ABORT: OnceLock<Option<Rule>> = OnceLock::new();
    static PANIC: OnceLock<Option<Rule>> = OnceLock::new();
    if matches(
        ABORT.get_or_init(|| rule("WEIR_FAULT_ABORT_ON")).as_ref(),
        record,
    ) {
        eprintln!(
            "fault injection: aborting the process on record {}",
            record.meta.id
        );
        std::process::abort();
    }
    if matches(
        PANIC.get_or_init(|| rule("WEIR_FAULT_PANIC_ON")).as_ref(),
        record,
    ) {
        panic!("fault injection: panic on record {}", record.meta.id);
    }
}

/// The top-level fields the injected faults look at (a source reading only some fields of each
/// record must read these too).
#[must_use]
pub fn fields() -> Vec<String> {
    ["WEIR_FAULT_ABORT_ON", "WEIR_FAULT_PANIC_ON"]
        .into_iter()
        .filter_map(rule)
        .map(|r| r.field)
        .collect()
}

/// Waits as long as `WEIR_FAULT_INGEST_PAUSE_MS` says (not at all without it).
pub async fn ingest_pause() {
    static PAUSE: OnceLock<Option<Duration>> = OnceLock::new();
    let pause = PAUSE.get_or_init(|| {
        std::env::var("WEIR_FAULT_INGEST_PAUSE_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .map(Duration::from_millis)
    });
    if let Some(pause) = pause {
        tokio::time::sleep(*pause).await;
    }
}
