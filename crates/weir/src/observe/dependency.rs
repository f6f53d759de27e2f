//! Metrics and events of dependencies: breaker state, retries, waits and degraded records.

use std::time::Duration;

use prometheus::{IntCounterVec, IntGaugeVec, Registry};

use super::metrics::{counter, gauge, metrics};
use crate::policy::breaker::BreakerState;

/// The dependency series of the registry.
#[derive(Debug)]
pub struct DependencyMetrics {
    /// Breaker state by pipeline and dependency: 0 closed, 1 half-open, 2 open.
    pub breaker_state: IntGaugeVec,
    /// Records that went on with a fallback value, by pipeline and dependency.
    pub degraded_records: IntCounterVec,
    /// Breaker transitions into a state, by pipeline, dependency and state.
    pub breaker_transitions: IntCounterVec,
}

impl DependencyMetrics {
    pub(super) fn new(r: &Registry) -> Self {
        Self {
            breaker_state: gauge(
                r,
                "weir_breaker_state",
                "Circuit breaker state of a dependency: 0 closed, 1 half-open, 2 open.",
                &["pipeline", "dependency"],
            ),
            degraded_records: counter(
                r,
                "weir_degraded_records_total",
                "Records that went on with a fallback because a dependency failed.",
                &["pipeline", "dependency"],
            ),
            breaker_transitions: counter(
                r,
                "weir_breaker_transitions_total",
                "Circuit breaker state changes, by the state entered.",
                &["pipeline", "dependency", "state"],
            ),
        }
    }
}

/// A breaker changed state (or was created, `initial`).
pub struct BreakerChanged<'a> {
    /// Pipeline.
    pub pipeline: &'a str,
    /// Dependency.
    pub dependency: &'a str,
    /// The state before.
    pub from: BreakerState,
    /// The new state.
    pub state: BreakerState,
    /// Whether this is the breaker's creation (not logged).
    pub initial: bool,
}

impl BreakerChanged<'_> {
    /// Logs and counts the event.
    pub fn emit(&self) {
        let m = &metrics().dependency;
        m.breaker_state
            .with_label_values(&[self.pipeline, self.dependency])
            .set(self.state.gauge());
        if self.initial {
            return;
        }
        m.breaker_transitions
            .with_label_values(&[self.pipeline, self.dependency, self.state.as_str()])
            .inc();
        // A long outage probes again and again: only entering and leaving it are worth a
        // warning and a notice; the probes are logged at debug level.
        match (self.from, self.state) {
            (BreakerState::Closed, BreakerState::Open) => tracing::warn!(
                pipeline = self.pipeline,
                dependency = self.dependency,
                "circuit breaker open: calls to `{}` are held back; lanes that need it pause (nothing is read, nothing is dead-lettered)",
                self.dependency
            ),
            (_, BreakerState::Open) => tracing::debug!(
                pipeline = self.pipeline,
                dependency = self.dependency,
                "circuit breaker open again: the probe of `{}` failed",
                self.dependency
            ),
            (_, BreakerState::HalfOpen) => tracing::debug!(
                pipeline = self.pipeline,
                dependency = self.dependency,
                "circuit breaker half-open: probing `{}`",
                self.dependency
            ),
            (_, BreakerState::Closed) => tracing::info!(
                pipeline = self.pipeline,
                dependency = self.dependency,
                "circuit breaker closed: `{}` answers again; lanes resume",
                self.dependency
            ),
        }
    }
}

/// A transient failure is retried.
pub struct CallRetried<'a> {
    /// Pipeline.
    pub pipeline: &'a str,
    /// The stage making the call.
    pub stage: &'a str,
    /// Dependency.
    pub dependency: &'a str,
    /// The attempt that failed (1-based).
    pub attempt: u32,
    /// Backoff before the next one.
    pub delay: Duration,
}

impl CallRetried<'_> {
    /// Logs and counts the event.
    pub fn emit(&self) {
        tracing::debug!(
            pipeline = self.pipeline,
            stage = self.stage,
            dependency = self.dependency,
            attempt = self.attempt,
            delay_ms = self.delay.as_millis() as u64,
            "retrying a transient failure"
        );
        metrics()
            .retries
            .with_label_values(&[self.pipeline, self.stage])
            .inc();
    }
}

/// A call waits for an open breaker (the lane pauses).
pub struct DependencyWaiting<'a> {
    /// Pipeline.
    pub pipeline: &'a str,
    /// Dependency.
    pub dependency: &'a str,
    /// The stage making the call.
    pub stage: &'a str,
}

impl DependencyWaiting<'_> {
    /// Logs the event.
    pub fn emit(&self) {
        tracing::debug!(
            pipeline = self.pipeline,
            dependency = self.dependency,
            stage = self.stage,
            "waiting for the circuit breaker of `{}` (lane paused)",
            self.dependency
        );
    }
}

/// A record went on with a fallback value.
pub struct RecordDegraded<'a> {
    /// Pipeline.
    pub pipeline: &'a str,
    /// Dependency.
    pub dependency: &'a str,
}

impl RecordDegraded<'_> {
    /// Counts the event.
    pub fn emit(&self) {
        metrics()
            .dependency
            .degraded_records
            .with_label_values(&[self.pipeline, self.dependency])
            .inc();
    }
}
