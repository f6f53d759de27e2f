//! Conversions between the engine's JSON values and jaq's.

use jaq_json::{Map, Num, Rc, Val};
use serde_json::{Number, Value};

/// Converts a record value into a jaq value.
pub fn to_jaq(value: &Value) -> Val {
    match value {
        Value::Null => Val::Null,
        Value::Bool(b) => Val::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Val::Num(Num::from_integral(i))
            } else if let Some(u) = n.as_u64() {
                Val::Num(Num::from_integral(u))
            } else {
                Val::Num(Num::Float(n.as_f64().unwrap_or(f64::NAN)))
            }
        }
        Value::String(s) => Val::utf8_str(s.clone().into_bytes()),
        Value::Array(items) => Val::Arr(Rc::new(items.iter().map(to_jaq).collect())),
        Value::Object(fields) => {
            let mut map = Map::default();
            map.reserve(fields.len());
            for (k, v) in fields {
                map.insert(Val::utf8_str(k.clone().into_bytes()), to_jaq(v));
            }
            Val::obj(map)
        }
    }
}

/// Converts a jaq value back into a record value. Non-finite floats become `null` (as jq
/// prints them); byte strings and non-string keys become strings.
pub fn from_jaq(value: &Val) -> Value {
    match value {
        Val::Null => Value::Null,
        Val::Bool(b) => Value::Bool(*b),
        Val::Num(n) => num(n),
        Val::TStr(b) | Val::BStr(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
        Val::Arr(items) => Value::Array(items.iter().map(from_jaq).collect()),
        Val::Obj(fields) => {
            let mut map = serde_json::Map::with_capacity(fields.len());
            for (k, v) in fields.iter() {
                let key = match k {
                    Val::TStr(b) | Val::BStr(b) => String::from_utf8_lossy(b).into_owned(),
                    other => other.to_string(),
                };
                map.insert(key, from_jaq(v));
            }
            Value::Object(map)
        }
    }
}

fn num(n: &Num) -> Value {
    match n {
        Num::Int(i) => Value::Number(Number::from(*i as i64)),
        Num::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Num::BigInt(_) | Num::Dec(_) => {
            let text = n.to_string();
            serde_json::from_str::<Number>(&text).map_or(Value::Null, Value::Number)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_json_values() {
        let v: Value = serde_json::from_str(
            r#"{"b":1,"a":[true,null,-3,2.5,"é"],"n":{"x":18446744073709551615}}"#,
        )
        .expect("valid json");
        assert_eq!(from_jaq(&to_jaq(&v)), v);
    }
}
