//! Replaying the dead-letter queue delivers each record exactly once. After a run whose jq
//! filter failed on string amounts, the filter is fixed in the configuration and `weir dlq
//! replay` sends the dead letters back through the pipeline: `--dry-run` only lists them; the
//! replay puts every formerly failing record into the output once (as the `dlq~replay` lane)
//! and leaves only the still-failing ones (malformed lines) in the DLQ, one attempt more; a
//! second replay adds nothing. A replay SIGKILLed midway, again and again, and rerun delivers
//! each record exactly once, with attempts counted once per committed try. `--pipeline` and
//! `--reason` select what is listed, replayed and purged across two pipelines; `dlq show`
//! shows one entry; `--since` includes recent entries and excludes future ones.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use support::bad_orders::{
    BadOrders, BadSpec, FILTER, FIXED_FILTER, Kind, Place, REPLAY_LANE, Rec,
};
use support::dlq::DlqEntry;
use support::inspect;
use support::process::{Kill, sigkill_if_running, wait_timeout};
use support::rng::Rng;
use support::{Workdir, committed_by_lane};

const CONFIG: &str = "weir.yaml";
const LOG: &str = "weir.log";

fn config(filter: &str, checkpoint: &str, batch_size: usize) -> String {
    format!(
        r#"data_dir: ./state
pipelines:
  orders:
    source: {{ type: file, path: "in/*.jsonl", format: jsonl }}
    transforms:
      - {{ type: jq, filter: '{filter}' }}
    sinks:
      - {{ type: file, path: out }}
    checkpoint: {checkpoint}
    parallelism: 2
    batch_size: {batch_size}
"#
    )
}

fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn run_ok(w: &Workdir) {
    w.run_ok(CONFIG, LOG, Duration::from_secs(60), "run");
}

/// After a replay with [`FIXED_FILTER`]: the string amounts are delivered, the malformed lines
/// are still dead letters with `attempts` tries.
fn after_replay(attempts: u32) -> impl Fn(&Rec) -> Place {
    move |r: &Rec| match r.kind {
        Kind::Good | Kind::StringAmount => Place::Output,
        Kind::Malformed => Place::Dlq(attempts),
    }
}

#[test]
fn a_replay_with_a_fixed_filter_delivers_the_failed_records_once_and_keeps_the_still_failing() {
    let w = Workdir::new();
    let data = BadOrders::write(
        &w,
        "in",
        "orders",
        &BadSpec {
            files: 3,
            per_file: 3_000,
            prefix: "f",
            malformed: 20,
            string_amounts: 30,
        },
    );
    let (malformed, failing) = (data.count(Kind::Malformed), data.count(Kind::StringAmount));
    w.write(CONFIG, config(FILTER, "{ interval: 20ms }", 256));
    run_ok(&w);
    let out = w.path().join("out");
    data.assert_placed(
        &committed_by_lane(&out),
        &w.dlq_list(CONFIG, &[]),
        BadOrders::after_run,
        "after the run",
    );

    // Today's configuration accepts string amounts.
    w.write(CONFIG, config(FIXED_FILTER, "{ interval: 20ms }", 256));
    let before_dlq = w.dlq_list(CONFIG, &[]);
    let before_out = inspect::snapshot(&out);

    // --dry-run lists every entry and changes nothing.
    let dry = stdout_of(&w.weir_ok(&["dlq", "replay", CONFIG, "--dry-run"]));
    let total = malformed + failing;
    assert!(
        dry.lines().last() == Some(format!("would replay {total} dead letter(s)").as_str()),
        "dry run output:\n{dry}"
    );
    let rows: Vec<i64> = dry
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    let ids: Vec<i64> = before_dlq.iter().map(|e| e.id).collect();
    assert_eq!(rows, ids, "the dry run lists exactly the entries, in order");
    assert_eq!(
        w.dlq_list(CONFIG, &[]),
        before_dlq,
        "a dry run changed the DLQ"
    );
    assert!(
        inspect::snapshot(&out) == before_out,
        "a dry run changed the output"
    );
    assert!(
        !w.path()
            .join("state/pipelines/orders/checkpoints")
            .join(REPLAY_LANE)
            .exists(),
        "a dry run ran the replay lane"
    );

    // The replay delivers the string amounts once; the malformed lines fail again.
    let replayed = stdout_of(&w.weir_ok(&["dlq", "replay", CONFIG]));
    assert_eq!(
        replayed.trim_end(),
        format!("replayed {total} dead letter(s): {failing} delivered, {malformed} still failing")
    );
    data.assert_placed(
        &committed_by_lane(&out),
        &w.dlq_list(CONFIG, &[]),
        after_replay(2),
        "after the replay",
    );
    let after_out = inspect::snapshot(&out);
    assert!(
        after_out
            .keys()
            .filter(|n| !before_out.contains_key(*n))
            .all(|n| inspect::parse_committed_name(n).is_some_and(|(lane, _)| lane == REPLAY_LANE)),
        "the replay wrote files other than dlq~replay-<epoch>.jsonl"
    );
    for (name, bytes) in &before_out {
        assert!(
            after_out.get(name) == Some(bytes),
            "the replay changed the committed file {name}"
        );
    }
    // Still-failing entries keep their message and original bytes.
    for e in w.dlq_list(CONFIG, &[]) {
        let was = before_dlq
            .iter()
            .find(|b| b.id == e.id)
            .expect("an old entry");
        assert_eq!(
            (&e.record_raw, &e.reason, e.first_failure_ms),
            (&was.record_raw, &was.reason, was.first_failure_ms)
        );
        assert!(e.last_failure_ms >= was.last_failure_ms);
    }

    // A second replay adds nothing to the output; the malformed lines fail once more.
    let snapshot = after_out;
    let again = stdout_of(&w.weir_ok(&["dlq", "replay", CONFIG]));
    assert_eq!(
        again.trim_end(),
        format!("replayed {malformed} dead letter(s): 0 delivered, {malformed} still failing")
    );
    assert!(
        inspect::snapshot(&out) == snapshot,
        "a second replay changed the output"
    );
    data.assert_placed(
        &committed_by_lane(&out),
        &w.dlq_list(CONFIG, &[]),
        after_replay(3),
        "after a second replay",
    );

    // A plain run afterwards has nothing left to do.
    run_ok(&w);
    assert!(
        inspect::snapshot(&out) == snapshot,
        "a rerun after the replays changed the output"
    );
    data.assert_placed(
        &committed_by_lane(&out),
        &w.dlq_list(CONFIG, &[]),
        after_replay(3),
        "after a rerun",
    );
}

