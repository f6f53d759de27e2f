//! The `http` source configuration: the issue's YAML is accepted exactly as written, and
//! mistakes in it are reported at their line and column.

mod support;

use support::Workdir;

const CONFIG: &str = "weir.yaml";

fn validate(w: &Workdir, yaml: &str) -> (i32, String, String) {
    w.write(CONFIG, yaml);
    let out = w
        .weir(&["validate", CONFIG])
        .output()
        .expect("run weir validate");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_http_source_of_the_issue_is_accepted_as_written() {
    let w = Workdir::new();
    let (code, stdout, stderr) = validate(
        &w,
        "pipelines:
  events:
    source: { type: http, key: .user_id, partitions: 8, max_body: 8MiB }
    sinks:
      - { type: file, path: out }
",
    );
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert_eq!(
        stdout.lines().nth(1),
        Some("pipeline events: exactly-once — sinks: file (exactly-once)"),
        "{stdout}"
    );
}

#[test]
fn log_settings_sources_and_sinks_are_accepted_and_the_guarantee_follows_fsync() {
    let w = Workdir::new();
    let yaml = "log: { fsync: always, quota: 1GiB, segment_bytes: 16MiB, retention: { max_age: 3d, max_bytes: 100MiB, check_interval: 10s } }
pipelines:
  events:
    source: { type: http, key: .user_id, partitions: 4, max_body: 512KiB, quota: 100MB, idempotency_window: 1h, retry_after: 2s }
    sinks:
      - { type: log, topic: clean, partitions: 2, key: .user_id }
  downstream:
    source: { type: log, topic: clean }
    sinks:
      - { type: file, path: out }
";
    let (code, stdout, stderr) = validate(&w, yaml);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stdout.contains("pipeline events: exactly-once — sinks: log (exactly-once)"),
        "{stdout}"
    );
    let (code, stdout, _) = validate(&w, &yaml.replace("fsync: always", "fsync: 10ms"));
    assert_eq!(code, 0);
    assert!(
        stdout.contains("pipeline events: at-least-once — sinks: log (at-least-once)"),
        "{stdout}"
    );
}

#[test]
fn mistakes_are_pointed_at_by_line_and_column() {
    let w = Workdir::new();
    let (code, _, stderr) = validate(
        &w,
        "pipelines:
  events:
    source: { type: http, key: user_id, partitions: 0, max_body: 8MiBs }
    sinks:
      - { type: log, topic: .hidden, partitions: 2 }
  other:
    source: { type: http, partitions: 3 }
    sinks:
      - { type: log, topic: other, partitions: 2 }
  third:
    source: { type: log, topic: other }
    sinks:
      - { type: stdout }
    checkpoint: { enabled: false }
",
    );
    assert_eq!(code, 2, "{stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("weir.yaml:"))
        .collect();
    assert_eq!(
        lines,
        vec![
            "weir.yaml:3:32: `key`: `user_id` is not a key path: expected a path of fields such as `.user_id` or `.customer.id`",
            "weir.yaml:3:53: `partitions` must be between 1 and 4096, not 0",
            "weir.yaml:3:66: `max_body`: `8MiBs` is not a size: expected bytes or a number with a unit, e.g. 8MiB, 512KiB, 1GB",
            "weir.yaml:5:29: topic name `.hidden` is not allowed: use 1 to 200 of letters, digits, `.`, `_` and `-`, not starting with `.`",
            "weir.yaml:9:48: topic `other` is written with 2 partition(s) by sink `log` of pipeline `other` but with 3 by the http source of pipeline `other`: a topic has one partition count",
            "weir.yaml:11:13: an http or log source never ends, so its pipeline needs checkpoints: remove `checkpoint: { enabled: false }`",
        ],
        "{stderr}"
    );
}
