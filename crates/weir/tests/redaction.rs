//! PII in `redact` fields never reaches the logs or the dead-letter messages. The jq filter
//! fails on some records with the value of a redacted field in its error message (jaq says
//! `cannot calculate "ann@x.io" + 1`): the log line and the DLQ message carry its mask
//! (`redacted:<CRC32C of the value's JSON text, 8 hex digits>`) instead, for a top-level field
//! (`email`) and a nested one (`card.number`). The stored record keeps the values, so a replay
//! can still deliver it — unless `dlq: { redact_records: true }`, which masks them there too.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::Workdir;
use support::dlq::DlqEntry;

const CONFIG: &str = "weir.yaml";
const LOG: &str = "weir.log";
const FILTER: &str = r#"if .bad == 1 then {id, x: (.email + 1)} elif .bad == 2 then {id, x: (.card.number + "x")} else {id} end"#;

fn config(dlq: &str) -> String {
    format!(
        r#"data_dir: ./state
pipelines:
  people:
    source: {{ type: file, path: "in/*.jsonl" }}
    transforms:
      - {{ type: jq, filter: '{FILTER}' }}
    sinks:
      - {{ type: file, path: out }}
    redact: [email, card.number]
{dlq}"#
    )
}

/// 300 people with distinct emails (some with `+` or non-ASCII letters) and card numbers;
/// `bad: 1` fails on the email, `bad: 2` on the card number.
fn people() -> Vec<Value> {
    (0..300u64)
        .map(|i| {
            let email = match i % 3 {
                0 => format!("ann.{i}@example.io"),
                1 => format!("bob+{i}@mail.example.org"),
                _ => format!("zoë{i}@exämple.de"),
            };
            let bad = match i % 6 {
                1 | 4 => 1,
                2 => 2,
                _ => 0,
            };
            json!({
                "id": format!("p{i:04}"),
                "email": email,
                "card": { "number": 4_000_000_000_000_000u64 + i * 7_919 },
                "bad": bad,
            })
        })
        .collect()
}

/// The mask weir puts in place of `value`.
fn mask(value: &Value) -> String {
    format!(
        "redacted:{:08x}",
        crc32c::crc32c(value.to_string().as_bytes())
    )
}

/// Runs the pipeline over [`people`]; returns them, the log and the DLQ.
fn run(dlq: &str) -> (Vec<Value>, String, Vec<DlqEntry>) {
    let w = Workdir::new();
    let people = people();
    let text: String = people.iter().map(|p| format!("{p}\n")).collect();
    w.write("in/people.jsonl", text);
    w.write(CONFIG, config(dlq));
    w.run_ok(CONFIG, LOG, Duration::from_secs(60), "run");
    let committed = support::committed_by_lane(&w.path().join("out"));
    let good: Vec<String> = people
        .iter()
        .filter(|p| p["bad"] == 0)
        .map(|p| format!("{{\"id\":\"{}\"}}", p["id"].as_str().expect("id")))
        .collect();
    assert_eq!(committed.get("people.jsonl"), Some(&good), "the output");
    (people, w.read_text(LOG), w.dlq_list(CONFIG, &[]))
}

/// What must hold with or without `redact_records`: no email or card number in the log or
/// in a DLQ message; each failure's message and log line carry the mask of the value.
fn assert_redacted(people: &[Value], log: &str, dlq: &[DlqEntry]) {
    let failing: Vec<&Value> = people.iter().filter(|p| p["bad"] != 0).collect();
    assert_eq!(
        dlq.len(),
        failing.len(),
        "one dead letter per failing record"
    );
    for (p, e) in failing.iter().zip(dlq) {
        let (email, number) = (&p["email"], &p["card"]["number"]);
        for secret in [
            email.as_str().expect("email").to_owned(),
            number.to_string(),
        ] {
            assert!(!log.contains(&secret), "the log holds {secret}");
            assert!(
                !e.message.contains(&secret),
                "the DLQ message holds {secret}: {}",
                e.message
            );
        }
        let want = if p["bad"] == 1 {
            format!("jq error: cannot calculate {} + 1", mask(email))
        } else {
            format!("jq error: cannot calculate {} + \"x\"", mask(number))
        };
        assert_eq!(e.message, want, "DLQ message of {}", p["id"]);
        assert_eq!(e.reason, "transform");
        assert_eq!(
            e.record.as_ref().map(|r| &r["id"]),
            Some(&p["id"]),
            "entry order"
        );
        let logged = format!(
            "record failed: {want} pipeline=\"people\" record=people/people.jsonl@{} ",
            e.offset
        );
        assert!(
            log.lines().any(|l| l.contains(&logged)),
            "no log line `{logged}`"
        );
    }
    // The good records' values are not logged either.
    for p in people {
        assert!(!log.contains(p["email"].as_str().expect("email")));
    }
}

#[test]
fn redacted_values_are_masked_in_logs_and_dlq_messages_and_kept_in_the_stored_record() {
    let (people, log, dlq) = run("");
    assert_redacted(&people, &log, &dlq);
    let failing = people.iter().filter(|p| p["bad"] != 0);
    for (p, e) in failing.zip(&dlq) {
        assert_eq!(
            e.record.as_ref(),
            Some(p),
            "the stored record is the original"
        );
    }
}

#[test]
fn with_redact_records_the_stored_record_is_masked_too() {
    let (people, log, dlq) = run("    dlq: { redact_records: true }\n");
    assert_redacted(&people, &log, &dlq);
    let failing = people.iter().filter(|p| p["bad"] != 0);
    for (p, e) in failing.zip(&dlq) {
        let mut want = p.clone();
        want["email"] = json!(mask(&p["email"]));
        want["card"]["number"] = json!(mask(&p["card"]["number"]));
        assert_eq!(
            e.record.as_ref(),
            Some(&want),
            "the stored record is masked"
        );
        let stored = e.record.as_ref().map(Value::to_string).unwrap_or_default();
        assert!(!stored.contains(p["email"].as_str().expect("email")));
        assert!(!stored.contains(&p["card"]["number"].to_string()));
    }
}
