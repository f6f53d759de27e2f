//! PostgreSQL goes away for about 20 seconds in the middle of a run. The breaker of the
//! sink's dependency opens, the lane pauses (it reads nothing while the breaker is open),
//! `/health/ready` names the open breaker, nothing is dead-lettered for the outage, and once the
//! server is back the run completes with every record in the table exactly once — also when
//! `weir` is SIGKILLed during the outage and started again while the server is still down,
//! and when it is asked to stop (SIGTERM) during the outage: it exits 0 at once without
//! committing the open epoch, and the next run completes it.
//!
//! Each test has its own private PostgreSQL server (see `support/postgres.rs`); the two run in
//! parallel.

mod support;

use std::time::{Duration, Instant};

use support::Workdir;
use support::ledger::{self, Ledger};
use support::postgres::Postgres;
use support::process::{Kill, send_signal, sigkill_if_running, wait_timeout};
use support::scrape::Running;

const CONFIG: &str = "weir.yaml";
const LOG: &str = "weir.log";
/// How long the server stays down.
const OUTAGE: Duration = Duration::from_secs(20);
const RECORDS: usize = 400_000;

fn config(pg: &Postgres, mode: &str) -> String {
    let key = if mode == "upsert" { ", key: [id]" } else { "" };
    format!(
        r#"data_dir: ./state
dependencies:
  db:
    timeout: 5s
    concurrency: 4
    retry: {{ max_attempts: 4, initial: 50ms, max: 500ms, jitter: full }}
    breaker: {{ failure_rate: 0.5, window: 10, min_calls: 3, open_for: 1s, half_open_probes: 1 }}
pipelines:
  orders:
    source: {{ type: file, path: "in/*.jsonl" }}
    sinks:
      - {{ type: postgres, dependency: db, url: "{url}", table: orders, mode: {mode}{key}, create_table: true, columns: {columns} }}
    checkpoint: {{ interval: 100ms }}
    batch_size: 500
    parallelism: 1
"#,
        url = pg.url(),
        columns = ledger::COLUMNS,
    )
}

/// Polls `what` every 50 ms for at most `limit`.
fn wait_for(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn breaker_state(run: &Running) -> Option<f64> {
    run.metrics().and_then(|m| {
        m.get(
            "weir_breaker_state",
            &[("pipeline", "orders"), ("dependency", "db")],
        )
    })
}

fn records_in(run: &Running) -> f64 {
    run.metrics()
        .and_then(|m| m.get("weir_records_in_total", &[("pipeline", "orders")]))
        .expect("records_in is exported")
}

/// Starts `weir`, waits until rows arrive, and stops the server while the run is going on.
/// Returns the run and when the server stopped.
fn start_and_break(w: &Workdir, pg: &Postgres, ledger: &Ledger) -> (Running, Instant) {
    let mut run = w.spawn_watched(CONFIG, LOG, &[]);
    wait_for(Duration::from_secs(60), "the first committed rows", || {
        Ledger::rows(pg, "orders") > 0
    });
    pg.stop("fast");
    let stopped = Instant::now();
    assert!(
        run.child.try_wait().expect("try_wait").is_none(),
        "the run ended before the outage began; end of its log:\n{}",
        w.tail(LOG, 20)
    );
    assert!(ledger.total() > 0);
    (run, stopped)
}

/// Waits for the run to complete once the server is back, and asserts it succeeded.
fn finishes_after_the_outage(w: &Workdir, run: &mut Running) {
    let status = wait_timeout(&mut run.child, Duration::from_secs(120)).unwrap_or_else(|| {
        let _ = sigkill_if_running(&mut run.child);
        panic!(
            "the run did not finish after the outage:\n{}",
            w.tail(LOG, 30)
        )
    });
    assert!(
        status.success(),
        "weir failed: {status}\n{}",
        w.tail(LOG, 30)
    );
}

fn assert_no_dead_letters(w: &Workdir) {
    let out = w
        .weir(&["dlq", "list", CONFIG, "--json"])
        .output()
        .expect("weir dlq list");
    assert!(out.status.success(), "weir dlq list failed: {out:?}");
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.trim().is_empty(),
        "the outage dead-lettered records:\n{listed}"
    );
}

