//! A poison pill never blocks a pipeline. One record of one lane crashes weir whenever it is
//! processed:
//!
//! - it aborts the whole process (`WEIR_FAULT_ABORT_ON`): weir is restarted after each abort,
//!   as systemd would. After K = 3 crashes at the same offset the lane runs isolated, record by
//!   record, with the record in hand noted as the suspect; once the pill is the suspect of two
//!   isolated crashes, the next start quarantines it. That run exits 0;
//! - it panics the lane (`WEIR_FAULT_PANIC_ON`): the supervisor restarts the lane (logging each
//!   restart), after K crashes isolation catches the panic on the pill itself and quarantines it
//!   at once: one run exits 0.
//!
//! Either way the pill ends in the dead-letter queue with reason `crash` — and, for the panic,
//! the panic message — and every other record is in the output exactly once, in order.

mod support;

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use support::fault::{ABORT_ON, PANIC_ON};
use support::orders::{Orders, Spec};
use support::pill::Pill;
use support::{Workdir, committed_by_lane, inspect};

const CONFIG: &str = "weir.yaml";
const LOG: &str = "weir.log";
/// Crashes at one offset before a lane is isolated (the default `quarantine_after_crashes`).
const K: usize = 3;
/// Isolated crashes a pill must be the suspect of before it is quarantined.
const SUSPECT_HITS: usize = 2;
const MAX_RUNS: usize = 12;
const SIGABRT: i32 = 6;

/// Epochs of 1000 records (the 10s interval never cuts one): the pill, at record ~700 of its
/// file, is always reached from the same resume offset, 0.
fn config(filter: &str, extra: &str) -> String {
    format!(
        r#"data_dir: ./state
pipelines:
  orders:
    source: {{ type: file, path: "in/*.jsonl", format: jsonl }}
    transforms:
      - {{ type: jq, filter: '{filter}' }}
    sinks:
      - {{ type: file, path: out }}
    checkpoint: {{ interval: 10s, max_records: 1000 }}
    parallelism: 3
    batch_size: 100
{extra}"#
    )
}

fn setup(w: &Workdir, extra: &str) -> (Orders, Pill) {
    let orders = Orders::write(
        w,
        "in",
        &Spec {
            files: 3,
            per_file: 3_000,
            pad: |_, _| 16,
            keep_pad: false,
        },
    );
    let pill = Pill::pick(w, &orders, "in", 1, 700);
    w.write(CONFIG, config(orders.filter, extra));
    (orders, pill)
}

#[test]
fn a_record_that_aborts_the_process_is_quarantined_after_repeated_restarts() {
    let w = Workdir::new();
    let (orders, pill) = setup(&w, "");
    let rule = pill.rule();
    let env = [(ABORT_ON, rule.as_str())];

    // Restart weir after every abort, as a service manager would, a bounded number of times.
    let mut runs = 0;
    loop {
        runs += 1;
        assert!(
            runs <= MAX_RUNS,
            "weir still aborts after {MAX_RUNS} runs; end of log:\n{}",
            w.tail(LOG, 30)
        );
        let status = w.run_to_end_env(CONFIG, LOG, &env, Duration::from_secs(60));
        if status.success() {
            break;
        }
        assert_eq!(
            status.signal(),
            Some(SIGABRT),
            "run {runs} ended with {status}, not by the injected abort; end of log:\n{}",
            w.tail(LOG, 30)
        );
        // Between runs the output is sound: a prefix of the expected output, nothing beyond
        // the checkpoints, the pill nowhere.
        orders.assert_sound_after_stop(&w, CONFIG, "out", &format!("after abort {runs}"));
    }
    eprintln!("the pill {} was quarantined in run {runs}", pill.id);
    // K crashes isolate the lane, SUSPECT_HITS isolated crashes convict the pill, and the next
    // start quarantines it.
    assert!(runs > K, "quarantined after only {runs} runs");
    assert_eq!(
        runs,
        K + SUSPECT_HITS + 1,
        "runs until the pill was quarantined"
    );
    let log = w.read_text(LOG);
    let aborts = log
        .matches(&format!(
            "fault injection: aborting the process on record orders/{}@{}",
            pill.lane, pill.offset
        ))
        .count();
    assert_eq!(aborts, runs - 1, "every failed run was aborted by the pill");
    let isolated: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("processing record by record"))
        .collect();
    eprintln!("isolated starts:\n{}", isolated.join("\n"));
    assert!(
        isolated
            .iter()
            .any(|l| l.contains(&format!("lane={}", pill.lane))),
        "the pill's lane was never isolated"
    );

    pill.assert_output_without(
        &orders,
        &committed_by_lane(&w.path().join("out")),
        "after the final run",
    );
    let e = pill.assert_quarantined("orders", &w.dlq_list(CONFIG, &[]), "after the final run");
    assert!(
        e.message.contains("this record crashed its lane")
            && e.message.contains("times while processed alone"),
        "{}",
        e.message
    );
    assert_eq!(w.dlq_list(CONFIG, &["--reason", "crash"]), vec![e.clone()]);

    // The quarantine is final: the next run (pill still armed) has nothing to do.
    let before = inspect::snapshot(&w.path().join("out"));
    let status = w.run_to_end_env(CONFIG, LOG, &env, Duration::from_secs(60));
    assert!(status.success(), "rerun exited with {status}");
    assert!(
        inspect::snapshot(&w.path().join("out")) == before,
        "a rerun changed the output"
    );
    assert_eq!(w.dlq_list(CONFIG, &[]), vec![e]);
}

#[test]
fn a_record_that_panics_its_lane_is_quarantined_within_one_run() {
    let w = Workdir::new();
    let (orders, pill) = setup(
        &w,
        "    restart: { strategy: fixed, delay: 10ms, attempts: 10 }\n",
    );
    let rule = pill.rule();
    let status = w.run_to_end_env(
        CONFIG,
        LOG,
        &[(PANIC_ON, rule.as_str())],
        Duration::from_secs(60),
    );
    assert!(
        status.success(),
        "run exited with {status}; end of log:\n{}",
        w.tail(LOG, 30)
    );

    pill.assert_output_without(
        &orders,
        &committed_by_lane(&w.path().join("out")),
        "after the run",
    );
    let e = pill.assert_quarantined("orders", &w.dlq_list(CONFIG, &[]), "after the run");
    let panic = format!(
        "fault injection: panic on record orders/{}@{}",
        pill.lane, pill.offset
    );
    assert!(
        e.message.contains("crashed its lane (found in isolation)") && e.message.contains(&panic),
        "the DLQ message does not carry the panic: {}",
        e.message
    );

    // The supervisor restarted the pill's lane exactly K times (then isolation caught the
    // panic), and no other lane.
    let log = w.read_text(LOG);
    let restarts: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("lane failed, restarting"))
        .collect();
    assert_eq!(
        restarts.len(),
        K,
        "restarts logged:\n{}",
        restarts.join("\n")
    );
    for (i, l) in restarts.iter().enumerate() {
        assert!(
            l.contains(&panic)
                && l.contains(&format!("lane={}", pill.lane))
                && l.contains(&format!("restarts={}", i + 1)),
            "restart line {i}: {l}"
        );
    }
    assert!(
        !log.contains("pipeline failed"),
        "the pipeline failed:\n{log}"
    );
}
