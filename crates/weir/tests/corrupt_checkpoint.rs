//! A corrupt or torn checkpoint manifest is reported and passed over: recovery names the
//! manifest on stderr as unusable, resumes from the previous one (or from the beginning when
//! none is usable), the file sink withdraws the output of the newer epochs, and the output stays
//! exactly once — after a complete run and after a run killed mid-way. A log sink, which cannot
//! withdraw what it appended, keeps the lane's position itself: recovery resumes from there and
//! appends nothing twice.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::inspect::{self, manifests};
use support::orders::{Orders, Spec};
use support::process::{Kill, sigkill_if_running};
use support::{Workdir, committed_by_lane};

const CONFIG: &str = "weir.yaml";
const PIPELINE: &str = "orders";

fn config(filter: &str, checkpoint: &str, batch_size: usize) -> String {
    format!(
        r#"data_dir: ./state
pipelines:
  {PIPELINE}:
    source: {{ type: file, path: "in/*.jsonl", format: jsonl }}
    transforms:
      - {{ type: jq, filter: '{filter}' }}
    sinks:
      - {{ type: file, path: out }}
    checkpoint: {{ {checkpoint} }}
    parallelism: 2
    batch_size: {batch_size}
"#
    )
}

/// Inverts four bytes in the middle of the file.
fn flip_middle(path: &Path) {
    let mut bytes = std::fs::read(path).expect("read manifest");
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid - 2..mid + 2] {
        *b ^= 0xFF;
    }
    std::fs::write(path, bytes).expect("write manifest");
}

/// Cuts the file to half its length.
fn truncate_half(path: &Path) {
    let bytes = std::fs::read(path).expect("read manifest");
    std::fs::write(path, &bytes[..bytes.len() / 2]).expect("write manifest");
}

/// The manifests of `lane`, as the full paths weir reports them (symlinks resolved).
fn lane_manifests(w: &Workdir, lane: &str) -> Vec<PathBuf> {
    manifests(&w.path().join("state"), PIPELINE, lane)
        .into_iter()
        .map(|p| std::fs::canonicalize(p).expect("canonical path"))
        .collect()
}

/// Asserts `log` reports each of `paths` as unusable in a WARN line, and no other manifest.
fn assert_reported_unusable(log: &str, paths: &[PathBuf]) {
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("unusable"))
        .collect();
    for p in paths {
        let p = p.to_str().expect("utf-8 path");
        assert!(
            warnings.iter().any(|l| l.contains(p)),
            "no WARN line reports {p} as unusable; stderr:\n{log}"
        );
    }
    assert_eq!(
        warnings.len(),
        paths.len(),
        "expected exactly one unusable-manifest warning per corrupted manifest:\n{}",
        warnings.join("\n")
    );
}

/// Committed files of `lane`, name -> content.
fn lane_files(out: &Path, lane: &str) -> Vec<(String, Vec<u8>)> {
    inspect::snapshot(out)
        .into_iter()
        .filter(|(n, _)| inspect::parse_committed_name(n).is_some_and(|(l, _)| l == lane))
        .collect()
}

