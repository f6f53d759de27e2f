//! Supervision gives up when restarting cannot help, and pipelines are separate failure
//! domains. A record panics its lane on every attempt and quarantine is out of reach
//! (`quarantine_after_crashes: 100`): under `restart: { strategy: fixed, attempts: 2 }` the lane
//! is restarted twice, then the pipeline fails — `weir run` exits 1 naming the pipeline and the
//! panic, `/health/ready` answers 503 naming it while the process still runs, and nothing past
//! the last checkpoint is visible. Another pipeline of the same process is not disturbed: it
//! completes its output exactly once. Once the bug is gone, a rerun completes exactly once.

mod support;

use std::process::ExitStatus;
use std::time::{Duration, Instant};

use support::fault::PANIC_ON;
use support::orders::{Orders, Spec};
use support::pill::Pill;
use support::probe as http;
use support::{Workdir, committed_by_lane};

const CONFIG: &str = "weir.yaml";
const LOG: &str = "weir.log";

/// A pipeline whose lanes are restarted twice, 10 ms apart, and never quarantine.
fn failing(name: &str, filter: &str) -> String {
    format!(
        r#"  {name}:
    source: {{ type: file, path: "in/{name}/*.jsonl" }}
    transforms:
      - {{ type: jq, filter: '{filter}' }}
    sinks:
      - {{ type: file, path: out/{name} }}
    checkpoint: {{ interval: 10s, max_records: 500 }}
    batch_size: 100
    parallelism: 2
    restart: {{ strategy: fixed, delay: 10ms, attempts: 2 }}
    quarantine_after_crashes: 100
"#
    )
}

fn orders(w: &Workdir, dir: &str, files: usize, per_file: usize) -> Orders {
    Orders::write(
        w,
        dir,
        &Spec {
            files,
            per_file,
            pad: |_, _| 16,
            keep_pad: false,
        },
    )
}

/// Asserts the run failed because of `pipeline`'s pill, after exactly two restarts.
fn assert_failed_on(w: &Workdir, status: ExitStatus, pipeline: &str, pill: &Pill) {
    let log = w.read_text(LOG);
    assert_eq!(
        status.code(),
        Some(1),
        "run exited with {status}; log:\n{log}"
    );
    let panic = format!(
        "panic: fault injection: panic on record {pipeline}/{}@{}",
        pill.lane, pill.offset
    );
    let summary = format!("error: pipeline `{pipeline}` failed: {panic}");
    assert!(
        log.lines().any(|l| l == summary),
        "stderr does not say `{summary}`:\n{log}"
    );
    let gave_up: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("pipeline failed, restart strategy exhausted"))
        .collect();
    assert_eq!(gave_up.len(), 1, "{log}");
    assert!(
        gave_up[0].contains(&panic)
            && gave_up[0].contains(&format!("pipeline=\"{pipeline}\""))
            && gave_up[0].contains(&format!("lane={}", pill.lane)),
        "{}",
        gave_up[0]
    );
    let restarts = log
        .lines()
        .filter(|l| l.contains("lane failed, restarting") && l.contains(&panic))
        .count();
    assert_eq!(restarts, 2, "restarts before giving up:\n{log}");
    assert!(
        !log.contains("processing record by record"),
        "the lane was isolated despite quarantine_after_crashes: 100"
    );
}

#[test]
fn a_lane_that_panics_on_every_attempt_fails_its_pipeline_and_the_run() {
    let w = Workdir::new();
    let data = orders(&w, "in/orders", 2, 2_000);
    let pill = Pill::pick(&w, &data, "in/orders", 1, 700);
    let config = format!(
        "data_dir: ./state\npipelines:\n{}",
        failing("orders", data.filter)
    );
    w.write(CONFIG, &config);
    let rule = pill.rule();
    let status = w.run_to_end_env(
        CONFIG,
        LOG,
        &[(PANIC_ON, rule.as_str())],
        Duration::from_secs(60),
    );
    assert_failed_on(&w, status, "orders", &pill);

    // Nothing beyond the checkpoints is visible; the pill's lane stopped before the pill, and
    // nothing was dead-lettered.
    data.assert_sound_after_stop(&w, CONFIG, "out/orders", "after the failed run");
    let committed = committed_by_lane(&w.path().join("out/orders"));
    let pill_lane = committed.get(&pill.lane).map_or(&[][..], Vec::as_slice);
    assert!(
        !pill_lane.contains(&pill.out),
        "the pill's output is committed"
    );
    assert!(
        pill_lane.len() < data.expected(&pill.lane).len(),
        "the pill's lane is complete"
    );
    assert_eq!(
        w.dlq_list(CONFIG, &[]),
        Vec::new(),
        "nothing is dead-lettered"
    );

    // With the bug gone, the next run resumes from the checkpoints and completes exactly once.
    let status = w.run_to_end(CONFIG, LOG, Duration::from_secs(60));
    assert!(status.success(), "rerun exited with {status}");
    data.assert_exactly_once(
        &committed_by_lane(&w.path().join("out/orders")),
        "after a rerun without the fault",
    );
}

