//! Data-quality gates end to end: record rules and schema coercion split the input exactly
//! between output and DLQ; every audit kind, failing, leaves the committed output byte-identical
//! and exits 3; the failure-ratio gate trips on a 20% bad stretch and not on a 5% one.

mod support;

use std::collections::BTreeSet;

use serde_json::{Value, json};
use support::Workdir;
use support::inspect::snapshot;

fn dlq(w: &Workdir, config: &str) -> Vec<Value> {
    let out = w
        .weir(&["dlq", "list", config, "--json"])
        .output()
        .expect("dlq list");
    assert!(
        out.status.success(),
        "dlq list failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("dlq json"))
        .collect()
}

fn output(w: &Workdir, dir: &str) -> Vec<Value> {
    support::committed_by_lane(&w.path().join(dir))
        .into_values()
        .flatten()
        .map(|l| serde_json::from_str(&l).expect("json"))
        .collect()
}

/// 300 CSV rows; row i is bad in a known way when i % 10 == 3 (amount not a number: schema),
/// i % 10 == 5 (status not allowed: rule), i % 10 == 7 (email malformed: rule).
fn mixed_csv() -> (String, BTreeSet<i64>, Vec<(i64, &'static str)>) {
    let mut text = String::from("id,email,amount,status,note\n");
    let mut good = BTreeSet::new();
    let mut bad = Vec::new();
    for i in 1..=300i64 {
        let (email, amount, status) = match i % 10 {
            3 => (format!("u{i}@x.io"), "lots".to_owned(), "paid"),
            5 => (format!("u{i}@x.io"), format!("{}", i * 2), "lost"),
            7 => (format!("user{i}"), format!("{}", i * 2), "new"),
            _ => (format!("u{i}@x.io"), format!("{}.5", i * 2), "shipped"),
        };
        match i % 10 {
            3 => bad.push((i, "schema")),
            5 | 7 => bad.push((i, "validate_0")),
            _ => {
                good.insert(i);
            }
        }
        text.push_str(&format!("{i},{email},{amount},{status},\"note, {i}\"\n"));
    }
    (text, good, bad)
}

const RULES: &str = r#"
    source:
      type: file
      path: "in/*.csv"
      format: csv
      schema:
        id: { type: integer, required: true }
        amount: { type: number }
        region: { type: string, default: eu }
    transforms:
      - type: validate
        rules:
          id:     { required: true, type: integer }
          email:  { not_null: true, regex: '^[^@]+@[^@]+$' }
          amount: { type: number, min: 0, max: 100000 }
          status: { one_of: [new, paid, shipped] }
        on_failure: dlq
    sinks:
      - { type: file, path: out }
    redact: [email]
"#;

#[test]
fn good_and_bad_records_split_exactly_between_output_and_dlq() {
    let w = Workdir::new();
    let (csv, good, bad) = mixed_csv();
    w.write("in/orders.csv", csv);
    w.write(
        "w.yaml",
        format!("data_dir: state\npipelines:\n  orders:{RULES}"),
    );
    let run = w.run("w.yaml");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let out = output(&w, "out");
    let ids: BTreeSet<i64> = out
        .iter()
        .map(|r| r["id"].as_i64().expect("integer id: coerced"))
        .collect();
    assert_eq!(ids, good, "exactly the good rows are in the output");
    assert_eq!(out.len(), good.len(), "each once");
    let first = out.iter().find(|r| r["id"] == json!(1)).expect("row 1");
    assert_eq!(
        first,
        &json!({"id": 1, "email": "u1@x.io", "amount": 2.5, "status": "shipped", "note": "note, 1", "region": "eu"})
    );

    let entries = dlq(&w, "w.yaml");
    assert_eq!(entries.len(), bad.len());
    for e in &entries {
        assert_eq!(e["reason"], json!("validation"));
        // Schema failures keep the row as read; rule failures the record after coercion.
        let raw_id = &e["record"]["id"];
        let id: i64 = raw_id
            .as_i64()
            .or_else(|| raw_id.as_str().and_then(|s| s.parse().ok()))
            .expect("the record's id");
        let stage = bad
            .iter()
            .find(|(b, _)| *b == id)
            .map(|(_, s)| *s)
            .expect("an expected bad row");
        assert_eq!(e["stage"], json!(stage), "row {id}");
        let msg = e["message"].as_str().expect("message");
        match id % 10 {
            3 => assert!(
                msg.contains("amount: cannot read \"lots\" as number"),
                "{msg}"
            ),
            5 => assert!(msg.contains("status: one_of"), "{msg}"),
            _ => {
                assert!(msg.contains("email: regex"), "{msg}");
                assert!(
                    !msg.contains(&format!("user{id}")),
                    "redacted email leaked: {msg}"
                );
                assert!(msg.contains("redacted:"), "{msg}");
            }
        }
    }
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!stderr.contains("user7\""), "redacted email in the logs");
}

fn audit_config(audit: &str) -> String {
    format!(
        "data_dir: state\npipelines:\n  p:\n    source: {{ type: file, path: \"in/*.jsonl\" }}\n    transforms:\n      - {{ type: jq, filter: 'select(.keep)' }}\n    sinks:\n      - {{ type: file, path: out }}\n    checkpoint: {{ interval: 1h }}\n    audits:\n      - {audit}\n"
    )
}

fn lines(records: &[Value]) -> String {
    records.iter().map(|r| format!("{r}\n")).collect()
}

#[test]
fn an_epoch_failing_any_audit_is_never_visible_and_the_run_exits_3() {
    let good: Vec<Value> = (0..20)
        .map(|i| json!({"id": i, "email": format!("e{i}"), "amount": 100, "keep": true}))
        .collect();
    let cases: Vec<(&str, Vec<Value>, &str)> = vec![
        ("{ type: row_count_ratio, min: 0.95, max: 1.0 }", (0..20).map(|i| json!({"id": i, "keep": i % 2 == 0})).collect(), "row_count_ratio: 10 out / 20 in = 0.5000"),
        ("{ type: null_ratio, field: email, max: 0.01 }", (0..20).map(|i| json!({"id": i, "email": if i < 5 { Value::Null } else { json!("e") }, "keep": true})).collect(), "null_ratio(email): 5 of 20 null = 0.2500"),
        ("{ type: mean, field: amount, min: 50, max: 500 }", (0..20).map(|i| json!({"id": i, "amount": 1000, "keep": true})).collect(), "mean(amount): mean of 20 values = 1000.0000"),
        ("{ type: unique, field: id }", (0..20).map(|i| json!({"id": i % 15, "keep": true})).collect(), "unique(id): value 0 occurs more than once"),
        ("{ type: min_rows, count: 1 }", (0..20).map(|i| json!({"id": i, "keep": false})).collect(), "min_rows: 0 rows, expected at least 1"),
    ];
    for (audit, bad, expected) in cases {
        let w = Workdir::new();
        w.write("w.yaml", audit_config(audit));
        // A first file that passes, committed; then a second file whose epoch fails.
        w.write("in/a.jsonl", lines(&good));
        let first = w.run("w.yaml");
        assert!(
            first.status.success(),
            "{audit}: first run: {}",
            String::from_utf8_lossy(&first.stderr)
        );
        let before = snapshot(&w.path().join("out"));
        assert!(!before.is_empty(), "{audit}: the good epoch is committed");
        w.write("in/b.jsonl", lines(&bad));
        let run = w.run("w.yaml");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(3), "{audit}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{audit}: expected `{expected}` in:\n{stderr}"
        );
        assert!(
            stderr.contains("epoch 1"),
            "{audit}: the message names the epoch:\n{stderr}"
        );
        let after = snapshot(&w.path().join("out"));
        assert_eq!(
            before
                .keys()
                .filter(|k| !k.starts_with(".staging"))
                .collect::<Vec<_>>(),
            after
                .keys()
                .filter(|k| !k.starts_with(".staging"))
                .collect::<Vec<_>>(),
            "{audit}"
        );
        for (k, v) in &before {
            if !k.starts_with(".staging") {
                assert_eq!(after.get(k), Some(v), "{audit}: {k} changed");
            }
        }
        // Halting again on a rerun; an operator override lets it through exactly once.
        assert_eq!(
            w.run("w.yaml").status.code(),
            Some(3),
            "{audit}: still halts"
        );
        let ov = w
            .weir(&[
                "audit-override",
                "w.yaml",
                "--pipeline",
                "p",
                "--epoch",
                "1",
                "--lane",
                "b.jsonl",
            ])
            .output()
            .expect("override");
        assert!(ov.status.success());
        let run = w.run("w.yaml");
        assert!(
            run.status.success(),
            "{audit}: override: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let committed = support::committed_by_lane(&w.path().join("out"));
        let kept = bad.iter().filter(|r| r["keep"] == json!(true)).count();
        assert_eq!(
            committed.get("b.jsonl").map_or(0, Vec::len),
            kept,
            "{audit}: the accepted epoch, once"
        );
    }
}

fn gate_config() -> &'static str {
    "data_dir: state\npipelines:\n  p:\n    source: { type: file, path: \"in/*.jsonl\" }\n    transforms:\n      - type: validate\n        rules: { amount: { type: number } }\n    sinks:\n      - { type: file, path: out }\n    checkpoint: { interval: 1h }\n    batch_size: 100\n    quality: { max_failure_ratio: 0.10, window: 1000 }\n"
}

