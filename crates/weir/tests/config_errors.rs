//! A malformed configuration is refused before anything runs, by `weir validate` and by
//! `weir run` alike: exit code 2, and stderr starts with `FILE:LINE:COLUMN: ` (the file as given
//! on the command line) pointing at the offending text, followed by a message that says what was
//! expected and a quote of the line with a caret under the column. A well-formed configuration
//! is accepted as written and `weir validate` names each pipeline's delivery guarantee.

mod support;

use std::process::Output;

use support::Workdir;

/// Exit code of a configuration error (`cli::EXIT_CONFIG`).
const EXIT_CONFIG: i32 = 2;

/// An environment variable no test sets; the unset-variable case refers to it.
const UNSET_VAR: &str = "WEIR_TEST_CONFIG_ERRORS_NEVER_SET";

/// One malformed configuration and the single diagnostic it must produce.
struct Case {
    /// File name under `cases/` (without `.yaml`).
    name: &'static str,
    yaml: &'static str,
    line: usize,
    column: usize,
    /// Substrings of the message: what is wrong and what was expected.
    says: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "yaml_unclosed_flow_mapping",
        // The `{` of the source is never closed; the parser finds out at the next key.
        yaml: r#"data_dir: ./state
pipelines:
  orders:
    source: { type: file, path: "data/*.jsonl", format: jsonl
    sinks:
      - { type: file, path: out/orders }
"#,
        line: 5,
        column: 10,
        says: &["flow mapping", "expected ',' or '}'"],
    },
    Case {
        name: "yaml_bad_indentation",
        // `sinks` is indented by 3 instead of 4. Deserialization alone would first complain about
        // a missing `sinks` at line 4; the syntax error on line 5 is the cause and is reported.
        yaml: r#"data_dir: ./state
pipelines:
  orders:
    source: { type: file, path: "data/*.jsonl" }
   sinks:
      - { type: file, path: out/orders }
"#,
        line: 5,
        column: 4,
        says: &["block mapping", "did not find expected key"],
    },
    Case {
        name: "unknown_top_level_key",
        yaml: r#"data_dir: ./state
metrics: true
pipelines:
  orders:
    source: { type: file, path: "data/*.jsonl" }
    sinks:
      - { type: file, path: out/orders }
"#,
        line: 2,
        column: 1,
        says: &[
            "unknown field `metrics`",
            "expected one of data_dir, server, log, pipelines",
        ],
    },
    Case {
        name: "unknown_pipeline_key",
        yaml: r#"data_dir: ./state
pipelines:
  orders:
    source: { type: file, path: "data/*.jsonl" }
    sinks:
      - { type: file, path: out/orders }
    retries: 3
"#,
        line: 7,
        column: 5,
        says: &[
            "unknown field `retries`",
            "expected one of source, transforms, sinks, checkpoint",
        ],
    },
    Case {
        name: "unknown_source_key_flow",
        yaml: r#"data_dir: ./state
pipelines:
  orders:
    source: { type: file, path: "data/*.jsonl", recursive: true }
    sinks:
      - { type: file, path: out/orders }
"#,
        line: 4,
        column: 49,
        says: &["unknown field `recursive`", "expected one of path, format"],
    },
    Case {
        name: "unknown_source_key_block",
        // Inside a `type`-tagged component the parser only knows where the component starts
        // (line 4); the key itself is on line 7.
        yaml: r#"data_dir: ./state
pipelines:
  orders:
    source:
      type: file
      path: "data/*.jsonl"
      recursive: true
    sinks:
      - { type: file, path: out/orders }
"#,
        line: 7,
        column: 7,
        says: &["unknown field `recursive`", "expected one of path, format"],
    },
    Case {
        name: "unknown_sink_key_block",
        yaml: r#"data_dir: ./state
pipelines:
  orders:
    source: { type: file, path: "data/*.jsonl" }
    sinks:
      - type: file
        path: out/orders
        compression: gzip
"#,
        line: 8,
        column: 9,
        says: &[
            "unknown field `compression`",
            "expected one of path, format",
        ],
    },
    Case {
        name: "parallelism_not_a_number",
        yaml: r#"data_dir: ./state
pipelines:
  orders:
    source: { type: file, path: "data/*.jsonl" }
    sinks:
      - { type: file, path: out/orders }
    parallelism: "many"
"#,
        line: 7,
        column: 18,
        says: &["expected a non-negative integer"],
    },
    Case {
        name: "batch_size_negative",
        yaml: r#"data_dir: ./state
pipelines:
  orders:
    source: { type: file, path: "data/*.jsonl" }
    sinks:
      - { type: file, path: out/orders }
    batch_size: -1
"#,
        line: 7,
        column: 17,
        says: &["expected a non-negative integer"],
    },
    Case {
        name: "parallelism_zero",
        yaml: r#"data_dir: ./state
pipelines:
  orders:
    source: { type: file, path: "data/*.jsonl" }
    sinks:
      - { type: file, path: out/orders }
    parallelism: 0
"#,
        line: 7,
        column: 18,
        says: &["`parallelism` must be at least 1"],
    },
    Case {
        name: "checkpoint_enabled_not_a_bool",
        yaml: r#"data_dir: ./state
pipelines:
  orders:
    source: { type: file, path: "data/*.jsonl" }
    sinks:
      - { type: file, path: out/orders }
    checkpoint: { enabled: maybe }
"#,
        line: 7,
        column: 28,
        says: &["expected `true` or `false`"],
    },
    Case {
        name: "unknown_source_type_flow",
        yaml: r#"data_dir: ./state
pipelines:
  orders:
    source: { type: kafka, topic: orders }
    sinks:
      - { type: file, path: out/orders }
"#,
        line: 4,
        column: 21,
        says: &["unknown variant `kafka`", "expected one of file"],
    },
    Case {
        name: "unknown_source_type_block",
        yaml: r#"data_dir: ./state
pipelines:
  orders:
    source:
      path: "data/*.jsonl"
      type: kafka
    sinks:
      - { type: file, path: out/orders }
"#,
        line: 6,
        column: 13,
        says: &["unknown variant `kafka`", "expected one of file"],
    },
    Case {
        name: "unknown_sink_type",
        yaml: r#"data_dir: ./state
pipelines:
  orders:
    source: { type: file, path: "data/*.jsonl" }
    sinks:
      - { type: file, path: out/orders }
      - { type: s3, bucket: orders }
"#,
        line: 7,
        column: 17,
        says: &["unknown variant `s3`", "expected one of file, stdout"],
    },
    Case {
        name: "unknown_source_format_block",
        yaml: r#"data_dir: ./state
pipelines:
  orders:
    source:
      type: file
      path: "data/*.jsonl"
      format: xml
    sinks:
      - { type: file, path: out/orders }
"#,
        line: 7,
        column: 15,
        says: &["unknown variant `xml`", "expected one of jsonl, csv"],
    },
    Case {
        name: "jq_syntax_error",
        // Points inside the program, at the `)` where a term was expected.
        yaml: r#"data_dir: ./state
pipelines:
  orders:
    source: { type: file, path: "data/*.jsonl" }
    transforms:
      - { type: jq, filter: 'select(.a > )' }
    sinks:
      - { type: file, path: out/orders }
"#,
        line: 6,
        column: 42,
        says: &[
            "transforms[0]",
            "jq syntax error",
            "expected term",
            "found `)`",
        ],
    },
    Case {
        name: "jq_undefined_function",
        // Second transform, block style: points at `frobnicate` inside the quoted program.
        yaml: r#"data_dir: ./state
pipelines:
  orders:
    source: { type: file, path: "data/*.jsonl" }
    transforms:
      - { type: jq, filter: '.' }
      - type: jq
        filter: '.a | frobnicate(1)'
    sinks:
      - { type: file, path: out/orders }
"#,
        line: 8,
        column: 23,
        says: &["transforms[1]", "undefined filter `frobnicate`"],
    },
    Case {
        name: "source_path_matches_nothing",
        yaml: r#"data_dir: ./state
pipelines:
  orders:
    source: { type: file, path: "incoming/*.jsonl" }
    sinks:
      - { type: file, path: out/orders }
"#,
        line: 4,
        column: 33,
        says: &[
            "source `path` `incoming/*.jsonl` matches no files",
            "looked in",
        ],
    },
    Case {
        name: "source_path_missing",
        // A missing key has no position of its own: the component that lacks it is named.
        yaml: r#"data_dir: ./state
pipelines:
  orders:
    source: { type: file, format: jsonl }
    sinks:
      - { type: file, path: out/orders }
"#,
        line: 4,
        column: 5,
        says: &["missing field `path`"],
    },
    Case {
        name: "checkpoint_interval_zero",
        yaml: r#"data_dir: ./state
pipelines:
  orders:
    source: { type: file, path: "data/*.jsonl" }
    sinks:
      - { type: file, path: out/orders }
    checkpoint: { interval: 0s }
"#,
        line: 7,
        column: 29,
        says: &[
            "`checkpoint.interval` must be greater than zero",
            "enabled: false",
        ],
    },
    Case {
        name: "checkpoint_interval_not_a_duration",
        yaml: r#"data_dir: ./state
pipelines:
  orders:
    source: { type: file, path: "data/*.jsonl" }
    sinks:
      - { type: file, path: out/orders }
    checkpoint:
      interval: fast
"#,
        line: 8,
        column: 17,
        says: &["`fast` is not a duration", r#"expected e.g. "250ms", "1s""#],
    },
    Case {
        name: "sinks_empty",
        yaml: r#"data_dir: ./state
pipelines:
  orders:
    source: { type: file, path: "data/*.jsonl" }
    sinks: []
"#,
        line: 5,
        column: 12,
        says: &["`sinks` is empty: expected at least one sink"],
    },
    Case {
        name: "pipelines_empty",
        yaml: "data_dir: ./state\npipelines: {}\n",
        line: 2,
        column: 12,
        says: &["`pipelines` is empty: expected at least one pipeline"],
    },
    Case {
        name: "env_var_unset",
        yaml: r#"data_dir: ./state
pipelines:
  orders:
    source: { type: file, path: "data/*.jsonl" }
    sinks:
      - { type: file, path: out/${WEIR_TEST_CONFIG_ERRORS_NEVER_SET} }
"#,
        line: 6,
        column: 33,
        says: &["environment variable `WEIR_TEST_CONFIG_ERRORS_NEVER_SET` is not set"],
    },
    Case {
        name: "listen_address_invalid",
        // Checked even though `--listen` overrides it for `weir run`: the file must be valid.
        yaml: r#"data_dir: ./state
server: { listen: "localhost:http" }
pipelines:
  orders:
    source: { type: file, path: "data/*.jsonl" }
    sinks:
      - { type: file, path: out/orders }
"#,
        line: 2,
        column: 19,
        says: &[
            "`localhost:http` is not a listen address",
            "expected host:port",
        ],
    },
    Case {
        name: "listen_port_out_of_range",
        yaml: r#"data_dir: ./state
server:
  listen: 127.0.0.1:99999
pipelines:
  orders:
    source: { type: file, path: "data/*.jsonl" }
    sinks:
      - { type: file, path: out/orders }
"#,
        line: 3,
        column: 11,
        says: &[
            "`127.0.0.1:99999` is not a listen address",
            "expected host:port",
        ],
    },
    Case {
        name: "two_pipelines_one_sink_dir",
        // The same directory spelled differently; pointed at the second pipeline's file sink,
        // not at its first sink.
        yaml: r#"data_dir: ./state
pipelines:
  a:
    source: { type: file, path: "data/*.jsonl" }
    sinks:
      - { type: file, path: out/shared }
  b:
    source: { type: file, path: "data/*.jsonl" }
    sinks:
      - { type: stdout }
      - { type: file, path: ./out/shared/ }
"#,
        line: 11,
        column: 29,
        says: &[
            "already written by pipeline `a`",
            "each file sink needs its own directory",
        ],
    },
    Case {
        name: "one_pipeline_one_sink_dir_twice",
        yaml: r#"data_dir: ./state
pipelines:
  a:
    source: { type: file, path: "data/*.jsonl" }
    sinks:
      - { type: file, path: out/a }
      - { type: file, path: out/a }
"#,
        line: 7,
        column: 29,
        says: &["already written by another sink of this pipeline"],
    },
    Case {
        name: "pipeline_name_with_slash",
        // Pointed at the name (a map key), not at the pipeline's first line.
        yaml: r#"data_dir: ./state
pipelines:
  orders/eu:
    source: { type: file, path: "data/*.jsonl" }
    sinks:
      - { type: file, path: out/orders }
"#,
        line: 3,
        column: 3,
        says: &[
            "pipeline name `orders/eu` is not allowed",
            "expected letters, digits, `_` and `-`",
        ],
    },
    Case {
        name: "pipeline_name_duplicated",
        yaml: r#"data_dir: ./state
pipelines:
  orders:
    source: { type: file, path: "data/*.jsonl" }
    sinks:
      - { type: file, path: out/a }
  orders:
    source: { type: file, path: "data/*.jsonl" }
    sinks:
      - { type: file, path: out/b }
"#,
        line: 7,
        column: 3,
        says: &["duplicate mapping key: orders not allowed here"],
    },
];

/// A working directory with `cases/data/x.jsonl`, so that `"data/*.jsonl"` matches in every
/// case except the one about a pattern that matches nothing.
fn workdir() -> Workdir {
    let w = Workdir::new();
    w.write("cases/data/x.jsonl", "{\"id\":1,\"amount\":5}\n");
    w
}

fn weir(w: &Workdir, args: &[&str]) -> Output {
    w.weir(args)
        .env_remove(UNSET_VAR)
        .output()
        .expect("run weir")
}

/// Checks one refusal; returns what is wrong with it, if anything.
fn check_refusal(case: &Case, config: &str, how: &str, out: &Output) -> Option<String> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let fail = |what: String| {
        Some(format!(
            "{}: `{how}`: {what}\n--- stderr:\n{stderr}--- stdout:\n{stdout}",
            case.name
        ))
    };
    if out.status.code() != Some(EXIT_CONFIG) {
        return fail(format!(
            "exit code {:?}, expected {EXIT_CONFIG}",
            out.status.code()
        ));
    }
    let prefix = format!("{config}:{}:{}: ", case.line, case.column);
    if !stderr.starts_with(&prefix) {
        return fail(format!("stderr does not start with `{prefix}`"));
    }
    let lines: Vec<&str> = stderr.lines().collect();
    for s in case.says {
        if !lines[0].contains(s) {
            return fail(format!("the message does not say `{s}`"));
        }
    }
    let diagnostics = lines
        .iter()
        .filter(|l| l.starts_with(&format!("{config}:")))
        .count();
    if diagnostics != 1 {
        return fail(format!("{diagnostics} diagnostics, expected exactly one"));
    }
    // The quote of the line and the caret under the column.
    let gutter = case.line.to_string();
    let quoted = format!(
        " {gutter} | {}",
        case.yaml.lines().nth(case.line - 1).unwrap_or_default()
    );
    if lines.get(1) != Some(&quoted.as_str()) {
        return fail(format!(
            "the second line does not quote line {}: expected `{quoted}`",
            case.line
        ));
    }
    let caret = format!(
        " {} | {}^",
        " ".repeat(gutter.len()),
        " ".repeat(case.column - 1)
    );
    if lines.get(2) != Some(&caret.as_str()) {
        return fail(format!(
            "the third line has no caret under column {}: expected `{caret}`",
            case.column
        ));
    }
    if stdout.contains(": ok") {
        return fail("stdout says ok".to_owned());
    }
    None
}

