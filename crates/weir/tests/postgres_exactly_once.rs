//! The PostgreSQL sink's guarantees against a real server.
//!
//! - `mode: transactional` under repeated SIGKILL: after every kill the table holds no record
//!   twice, and the run that completes leaves each record exactly once. Then the local
//!   checkpoints are deleted and the pipeline is run again: recovery reads each lane's position
//!   back from PostgreSQL, so nothing is written twice.
//! - `mode: upsert`: rows with the same key end as one row holding the last value, through a
//!   crash and a full replay.

mod support;

use std::time::Duration;

use support::Workdir;
use support::ledger::{self, Ledger};
use support::postgres::Postgres;
use support::process::{KillSeries, sigkill_if_running};
use support::rng::Rng;

const CONFIG: &str = "weir.yaml";
const LOG: &str = "weir.log";
const KILLS: usize = 8;

fn config(pg: &Postgres, mode: &str, extra: &str) -> String {
    format!(
        r#"data_dir: ./state
dependencies:
  db: {{ timeout: 10s }}
pipelines:
  orders:
    source: {{ type: file, path: "in/*.jsonl" }}
    sinks:
      - {{ type: postgres, dependency: db, url: "{url}", table: orders, mode: {mode}, create_table: true, columns: {columns}{extra} }}
    checkpoint: {{ interval: 30ms }}
    batch_size: 256
    parallelism: 3
"#,
        url = pg.url(),
        columns = ledger::COLUMNS,
    )
}

#[test]
fn transactional_mode_writes_each_record_once_through_sigkills_and_without_checkpoints() {
    let pg = Postgres::start();
    let w = Workdir::new();
    let ledger = Ledger::write(&w, 3, 60_000);
    w.write(CONFIG, config(&pg, "transactional", ""));
    let mut rng = Rng::seeded("postgres_exactly_once");

    let series = KillSeries {
        kills: KILLS,
        max_runs: 60,
        lo: 100,
        hi: 1_500,
        restart_forgets_kills: false,
    };
    w.kill_series(
        CONFIG,
        LOG,
        &mut rng,
        series,
        |k| {
            let context = format!("after {k}");
            Ledger::assert_no_duplicates(&pg, "orders", &context);
            eprintln!("{context}: {} rows", Ledger::rows(&pg, "orders"));
        },
        |run| {
            ledger.assert_exactly_once(
                &pg,
                "orders",
                &format!("run {run} finished before its kill"),
            );
            // Start over from nothing (the series kills sooner from now on).
            pg.psql("DROP TABLE orders; DROP TABLE weir_epochs");
            std::fs::remove_dir_all(w.path().join("state")).expect("remove state");
        },
    );
    w.run_ok(CONFIG, LOG, Duration::from_secs(120), "final run");
    ledger.assert_exactly_once(&pg, "orders", "after the final run");
    assert_eq!(pg.count("SELECT count(*) FROM pg_prepared_xacts"), 0);

    // The database remembers where every lane is: without the local checkpoints a new run
    // resumes from there instead of writing everything again.
    std::fs::remove_dir_all(w.path().join("state")).expect("remove state");
    w.run_ok(
        CONFIG,
        LOG,
        Duration::from_secs(120),
        "run without checkpoints",
    );
    ledger.assert_exactly_once(&pg, "orders", "after a run without local checkpoints");
    assert!(
        w.read_text(LOG).contains("resuming from its position"),
        "recovery did not take the position from PostgreSQL"
    );
}

#[test]
fn upsert_mode_keeps_one_row_per_key_with_the_last_value() {
    let pg = Postgres::start();
    let w = Workdir::new();
    // 3 lanes x 20000 records; then every record of lane 0 again with another amount, so each
    // of its keys is written twice within the run (often within one epoch).
    let ledger = Ledger::write(&w, 3, 20_000);
    let mut again = std::fs::read_to_string(w.path().join("in/f0.jsonl")).expect("read");
    again.push_str(
        &(0..20_000)
            .map(|s| {
                format!(
                    "{{\"id\":\"f0-{s:06}\",\"file\":0,\"seq\":{s},\"amount\":{}}}\n",
                    ledger::amount(0, s) + 1
                )
            })
            .collect::<String>(),
    );
    w.write("in/f0.jsonl", again);
    w.write(CONFIG, config(&pg, "upsert", ", key: [id]"));

    let mut child = w.spawn_run(CONFIG, LOG);
    std::thread::sleep(Duration::from_millis(400));
    let _ = sigkill_if_running(&mut child);
    w.run_ok(CONFIG, LOG, Duration::from_secs(120), "run");
    // A full replay changes nothing either.
    std::fs::remove_dir_all(w.path().join("state")).expect("remove state");
    w.run_ok(CONFIG, LOG, Duration::from_secs(120), "replay");

    assert_eq!(pg.count("SELECT count(*) FROM orders"), ledger.total());
    Ledger::assert_no_duplicates(&pg, "orders", "upsert");
    let sum: i64 = pg
        .psql("SELECT sum(amount) FROM orders")
        .parse()
        .expect("sum");
    assert_eq!(
        sum,
        ledger.sum() + 20_000,
        "lane 0's keys hold their last value"
    );
}
