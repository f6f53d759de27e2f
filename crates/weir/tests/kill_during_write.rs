//! A kill in the middle of a sink write never shows: with large records (2–8 KB each) the
//! file sink spends its time writing staged files, and the binary is SIGKILLed at random
//! moments, many of them mid-write. After every kill no committed file is partial, every
//! committed line is an expected record, and nothing of `.staging` is visible as committed
//! output (no committed epoch or record beyond the lane's checkpoint). The final run gives
//! every record exactly once.

mod support;

use std::time::Duration;

use support::inspect;
use support::orders::{Orders, Spec};
use support::process::KillSeries;
use support::rng::Rng;
use support::{Workdir, committed_by_lane};

const CONFIG: &str = "weir.yaml";
const LOG: &str = "weir.log";
const KILLS: usize = 15;

fn config(filter: &str) -> String {
    format!(
        r#"data_dir: ./state
pipelines:
  big:
    source: {{ type: file, path: "in/*.jsonl", format: jsonl }}
    transforms:
      - {{ type: jq, filter: '{filter}' }}
    sinks:
      - {{ type: file, path: out }}
    checkpoint: {{ interval: 50ms, max_records: 200 }}
    parallelism: 2
    batch_size: 16
"#
    )
}

/// 2048..=8192 bytes of padding, varying per record.
fn pad(file: usize, seq: usize) -> usize {
    2048 + (seq * 7919 + file * 104_729) % 6145
}

/// Staged files that end mid-line: the kill caught a write in progress.
fn partial_staged_files(out: &std::path::Path) -> usize {
    inspect::staged_files(out)
        .iter()
        .filter(|p| {
            let bytes = std::fs::read(p).unwrap_or_default();
            !bytes.is_empty() && !bytes.ends_with(b"\n")
        })
        .count()
}

#[test]
fn a_kill_mid_write_never_exposes_a_partial_or_staged_file() {
    let mut rng = Rng::seeded("kill_during_write");
    let w = Workdir::new();
    let orders = Orders::write(
        &w,
        "in",
        &Spec {
            files: 4,
            per_file: 4_000,
            pad,
            keep_pad: true,
        },
    );
    w.write(CONFIG, config(orders.filter));
    let out = w.path().join("out");

    let mut mid_write = 0;
    let series = KillSeries {
        kills: KILLS,
        max_runs: 150,
        lo: 15,
        hi: 150,
        restart_forgets_kills: false,
    };
    let (kills, runs) = w.kill_series(
        CONFIG,
        LOG,
        &mut rng,
        series,
        |k| {
            let partial = partial_staged_files(&out);
            if partial > 0 {
                mid_write += 1;
            }
            let context = format!("after {k}, {partial} partial staged files");
            eprintln!("{context}");
            let committed = orders.assert_sound_after_stop(&w, CONFIG, "out", &context);
            eprintln!("  {committed} of {} records committed", orders.total_out());
        },
        |run| {
            orders.assert_exactly_once(
                &committed_by_lane(&out),
                &format!("run {run}, finished before its kill"),
            );
            std::fs::remove_dir_all(&out).expect("remove out");
            std::fs::remove_dir_all(w.path().join("state")).expect("remove state");
        },
    );
    // The point of the test: kills did land while a staged file was half written, and the
    // checks above saw none of it.
    assert!(
        mid_write >= 1,
        "none of the {kills} kills caught a sink write in progress"
    );

    w.run_ok(CONFIG, LOG, Duration::from_secs(120), "final run");
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
    eprintln!(
        "{kills} kills in {runs} runs, {mid_write} of them mid-write; {} records exactly once",
        orders.total_out()
    );
}
