//! SIGTERM and SIGINT stop a run gracefully: the process finishes the open epoch of every
//! lane, checkpoints it and exits 0. What is committed then is exactly what the checkpoints
//! cover — a proper prefix of each lane's expected output, in order, nothing left staged — and
//! a rerun completes the output exactly once.

mod support;

use std::time::{Duration, Instant};

use support::inspect;
use support::orders::{Orders, Spec};
use support::process::{send_signal, wait_timeout};
use support::{Workdir, committed_by_lane};

const CONFIG: &str = "weir.yaml";
const LOG: &str = "weir.log";
const PIPELINE: &str = "orders";

fn config(filter: &str) -> String {
    format!(
        r#"data_dir: ./state
pipelines:
  {PIPELINE}:
    source: {{ type: file, path: "in/*.jsonl", format: jsonl }}
    transforms:
      - {{ type: jq, filter: '{filter}' }}
    sinks:
      - {{ type: file, path: out }}
    checkpoint: {{ interval: 20ms }}
    parallelism: 2
    batch_size: 256
"#
    )
}

fn stop_with(signal: &str) {
    let w = Workdir::new();
    let orders = Orders::write(
        &w,
        "in",
        &Spec {
            files: 4,
            per_file: 40_000,
            pad: |_, _| 40,
            keep_pad: false,
        },
    );
    w.write(CONFIG, config(orders.filter));
    let out = w.path().join("out");

    // Signal once the run is well under way: several epochs are committed.
    let mut child = w.spawn_run(CONFIG, LOG);
    let deadline = Instant::now() + Duration::from_secs(60);
    while inspect::committed_epochs(&out)
        .values()
        .map(Vec::len)
        .sum::<usize>()
        < 6
    {
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "the run ended before any output was seen:\n{}",
            w.tail(LOG, 20)
        );
        assert!(
            Instant::now() < deadline,
            "no output within 60 s:\n{}",
            w.tail(LOG, 20)
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    send_signal(child.id(), signal);
    let Some(status) = wait_timeout(&mut child, Duration::from_secs(30)) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "SIG{signal}: the run did not exit within 30 s:\n{}",
            w.tail(LOG, 20)
        );
    };
    let context = format!("after SIG{signal}");
    assert_eq!(
        status.code(),
        Some(0),
        "{context}: exit status {status}:\n{}",
        w.tail(LOG, 20)
    );

    // Stopped early, in order, nothing twice; the open epoch was committed, not left staged.
    let committed = committed_by_lane(&out);
    let total = orders.assert_prefix(&committed, true, &context);
    assert!(total > 0, "{context}: nothing committed");
    assert!(
        inspect::stray_entries(&out).is_empty(),
        "{context}: stray entries in out/: {:?}",
        inspect::stray_entries(&out)
    );
    let staged = inspect::staged_files(&out);
    assert!(
        staged.is_empty(),
        "{context}: the open epoch was left staged instead of committed: {staged:?}"
    );

    // `weir checkpoints` lists the lanes that ran, at exactly the epoch and offset committed.
    let checkpoints = w.checkpoints(CONFIG);
    assert!(
        !checkpoints.lanes.is_empty(),
        "{context}: weir checkpoints lists no lane:\n{}",
        checkpoints.stdout
    );
    let epochs = inspect::committed_epochs(&out);
    for lane in committed.keys() {
        assert!(
            checkpoints.lanes.contains_key(lane),
            "{context}: lane {lane} has output but is not listed:\n{}",
            checkpoints.stdout
        );
    }
    for (lane, c) in &checkpoints.lanes {
        assert!(
            orders.lanes.contains_key(lane),
            "{context}: unknown lane {lane} listed"
        );
        assert_eq!(c.pipeline, PIPELINE);
        let newest = epochs
            .get(lane)
            .and_then(|e| e.last().copied())
            .unwrap_or(0);
        assert_eq!(
            c.epoch, newest,
            "{context}: lane {lane}: checkpoint epoch vs newest committed file"
        );
    }
    orders.assert_covered_by_checkpoints(&committed, &checkpoints.lanes, true, &context);

    // A rerun picks up where the stop left off and completes the output exactly once.
    w.run_ok(
        CONFIG,
        LOG,
        Duration::from_secs(120),
        &format!("rerun after SIG{signal}"),
    );
    orders.assert_exactly_once(
        &committed_by_lane(&out),
        &format!("rerun after SIG{signal}"),
    );
    assert!(
        inspect::staged_files(&out).is_empty(),
        "staged files left after the rerun: {:?}",
        inspect::staged_files(&out)
    );
    eprintln!(
        "SIG{signal}: {total} of {} records committed at the stop, all after the rerun",
        orders.total_out()
    );
}

#[test]
fn sigterm_commits_the_open_epoch_exits_0_and_a_rerun_completes_exactly_once() {
    stop_with("TERM");
}

#[test]
fn sigint_commits_the_open_epoch_exits_0_and_a_rerun_completes_exactly_once() {
    stop_with("INT");
}
