//! Bad input is partitioned, never lost or doubled: with malformed JSON lines (reason `parse`)
//! and records the jq filter fails on at run time (reason `transform`) among 24,000 records in
//! four files, every input record ends in exactly one of the committed output (matched by id)
//! and the dead-letter queue (matched by partition and offset, as `weir dlq list --json` shows
//! it) — a malformed line with its raw bytes, a failed record as it was read. The same exact
//! partition holds when the binary is SIGKILLed at random moments and restarted again and
//! again: after every kill nothing is visible beyond the lanes' checkpoints, and at the end no
//! record is dead-lettered twice or counted as failing more than once.

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use support::bad_orders::{BadOrders, BadSpec, FILTER, Kind, Rec};
use support::dlq::DlqEntry;
use support::process::KillSeries;
use support::rng::Rng;
use support::{Workdir, committed_by_lane};

const CONFIG: &str = "weir.yaml";
const LOG: &str = "weir.log";
const KILLS: usize = 10;

const SPEC: BadSpec = BadSpec {
    files: 4,
    per_file: 6_000,
    prefix: "f",
    malformed: 20,
    string_amounts: 25,
};

fn config(checkpoint: &str, batch_size: usize) -> String {
    format!(
        r#"data_dir: ./state
pipelines:
  orders:
    source: {{ type: file, path: "in/*.jsonl", format: jsonl }}
    transforms:
      - {{ type: jq, filter: '{FILTER}' }}
    sinks:
      - {{ type: file, path: out }}
    checkpoint: {checkpoint}
    parallelism: 2
    batch_size: {batch_size}
"#
    )
}

fn write_input(w: &Workdir) -> BadOrders {
    let data = BadOrders::write(w, "in", "orders", &SPEC);
    let total = data.recs.len();
    assert!(total >= 20_000);
    assert!(
        data.count(Kind::Malformed) * 100 >= total,
        "at least 1% malformed lines"
    );
    assert!(
        data.count(Kind::StringAmount) * 100 >= total,
        "at least 1% failing records"
    );
    data
}

#[test]
fn malformed_and_failing_records_go_to_the_dlq_and_the_rest_to_the_output_exactly_once() {
    let w = Workdir::new();
    let data = write_input(&w);
    w.write(CONFIG, config("{ interval: 20ms }", 256));

    w.run_ok(CONFIG, LOG, Duration::from_secs(60), "run");

    let committed = committed_by_lane(&w.path().join("out"));
    let dlq = w.dlq_list(CONFIG, &[]);
    data.assert_placed(&committed, &dlq, BadOrders::after_run, "after one run");
    assert_eq!(
        dlq.len(),
        data.count(Kind::Malformed) + data.count(Kind::StringAmount)
    );

    // The reason filter splits the DLQ exactly by kind.
    for (reason, kind) in [
        ("parse", Kind::Malformed),
        ("transform", Kind::StringAmount),
    ] {
        let listed = w.dlq_list(CONFIG, &["--reason", reason]);
        let ids: HashSet<&str> = listed
            .iter()
            .map(|e| {
                data.rec_of(e)
                    .expect("entry of an input record")
                    .id
                    .as_str()
            })
            .collect();
        let want: HashSet<&str> = data
            .recs
            .iter()
            .filter(|r| r.kind == kind)
            .map(|r| r.id.as_str())
            .collect();
        assert_eq!(listed.len(), want.len(), "dlq list --reason {reason}");
        assert!(
            ids == want,
            "dlq list --reason {reason} lists other records"
        );
        assert!(listed.iter().all(|e| e.reason == reason));
    }
    eprintln!(
        "{} records: {} in the output, {} malformed and {} failing in the DLQ",
        data.recs.len(),
        data.count(Kind::Good),
        data.count(Kind::Malformed),
        data.count(Kind::StringAmount)
    );
}