#[test]
fn corrupt_torn_and_all_unusable_manifests_after_a_complete_run_are_passed_over_exactly_once() {
    let w = Workdir::new();
    let orders = Orders::write(
        &w,
        "in",
        &Spec {
            files: 4,
            per_file: 5_000,
            pad: |_, _| 20,
            keep_pad: false,
        },
    );
    // Epochs cut by record count only (500 records, 10 per lane), so every run cuts the same.
    w.write(
        CONFIG,
        config(orders.filter, "interval: 10s, max_records: 500", 100),
    );
    w.run_ok(CONFIG, "first.log", Duration::from_secs(60), "first run");
    let out = w.path().join("out");
    orders.assert_exactly_once(&committed_by_lane(&out), "after the first run");
    let before = w.checkpoints(CONFIG);
    assert!(
        !before.stderr.contains("unusable"),
        "fresh manifests reported unusable:\n{}",
        before.stderr
    );
    for lane in orders.lanes.keys() {
        assert!(
            lane_manifests(&w, lane).len() >= 3,
            "lane {lane} should have at least 3 manifests"
        );
        assert_eq!(
            before.lanes[lane].next_offset,
            orders.input_len(lane),
            "lane {lane} is not at its end"
        );
    }

    // (a) f0: bytes flipped in the middle of its newest manifest.
    let flipped = lane_manifests(&w, "f0.jsonl").pop().expect("f0 manifest");
    flip_middle(&flipped);
    // (b) f1: its newest manifest torn to half its length.
    let torn = lane_manifests(&w, "f1.jsonl").pop().expect("f1 manifest");
    truncate_half(&torn);
    // (c) f2: no usable manifest at all (the lane starts over; its output is withdrawn first).
    let all_f2 = lane_manifests(&w, "f2.jsonl");
    for (i, m) in all_f2.iter().enumerate() {
        if i % 2 == 0 {
            flip_middle(m)
        } else {
            truncate_half(m)
        }
    }
    // f3 is untouched.
    let f3_before = lane_files(&out, "f3.jsonl");

    let status = w.run_to_end(CONFIG, "rerun.log", Duration::from_secs(60));
    let log = w.read_text("rerun.log");
    assert!(status.success(), "rerun exited with {status}:\n{log}");
    let mut corrupted = vec![flipped, torn];
    corrupted.extend(all_f2);
    assert_reported_unusable(&log, &corrupted);
    orders.assert_exactly_once(
        &committed_by_lane(&out),
        "after the rerun over corrupt manifests",
    );
    assert!(
        inspect::stray_entries(&out).is_empty(),
        "stray entries in out/: {:?}",
        inspect::stray_entries(&out)
    );
    assert!(
        inspect::staged_files(&out).is_empty(),
        "staged files left: {:?}",
        inspect::staged_files(&out)
    );
    assert!(
        lane_files(&out, "f3.jsonl") == f3_before,
        "the untouched lane's output changed"
    );

    // The lanes re-processed what the lost manifests covered and committed it again: the
    // checkpoints are where they were, and all readable.
    let after = w.checkpoints(CONFIG);
    assert!(
        !after.stderr.contains("unusable"),
        "manifests still unusable after the rerun:\n{}",
        after.stderr
    );
    assert_eq!(after.lanes, before.lanes, "checkpoints after re-processing");
}

#[test]
fn a_run_killed_mid_way_with_corrupt_newest_manifests_still_completes_exactly_once() {
    let w = Workdir::new();
    let orders = Orders::write(
        &w,
        "in",
        &Spec {
            files: 4,
            per_file: 20_000,
            pad: |_, _| 20,
            keep_pad: false,
        },
    );
    w.write(
        CONFIG,
        config(orders.filter, "interval: 20ms, max_records: 300", 100),
    );
    let data_dir = w.path().join("state");

    // Kill once two lanes have at least two manifests each.
    let mut child = w.spawn_run(CONFIG, "first.log");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = orders
            .lanes
            .keys()
            .filter(|l| manifests(&data_dir, PIPELINE, l).len() >= 2)
            .count();
        if ready >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no progress within 60 s:\n{}",
            w.tail("first.log", 20)
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let kill = sigkill_if_running(&mut child);
    assert_eq!(
        kill,
        Kill::Killed,
        "the run ended before it could be killed:\n{}",
        w.tail("first.log", 20)
    );
    let committed = orders.assert_sound_after_stop(&w, CONFIG, "out", "after the SIGKILL");
    assert!(
        committed < orders.total_out(),
        "the kill came after all output was committed"
    );

    // Corrupt the newest manifest of every lane that has one: lanes with an older manifest fall
    // back to it, lanes with only one start from the beginning.
    let mut corrupted = Vec::new();
    let mut falls_back = 0;
    for (i, lane) in orders.lanes.keys().enumerate() {
        let mut ms = lane_manifests(&w, lane);
        let Some(newest) = ms.pop() else { continue };
        if i % 2 == 0 {
            flip_middle(&newest)
        } else {
            truncate_half(&newest)
        }
        falls_back += usize::from(!ms.is_empty());
        corrupted.push(newest);
    }
    assert!(
        falls_back >= 2,
        "at least two lanes must fall back to an older manifest"
    );

    let status = w.run_to_end(CONFIG, "rerun.log", Duration::from_secs(120));
    let log = w.read_text("rerun.log");
    assert!(
        status.success(),
        "rerun exited with {status}:\n{}",
        w.tail("rerun.log", 40)
    );
    assert_reported_unusable(&log, &corrupted);
    let out = w.path().join("out");
    orders.assert_exactly_once(
        &committed_by_lane(&out),
        "after the rerun over corrupt manifests",
    );
    assert!(
        inspect::stray_entries(&out).is_empty(),
        "stray entries in out/: {:?}",
        inspect::stray_entries(&out)
    );
    assert!(
        inspect::staged_files(&out).is_empty(),
        "staged files left: {:?}",
        inspect::staged_files(&out)
    );
    let after = w.checkpoints(CONFIG);
    assert!(
        !after.stderr.contains("unusable"),
        "manifests still unusable after the rerun:\n{}",
        after.stderr
    );
    for lane in orders.lanes.keys() {
        assert_eq!(
            after.lanes[lane].next_offset,
            orders.input_len(lane),
            "lane {lane} is not at its end"
        );
    }
}

