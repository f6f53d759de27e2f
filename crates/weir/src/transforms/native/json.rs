//! Text in and out as jaq does it: `tostring` (jaq-json's compact writer), `tonumber` (jaq-json's
//! reader), number literals, and the wording of jaq's errors.

use std::fmt::Write as _;

use jaq_core::ops::Math;
use jaq_json::Num as JaqNum;
use serde_json::{Number, Value};

use super::Fail;
use super::num::{Num, num};

/// `v` as compact JSON, written the way jaq-json writes it: floats by ryu (`1e20`, `1.5`),
/// only control characters, `"`, `\` and DEL escaped in strings.
pub(super) fn to_json(v: &Value) -> String {
    let mut out = String::new();
    write(&mut out, v);
    out
}

fn write(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match num(n) {
            Num::Int(i) => write_display(out, i),
            Num::Big(u) => write_display(out, u),
            Num::Float(f) => write_display(out, JaqNum::Float(f)),
        },
        Value::String(s) => write_str(out, s),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(out, x);
            }
            out.push(']');
        }
        Value::Object(o) => {
            out.push('{');
            for (i, (k, x)) in o.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, k);
                out.push(':');
                write(out, x);
            }
            out.push('}');
        }
    }
}

fn write_display(out: &mut String, x: impl std::fmt::Display) {
    // Writing into a String cannot fail.
    let _ = write!(out, "{x}");
}

fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\u{0}'..='\u{1f}' | '\u{7f}' => {
                write_display(out, format_args!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `tostring`: a string as is, anything else as compact JSON.
pub(super) fn tostring(v: &Value) -> Value {
    match v {
        Value::String(_) => v.clone(),
        _ => Value::String(to_json(v)),
    }
}

/// A decimal jaq keeps as text (a literal, or a number read by `tonumber`), if the native
/// float is indistinguishable from it: the text is how jaq prints that float (so `tostring`
/// agrees), and serde_json reads the text to the same float (as `jq_value::from_jaq` does).
pub(super) fn decimal(text: &str) -> Option<Value> {
    let f: f64 = text.parse().ok()?;
    if !f.is_finite() || JaqNum::Float(f).to_string() != text {
        return None;
    }
    let n: Number = serde_json::from_str(text).ok()?;
    let same = n.as_f64().is_some_and(|g| g.to_bits() == f.to_bits()) && n.is_f64();
    same.then_some(Value::Number(n))
}

/// `tonumber`: a number as is; a string read as a sequence of JSON values, each of which must
/// be a number (so `""` yields nothing and `"1 2"` two numbers, as in jaq). The items end with
/// the first error: what follows cannot change the record's outcome (see `eval.rs`). Text
/// jaq's reader cannot read is left to jaq: after a syntax error the reader may not advance,
/// and jaq then yields errors without end.
pub(super) fn tonumber(v: &Value) -> Vec<Result<Value, Fail>> {
    let s = match v {
        Value::Number(_) => return vec![Ok(v.clone())],
        Value::String(s) => s,
        _ => return vec![Err(Fail::Error(error_type(v, "string")))],
    };
    let mut items = Vec::new();
    for parsed in jaq_json::read::parse_many(s.as_bytes()) {
        items.push(match parsed {
            Ok(jaq_json::Val::Num(JaqNum::Int(i))) => i64::try_from(i)
                .map(Value::from)
                .map_err(|_| Fail::Delegate),
            Ok(jaq_json::Val::Num(JaqNum::Dec(text))) => decimal(&text).ok_or(Fail::Delegate),
            Ok(jaq_json::Val::Num(JaqNum::BigInt(_) | JaqNum::Float(_))) => Err(Fail::Delegate),
            Ok(_) => Err(Fail::Error("\"cannot parse as number\"".to_owned())),
            Err(_) => return vec![Err(Fail::Delegate)],
        });
    }
    if let Some(first_error) = items.iter().position(Result::is_err) {
        items.truncate(first_error + 1);
    }
    items
}

/// jaq's "cannot use {v} as {type}".
pub(super) fn error_type(v: &Value, typ: &str) -> String {
    format!("cannot use {} as {typ}", to_json(v))
}

/// jaq's "cannot calculate {l} {op} {r}".
pub(super) fn error_math(l: &Value, op: Math, r: &Value) -> String {
    format!(
        "cannot calculate {} {} {}",
        to_json(l),
        op.as_str(),
        to_json(r)
    )
}

/// jaq's "cannot index {v} with {k}".
pub(super) fn error_index(v: &Value, k: &Value) -> String {
    format!("cannot index {} with {}", to_json(v), to_json(k))
}