/// Committed lines of the replay lane (cheap enough to poll: only its files are read).
fn replay_lines(out: &Path) -> usize {
    let prefix = format!("{REPLAY_LANE}-");
    std::fs::read_dir(out)
        .expect("list out")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.starts_with(&prefix) && n.ends_with(".jsonl"))
        .map(|n| {
            let bytes = std::fs::read(out.join(n)).unwrap_or_default();
            bytes.iter().filter(|&&b| b == b'\n').count()
        })
        .sum()
}

/// The replay lane's checkpoint: `(epoch, next_offset)` (the offset is the entry-id cursor).
fn replay_checkpoint(w: &Workdir) -> (u64, u64) {
    w.checkpoints(CONFIG)
        .lanes
        .get(REPLAY_LANE)
        .map_or((0, 0), |c| (c.epoch, c.next_offset))
}

#[test]
fn a_replay_killed_midway_and_rerun_delivers_each_record_exactly_once() {
    const KILLS: usize = 3;
    let mut rng = Rng::seeded("dlq_replay_kill");
    let w = Workdir::new();
    // Half the records fail: thousands of dead letters.
    let data = BadOrders::write(
        &w,
        "in",
        "orders",
        &BadSpec {
            files: 2,
            per_file: 6_000,
            prefix: "f",
            malformed: 10,
            string_amounts: 500,
        },
    );
    let (malformed, failing) = (data.count(Kind::Malformed), data.count(Kind::StringAmount));
    assert!(failing >= 5_000, "{failing} failing records");
    w.write(CONFIG, config(FILTER, "{ interval: 20ms }", 256));
    run_ok(&w);
    let out = w.path().join("out");
    let entries = w.dlq_list(CONFIG, &[]);
    data.assert_placed(
        &committed_by_lane(&out),
        &entries,
        BadOrders::after_run,
        "after the run",
    );

    // The replay runs with tiny batches and epochs, so it takes a while and commits often.
    w.write(
        CONFIG,
        config(FIXED_FILTER, "{ interval: 5ms, max_records: 32 }", 16),
    );
    // Kill at growing shares of the replay's output, each a little after it was seen.
    let mut cursors = Vec::new();
    let mut last_epoch = 0;
    for k in 1..=KILLS {
        let target = replay_lines(&out) + failing / (KILLS + 2);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(w.path().join(LOG))
            .expect("log");
        let mut child = w
            .weir(&["dlq", "replay", CONFIG])
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn replay");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while replay_lines(&out) < target {
            assert!(
                std::time::Instant::now() < deadline,
                "replay {k} made no progress to {target} lines; log:\n{}",
                w.tail(LOG, 20)
            );
            if let Some(status) = child.try_wait().expect("try_wait") {
                panic!(
                    "replay {k} ended ({status}) before it could be killed; log:\n{}",
                    w.tail(LOG, 20)
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(rng.between(0, 15)));
        assert_eq!(
            sigkill_if_running(&mut child),
            Kill::Killed,
            "replay {k} was not running when killed"
        );
        let lines = replay_lines(&out);
        assert!(
            lines < failing,
            "replay {k} was killed after delivering everything"
        );
        // Sound after the kill: replayed lines are fixed outputs of failed records, once each.
        let committed = committed_by_lane(&out);
        let mut seen = std::collections::HashSet::new();
        for line in committed.get(REPLAY_LANE).into_iter().flatten() {
            let v: serde_json::Value = serde_json::from_str(line).expect("JSON");
            let rec = data
                .rec_by_id(v["id"].as_str().expect("id"))
                .expect("known id");
            assert!(
                rec.kind == Kind::StringAmount
                    && *line == rec.output()
                    && seen.insert(rec.id.clone()),
                "after kill {k}: unexpected replay output {line}"
            );
        }
        // Which dead letters this killed replay tried in its committed epochs.
        let (epoch, cursor) = replay_checkpoint(&w);
        cursors.push(if epoch > last_epoch { cursor } else { 0 });
        last_epoch = epoch;
        eprintln!(
            "replay killed {k}: {lines} of {failing} delivered, replay checkpoint epoch {epoch} cursor {cursor}"
        );
    }
    let status = {
        let mut child = w
            .weir(&["dlq", "replay", CONFIG])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn replay");
        wait_timeout(&mut child, Duration::from_secs(60)).expect("the final replay finishes")
    };
    assert!(status.success(), "final replay exited with {status}");

    // Each string amount delivered exactly once; each malformed line tried once by every
    // killed replay whose committed epochs reached it, and once by the final one.
    let attempts: BTreeMap<(String, u64), u32> = entries
        .iter()
        .filter(|e| e.reason == "parse")
        .map(|e| {
            let tries = cursors.iter().filter(|&&c| c >= e.id as u64).count() as u32;
            ((e.partition.clone(), e.offset), 2 + tries)
        })
        .collect();
    let left: Vec<DlqEntry> = w.dlq_list(CONFIG, &[]);
    assert_eq!(left.len(), malformed);
    data.assert_placed(
        &committed_by_lane(&out),
        &left,
        |r| match r.kind {
            Kind::Malformed => Place::Dlq(attempts[&(r.lane.clone(), r.offset)]),
            _ => Place::Output,
        },
        "after the killed replays and a final one",
    );
    assert_eq!(replay_lines(&out), failing);
}

fn two_pipelines(filter: &str) -> String {
    format!(
        r#"data_dir: ./state
pipelines:
  orders:
    source: {{ type: file, path: "in/orders/*.jsonl" }}
    transforms:
      - {{ type: jq, filter: '{filter}' }}
    sinks:
      - {{ type: file, path: out/orders }}
  refunds:
    source: {{ type: file, path: "in/refunds/*.jsonl" }}
    transforms:
      - {{ type: jq, filter: '{filter}' }}
    sinks:
      - {{ type: file, path: out/refunds }}
"#
    )
}

#[test]
fn pipeline_and_reason_filters_select_what_is_listed_replayed_and_purged() {
    let w = Workdir::new();
    let spec = |prefix| BadSpec {
        files: 2,
        per_file: 1_500,
        prefix,
        malformed: 20,
        string_amounts: 30,
    };
    let orders = BadOrders::write(&w, "in/orders", "orders", &spec("o"));
    let refunds = BadOrders::write(&w, "in/refunds", "refunds", &spec("r"));
    w.write(CONFIG, two_pipelines(FILTER));
    run_ok(&w);
    let (out_o, out_r) = (w.path().join("out/orders"), w.path().join("out/refunds"));
    let of = |p: &str, e: &[DlqEntry]| -> Vec<DlqEntry> {
        e.iter().filter(|x| x.pipeline == p).cloned().collect()
    };
    let all = w.dlq_list(CONFIG, &[]);
    orders.assert_placed(
        &committed_by_lane(&out_o),
        &of("orders", &all),
        BadOrders::after_run,
        "orders after the run",
    );
    refunds.assert_placed(
        &committed_by_lane(&out_r),
        &of("refunds", &all),
        BadOrders::after_run,
        "refunds after the run",
    );

    // Listing filters.
    assert_eq!(
        w.dlq_list(CONFIG, &["--pipeline", "refunds"]),
        of("refunds", &all)
    );
    assert_eq!(
        w.dlq_list(CONFIG, &["--pipeline", "orders"]),
        of("orders", &all)
    );
    let parse_refunds: Vec<DlqEntry> = of("refunds", &all)
        .into_iter()
        .filter(|e| e.reason == "parse")
        .collect();
    assert_eq!(parse_refunds.len(), refunds.count(Kind::Malformed));
    assert_eq!(
        w.dlq_list(CONFIG, &["--pipeline", "refunds", "--reason", "parse"]),
        parse_refunds
    );
    assert_eq!(w.dlq_list(CONFIG, &["--since", "1h"]), all, "--since 1h");
    assert_eq!(
        w.dlq_list(CONFIG, &["--since", "2099-01-01T00:00:00Z"]),
        Vec::new(),
        "--since in the future"
    );
    // `dlq show` shows exactly the listed entry, whichever kind.
    for e in [
        &parse_refunds[0],
        all.iter()
            .find(|e| e.reason == "transform")
            .expect("a transform entry"),
    ] {
        assert_eq!(&w.dlq_show(CONFIG, e.id), e);
    }

    // Replay only refunds' transform failures.
    w.write(CONFIG, two_pipelines(FIXED_FILTER));
    let orders_out = inspect::snapshot(&out_o);
    let n = refunds.count(Kind::StringAmount);
    let text = stdout_of(&w.weir_ok(&[
        "dlq",
        "replay",
        CONFIG,
        "--pipeline",
        "refunds",
        "--reason",
        "transform",
    ]));
    assert_eq!(
        text.trim_end(),
        format!("replayed {n} dead letter(s): {n} delivered, 0 still failing")
    );
    let all2 = w.dlq_list(CONFIG, &[]);
    assert_eq!(
        of("orders", &all2),
        of("orders", &all),
        "replaying refunds touched orders' DLQ"
    );
    assert!(
        inspect::snapshot(&out_o) == orders_out,
        "replaying refunds touched orders' output"
    );
    refunds.assert_placed(
        &committed_by_lane(&out_r),
        &of("refunds", &all2),
        |r| match r.kind {
            Kind::Malformed => Place::Dlq(1),
            _ => Place::Output,
        },
        "refunds after replaying its transform failures",
    );

    // Purging: nothing is older than an hour; `--reason parse` removes exactly the parse ones.
    let text = stdout_of(&w.weir_ok(&["dlq", "purge", CONFIG, "--older-than", "1h"]));
    assert_eq!(text.trim_end(), "purged 0 dead letter(s)");
    let parse = orders.count(Kind::Malformed) + refunds.count(Kind::Malformed);
    let text = stdout_of(&w.weir_ok(&["dlq", "purge", CONFIG, "--reason", "parse"]));
    assert_eq!(text.trim_end(), format!("purged {parse} dead letter(s)"));
    let all3 = w.dlq_list(CONFIG, &[]);
    assert_eq!(
        all3,
        all2.iter()
            .filter(|e| e.reason != "parse")
            .cloned()
            .collect::<Vec<_>>(),
        "purge --reason parse removed other entries"
    );

    // Replaying every pipeline's transform failures now delivers orders' only.
    let refunds_out = inspect::snapshot(&out_r);
    let n = orders.count(Kind::StringAmount);
    let text = stdout_of(&w.weir_ok(&["dlq", "replay", CONFIG, "--reason", "transform"]));
    assert_eq!(
        text.trim_end(),
        format!("replayed {n} dead letter(s): {n} delivered, 0 still failing")
    );
    assert!(
        inspect::snapshot(&out_r) == refunds_out,
        "refunds' output changed with nothing to replay"
    );
    assert_eq!(w.dlq_list(CONFIG, &[]), Vec::new());
    let gone_or_out = |r: &Rec| match r.kind {
        Kind::Malformed => Place::Gone,
        _ => Place::Output,
    };
    orders.assert_placed(
        &committed_by_lane(&out_o),
        &[],
        gone_or_out,
        "orders at the end",
    );
    refunds.assert_placed(
        &committed_by_lane(&out_r),
        &[],
        gone_or_out,
        "refunds at the end",
    );
}