#[test]
fn an_outage_pauses_the_lane_and_every_record_arrives_once() {
    let pg = Postgres::start();
    let w = Workdir::new();
    let ledger = Ledger::write(&w, 1, RECORDS);
    w.write(CONFIG, config(&pg, "upsert"));
    let (mut run, stopped) = start_and_break(&w, &pg, &ledger);

    wait_for(Duration::from_secs(30), "the breaker to open", || {
        breaker_state(&run) == Some(2.0)
    });
    let (status, body) = run.ready().expect("/health/ready answers");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("orders/db"), "{body}");
    // Paused: while the breaker is open (or probing) the single lane is held in its sink call
    // and reads nothing.
    let read_when_open = records_in(&run);
    while stopped.elapsed() < OUTAGE {
        std::thread::sleep(Duration::from_millis(500));
        assert_ne!(
            breaker_state(&run),
            Some(0.0),
            "the breaker closed while the server was down"
        );
        assert_eq!(
            records_in(&run),
            read_when_open,
            "the lane read records while paused"
        );
        assert!(
            run.child.try_wait().expect("try_wait").is_none(),
            "weir exited during the outage:\n{}",
            w.tail(LOG, 20)
        );
    }
    pg.start_again();

    finishes_after_the_outage(&w, &mut run);
    ledger.assert_exactly_once(&pg, "orders", "after the outage");
    assert_no_dead_letters(&w);
    let log = w.read_text(LOG);
    assert!(
        log.contains("circuit breaker open"),
        "no breaker opening logged"
    );
    assert!(
        log.contains("circuit breaker closed"),
        "no breaker closing logged"
    );
}

#[test]
fn a_sigkill_during_the_outage_and_a_restart_while_it_lasts_lose_and_duplicate_nothing() {
    let pg = Postgres::start();
    let w = Workdir::new();
    let ledger = Ledger::write(&w, 1, RECORDS);
    w.write(CONFIG, config(&pg, "transactional"));
    let (mut run, stopped) = start_and_break(&w, &pg, &ledger);

    wait_for(Duration::from_secs(30), "the breaker to open", || {
        breaker_state(&run) == Some(2.0)
    });
    assert_eq!(sigkill_if_running(&mut run.child), Kill::Killed);

    // Started again while the server is still down: recovery waits behind the breaker.
    let mut run = w.spawn_watched(CONFIG, LOG, &[]);
    wait_for(
        Duration::from_secs(30),
        "the restarted run's breaker to open",
        || breaker_state(&run) == Some(2.0),
    );
    while stopped.elapsed() < OUTAGE {
        std::thread::sleep(Duration::from_millis(500));
        assert!(
            run.child.try_wait().expect("try_wait").is_none(),
            "the restarted weir exited while the server was down:\n{}",
            w.tail(LOG, 20)
        );
    }
    pg.start_again();

    finishes_after_the_outage(&w, &mut run);
    ledger.assert_exactly_once(&pg, "orders", "after SIGKILL during the outage");
    assert_eq!(
        pg.count("SELECT count(*) FROM pg_prepared_xacts"),
        0,
        "prepared transactions left behind"
    );
    assert_no_dead_letters(&w);
    eprintln!("{}", w.read_text(LOG));
}

#[test]
fn a_sigterm_during_the_outage_stops_at_once_and_the_next_run_loses_and_duplicates_nothing() {
    let pg = Postgres::start();
    let w = Workdir::new();
    let ledger = Ledger::write(&w, 1, RECORDS);
    w.write(CONFIG, config(&pg, "transactional"));
    let (mut run, _stopped) = start_and_break(&w, &pg, &ledger);
    wait_for(Duration::from_secs(30), "the breaker to open", || {
        breaker_state(&run) == Some(2.0)
    });

    // The lane is paused in its sink call: a stop must not wait for the server.
    send_signal(run.child.id(), "TERM");
    let status = wait_timeout(&mut run.child, Duration::from_secs(15)).unwrap_or_else(|| {
        let _ = sigkill_if_running(&mut run.child);
        panic!("weir did not stop during the outage:\n{}", w.tail(LOG, 30))
    });
    assert!(
        status.success(),
        "a requested stop is not a failure: {status}\n{}",
        w.tail(LOG, 30)
    );
    let log = w.read_text(LOG);
    assert!(
        log.contains("is not committed; the next run replays it"),
        "the open epoch was not left to the next run:\n{}",
        w.tail(LOG, 30)
    );
    pg.start_again();
    Ledger::assert_no_duplicates(&pg, "orders", "after the stop");
    assert!(
        Ledger::rows(&pg, "orders") < ledger.total(),
        "everything was committed before the stop; the test proves nothing"
    );

    w.run_ok(
        CONFIG,
        LOG,
        Duration::from_secs(120),
        "the run after the stop",
    );
    ledger.assert_exactly_once(&pg, "orders", "after SIGTERM during the outage");
    assert_eq!(
        pg.count("SELECT count(*) FROM pg_prepared_xacts"),
        0,
        "prepared transactions left behind"
    );
    assert_no_dead_letters(&w);
}
