//! `weir dlq replay --to-log`: dead letters of an http pipeline go back into its input log and
//! through the (fixed) pipeline again, and leave the DLQ — once: a second replay finds nothing.
//! Done through the running process's server, and on a stopped data directory.

mod support;

use support::Workdir;
use support::http::{post, stop};

const CONFIG: &str = "weir.yaml";
const LOG: &str = "weir.log";

fn config(filter: &str) -> String {
    format!(
        "data_dir: ./state
pipelines:
  events:
    source: {{ type: http, key: .user_id, partitions: 2 }}
    transforms:
      - {{ type: jq, filter: '{filter}' }}
    sinks:
      - {{ type: file, path: out }}
    checkpoint: {{ interval: 20ms }}
"
    )
}

fn dlq_len(w: &Workdir) -> usize {
    let out = w
        .weir(&["dlq", "list", CONFIG, "--json"])
        .output()
        .expect("dlq list");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).lines().count()
}

fn output(w: &Workdir) -> Vec<u64> {
    let mut n: Vec<u64> = support::committed_by_lane(&w.path().join("out"))
        .into_values()
        .flatten()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(&l).expect("json")["n"]
                .as_u64()
                .expect("n")
        })
        .collect();
    n.sort_unstable();
    n
}

fn replay(w: &Workdir) -> String {
    let out = w
        .weir(&["dlq", "replay", CONFIG, "--to-log"])
        .output()
        .expect("replay");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn dead_letters_go_back_into_the_input_log_exactly_once() {
    let w = Workdir::new();
    w.write(
        CONFIG,
        config("if .n % 3 == 0 then error(\"multiple of 3\") else . end"),
    );
    let server = w.start_server(CONFIG, LOG);
    let body: String = (1..=9)
        .map(|n| format!("{{\"user_id\":\"u{}\",\"n\":{n}}}\n", n % 2))
        .collect();
    let r = post(server.addr, "/ingest/events", &[], body.as_bytes()).expect("post");
    assert_eq!(r.status, 200, "{}", r.body);
    w.wait_until(LOG, "6 records out, 3 dead letters", || {
        output(&w).len() == 6 && dlq_len(&w) == 3
    });
    stop(&w, server, LOG);
    assert_eq!(output(&w), vec![1, 2, 4, 5, 7, 8]);
    assert_eq!(dlq_len(&w), 3);

    // Fixed, and replayed through the running process.
    w.write(CONFIG, config("."));
    let server = w.start_server(CONFIG, LOG);
    assert_eq!(
        replay(&w),
        "pipeline events: appended 3 dead letter(s) to its input log; 0 left in the DLQ (not JSON)\n"
    );
    assert_eq!(dlq_len(&w), 0);
    assert_eq!(
        replay(&w),
        "pipeline events: appended 0 dead letter(s) to its input log; 0 left in the DLQ (not JSON)\n"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while output(&w).len() < 9 {
        assert!(
            std::time::Instant::now() < deadline,
            "replayed records did not arrive:\n{}",
            w.tail(LOG, 20)
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    stop(&w, server, LOG);
    assert_eq!(output(&w), (1..=9).collect::<Vec<_>>());
    assert_eq!(w.topic_records(CONFIG, "events"), 12);

    // On a stopped data directory: new dead letters, replayed offline, delivered by the next run.
    w.write(CONFIG, config("if .n > 100 then error(\"big\") else . end"));
    let server = w.start_server(CONFIG, LOG);
    let r = post(
        server.addr,
        "/ingest/events",
        &[],
        b"{\"user_id\":\"u1\",\"n\":101}",
    )
    .expect("post");
    assert_eq!(r.status, 200, "{}", r.body);
    w.wait_until(LOG, "1 dead letter", || dlq_len(&w) == 1);
    stop(&w, server, LOG);
    assert_eq!(dlq_len(&w), 1);
    w.write(CONFIG, config("."));
    assert_eq!(
        replay(&w),
        "pipeline events: appended 1 dead letter(s) to its input log; 0 left in the DLQ (not JSON)\n"
    );
    assert_eq!(dlq_len(&w), 0);
    let server = w.start_server(CONFIG, LOG);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while output(&w).len() < 10 {
        assert!(
            std::time::Instant::now() < deadline,
            "replayed record did not arrive:\n{}",
            w.tail(LOG, 20)
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    stop(&w, server, LOG);
    let mut expected: Vec<u64> = (1..=9).collect();
    expected.push(101);
    assert_eq!(output(&w), expected);
}
