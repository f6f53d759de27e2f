//! The `http` sink against a scripted stub endpoint: batches are POSTed as JSON lines with an
//! `Idempotency-Key`, 503s are retried, a replay of the same epochs sends the same keys (so a
//! receiver can recognise it), and a 400 is permanent (the pipeline fails, it is not retried
//! forever).

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use support::Workdir;
use support::stub::Stub;

const CONFIG: &str = "weir.yaml";
const LOG: &str = "weir.log";

fn config(stub: &Stub) -> String {
    format!(
        r#"data_dir: ./state
dependencies:
  events:
    timeout: 2s
    retry: {{ max_attempts: 10, initial: 1ms, max: 10ms }}
pipelines:
  events:
    source: {{ type: file, path: "in/*.jsonl" }}
    sinks:
      - {{ type: http, dependency: events, url: "{url}/ingest", format: jsonl, max_batch: 40 }}
    checkpoint: {{ interval: 1h, max_records: 100 }}
    batch_size: 50
    parallelism: 2
    restart: {{ strategy: fixed, delay: 10ms, attempts: 1 }}
"#,
        url = stub.url()
    )
}

fn input(w: &Workdir) -> usize {
    for f in 0..2 {
        let text: String = (0..500)
            .map(|i| format!("{{\"f\":{f},\"i\":{i}}}\n"))
            .collect();
        w.write(&format!("in/e{f}.jsonl"), text);
    }
    1000
}

#[test]
fn batches_arrive_with_idempotency_keys_and_a_replay_repeats_them() {
    let stub = Stub::start();
    stub.fail_next(3);
    let w = Workdir::new();
    let total = input(&w);
    w.write(CONFIG, config(&stub));
    let status = w.run_to_end(CONFIG, LOG, Duration::from_secs(60));
    assert!(
        status.success(),
        "weir failed: {status}\n{}",
        w.tail(LOG, 20)
    );

    let first = stub.received();
    let records: BTreeSet<String> = first
        .iter()
        .flat_map(|r| r.body.lines().map(str::to_owned).collect::<Vec<_>>())
        .collect();
    assert_eq!(records.len(), total, "every record was delivered");
    assert!(first.iter().all(|r| r.body.lines().count() <= 40));
    let keys: BTreeSet<String> = first
        .iter()
        .map(|r| r.key.clone().expect("Idempotency-Key"))
        .collect();
    assert_eq!(keys.len(), first.len(), "each batch has its own key");
    assert_eq!(stub.served_503(), 3);

    // Without its checkpoints the pipeline sends everything again: the same batches under
    // the same keys.
    std::fs::remove_dir_all(w.path().join("state")).expect("remove state");
    let status = w.run_to_end(CONFIG, LOG, Duration::from_secs(60));
    assert!(
        status.success(),
        "replay failed: {status}\n{}",
        w.tail(LOG, 20)
    );
    let again: BTreeSet<String> = stub.received()[first.len()..]
        .iter()
        .map(|r| r.key.clone().expect("Idempotency-Key"))
        .collect();
    assert_eq!(
        again, keys,
        "a replayed batch carries the key it was first sent with"
    );
}

#[test]
fn a_rejected_batch_fails_the_pipeline_instead_of_being_retried_forever() {
    let stub = Stub::start();
    // `/ingest` checks the empty id: reject every batch.
    stub.reject_ids([String::new()]);
    let w = Workdir::new();
    input(&w);
    w.write(CONFIG, config(&stub));
    let status = w.run_to_end(CONFIG, LOG, Duration::from_secs(60));
    assert_eq!(status.code(), Some(1), "{}", w.tail(LOG, 20));
    assert!(w.read_text(LOG).contains("HTTP 400"), "{}", w.tail(LOG, 20));
    // Permanent: one call per lane and restart, no retries.
    assert!(stub.calls() <= 4, "{} calls", stub.calls());
}