fn records_with_bad_share(n: usize, bad_every: usize, from: usize) -> String {
    (0..n)
        .map(|i| {
            let amount = if i >= from && i % bad_every == 0 {
                json!("n/a")
            } else {
                json!(i)
            };
            format!("{}\n", json!({"id": i, "amount": amount}))
        })
        .collect()
}

#[test]
fn the_failure_ratio_gate_trips_on_a_20_percent_stretch_and_not_on_5_percent() {
    let w = Workdir::new();
    w.write("w.yaml", gate_config());
    w.write("in/a.jsonl", records_with_bad_share(5000, 20, 0));
    let run = w.run("w.yaml");
    assert!(
        run.status.success(),
        "5% passes: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(output(&w, "out").len(), 4750);
    assert_eq!(dlq(&w, "w.yaml").len(), 250);

    let w = Workdir::new();
    w.write("w.yaml", gate_config());
    w.write("in/a.jsonl", records_with_bad_share(5000, 5, 2000));
    let run = w.run("w.yaml");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("failure-ratio gate: 101 of the last 1000 records failed validation"),
        "{stderr}"
    );
    assert!(output(&w, "out").is_empty(), "the open epoch was aborted");
    assert!(
        dlq(&w, "w.yaml").is_empty(),
        "nothing of the aborted epoch reached the DLQ"
    );
}

