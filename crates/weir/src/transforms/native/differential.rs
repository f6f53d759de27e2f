//! Differential test: random filters of the subset on random records, natively and on jaq. The
//! outputs must be the same JSON text, in the same order, or both runs must fail the record.
//! Records the native executor delegates to jaq are counted, not compared (they run on jaq).
//!
//! `PROPTEST_CASES` sets the number of filters (default 2,000, each on 1–5 records).

use std::cell::Cell;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Number, Value};

use crate::transforms::Transform;
use crate::transforms::jq::JqTransform;

const KEYS: &[&str] = &["a", "b", "c", "id", "user", "amount", "é", ""];

const STRINGS: &[&str] = &[
    "",
    "a",
    "x",
    "12",
    "-3",
    "1.5",
    "1.0",
    " 7 ",
    "1 2",
    "1e2",
    "nan",
    "[1]",
    "\"s\"",
    "true",
    "héllo",
    "日本語",
    "a,b,",
    ",",
    "9223372036854775808",
    "0.1",
    "\u{7f}\n\t\"\\",
];

fn float(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

fn string() -> BoxedStrategy<String> {
    prop_oneof![
        3 => select(STRINGS).prop_map(str::to_owned),
        1 => "\\PC{0,6}",
        1 => "[\\x00-\\x1f\\x7f\"\\\\ac,]{0,4}",
    ]
    .boxed()
}

fn key() -> BoxedStrategy<String> {
    prop_oneof![4 => select(KEYS).prop_map(str::to_owned), 1 => "\\PC{0,3}"].boxed()
}

/// Nulls, booleans, integers (small, negative, extreme, beyond `i64`), floats (integral ones
/// too), strings (unicode, control characters, numbers as text), arrays and objects.
fn value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::from),
        4 => (-5i64..100).prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => select(vec![i64::MAX, i64::MAX - 1, i64::MIN + 1, 1 << 53]).prop_map(Value::from),
        1 => ((i64::MAX as u64 + 1)..=u64::MAX).prop_map(Value::from),
        2 => (-1000.0f64..1000.0).prop_map(float),
        1 => (-10i32..10).prop_map(|i| float(f64::from(i))),
        1 => select(vec![-0.0, 0.5, 1e20, 1e-7, 1.7976931348623157e308, 5e-324]).prop_map(float),
        1 => any::<f64>().prop_map(float),
        4 => string().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            vec((key(), inner), 0..5).prop_map(|kvs| Value::Object(kvs.into_iter().collect())),
        ]
    })
    .boxed()
}

/// A record: mostly an object with the keys the filters use.
fn record() -> BoxedStrategy<Value> {
    prop_oneof![
        4 => vec((key(), value()), 0..6)
            .prop_map(|kvs| Value::Object(kvs.into_iter().collect::<Map<_, _>>())),
        1 => value(),
    ]
    .boxed()
}

const PATHS: &[&str] = &[
    ".", ".a", ".b", ".c", ".id", ".user", ".amount", ".a.b", ".a.b.c", ".[\"a\"]", ".\"é\"",
    ".[0]", ".[-1]", ".[1]", ".[]", ".[]?", ".a?", ".a[0]", ".a[]?", ".b?.c", ".[\"\"]",
];

const LITERALS: &[&str] = &[
    "null",
    "true",
    "false",
    "0",
    "1",
    "-1",
    "2",
    "10",
    "2.5",
    "1.0",
    "0.5",
    "-0.0",
    "1e20",
    "\"a\"",
    "\"\"",
    "\"x\\n\\u007f\"",
    "\"é\"",
    "\"12\"",
    "[]",
    "{}",
    "[1, \"a\", null]",
    "{\"a\": 1}",
    "9223372036854775807",
];

const BUILTINS: &[&str] = &[
    "length",
    "tostring",
    "tonumber",
    "not",
    "empty",
    "del(.a)",
    "del(.b.c)",
    "del(.[0])",
    "del(.a?.b?)",
    "del(.[-1]?)",
    "{id, user}",
    "{a, \"b\"}",
    "has(\"a\")",
    "has(0)",
];

const BINOPS: &[&str] = &[
    "+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "and", "or", "//", "|", ",",
];

const STEPS: &[&str] = &[
    ".a",
    ".b",
    "[0]",
    "[-1]",
    "[]",
    "[]?",
    ".a?",
    "[\"id\"]",
    "[.a]",
    "[(.id | length)]",
];

