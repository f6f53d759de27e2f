//! `weir log stats` and `weir log tail`: through the server of the running process that holds
//! the log, and on the data directory once it is stopped; `--from-offset`, `--from-time` and
//! `--follow`.

mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use support::Workdir;
use support::http::{post, stop};

const CONFIG: &str = "weir.yaml";
const LOG: &str = "weir.log";

fn tail(w: &Workdir, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["log", "tail", CONFIG, "events"];
    all.extend_from_slice(args);
    let out = w.weir(&all).output().expect("run weir log tail");
    assert!(
        out.status.success(),
        "weir log tail {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn ns(records: &[serde_json::Value]) -> Vec<u64> {
    let mut n: Vec<u64> = records
        .iter()
        .map(|r| r["value"]["n"].as_u64().expect("n"))
        .collect();
    n.sort_unstable();
    n
}

#[test]
fn stats_and_tail_work_on_a_running_and_on_a_stopped_log() {
    let w = Workdir::new();
    w.write(
        CONFIG,
        "data_dir: ./state
log: { quota: 10MiB, retention: { max_age: 2d } }
pipelines:
  events:
    source: { type: http, key: .user_id, partitions: 2 }
    sinks:
      - { type: file, path: out }
    checkpoint: { interval: 20ms }
",
    );
    let server = w.start_server(CONFIG, LOG);
    let body: String = (0..30)
        .map(|n| format!("{{\"user_id\":\"u{}\",\"n\":{n}}}\n", n % 3))
        .collect();
    let r = post(server.addr, "/ingest/events", &[], body.as_bytes()).expect("post");
    assert_eq!(r.status, 200, "{}", r.body);

    // Through the running process.
    let stats = w.weir(&["log", "stats", CONFIG]).output().expect("stats");
    assert!(
        stats.status.success(),
        "{}",
        String::from_utf8_lossy(&stats.stderr)
    );
    let text = String::from_utf8_lossy(&stats.stdout);
    assert!(text.contains("quota 10.0 MiB"), "{text}");
    assert!(text.contains("retention: max_age 2days"), "{text}");
    assert!(
        text.contains("never past a consumer's committed offset"),
        "{text}"
    );
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("events ")).collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert_eq!(w.topic_records(CONFIG, "events"), 30);

    assert_eq!(
        ns(&tail(&w, &["--from-offset", "0"])),
        (0..30).collect::<Vec<_>>()
    );
    let last = tail(&w, &["-n", "2"]);
    assert_eq!(last.len(), 4, "two per partition: {last:?}");
    assert!(tail(&w, &["--from-time", "2999-01-01T00:00:00Z"]).is_empty());
    assert_eq!(tail(&w, &["--from-time", "1h"]).len(), 30);
    let one = tail(&w, &["--from-offset", "0", "--partition", "1"]);
    assert!(one.iter().all(|r| r["partition"] == 1) && !one.is_empty());
    assert!(
        one.iter()
            .all(|r| r["key"].as_str().is_some_and(|k| k.starts_with("\"u")))
    );

    // --follow prints what arrives after it started.
    let mut follower = w
        .weir(&["log", "tail", CONFIG, "events", "--follow", "-n", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn tail --follow");
    let stdout = follower.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.expect("line")).is_err() {
                return;
            }
        }
    });
    // The follower starts at the end as it finds it when it starts; records sent until it
    // prints one prove it follows (the first may land before it looked).
    let mut line = None;
    for n in 100..400 {
        let body = format!("{{\"user_id\":\"late\",\"n\":{n}}}");
        let r = post(server.addr, "/ingest/events", &[], body.as_bytes()).expect("post");
        assert_eq!(r.status, 200, "{}", r.body);
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(500)) {
            line = Some(l);
            break;
        }
    }
    let line = line.expect("tail --follow printed a record sent after it started");
    let v: serde_json::Value = serde_json::from_str(&line).expect("json");
    assert!(v["value"]["n"].as_u64().is_some_and(|n| n >= 100), "{line}");
    follower.kill().expect("kill the follower");
    let _ = follower.wait();
    stop(&w, server, LOG);

    // On the stopped data directory: the 30 first records and the late ones, once each.
    let all = ns(&tail(&w, &["--from-offset", "0"]));
    assert_eq!(&all[..30], (0..30).collect::<Vec<_>>().as_slice());
    assert!(all[30..].iter().all(|n| *n >= 100) && all.len() > 30);
    let late = all[30..].to_vec();
    assert_eq!(late, (100..100 + late.len() as u64).collect::<Vec<_>>());
    let stats = w.log_stats(CONFIG);
    let parts = stats["topics"][0]["partitions"]
        .as_array()
        .expect("partitions");
    // The pipeline commits, on SIGTERM, what it had read: records posted just before the stop
    // may still be ahead of its consumer offset, but the offset never passes the log's end.
    for p in parts {
        let consumer = p["consumers"]["pipeline.events"]
            .as_u64()
            .expect("consumer offset");
        let next = p["next_offset"].as_u64().expect("next offset");
        assert!(consumer <= next, "{p}");
    }
    let follow = w
        .weir(&["log", "tail", CONFIG, "events", "--follow"])
        .output()
        .expect("run");
    assert_eq!(follow.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&follow.stderr).contains("--follow needs a running `weir run`")
    );
}
