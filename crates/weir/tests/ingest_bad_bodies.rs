//! Bad request bodies over real HTTP: truncated JSON, invalid UTF-8, an empty body and a
//! 10 MB line over `max_body` are refused whole (400 with the line and column, or 413) and
//! store nothing — neither in the log (`weir log stats`, asked of the running process and then
//! of the stopped data directory) nor in the pipeline's committed output. A good body sent
//! alongside is stored and delivered.

mod support;

use support::Workdir;
use support::http::{post, stop};

const CONFIG: &str = "weir.yaml";
const LOG: &str = "weir.log";

#[test]
fn malformed_bodies_are_refused_whole_and_store_nothing() {
    let w = Workdir::new();
    w.write(
        CONFIG,
        "data_dir: ./state
pipelines:
  events:
    source: { type: http, key: .user_id, partitions: 2, max_body: 1MiB }
    sinks:
      - { type: file, path: out }
    checkpoint: { interval: 20ms }
",
    );
    let server = w.start_server(CONFIG, LOG);
    let addr = server.addr;

    let truncated = post(
        addr,
        "/ingest/events",
        &[],
        b"{\"user_id\":\"a\",\"n\":1}\n{\"user_id\":\"b\",\"n\":",
    )
    .expect("post");
    assert_eq!(truncated.status, 400, "{}", truncated.body);
    let j = truncated.json();
    assert_eq!(
        (j["code"].as_str(), j["line"].as_u64()),
        (Some("malformed"), Some(2)),
        "{j}"
    );
    assert!(
        j["error"]
            .as_str()
            .is_some_and(|e| e.contains("EOF while parsing")),
        "{j}"
    );

    let bad_utf8 = post(
        addr,
        "/ingest/events",
        &[],
        b"{\"user_id\":\"a\"}\n{\"user_id\":\"\xff\"}",
    )
    .expect("post");
    assert_eq!(bad_utf8.status, 400, "{}", bad_utf8.body);
    let j = bad_utf8.json();
    assert_eq!(
        (j["line"].as_u64(), j["column"].as_u64()),
        (Some(2), Some(13)),
        "{j}"
    );
    assert!(
        j["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("invalid UTF-8")),
        "{j}"
    );

    let empty = post(addr, "/ingest/events", &[], b"").expect("post");
    assert_eq!(empty.status, 400, "{}", empty.body);
    assert!(
        empty.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("empty"))
    );

    let mut huge = b"{\"user_id\":\"big\",\"pad\":\"".to_vec();
    huge.resize(10 * 1000 * 1000, b'x');
    huge.extend_from_slice(b"\"}\n");
    let too_large = post(addr, "/ingest/events", &[], &huge).expect("post");
    assert_eq!(too_large.status, 413, "{}", too_large.body);
    assert_eq!(too_large.json()["code"], "too_large");

    // An array holding something that is not JSON.
    let not_an_object =
        post(addr, "/ingest/events", &[], b"[{\"user_id\":\"a\"}, nope]").expect("post");
    assert_eq!(not_an_object.status, 400, "{}", not_an_object.body);
    assert_eq!(not_an_object.json()["column"], 20);

    let good = post(
        addr,
        "/ingest/events",
        &[],
        b"[{\"user_id\":\"a\",\"n\":1},{\"user_id\":\"b\",\"n\":2}]",
    )
    .expect("post");
    assert_eq!(good.status, 200, "{}", good.body);
    assert_eq!(good.json()["records"], 2);

    // Asked of the running process (it holds the log): only the good body is stored.
    assert_eq!(w.topic_records(CONFIG, "events"), 2);
    w.wait_until(LOG, "2 records in the output", || w.output_len("out") == 2);
    stop(&w, server, LOG);
    // Asked of the data directory itself.
    assert_eq!(w.topic_records(CONFIG, "events"), 2);
    let mut out: Vec<String> = support::committed_by_lane(&w.path().join("out"))
        .into_values()
        .flatten()
        .collect();
    out.sort();
    assert_eq!(
        out,
        vec![r#"{"user_id":"a","n":1}"#, r#"{"user_id":"b","n":2}"#]
    );
}
