//! Exactly once through crashes: the real binary is SIGKILLed at random moments again and
//! again; after every kill the committed output is sound (complete files, a prefix of the
//! expected output, nothing beyond the checkpoints), and the run that finally completes holds
//! every expected record exactly once, in input order. A further run changes nothing.

mod support;

use std::time::{Duration, Instant};

use support::inspect;
use support::orders::{Orders, Spec};
use support::process::KillSeries;
use support::rng::Rng;
use support::{Workdir, committed_by_lane};

const CONFIG: &str = "weir.yaml";
const LOG: &str = "weir.log";
const KILLS: usize = 10;

fn config(filter: &str) -> String {
    format!(
        r#"data_dir: ./state
pipelines:
  orders:
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

#[test]
fn sigkill_at_random_moments_never_loses_or_duplicates_a_record() {
    let started = Instant::now();
    let mut rng = Rng::seeded("crash_exactly_once");
    let w = Workdir::new();
    let orders = Orders::write(
        &w,
        "in",
        &Spec {
            files: 5,
            per_file: 50_000,
            pad: |_, _| 40,
            keep_pad: false,
        },
    );
    assert!(orders.total_in() >= 200_000);
    w.write(CONFIG, config(orders.filter));

    let series = KillSeries {
        kills: KILLS,
        max_runs: 100,
        lo: 30,
        hi: 400,
        restart_forgets_kills: false,
    };
    let (kills, runs) = w.kill_series(
        CONFIG,
        LOG,
        &mut rng,
        series,
        |k| {
            let context = format!("after {k}");
            eprintln!("{context}");
            let committed = orders.assert_sound_after_stop(&w, CONFIG, "out", &context);
            eprintln!("  {committed} of {} records committed", orders.total_out());
        },
        |run| {
            // The run finished before the kill: it does not count. Check it and start the
            // scenario over from nothing.
            orders.assert_exactly_once(
                &committed_by_lane(&w.path().join("out")),
                &format!("run {run}, finished before its kill"),
            );
            std::fs::remove_dir_all(w.path().join("out")).expect("remove out");
            std::fs::remove_dir_all(w.path().join("state")).expect("remove state");
        },
    );

    w.run_ok(CONFIG, LOG, Duration::from_secs(120), "final run");
    let out = w.path().join("out");
    orders.assert_exactly_once(&committed_by_lane(&out), "after the final run");
    assert!(
        inspect::stray_entries(&out).is_empty(),
        "stray entries in out/: {:?}",
        inspect::stray_entries(&out)
    );
    assert!(
        inspect::staged_files(&out).is_empty(),
        "staged files left after a complete run: {:?}",
        inspect::staged_files(&out)
    );
    let checkpoints = w.checkpoints(CONFIG);
    for lane in orders.lanes.keys() {
        let c = checkpoints
            .lanes
            .get(lane)
            .unwrap_or_else(|| panic!("lane {lane} has no checkpoint:\n{}", checkpoints.stdout));
        assert_eq!(
            c.next_offset,
            orders.input_len(lane),
            "lane {lane} checkpoint is not at the end of its input"
        );
    }

    // Idempotent: one more run finds everything committed and changes nothing.
    let before = inspect::snapshot(&out);
    w.run_ok(CONFIG, LOG, Duration::from_secs(60), "rerun");
    assert!(
        inspect::snapshot(&out) == before,
        "a rerun after completion changed the committed output"
    );
    assert_eq!(
        w.checkpoints(CONFIG).lanes,
        checkpoints.lanes,
        "a rerun after completion moved the checkpoints"
    );
    eprintln!(
        "{kills} kills in {runs} runs; {} records exactly once; {:?}",
        orders.total_out(),
        started.elapsed()
    );
}
