//! `enrich_http` against a scripted stub API, through the real binary:
//!
//! - the API fails 30% of calls with 503: every record is enriched, nothing is dead-lettered,
//!   and `weir_retries_total` counts exactly the 503s served;
//! - the API answers 400 for some users: exactly their records are dead-lettered (`http_4xx`);
//! - the API goes down for good mid-run with `fallback: last_good`: the pipeline keeps flowing,
//!   the records go on with the last good answer, and `weir_degraded_records_total` counts
//!   exactly the records that did not get an answer;
//! - the bulkhead never lets more than `concurrency` calls reach the API at once.
//!
//! A second pipeline, `keepalive`, waits on the stub's `/hold` route so the process stays up
//! while its metrics are scraped after the pipeline under test has finished.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::Workdir;
use support::process::wait_timeout;
use support::scrape::Running;
use support::stub::Stub;

const CONFIG: &str = "weir.yaml";
const LOG: &str = "weir.log";
const USERS: usize = 50;

/// `in/u<f>.jsonl`: records `{"n": n, "user_id": "u<n % USERS>"}`.
fn input(w: &Workdir, files: usize, per_file: usize) -> usize {
    for f in 0..files {
        let text: String = (0..per_file)
            .map(|i| {
                let n = f * per_file + i;
                format!("{{\"n\":{n},\"user_id\":\"u{}\"}}\n", n % USERS)
            })
            .collect();
        w.write(&format!("in/u{f}.jsonl"), text);
    }
    w.write("keep/k.jsonl", "{\"id\":1}\n");
    files * per_file
}

fn config(api: &Stub, hold: &Stub, dependency: &str, extra: &str) -> String {
    format!(
        r#"data_dir: ./state
dependencies:
  users_api:
{dependency}
  hold: {{ timeout: 600s }}
pipelines:
  users:
    source: {{ type: file, path: "in/*.jsonl" }}
    transforms:
      - {{ type: enrich_http, dependency: users_api, url: "{api}/users/{{.user_id}}", into: user{extra} }}
    sinks:
      - {{ type: file, path: out/users }}
    checkpoint: {{ interval: 50ms }}
    batch_size: 100
    parallelism: 3
  keepalive:
    source: {{ type: file, path: "keep/*.jsonl" }}
    transforms:
      - {{ type: enrich_http, dependency: hold, url: "{hold}/hold/{{.id}}", into: held }}
    sinks:
      - {{ type: file, path: out/keep }}
"#,
        api = api.url(),
        hold = hold.url(),
    )
}

fn output(w: &Workdir) -> Vec<Value> {
    support::committed_by_lane(&w.path().join("out/users"))
        .into_values()
        .flatten()
        .map(|l| serde_json::from_str(&l).expect("json"))
        .collect()
}

