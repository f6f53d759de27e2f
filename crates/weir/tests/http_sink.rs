//! The `http` sink against a scripted stub endpoint: batches are POSTed as JSON lines with an
//! `Idempotency-Key`, 503s are retried, a replay of the same epochs sends the same keys (so a
//! receiver can recognise it); a record the endpoint refuses (400) goes to the DLQ while every
//! other record is delivered once per key; a wrong endpoint (404) fails the pipeline without
//! retries.

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
    w.run_ok(CONFIG, LOG, Duration::from_secs(60), "weir");

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
    w.run_ok(CONFIG, LOG, Duration::from_secs(60), "replay");
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
fn a_wrong_endpoint_fails_the_pipeline_instead_of_being_retried_forever() {
    let stub = Stub::start();
    let w = Workdir::new();
    input(&w);
    // A 404 says the endpoint is wrong, not the records: permanent, no retries, no DLQ.
    w.write(CONFIG, config(&stub).replace("/ingest", "/nowhere"));
    let status = w.run_to_end(CONFIG, LOG, Duration::from_secs(60));
    assert_eq!(status.code(), Some(1), "{}", w.tail(LOG, 20));
    let log = w.read_text(LOG);
    assert!(log.contains("HTTP 404"), "{}", w.tail(LOG, 20));
    assert!(
        log.contains("(after 1 attempts)") && !log.contains("(after 2 attempts)"),
        "a 404 was retried:\n{}",
        w.tail(LOG, 20)
    );
    assert!(!log.contains("sink refused records"), "{}", w.tail(LOG, 20));
}

#[test]
fn records_the_endpoint_refuses_go_to_the_dlq_and_every_other_record_arrives_once() {
    let stub = Stub::start();
    let w = Workdir::new();
    let mut bad = BTreeSet::new();
    let mut good = BTreeSet::new();
    for f in 0..2 {
        let mut text = String::new();
        for i in 0..500 {
            let id = format!("f{f}-{i}");
            // Spread out: some batches hold one bad record, one holds two.
            if i % 67 == 3 || (f == 1 && i == 41) {
                bad.insert(id.clone());
            } else {
                good.insert(id.clone());
            }
            text.push_str(&format!("{{\"id\":\"{id}\",\"i\":{i}}}\n"));
        }
        w.write(&format!("in/e{f}.jsonl"), text);
    }
    stub.reject_ids(bad.iter().cloned());
    w.write(CONFIG, config(&stub));
    w.run_ok(CONFIG, LOG, Duration::from_secs(120), "weir");

    // What the endpoint stored, one copy per Idempotency-Key (what a receiver honouring the
    // header keeps): every good record exactly once, no bad one.
    let mut by_key: std::collections::BTreeMap<String, String> = Default::default();
    for r in stub.received() {
        let key = r.key.clone().expect("Idempotency-Key");
        if let Some(body) = by_key.get(&key) {
            assert_eq!(body, &r.body, "one key, two different batches");
        }
        by_key.insert(key, r.body);
    }
    let mut delivered = Vec::new();
    for body in by_key.values() {
        delivered.extend(support::stub::record_ids(body));
    }
    let unique: BTreeSet<String> = delivered.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        delivered.len(),
        "a record was delivered under two keys"
    );
    assert_eq!(
        unique, good,
        "exactly the records not refused were delivered"
    );

    let entries = w.dlq_list(CONFIG, &[]);
    let dead: BTreeSet<String> = entries
        .iter()
        .map(|e| {
            assert_eq!(
                (e.stage.as_str(), e.reason.as_str()),
                ("http", "http_4xx"),
                "{e:?}"
            );
            e.record.as_ref().expect("record")["id"]
                .as_str()
                .expect("id")
                .to_owned()
        })
        .collect();
    assert_eq!(entries.len(), dead.len(), "a record is in the DLQ twice");
    assert_eq!(dead, bad, "the DLQ holds exactly the refused records");
}