#[test]
fn schema_evolution_new_fields_pass_and_defaults_fill_old_records() {
    let w = Workdir::new();
    w.write(
        "w.yaml",
        "data_dir: state\npipelines:\n  p:\n    source:\n      type: file\n      path: \"in/*.jsonl\"\n      schema:\n        id: { type: integer, required: true }\n        tier: { type: string, required: true, default: basic }\n        score: { type: number }\n    sinks:\n      - { type: file, path: out }\n",
    );
    w.write(
        "in/a.jsonl",
        "{\"id\": \"1\", \"score\": \"2.5\"}\n{\"id\": 2, \"tier\": \"gold\", \"added_later\": [1]}\n{\"id\": \"x\"}\n{\"score\": 1}\n",
    );
    let run = w.run("w.yaml");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(
        output(&w, "out"),
        vec![
            json!({"id": 1, "score": 2.5, "tier": "basic"}),
            json!({"id": 2, "tier": "gold", "added_later": [1]})
        ]
    );
    let entries = dlq(&w, "w.yaml");
    let messages: Vec<&str> = entries
        .iter()
        .map(|e| e["message"].as_str().expect("message"))
        .collect();
    assert_eq!(
        messages,
        vec![
            "id: cannot read \"x\" as integer",
            "id: required, but missing (and no default)"
        ]
    );
}
