//! `Idempotency-Key`: a producer's retry of the same request is a no-op that returns the
//! original answer — at once, and after a restart of weir; the same key with another body is
//! refused (422). The records are stored and delivered once.

mod support;

use support::Workdir;
use support::http::{Response, post, stop};

const CONFIG: &str = "weir.yaml";
const LOG: &str = "weir.log";
const BODY: &[u8] =
    b"{\"user_id\":\"u1\",\"n\":1}\n{\"user_id\":\"u2\",\"n\":2}\n{\"user_id\":\"u1\",\"n\":3}\n";

fn send(addr: std::net::SocketAddr, key: &str, body: &[u8]) -> Response {
    post(addr, "/ingest/events", &[("Idempotency-Key", key)], body).expect("post")
}

#[test]
fn a_retried_request_is_stored_once_also_across_a_restart() {
    let w = Workdir::new();
    w.write(
        CONFIG,
        "data_dir: ./state
pipelines:
  events:
    source: { type: http, key: .user_id, partitions: 4 }
    sinks:
      - { type: file, path: out }
    checkpoint: { interval: 20ms }
",
    );
    let server = w.start_server(CONFIG, LOG);
    let first = send(server.addr, "order-42", BODY);
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.json()["records"], 3);
    assert_eq!(first.header("idempotent-replayed"), None);

    let retry = send(server.addr, "order-42", BODY);
    assert_eq!(retry.status, 200, "{}", retry.body);
    assert_eq!(retry.body, first.body, "a retry gets the original answer");
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));

    let other_body = send(server.addr, "order-42", b"{\"user_id\":\"u9\"}");
    assert_eq!(other_body.status, 422, "{}", other_body.body);

    let other_key = send(server.addr, "order-43", b"{\"user_id\":\"u3\",\"n\":4}");
    assert_eq!(other_key.status, 200, "{}", other_key.body);
    assert_eq!(w.topic_records(CONFIG, "events"), 4);
    stop(&w, server, LOG);

    let server = w.start_server(CONFIG, LOG);
    let after_restart = send(server.addr, "order-42", BODY);
    assert_eq!(after_restart.status, 200, "{}", after_restart.body);
    assert_eq!(
        after_restart.body, first.body,
        "the answer survives a restart"
    );
    assert_eq!(after_restart.header("idempotent-replayed"), Some("true"));
    assert_eq!(w.topic_records(CONFIG, "events"), 4);
    w.wait_until(LOG, "4 records in the output", || w.output_len("out") == 4);
    stop(&w, server, LOG);

    let mut out: Vec<String> = support::committed_by_lane(&w.path().join("out"))
        .into_values()
        .flatten()
        .collect();
    out.sort();
    assert_eq!(
        out,
        vec![
            r#"{"user_id":"u1","n":1}"#,
            r#"{"user_id":"u1","n":3}"#,
            r#"{"user_id":"u2","n":2}"#,
            r#"{"user_id":"u3","n":4}"#,
        ]
    );
}