#[test]
fn output_of_passed_over_epochs_is_withdrawn_even_when_the_rerun_cuts_epochs_differently() {
    let w = Workdir::new();
    let orders = Orders::write(
        &w,
        "in",
        &Spec {
            files: 2,
            per_file: 5_000,
            pad: |_, _| 20,
            keep_pad: false,
        },
    );
    w.write(
        CONFIG,
        config(orders.filter, "interval: 10s, max_records: 500", 100),
    );
    w.run_ok(CONFIG, "first.log", Duration::from_secs(60), "first run");
    let out = w.path().join("out");
    orders.assert_exactly_once(&committed_by_lane(&out), "after the first run");
    assert_eq!(
        inspect::committed_epochs(&out)["f0.jsonl"],
        (1..=10).collect::<Vec<u64>>()
    );

    // f0's two newest manifests (epochs 9 and 10) are unusable: it falls back to epoch 8.
    let mut ms = lane_manifests(&w, "f0.jsonl");
    assert!(ms.len() >= 3, "f0 should have at least 3 manifests");
    let corrupted = ms.split_off(ms.len() - 2);
    flip_middle(&corrupted[0]);
    truncate_half(&corrupted[1]);
    let f1_before = lane_files(&out, "f1.jsonl");

    // The rerun cuts bigger epochs: the 1000 records of old epochs 9 and 10 become one epoch 9,
    // so the committed file of old epoch 10 is not overwritten and must have been withdrawn.
    w.write(
        CONFIG,
        config(orders.filter, "interval: 10s, max_records: 5000", 100),
    );
    let status = w.run_to_end(CONFIG, "rerun.log", Duration::from_secs(60));
    let log = w.read_text("rerun.log");
    assert!(status.success(), "rerun exited with {status}:\n{log}");
    assert_reported_unusable(&log, &corrupted);
    orders.assert_exactly_once(
        &committed_by_lane(&out),
        "after the rerun with bigger epochs",
    );
    assert_eq!(
        inspect::committed_epochs(&out)["f0.jsonl"],
        (1..=9).collect::<Vec<u64>>(),
        "f0's committed epochs"
    );
    assert!(
        lane_files(&out, "f1.jsonl") == f1_before,
        "the untouched lane's output changed"
    );
    assert!(
        inspect::stray_entries(&out).is_empty(),
        "stray entries in out/: {:?}",
        inspect::stray_entries(&out)
    );
    let after = w.checkpoints(CONFIG);
    assert_eq!(
        after.lanes["f0.jsonl"].next_offset,
        orders.input_len("f0.jsonl"),
        "f0 is not at its end"
    );
}