/// After a kill: each lane's output is a prefix of its good records (in order, no duplicates),
/// each DLQ entry is a failed record dead-lettered once with its reason, and nothing — output
/// or dead letter — lies beyond the lane's checkpoint.
fn assert_sound_after_kill(w: &Workdir, data: &BadOrders, context: &str) -> (usize, usize) {
    let committed = committed_by_lane(&w.path().join("out"));
    let dlq = w.dlq_list(CONFIG, &[]);
    let checkpoints = w.checkpoints(CONFIG);
    let covered = |rec: &Rec| {
        let next = checkpoints
            .lanes
            .get(&rec.lane)
            .map_or(0, |c| c.next_offset);
        rec.offset < next
    };
    let mut visible_ids: HashSet<String> = HashSet::new();
    for (lane, lines) in &committed {
        let want: Vec<String> = data
            .recs
            .iter()
            .filter(|r| r.lane == *lane && r.kind == Kind::Good)
            .map(Rec::output)
            .collect();
        assert!(
            lines.len() <= want.len() && lines[..] == want[..lines.len()],
            "{context}: lane {lane}'s output ({} lines) is not a prefix of its good records",
            lines.len()
        );
        for l in lines {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON");
            let rec = data
                .rec_by_id(v["id"].as_str().expect("id"))
                .expect("known id");
            assert!(
                covered(rec),
                "{context}: output of {} beyond the checkpoint of {lane}",
                rec.id
            );
            visible_ids.insert(rec.id.clone());
        }
    }
    let mut keys = HashSet::new();
    for e in &dlq {
        let rec = data
            .rec_of(e)
            .unwrap_or_else(|| panic!("{context}: DLQ entry of no input record: {e:?}"));
        assert!(
            keys.insert((e.partition.clone(), e.offset)),
            "{context}: {} dead-lettered twice",
            rec.id
        );
        assert!(
            covered(rec),
            "{context}: dead letter {} beyond the checkpoint of {}",
            rec.id,
            rec.lane
        );
        assert!(
            rec.kind != Kind::Good
                && e.attempts == 1
                && rec.kind.reason() == Some(e.reason.as_str()),
            "{context}: unexpected DLQ entry for {} ({:?}): {e:?}",
            rec.id,
            rec.kind
        );
    }
    (visible_ids.len(), dlq.len())
}

#[test]
fn the_partition_is_exact_through_random_sigkills() {
    let started = Instant::now();
    let mut rng = Rng::seeded("dlq_partition");
    let w = Workdir::new();
    let data = write_input(&w);
    // Small batches and short epochs: a run takes over a second and commits many epochs, each
    // with dead letters, so the kills land all over the commit protocol.
    w.write(CONFIG, config("{ interval: 5ms, max_records: 200 }", 50));

    let series = KillSeries {
        kills: KILLS,
        max_runs: 100,
        lo: 20,
        hi: 300,
        // The final run must follow all the kills.
        restart_forgets_kills: true,
    };
    let (kills, runs) = w.kill_series(
        CONFIG,
        LOG,
        &mut rng,
        series,
        |k| {
            let context = format!("after {k}");
            let (out, dead) = assert_sound_after_kill(&w, &data, &context);
            eprintln!("{context}: {out} records in the output, {dead} in the DLQ");
        },
        |run| {
            // Finished before the kill: check it, then start the scenario over from nothing.
            data.assert_placed(
                &committed_by_lane(&w.path().join("out")),
                &w.dlq_list(CONFIG, &[]),
                BadOrders::after_run,
                &format!("run {run}, finished before its kill"),
            );
            std::fs::remove_dir_all(w.path().join("out")).expect("remove out");
            std::fs::remove_dir_all(w.path().join("state")).expect("remove state");
        },
    );

    w.run_ok(CONFIG, LOG, Duration::from_secs(60), "final run");
    let dlq: Vec<DlqEntry> = w.dlq_list(CONFIG, &[]);
    // assert_placed checks attempts == 1 and that no record has two entries; the ids of the
    // entries are unique by (partition, offset) as well.
    let keys: HashSet<(&str, u64)> = dlq
        .iter()
        .map(|e| (e.partition.as_str(), e.offset))
        .collect();
    assert_eq!(keys.len(), dlq.len(), "a record was dead-lettered twice");
    data.assert_placed(
        &committed_by_lane(&w.path().join("out")),
        &dlq,
        BadOrders::after_run,
        &format!("after {kills} kills and a final run"),
    );
    eprintln!(
        "{kills} kills in {runs} runs; {} records partitioned exactly; {:?}",
        data.recs.len(),
        started.elapsed()
    );
}