#[test]
fn every_malformed_configuration_is_refused_at_its_line_and_column_by_validate_and_run() {
    let w = workdir();
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in CASES {
        let config = format!("cases/{}.yaml", case.name);
        w.write(&config, case.yaml);
        let validate = weir(&w, &["validate", &config]);
        failures.extend(check_refusal(case, &config, "weir validate", &validate));
        let run = weir(&w, &["run", &config, "--listen", "127.0.0.1:0"]);
        failures.extend(check_refusal(case, &config, "weir run", &run));
        // Validation is the same code for both commands: the same text, byte for byte.
        if validate.stderr != run.stderr {
            failures.push(format!(
                "{}: `weir validate` and `weir run` report differently:\n{}\n---\n{}",
                case.name,
                String::from_utf8_lossy(&validate.stderr),
                String::from_utf8_lossy(&run.stderr)
            ));
        }
        // Nothing ran: no output directory, no data directory.
        for dir in ["cases/out", "cases/state"] {
            if w.path().join(dir).exists() {
                failures.push(format!(
                    "{}: `weir run` created {dir} for a refused configuration",
                    case.name
                ));
            }
        }
        checked += 1;
    }
    assert!(checked >= 12, "at least 12 cases");
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n\n")
    );
}

#[test]
fn every_problem_is_reported_in_file_order() {
    let w = workdir();
    let config = "cases/many.yaml";
    w.write(
        config,
        r#"data_dir: ./state
server: { listen: nowhere }
pipelines:
  orders:
    source: { type: file, path: "nothing/*.jsonl" }
    sinks:
      - { type: file, path: out/orders }
    checkpoint: { interval: soon }
    batch_size: 0
"#,
    );
    for args in [
        vec!["validate", config],
        vec!["run", config, "--listen", "127.0.0.1:0"],
    ] {
        let out = weir(&w, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(EXIT_CONFIG), "{args:?}: {stderr}");
        let heads: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("cases/many.yaml:"))
            .collect();
        let positions: Vec<String> = heads
            .iter()
            .map(|l| l.splitn(4, ':').take(3).collect::<Vec<_>>().join(":"))
            .collect();
        assert_eq!(
            positions,
            [
                "cases/many.yaml:2:19",
                "cases/many.yaml:5:33",
                "cases/many.yaml:8:29",
                "cases/many.yaml:9:17"
            ],
            "{args:?}: {stderr}"
        );
        assert!(
            heads[0].contains("`nowhere` is not a listen address"),
            "{stderr}"
        );
        assert!(heads[1].contains("matches no files"), "{stderr}");
        assert!(heads[2].contains("`soon` is not a duration"), "{stderr}");
        assert!(
            heads[3].contains("`batch_size` must be at least 1"),
            "{stderr}"
        );
    }
}

