//! Rows PostgreSQL refuses go to the dead-letter queue; everything else lands exactly once.
//!
//! The table has a CHECK constraint, a NOT NULL column and a numeric column; the input (two
//! files, so two lanes) mixes good records with ones that break each of those, and lines that
//! are JSON but not objects. In both modes the run succeeds, the table holds exactly the good
//! records, and the DLQ holds exactly the bad ones, each once, named by the sink with the
//! reason the database gave — also when `weir` is SIGKILLed again and again while it finds and
//! diverts them.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use support::Workdir;
use support::postgres::Postgres;
use support::process::{Kill, sigkill_if_running};
use support::rng::Rng;

const CONFIG: &str = "weir.yaml";
const LOG: &str = "weir.log";
const FILES: usize = 2;

fn config(pg: &Postgres, mode: &str) -> String {
    format!(
        r#"data_dir: ./state
dependencies:
  db: {{ timeout: 10s }}
pipelines:
  orders:
    source: {{ type: file, path: "in/*.jsonl" }}
    sinks:
      - {{ type: postgres, dependency: db, url: "{url}", table: orders, mode: {mode}, key: [id] }}
    checkpoint: {{ interval: 200ms }}
    batch_size: 256
    parallelism: 2
"#,
        url = pg.url(),
    )
}