/// Filter text from the subset, each compound parenthesised so any nesting parses.
fn filter() -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        3 => select(PATHS).prop_map(str::to_owned),
        2 => select(LITERALS).prop_map(str::to_owned),
        2 => select(BUILTINS).prop_map(str::to_owned),
    ];
    leaf.prop_recursive(4, 40, 3, |f| {
        let entry = prop_oneof![
            f.clone().prop_map(|v| format!("a: {v}")),
            f.clone().prop_map(|v| format!("\"b\": {v}")),
            (f.clone(), f.clone()).prop_map(|(k, v)| format!("({k}): {v}")),
            select(vec!["id", "\"c\"", "amount"]).prop_map(str::to_owned),
        ];
        prop_oneof![
            4 => (f.clone(), select(BINOPS), f.clone())
                .prop_map(|(l, op, r)| format!("({l} {op} {r})")),
            1 => f.clone().prop_map(|x| format!("select({x})")),
            1 => f.clone().prop_map(|x| format!("[{x}]")),
            1 => f.clone().prop_map(|x| format!("has({x})")),
            1 => f.clone().prop_map(|x| format!("(-{x})")),
            1 => (f.clone(), select(STEPS)).prop_map(|(x, s)| format!("({x}){s}")),
            1 => (f.clone(), f.clone(), f.clone())
                .prop_map(|(c, t, e)| format!("(if {c} then {t} else {e} end)")),
            1 => (f.clone(), f.clone()).prop_map(|(c, t)| format!("(if {c} then {t} end)")),
            1 => f.clone().prop_map(|x| format!("\"<\\({x})>\"")),
            1 => vec(entry, 1..4).prop_map(|es| format!("{{{}}}", es.join(", "))),
        ]
    })
    .boxed()
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000)
}

fn text(r: Result<Vec<Value>, String>) -> Result<Vec<String>, String> {
    r.map(|vs| vs.iter().map(Value::to_string).collect())
}

#[test]
fn native_and_jaq_agree_on_random_filters_and_records() {
    let config = Config {
        cases: cases(),
        source_file: Some(file!()),
        ..Config::default()
    };
    let (compared, failed, delegated) = (Cell::new(0u64), Cell::new(0u64), Cell::new(0u64));
    let mut runner = TestRunner::new(config);
    let result = runner.run(&(filter(), vec(record(), 1..6)), |(program, records)| {
        let t = JqTransform::compile("jq", &program)
            .map_err(|e| TestCaseError::fail(format!("{program}: {e}")))?;
        prop_assert_eq!(t.engine(), "native", "{}", program);
        for record in &records {
            let Some(native) = t.run_native(record) else {
                delegated.set(delegated.get() + 1);
                continue;
            };
            let (native, jaq) = (text(native), text(t.run_jaq(record)));
            match (&native, &jaq) {
                (Ok(n), Ok(j)) => prop_assert_eq!(n, j, "{} on {}", program, record),
                (Err(_), Err(_)) => failed.set(failed.get() + 1),
                _ => prop_assert!(
                    false,
                    "{} on {}: native {:?}, jaq {:?}",
                    program,
                    record,
                    native,
                    jaq
                ),
            }
            compared.set(compared.get() + 1);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let (compared, failed, delegated) = (compared.get(), failed.get(), delegated.get());
    eprintln!(
        "records compared: {compared} (both failed: {failed}); delegated to jaq: {delegated}"
    );
    assert!(compared > 4 * delegated, "too few records compared");
    assert!(failed * 2 < compared, "too many records fail");
}

/// `record` with only `fields` (the projection a source applies), in its own order.
fn projected(record: &Value, fields: &[String]) -> Value {
    match record {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| fields.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[test]
fn a_program_gives_the_same_on_only_the_fields_it_reads() {
    let config = Config {
        cases: cases(),
        source_file: Some(file!()),
        ..Config::default()
    };
    let (projectable, compared) = (Cell::new(0u64), Cell::new(0u64));
    let mut runner = TestRunner::new(config);
    let result = runner.run(&(filter(), vec(record(), 1..6)), |(program, records)| {
        let t = JqTransform::compile("jq", &program)
            .map_err(|e| TestCaseError::fail(format!("{program}: {e}")))?;
        let Some(fields) = t.input_fields() else {
            return Ok(());
        };
        projectable.set(projectable.get() + 1);
        for record in &records {
            // As above: records the native program hands to jaq are jaq's business (some make
            // jaq itself panic, e.g. a string repeated 10^18 times).
            if t.run_native(record).is_none() {
                continue;
            }
            let part = projected(record, &fields);
            // jaq is the reference: outputs and error messages alike.
            let (whole, partial) = (text(t.run_jaq(record)), text(t.run_jaq(&part)));
            prop_assert_eq!(
                &whole,
                &partial,
                "{} on {} (fields {:?})",
                program,
                record,
                fields
            );
            if let Some(native) = t.run_native(&part) {
                prop_assert_eq!(
                    text(native).ok(),
                    whole.ok(),
                    "native: {} on {}",
                    program,
                    part
                );
            }
            compared.set(compared.get() + 1);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    eprintln!(
        "programs reading fixed fields: {}; records compared: {}",
        projectable.get(),
        compared.get()
    );
    assert!(
        projectable.get() * 10 > u64::from(cases()),
        "too few generated programs read fixed fields"
    );
}