#[test]
fn a_lane_with_no_usable_manifest_starts_over_and_keeps_the_checkpoints_it_writes() {
    let w = Workdir::new();
    let orders = Orders::write(
        &w,
        "in",
        &Spec {
            files: 1,
            per_file: 5_000,
            pad: |_, _| 20,
            keep_pad: false,
        },
    );
    w.write(
        CONFIG,
        config(orders.filter, "interval: 10s, max_records: 500", 100),
    );
    w.run_ok(CONFIG, "first.log", Duration::from_secs(60), "first run");
    let out = w.path().join("out");

    // Every manifest of f0 (epochs 8, 9, 10) unusable: the lane starts over from the beginning.
    let all = lane_manifests(&w, "f0.jsonl");
    for m in &all {
        truncate_half(m);
    }
    w.write(
        CONFIG,
        config(orders.filter, "interval: 10s, max_records: 2000", 100),
    );
    let status = w.run_to_end(CONFIG, "rerun.log", Duration::from_secs(60));
    let log = w.read_text("rerun.log");
    assert!(status.success(), "rerun exited with {status}:\n{log}");
    assert_reported_unusable(&log, &all);
    orders.assert_exactly_once(
        &committed_by_lane(&out),
        "after the rerun from the beginning",
    );

    // Everything the rerun committed is covered by a checkpoint it wrote.
    let after = w.checkpoints(CONFIG);
    assert!(
        !after.stderr.contains("unusable"),
        "unusable manifests left after the lane was re-committed:\n{}",
        after.stderr
    );
    assert_eq!(
        after.lanes["f0.jsonl"].next_offset,
        orders.input_len("f0.jsonl"),
        "f0's checkpoint:\n{}",
        after.stdout
    );
}

/// Every record of `topic`, as the `n` of its value, sorted.
fn topic_ns(w: &Workdir, config: &str, topic: &str) -> Vec<u64> {
    let out = w
        .weir(&["log", "tail", config, topic, "--from-offset", "0"])
        .output()
        .expect("run weir log tail");
    assert!(
        out.status.success(),
        "weir log tail: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut ns: Vec<u64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            v["value"]["n"].as_u64().expect("n")
        })
        .collect();
    ns.sort_unstable();
    ns
}

#[test]
fn a_log_sink_appends_nothing_twice_when_the_newest_manifest_is_unusable() {
    let w = Workdir::new();
    let text: String = (0..3_000u64).map(|n| format!("{{\"n\":{n}}}\n")).collect();
    w.write("in/f0.jsonl", text);
    let config = format!(
        r#"data_dir: ./state
pipelines:
  {PIPELINE}:
    source: {{ type: file, path: "in/*.jsonl" }}
    sinks:
      - {{ type: log, topic: copied, partitions: 2, key: .n }}
    checkpoint: {{ interval: 10s, max_records: 300 }}
    batch_size: 100
"#
    );
    w.write(CONFIG, &config);
    let status = w.run_to_end(CONFIG, "first.log", Duration::from_secs(60));
    assert!(status.success(), "{}", w.tail("first.log", 20));
    let expected: Vec<u64> = (0..3_000).collect();
    assert_eq!(
        topic_ns(&w, CONFIG, "copied"),
        expected,
        "after the first run"
    );

    // The newest manifest is torn: recovery would resume from the one before, whose epoch the
    // log sink appended long ago — the sink's own position says where the lane is.
    let torn = lane_manifests(&w, "f0.jsonl").pop().expect("a manifest");
    truncate_half(&torn);
    let status = w.run_to_end(CONFIG, "second.log", Duration::from_secs(60));
    assert!(status.success(), "{}", w.tail("second.log", 20));
    assert_eq!(
        topic_ns(&w, CONFIG, "copied"),
        expected,
        "each record once in the topic after recovering past an unusable manifest"
    );
    let log = w.read_text("second.log");
    assert_reported_unusable(&log, &[torn]);
    assert!(
        log.contains("resuming from its position"),
        "recovery did not take the log sink's position:\n{}",
        w.tail("second.log", 20)
    );
}
