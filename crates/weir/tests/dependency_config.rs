//! Configuration of dependencies and their components, through `weir validate`: the YAML of
//! the issue is accepted as written, each pipeline's guarantee follows from its PostgreSQL
//! sink's mode, and every mistake is reported at its line and column.

mod support;

use support::Workdir;

fn validate(w: &Workdir, text: &str) -> (bool, String, String) {
    w.write("in/a.jsonl", "{\"id\":1,\"user_id\":\"u1\"}\n");
    w.write("weir.yaml", text);
    let out = w
        .weir(&["validate", "weir.yaml"])
        .output()
        .expect("weir validate");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const ISSUE: &str = r#"dependencies:
  users_api:
    timeout: 2s
    concurrency: 16
    retry: { max_attempts: 4, initial: 50ms, max: 2s, jitter: full }
    breaker: { failure_rate: 0.5, window: 20, min_calls: 10, open_for: 30s, half_open_probes: 3 }
  db:
    timeout: 5s
pipelines:
  orders:
    source: { type: file, path: "in/*.jsonl" }
    transforms:
      - { type: enrich_http, dependency: users_api, url: "http://127.0.0.1:8080/users/{.user_id}", into: user, fallback: last_good }
    sinks:
      - { type: postgres, dependency: db, url: "postgres://weir@127.0.0.1:5432/app", table: orders, mode: upsert, key: [id] }
"#;

#[test]
fn the_issues_yaml_is_accepted_and_the_guarantee_follows_the_mode() {
    let w = Workdir::new();
    let (ok, stdout, stderr) = validate(&w, ISSUE);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("pipeline orders: effectively-once — sinks: postgres (effectively-once)"),
        "{stdout}"
    );
    let (ok, stdout, stderr) = validate(&w, &ISSUE.replace("mode: upsert", "mode: transactional"));
    assert!(ok, "{stderr}");
    assert!(stdout.contains("pipeline orders: exactly-once"), "{stdout}");
    let with_file = ISSUE.replace(
        "sinks:\n",
        "sinks:\n      - { type: http, url: \"http://127.0.0.1:9/x\" }\n",
    );
    let (ok, stdout, stderr) = validate(&w, &with_file);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("pipeline orders: at-least-once"),
        "{stdout}"
    );
    assert!(stdout.contains("http (at-least-once)"), "{stdout}");
}

#[test]
fn every_mistake_is_reported_at_its_line_and_column() {
    let w = Workdir::new();
    let text = r#"dependencies:
  users_api:
    timeout: none
    concurrency: 0
    breaker: { failure_rate: 1.5, window: 5, min_calls: 6, open_for: 0s }
  db:
    concurrency: 2
  other:
    timeout: 0
pipelines:
  orders:
    source: { type: file, path: "in/*.jsonl" }
    transforms:
      - { type: enrich_http, dependency: nope, url: "http://h/{user_id}", into: user, fallback: sometimes }
    sinks:
      - { type: postgres, dependency: db, url: "postgres://weir@127.0.0.1:5432/app", table: "bad name", mode: upsert }
"#;
    let (ok, _, stderr) = validate(&w, text);
    assert!(!ok);
    let expect = [
        "weir.yaml:3:14: `users_api.timeout` must be greater than zero",
        "weir.yaml:4:18: `users_api.concurrency` must be at least 1",
        "weir.yaml:5:30: `users_api.breaker.failure_rate` must be in (0, 1]",
        "weir.yaml:5:57: `users_api.breaker.min_calls` (6) must not exceed `window` (5)",
        "weir.yaml:5:70: `users_api.breaker.open_for` must be greater than zero",
        "weir.yaml:7:5: dependency `db` has no `timeout`",
        "weir.yaml:9:14: `other.timeout` must be greater than zero",
        "weir.yaml:14:42: unknown dependency `nope`: expected one of: db, other, users_api",
        "weir.yaml:14:53: transforms[0]: `url`: `{user_id}` is not a field path",
        "weir.yaml:14:97: transforms[0]: `fallback: sometimes` is not known",
        "weir.yaml:16:93: postgres `table` `bad name` is not a table name",
        "weir.yaml:16:111: postgres `mode: upsert` needs `key`",
    ];
    for e in expect {
        assert!(stderr.contains(e), "missing `{e}` in:\n{stderr}");
    }
}

#[test]
fn unknown_keys_in_a_dependency_or_a_component_are_rejected() {
    let w = Workdir::new();
    let (ok, _, stderr) = validate(
        &w,
        &ISSUE.replace("jitter: full }", "jitter: full, backoff: 2 }"),
    );
    assert!(!ok);
    assert!(stderr.contains("weir.yaml:5:"), "{stderr}");
    assert!(stderr.contains("unknown field `backoff`"), "{stderr}");
    let (ok, _, stderr) = validate(&w, &ISSUE.replace("key: [id] }", "key: [id], pool: 3 }"));
    assert!(!ok);
    assert!(stderr.contains("weir.yaml:15:126:"), "{stderr}");
    assert!(stderr.contains("unknown field `pool`"), "{stderr}");
}
