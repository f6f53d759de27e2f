//! The metrics registry — the one global in weir — and its Prometheus text rendering.
//! Names follow `weir_<noun>_<unit>[_total]`; labels come from a small fixed set.

use std::sync::OnceLock;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Every metric weir exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Input records read, by pipeline.
    pub records_in: IntCounterVec,
    /// Records written, by pipeline and sink.
    pub records_out: IntCounterVec,
    /// Records that failed, by pipeline, stage and reason.
    pub records_failed: IntCounterVec,
    /// Epochs committed, by pipeline.
    pub checkpoints: IntCounterVec,
    /// Time from the start of precommit to the end of commit, by pipeline.
    pub checkpoint_duration: HistogramVec,
    /// Manifests passed over on recovery, by pipeline and reason.
    pub checkpoints_rejected: IntCounterVec,
    /// Unix time of the newest committed checkpoint, by pipeline.
    pub last_checkpoint: IntGaugeVec,
    /// Lane restarts by the supervisor, by pipeline.
    pub lane_restarts: IntCounterVec,
    /// Lanes running now, by pipeline.
    pub lanes_running: IntGaugeVec,
    /// Lanes finished (all input processed), by pipeline.
    pub lanes_finished: IntGaugeVec,
    /// 1 when a pipeline has failed (its restart strategy gave up), by pipeline.
    pub pipeline_failed: IntGaugeVec,
    /// Records committed to the dead-letter queue, by pipeline and reason.
    pub dlq_records: IntCounterVec,
    /// Entries in the dead-letter queue, by pipeline.
    pub dlq_depth: IntGaugeVec,
    /// Retries of transient failures, by pipeline and stage.
    pub retries: IntCounterVec,
    /// Epochs that failed an audit, by pipeline and audit kind.
    pub audit_failures: IntCounterVec,
    /// Trips of the failure-ratio gate, by pipeline.
    pub gate_trips: IntCounterVec,
    /// Records acknowledged by HTTP ingest, by pipeline.
    pub ingest_records: IntCounterVec,
    /// Ingest requests refused, by pipeline and reason.
    pub ingest_refused: IntCounterVec,
    /// Breakers, degraded records and calls of dependencies.
    pub dependency: super::dependency::DependencyMetrics,
}

pub(super) fn counter(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| unreachable!("metric {name}: {e}"));
    registry
        .register(Box::new(c.clone()))
        .unwrap_or_else(|e| unreachable!("metric {name}: {e}"));
    c
}

pub(super) fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| unreachable!("metric {name}: {e}"));
    registry
        .register(Box::new(g.clone()))
        .unwrap_or_else(|e| unreachable!("metric {name}: {e}"));
    g
}

impl Metrics {
    fn new() -> Self {
        let r = Registry::new();
        let checkpoint_duration = HistogramVec::new(
            HistogramOpts::new(
                "weir_checkpoint_duration_seconds",
                "Time to precommit, checkpoint and commit an epoch.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["pipeline"],
        )
        .unwrap_or_else(|e| unreachable!("histogram: {e}"));
        r.register(Box::new(checkpoint_duration.clone()))
            .unwrap_or_else(|e| unreachable!("histogram: {e}"));
        Self {
            records_in: counter(
                &r,
                "weir_records_in_total",
                "Input records read from sources.",
                &["pipeline"],
            ),
            records_out: counter(
                &r,
                "weir_records_out_total",
                "Records written to sinks.",
                &["pipeline", "sink"],
            ),
            records_failed: counter(
                &r,
                "weir_records_failed_total",
                "Records that failed a stage.",
                &["pipeline", "stage", "reason"],
            ),
            checkpoints: counter(
                &r,
                "weir_checkpoints_total",
                "Epochs committed (checkpoint written and sinks committed).",
                &["pipeline"],
            ),
            checkpoints_rejected: counter(
                &r,
                "weir_checkpoints_rejected_total",
                "Unreadable manifests passed over on recovery.",
                &["pipeline", "reason"],
            ),
            last_checkpoint: gauge(
                &r,
                "weir_last_checkpoint_timestamp_seconds",
                "Unix time of the newest committed checkpoint.",
                &["pipeline"],
            ),
            lane_restarts: counter(
                &r,
                "weir_lane_restarts_total",
                "Lane restarts by the supervisor.",
                &["pipeline"],
            ),
            lanes_running: gauge(
                &r,
                "weir_lanes_running",
                "Lanes running now.",
                &["pipeline"],
            ),
            lanes_finished: gauge(
                &r,
                "weir_lanes_finished",
                "Lanes that have processed all their input.",
                &["pipeline"],
            ),
            pipeline_failed: gauge(
                &r,
                "weir_pipeline_failed",
                "1 when the pipeline has failed and stopped.",
                &["pipeline"],
            ),
            dlq_records: counter(
                &r,
                "weir_dlq_records_total",
                "Records committed to the dead-letter queue.",
                &["pipeline", "reason"],
            ),
            dlq_depth: gauge(
                &r,
                "weir_dlq_depth",
                "Entries in the dead-letter queue.",
                &["pipeline"],
            ),
            audit_failures: counter(
                &r,
                "weir_audit_failures_total",
                "Epochs that failed an audit (aborted, pipeline halted).",
                &["pipeline", "audit"],
            ),
            gate_trips: counter(
                &r,
                "weir_quality_gate_trips_total",
                "Trips of the failure-ratio gate.",
                &["pipeline"],
            ),
            retries: counter(
                &r,
                "weir_retries_total",
                "Retries of transient failures.",
                &["pipeline", "stage"],
            ),
            ingest_records: counter(
                &r,
                "weir_ingest_records_total",
                "Records acknowledged by HTTP ingest (durable in the log).",
                &["pipeline"],
            ),
            ingest_refused: counter(
                &r,
                "weir_ingest_refused_total",
                "HTTP ingest requests refused.",
                &["pipeline", "reason"],
            ),
            checkpoint_duration,
            dependency: super::dependency::DependencyMetrics::new(&r),
            registry: r,
        }
    }

    /// Creates every labelled series of `pipeline` at zero, so they are exported from the start.
    pub fn register_pipeline(&self, pipeline: &str, sinks: &[&str]) {
        self.records_in.with_label_values(&[pipeline]);
        for s in sinks {
            self.records_out.with_label_values(&[pipeline, s]);
        }
        self.checkpoints.with_label_values(&[pipeline]);
        self.checkpoint_duration.with_label_values(&[pipeline]);
        self.lane_restarts.with_label_values(&[pipeline]);
        self.lanes_running.with_label_values(&[pipeline]);
        self.lanes_finished.with_label_values(&[pipeline]);
        self.pipeline_failed.with_label_values(&[pipeline]);
        self.dlq_depth.with_label_values(&[pipeline]);
    }

    /// The registry in Prometheus text exposition format.
    #[must_use]
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into memory cannot fail for registered, well-formed metrics.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// The process-wide metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}
