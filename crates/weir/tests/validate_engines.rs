//! `weir validate` says, for each jq transform, whether it runs natively or on jaq, and when the
//! source may parse only the fields the first transform reads.

mod support;

use support::Workdir;

#[test]
fn validate_names_the_engine_of_each_jq_transform_and_the_fields_read() {
    let w = Workdir::new();
    w.write(
        "in/a.jsonl",
        "{\"amount\": 11, \"id\": 1, \"user\": \"u\"}\n",
    );
    w.write(
        "weir.yaml",
        r#"data_dir: ./state
pipelines:
  orders:
    source: { type: file, path: "in/*.jsonl" }
    transforms:
      - { type: jq, filter: 'select(.amount > 10) | {id, user, amount}' }
      - { type: jq, filter: '. as $r | {n: ($r.id + 1)}' }
      - { type: jq, filter: 'select(.n > 1)' }
    sinks:
      - { type: file, path: out }
  whole:
    source: { type: file, path: "in/*.jsonl" }
    transforms:
      - { type: jq, filter: 'select(.amount > 10)' }
    sinks:
      - { type: stdout }
"#,
    );
    let out = w
        .weir(&["validate", "weir.yaml"])
        .output()
        .expect("run weir validate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    for expected in [
        "transforms[0] jq: native; records are read as .amount, .id, .user only",
        "transforms[1] jq: jaq",
        "transforms[2] jq: native",
        // Passes the record on whole: it is read whole.
        "transforms[0] jq: native",
    ] {
        assert!(
            lines.contains(&expected),
            "no line `{expected}` in:\n{text}"
        );
    }
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("transforms["))
            .count(),
        4,
        "{text}"
    );
}