/// What a record of the input is.
fn kind(i: u64) -> (&'static str, String) {
    let good = format!(r#"{{"id":{i},"user_id":"u{i}","amount":{}}}"#, i % 1000);
    if i % 97 == 5 {
        (
            "pg_constraint",
            format!(r#"{{"id":{i},"user_id":"u{i}","amount":-1}}"#),
        )
    } else if i % 131 == 7 {
        (
            "pg_constraint",
            format!(r#"{{"id":{i},"user_id":null,"amount":3}}"#),
        )
    } else if i % 211 == 11 {
        (
            "pg_data",
            format!(r#"{{"id":{i},"user_id":"u{i}","amount":"abc"}}"#),
        )
    } else if i % 503 == 13 {
        ("pg_record", format!("[{i}, \"not a row\"]"))
    } else {
        ("", good)
    }
}

struct Expected {
    good_ids: BTreeSet<u64>,
    /// (file, byte offset, reason) of every bad record.
    bad: BTreeSet<(String, u64, String)>,
}

/// `dups`: every 97th good record is written twice more, once right away and once at the end
/// of its file (an upsert keeps one row; keys already in the table take the staging path).
fn input(w: &Workdir, per_file: u64, dups: bool) -> Expected {
    let mut good_ids = BTreeSet::new();
    let mut bad = BTreeSet::new();
    for f in 0..FILES {
        let name = format!("f{f}.jsonl");
        let mut text = String::new();
        let mut again = Vec::new();
        for n in 0..per_file {
            let i = f as u64 * per_file + n;
            let (reason, line) = kind(i);
            if reason.is_empty() {
                good_ids.insert(i);
            } else {
                bad.insert((name.clone(), text.len() as u64, reason.to_owned()));
            }
            text.push_str(&line);
            text.push('\n');
            if dups && reason.is_empty() && i % 97 == 50 {
                text.push_str(&line);
                text.push('\n');
                again.push(line);
            }
        }
        for line in again.drain(..) {
            text.push_str(&line);
            text.push('\n');
        }
        w.write(&format!("in/{name}"), text);
    }
    Expected { good_ids, bad }
}

fn setup(mode: &str, per_file: u64) -> (Postgres, Workdir, Expected) {
    let pg = Postgres::start();
    pg.psql(
        "CREATE TABLE orders (id bigint PRIMARY KEY, user_id text NOT NULL, amount numeric CHECK (amount >= 0))",
    );
    let w = Workdir::new();
    let expected = input(&w, per_file, mode == "upsert");
    assert!(
        expected.bad.len() > 100,
        "the input has too few bad records"
    );
    w.write(CONFIG, config(&pg, mode));
    (pg, w, expected)
}

fn run_mode(mode: &str) {
    let (pg, w, expected) = setup(mode, 4_000);
    w.run_ok(
        CONFIG,
        LOG,
        Duration::from_secs(120),
        &format!("{mode}: weir"),
    );
    assert_split(&pg, &w, &expected, mode);
    assert!(
        w.read_text(LOG).contains("sink refused records"),
        "{mode}: the rewrite of an epoch is logged"
    );
}

/// The table holds exactly the good records, the DLQ exactly the bad ones.
fn assert_split(pg: &Postgres, w: &Workdir, expected: &Expected, mode: &str) {
    let ids: BTreeSet<u64> = pg
        .psql("SELECT id FROM orders ORDER BY id")
        .lines()
        .map(|l| l.trim().parse().expect("an id"))
        .collect();
    assert_eq!(
        pg.count("SELECT count(*) FROM orders"),
        expected.good_ids.len() as u64,
        "{mode}: row count"
    );
    assert_eq!(
        ids, expected.good_ids,
        "{mode}: the table holds exactly the good records"
    );
    assert_eq!(
        pg.count("SELECT count(*) FROM orders WHERE amount <> id % 1000"),
        0,
        "{mode}: a row holds another record's amount"
    );

    let entries = w.dlq_list(CONFIG, &[]);
    let dead: BTreeSet<(String, u64, String)> = entries
        .iter()
        .map(|e| (e.partition.clone(), e.offset, e.reason.clone()))
        .collect();
    assert_eq!(
        entries.len(),
        dead.len(),
        "{mode}: a record is in the DLQ twice"
    );
    assert_eq!(
        dead, expected.bad,
        "{mode}: the DLQ holds exactly the refused records"
    );
    for e in &entries {
        assert_eq!(e.stage, "postgres", "{mode}: stage of {e:?}");
        assert!(
            e.message.starts_with("refused by sink postgres: "),
            "{mode}: message of {e:?}"
        );
        assert!(
            e.record.is_some(),
            "{mode}: the input record is kept: {e:?}"
        );
    }
    let check = entries
        .iter()
        .find(|e| e.record.as_ref().is_some_and(|r| r["amount"] == -1))
        .expect("a CHECK violation in the DLQ");
    assert!(
        check.message.contains("23514") && check.message.contains("orders_amount_check"),
        "{mode}: the database's reason is kept: {}",
        check.message
    );
}

#[test]
fn upsert_mode_dead_letters_exactly_the_rows_the_database_refuses() {
    run_mode("upsert");
}

#[test]
fn transactional_mode_dead_letters_exactly_the_rows_the_database_refuses() {
    run_mode("transactional");
}

#[test]
fn refusals_stay_exact_through_repeated_sigkills() {
    let mode = "transactional";
    // Enough input for several runs to be killed part-way, after their first commits.
    let (pg, w, expected) = setup(mode, 20_000);
    let mut rng = Rng::seeded("postgres_refusals");
    let (mut kills, mut runs) = (0, 0);
    let (lo, hi) = (300u64, 900u64);
    while kills < 5 {
        runs += 1;
        assert!(runs <= 40, "only {kills} kills in {runs} runs");
        let mut child = w.spawn_run(CONFIG, LOG);
        let delay = rng.between(lo, hi);
        std::thread::sleep(Duration::from_millis(delay));
        match sigkill_if_running(&mut child) {
            Kill::Killed => {
                kills += 1;
                eprintln!(
                    "SIGKILL {kills} ({delay} ms into run {runs}): {} rows",
                    pg.count("SELECT count(*) FROM orders")
                );
            }
            // Finished before its kill: each run goes on from where the last one stopped, so
            // nothing is left to kill.
            Kill::Exited(status) => {
                assert!(
                    status.success(),
                    "run {runs} failed: {status}\n{}",
                    w.tail(LOG, 20)
                );
                break;
            }
        }
    }
    assert!(
        kills >= 3,
        "only {kills} runs were killed before the input was done"
    );
    w.run_ok(CONFIG, LOG, Duration::from_secs(120), "final run");
    assert_split(
        &pg,
        &w,
        &expected,
        &format!("{mode} after {kills} SIGKILLs"),
    );
    assert_eq!(pg.count("SELECT count(*) FROM pg_prepared_xacts"), 0);
}