fn dead_letters(w: &Workdir) -> Vec<Value> {
    let out = w
        .weir(&["dlq", "list", CONFIG, "--json"])
        .output()
        .expect("weir dlq list");
    assert!(out.status.success(), "weir dlq list: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect()
}

/// Waits until every lane of `users` has finished, then returns a scrape of the metrics.
fn metrics_when_finished(w: &Workdir, run: &mut Running, lanes: f64) -> support::scrape::Metrics {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        assert!(
            run.child.try_wait().expect("try_wait").is_none(),
            "weir exited while `keepalive` was held:\n{}",
            w.tail(LOG, 20)
        );
        if let Some(m) = run.metrics()
            && m.get("weir_lanes_finished", &[("pipeline", "users")]) == Some(lanes)
        {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "`users` did not finish:\n{}",
            w.tail(LOG, 20)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn finish(w: &Workdir, hold: &Stub, mut run: Running) {
    hold.release();
    let status = wait_timeout(&mut run.child, Duration::from_secs(60)).expect("weir exits");
    assert!(
        status.success(),
        "weir failed: {status}\n{}",
        w.tail(LOG, 20)
    );
}

#[test]
fn a_flaky_api_enriches_every_record_and_retries_are_counted() {
    let (api, hold) = (Stub::start(), Stub::start());
    api.fail_share(300);
    let w = Workdir::new();
    let total = input(&w, 3, 1000);
    let dep = "    timeout: 2s\n    concurrency: 8\n    retry: { max_attempts: 30, initial: 1ms, max: 10ms, jitter: full }\n    breaker: { failure_rate: 0.5, window: 20, min_calls: 10, open_for: 100ms, half_open_probes: 1 }";
    w.write(CONFIG, config(&api, &hold, dep, ""));
    let mut run = w.spawn_watched(CONFIG, LOG, &[]);
    let m = metrics_when_finished(&w, &mut run, 3.0);
    let retries = m
        .get(
            "weir_retries_total",
            &[("pipeline", "users"), ("stage", "enrich_http_0")],
        )
        .expect("retries are exported");
    finish(&w, &hold, run);

    let out = output(&w);
    assert_eq!(out.len(), total);
    for r in &out {
        let user = r["user_id"].as_str().expect("user_id");
        assert_eq!(
            r["user"]["name"],
            Value::from(format!("user-{user}")),
            "{r}"
        );
    }
    assert!(dead_letters(&w).is_empty());
    assert!(api.served_503() > 0, "the stub never failed");
    assert_eq!(
        retries,
        api.served_503() as f64,
        "every 503 is retried once and counted"
    );
    assert_eq!(api.calls(), total as u64 + api.served_503());
}

#[test]
fn records_the_api_rejects_are_dead_lettered_and_only_those() {
    let (api, hold) = (Stub::start(), Stub::start());
    api.reject_ids(["u7".to_owned(), "u13".to_owned()]);
    hold.release();
    let w = Workdir::new();
    let total = input(&w, 2, 500);
    w.write(CONFIG, config(&api, &hold, "    timeout: 2s", ""));
    w.run_ok(CONFIG, LOG, Duration::from_secs(90), "weir");

    let dead = dead_letters(&w);
    let dead_ns: BTreeSet<u64> = dead
        .iter()
        .map(|d| {
            assert_eq!(d["reason"], "http_4xx", "{d}");
            assert_eq!(d["stage"], "enrich_http_0", "{d}");
            d["record"]["n"].as_u64().expect("n")
        })
        .collect();
    let expected: BTreeSet<u64> = (0..total as u64)
        .filter(|n| matches!(n % USERS as u64, 7 | 13))
        .collect();
    assert_eq!(dead_ns, expected);
    assert_eq!(
        dead.len(),
        expected.len(),
        "a record was dead-lettered twice"
    );
    let out = output(&w);
    assert_eq!(out.len() + dead.len(), total);
    assert!(
        out.iter()
            .all(|r| !matches!(r["user_id"].as_str(), Some("u7" | "u13")))
    );
}

#[test]
fn an_api_that_goes_down_with_last_good_fallback_keeps_the_pipeline_flowing() {
    let (api, hold) = (Stub::start(), Stub::start());
    api.down_after(300);
    let w = Workdir::new();
    let total = input(&w, 3, 1000);
    let dep = "    timeout: 2s\n    concurrency: 4\n    retry: { max_attempts: 3, initial: 1ms, max: 5ms }\n    breaker: { failure_rate: 0.5, window: 10, min_calls: 5, open_for: 60s, half_open_probes: 1 }";
    w.write(CONFIG, config(&api, &hold, dep, ", fallback: last_good"));
    let mut run = w.spawn_watched(CONFIG, LOG, &[]);
    let m = metrics_when_finished(&w, &mut run, 3.0);
    let degraded = m
        .get(
            "weir_degraded_records_total",
            &[("pipeline", "users"), ("dependency", "users_api")],
        )
        .expect("degraded records are exported");
    let breaker = m.get(
        "weir_breaker_state",
        &[("pipeline", "users"), ("dependency", "users_api")],
    );
    finish(&w, &hold, run);

    let answered = api.calls() - api.served_503();
    assert!(
        answered >= USERS as u64,
        "every user was seen before the outage"
    );
    assert_eq!(degraded, (total as u64 - answered) as f64);
    assert!(degraded > 0.0);
    assert_eq!(
        breaker,
        Some(2.0),
        "the breaker is open while the API is down"
    );
    let out = output(&w);
    assert_eq!(out.len(), total, "the pipeline kept flowing");
    for r in &out {
        let user = r["user_id"].as_str().expect("user_id");
        assert_eq!(
            r["user"]["name"],
            Value::from(format!("user-{user}")),
            "{r}"
        );
    }
    assert!(dead_letters(&w).is_empty());
}

#[test]
fn the_bulkhead_never_lets_more_than_concurrency_calls_through() {
    let (api, hold) = (Stub::start(), Stub::start());
    api.delay(Duration::from_millis(5));
    hold.release();
    let w = Workdir::new();
    let total = input(&w, 3, 300);
    w.write(
        CONFIG,
        config(&api, &hold, "    timeout: 2s\n    concurrency: 4", ""),
    );
    w.run_ok(CONFIG, LOG, Duration::from_secs(90), "weir");
    assert_eq!(output(&w).len(), total);
    assert_eq!(api.calls(), total as u64);
    let peak = api.peak_in_flight();
    assert!(peak <= 4, "{peak} calls in flight at once");
    assert!(peak >= 2, "calls were not made concurrently (peak {peak})");
}

#[test]
fn a_required_enrichment_pauses_while_the_api_is_down_and_a_stop_loses_nothing() {
    let (api, hold) = (Stub::start(), Stub::start());
    api.down_after(150);
    hold.release();
    let w = Workdir::new();
    let total = input(&w, 1, 2000);
    let dep = "    timeout: 2s\n    concurrency: 4\n    retry: { max_attempts: 3, initial: 1ms, max: 5ms }\n    breaker: { failure_rate: 0.5, window: 10, min_calls: 5, open_for: 200ms, half_open_probes: 1 }";
    w.write(CONFIG, config(&api, &hold, dep, ""));
    let mut run = w.spawn_watched(CONFIG, LOG, &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let state = |run: &Running| {
        run.metrics().and_then(|m| {
            m.get(
                "weir_breaker_state",
                &[("pipeline", "users"), ("dependency", "users_api")],
            )
        })
    };
    while state(&run) != Some(2.0) {
        assert!(
            Instant::now() < deadline,
            "the breaker did not open:\n{}",
            w.tail(LOG, 20)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, body) = run.ready().expect("/health/ready");
    assert_eq!(status, 503);
    assert!(body.contains("users/users_api"), "{body}");
    // Paused: probes fail and nothing is read or dead-lettered.
    let read = |run: &Running| {
        run.metrics()
            .and_then(|m| m.get("weir_records_in_total", &[("pipeline", "users")]))
            .expect("records_in")
    };
    let before = read(&run);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        read(&run),
        before,
        "the lane read on while the API was down"
    );
    assert_ne!(state(&run), Some(0.0));

    support::process::send_signal(run.child.id(), "TERM");
    let status =
        wait_timeout(&mut run.child, Duration::from_secs(30)).expect("a stop ends the pause");
    assert!(status.success(), "{status}\n{}", w.tail(LOG, 20));
    assert!(
        dead_letters(&w).is_empty(),
        "the outage dead-lettered records"
    );

    api.come_back();
    let status = w.run_to_end(CONFIG, LOG, Duration::from_secs(60));
    assert!(status.success(), "{status}\n{}", w.tail(LOG, 20));
    let out = output(&w);
    assert_eq!(out.len(), total, "every record, once");
    let ns: BTreeSet<u64> = out.iter().map(|r| r["n"].as_u64().expect("n")).collect();
    assert_eq!(ns.len(), total);
    assert!(out.iter().all(|r| r["user"]["name"].is_string()));
    assert!(dead_letters(&w).is_empty());
}