#[test]
fn a_missing_configuration_file_is_a_configuration_error() {
    let w = workdir();
    for args in [
        vec!["validate", "cases/absent.yaml"],
        vec!["run", "cases/absent.yaml", "--listen", "127.0.0.1:0"],
    ] {
        let out = weir(&w, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(EXIT_CONFIG), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("cases/absent.yaml:1:1: cannot read the configuration file"),
            "{args:?}: {stderr}"
        );
    }
}

/// The example of the issue, exactly as written.
const ISSUE_EXAMPLE: &str = r#"data_dir: ./state                 # checkpoints (and later the DLQ) live here
server: { listen: 127.0.0.1:9620 }
pipelines:
  orders:
    source: { type: file, path: "data/*.jsonl", format: jsonl }   # format: jsonl | csv (header row)
    transforms:
      - { type: jq, filter: 'select(.amount > 0) | {id, amount, total: (.amount * 2)}' }
    sinks:
      - { type: file, path: out/orders, format: jsonl }
    checkpoint: { interval: 1s }
"#;

#[test]
fn the_issue_example_is_accepted_as_written_and_is_exactly_once() {
    let w = Workdir::new();
    w.write("data/x.jsonl", "{\"id\":1,\"amount\":5}\n{\"id\":2,\"amount\":0}\n{\"id\":3,\"amount\":7,\"note\":\"x\"}\n");
    w.write("weir.yaml", ISSUE_EXAMPLE);

    let out = weir(&w, &["validate", "weir.yaml"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("weir.yaml: ok\n"), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("pipeline orders:"))
        .unwrap_or_else(|| panic!("no line for pipeline orders:\n{stdout}"));
    assert!(line.starts_with("pipeline orders: exactly-once"), "{line}");

    // And it runs as written (the server on a free port instead of 9620).
    let out = weir(&w, &["run", "weir.yaml", "--listen", "127.0.0.1:0"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let committed: Vec<serde_json::Value> =
        support::committed_by_lane(&w.path().join("out/orders"))
            .into_values()
            .flatten()
            .map(|l| serde_json::from_str(&l).expect("json"))
            .collect();
    let got: Vec<(i64, f64)> = committed
        .iter()
        .map(|v| {
            (
                v["id"].as_i64().expect("id"),
                v["total"].as_f64().expect("total"),
            )
        })
        .collect();
    assert_eq!(got, [(1, 10.0), (3, 14.0)], "{committed:?}");
    assert!(
        committed
            .iter()
            .all(|v| v.as_object().is_some_and(|o| o.len() == 3)),
        "{committed:?}"
    );
}

#[test]
fn a_stdout_sink_makes_the_pipeline_at_least_once() {
    let w = Workdir::new();
    w.write("data/x.jsonl", "{\"id\":1}\n");
    w.write(
        "weir.yaml",
        r#"data_dir: ./state
pipelines:
  console:
    source: { type: file, path: "data/*.jsonl" }
    sinks:
      - { type: stdout }
  mixed:
    source: { type: file, path: "data/*.jsonl" }
    sinks:
      - { type: file, path: out/mixed }
      - { type: stdout }
  files:
    source: { type: file, path: "data/*.jsonl" }
    sinks:
      - { type: file, path: out/files }
"#,
    );
    let out = weir(&w, &["validate", "weir.yaml"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let guarantee = |p: &str| {
        let prefix = format!("pipeline {p}: ");
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no line for {p}:\n{stdout}"));
        line[prefix.len()..]
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(guarantee("console"), "at-least-once", "{stdout}");
    // The weakest sink decides.
    assert_eq!(guarantee("mixed"), "at-least-once", "{stdout}");
    assert_eq!(guarantee("files"), "exactly-once", "{stdout}");
}

#[test]
fn environment_variables_are_interpolated() {
    let w = Workdir::new();
    w.write("data/x.jsonl", "{\"id\":1}\n{\"id\":2}\n");
    w.write(
        "weir.yaml",
        r#"data_dir: ./state
pipelines:
  orders:
    source: { type: file, path: "${WEIR_TEST_INPUT}" }
    sinks:
      - { type: file, path: out/${WEIR_TEST_OUT_NAME} }
    checkpoint: { interval: "${WEIR_TEST_INTERVAL}" }
"#,
    );
    let with_env = |input: &str, args: &[&str]| {
        let mut cmd = w.weir(args);
        cmd.env("WEIR_TEST_INPUT", input)
            .env("WEIR_TEST_OUT_NAME", "from-env")
            .env("WEIR_TEST_INTERVAL", "250ms");
        cmd.output().expect("run weir")
    };

    let out = with_env("data/*.jsonl", &["validate", "weir.yaml"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("pipeline orders: exactly-once"));

    let out = with_env(
        "data/*.jsonl",
        &["run", "weir.yaml", "--listen", "127.0.0.1:0"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<String> = support::committed_by_lane(&w.path().join("out/from-env"))
        .into_values()
        .flatten()
        .collect();
    assert_eq!(
        lines.len(),
        2,
        "the sink path came from the environment: {lines:?}"
    );

    // The value really is used: a pattern that matches nothing is reported where the reference
    // is written, with the interpolated pattern in the message.
    let out = with_env("elsewhere/*.jsonl", &["validate", "weir.yaml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(EXIT_CONFIG), "{stderr}");
    assert!(
        stderr.starts_with("weir.yaml:4:33: source `path` `elsewhere/*.jsonl` matches no files"),
        "{stderr}"
    );
    // The diagnostic quotes the file as written, not the interpolated text.
    assert!(
        stderr.contains(r#" 4 |     source: { type: file, path: "${WEIR_TEST_INPUT}" }"#),
        "{stderr}"
    );
}