#[test]
fn a_failed_pipeline_does_not_stop_another_and_readiness_reports_it() {
    let w = Workdir::new();
    // `bad` reads files f0, f1 (its pill is early in f1, so it fails within its first
    // batches); `good` reads one file, f0, so the pill's id is not among its records. `good`
    // commits every 10 records — 1,500 epochs, each with its fsyncs — so it runs on for
    // seconds after `bad` has failed.
    let bad = orders(&w, "in/bad", 2, 500);
    let good = orders(&w, "in/good", 1, 15_000);
    let pill = Pill::pick(&w, &bad, "in/bad", 1, 50);
    let config = format!(
        r#"data_dir: ./state
pipelines:
{}  good:
    source: {{ type: file, path: "in/good/*.jsonl" }}
    transforms:
      - {{ type: jq, filter: '{}' }}
    sinks:
      - {{ type: file, path: out/good }}
    checkpoint: {{ interval: 10s, max_records: 10 }}
    batch_size: 10
"#,
        failing("bad", bad.filter),
        good.filter
    );
    w.write(CONFIG, &config);
    let rule = pill.rule();
    let mut child = w.spawn_run_env(CONFIG, LOG, &[(PANIC_ON, rule.as_str())]);

    // Watch readiness and metrics until the process exits.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut not_ready_failed = None;
    let mut metrics_after_failure = None;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the run did not end; log:\n{}", w.tail(LOG, 30));
        }
        if let Some(addr) = w.server_addr(LOG)
            && let Ok((code, body)) = http::get(addr, "/health/ready")
            && code == 503
            && body.contains("failed pipelines: bad")
        {
            not_ready_failed.get_or_insert((body, Instant::now()));
            if metrics_after_failure.is_none()
                && let Ok((200, text)) = http::get(addr, "/metrics")
            {
                metrics_after_failure = Some(text);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let (body, since) = not_ready_failed.unwrap_or_else(|| {
        panic!(
            "/health/ready never answered 503 naming `bad` while the run was on; log:\n{}",
            w.tail(LOG, 30)
        )
    });
    assert_eq!(body, "not ready: failed pipelines: bad\n");
    eprintln!(
        "not ready (bad failed) for {:?} before the run ended",
        since.elapsed()
    );
    let metrics = metrics_after_failure.unwrap_or_else(|| {
        panic!(
            "/metrics could not be scraped after the failure; log:\n{}",
            w.tail(LOG, 30)
        )
    });
    for series in [
        "weir_lane_restarts_total{pipeline=\"bad\"} 2",
        "weir_pipeline_failed{pipeline=\"bad\"} 1",
        "weir_pipeline_failed{pipeline=\"good\"} 0",
    ] {
        assert!(
            metrics.lines().any(|l| l == series),
            "/metrics has no `{series}`:\n{}",
            metrics
                .lines()
                .filter(|l| l.contains("restarts") || l.contains("pipeline_failed"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    assert_failed_on(&w, status, "bad", &pill);
    assert!(
        !w.read_text(LOG).contains("pipeline `good` failed"),
        "good failed too"
    );
    good.assert_exactly_once(
        &committed_by_lane(&w.path().join("out/good")),
        "the pipeline that did not fail",
    );
    let committed_bad = committed_by_lane(&w.path().join("out/bad"));
    bad.assert_prefix(&committed_bad, false, "the failed pipeline");
    assert!(
        !committed_bad
            .get(&pill.lane)
            .is_some_and(|l| l.contains(&pill.out)),
        "the pill's output is committed"
    );
    assert_eq!(
        w.dlq_list(CONFIG, &[]),
        Vec::new(),
        "nothing is dead-lettered"
    );
}
