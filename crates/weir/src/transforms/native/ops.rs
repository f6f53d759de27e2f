//! jaq's arithmetic on values (jaq-json 2 `Val`): `+ - * / %` and negation.

use jaq_core::ops::Math;
use serde_json::{Map, Value};

use super::Fail;
use super::json::{error_math, error_type};
use super::num::{Num, float, int, num, num_math};
use super::order::compare;

/// Above this many bytes, `string * n` is left to jaq rather than built here.
const MAX_REPEAT: usize = 1 << 20;

/// `l op r` for an arithmetic operator.
pub(super) fn math(op: Math, l: &Value, r: &Value) -> Result<Value, Fail> {
    use Value::{Array, Null, Number as N, Object, String as S};
    let fail = || Err(Fail::Error(error_math(l, op, r)));
    match (op, l, r) {
        (Math::Add, Null, x) | (Math::Add, x, Null) => Ok(x.clone()),
        (Math::Rem, N(x), N(y)) => {
            let is_int = |n| matches!(n, Num::Int(_) | Num::Big(_));
            let (x, y) = (num(x), num(y));
            if is_int(x) && matches!(y, Num::Int(0)) {
                return fail();
            }
            num_math(op, x, y)
        }
        (_, N(x), N(y)) => num_math(op, num(x), num(y)),
        (Math::Add, S(x), S(y)) => Ok(S([x.as_str(), y.as_str()].concat())),
        (Math::Add, Array(x), Array(y)) => Ok(Array(x.iter().chain(y).cloned().collect())),
        (Math::Add, Object(x), Object(y)) => {
            let mut m = x.clone();
            m.extend(y.iter().map(|(k, v)| (k.clone(), v.clone())));
            Ok(Object(m))
        }
        (Math::Sub, Array(x), Array(y)) => {
            // jaq looks elements up in a `BTreeSet`, which agrees with a search only while the
            // order is transitive: integers beyond 2^53 break that against floats.
            if !x.iter().chain(y).all(exact_in_f64) {
                return Err(Fail::Delegate);
            }
            let mut kept = Vec::with_capacity(x.len());
            for a in x {
                let mut found = false;
                for b in y {
                    if compare(a, b)?.is_eq() {
                        found = true;
                        break;
                    }
                }
                if !found {
                    kept.push(a.clone());
                }
            }
            Ok(Array(kept))
        }
        (Math::Mul, S(s), N(n)) | (Math::Mul, N(n), S(s)) => match num(n) {
            Num::Int(i) if i > 0 => {
                let times = usize::try_from(i).map_err(|_| Fail::Delegate)?;
                match s.len().checked_mul(times) {
                    Some(len) if len <= MAX_REPEAT => Ok(S(s.repeat(times))),
                    _ => Err(Fail::Delegate),
                }
            }
            Num::Int(_) => Ok(Null),
            Num::Big(_) => Err(Fail::Delegate),
            Num::Float(_) => fail(),
        },
        (Math::Mul, Object(x), Object(y)) => {
            let mut m = x.clone();
            deep_merge(&mut m, y);
            Ok(Object(m))
        }
        (Math::Div, S(x), S(y)) => Ok(Array(split(x, y))),
        _ => fail(),
    }
}

/// Every number in `v` compares with floats exactly.
fn exact_in_f64(v: &Value) -> bool {
    match v {
        Value::Number(n) => match num(n) {
            Num::Int(i) => i.unsigned_abs() <= 1 << 53,
            Num::Big(_) => false,
            Num::Float(_) => true,
        },
        Value::Array(a) => a.iter().all(exact_in_f64),
        Value::Object(o) => o.values().all(exact_in_f64),
        _ => true,
    }
}

/// `l * r` of two objects: `r` into `l`, merging objects found under the same key.
fn deep_merge(l: &mut Map<String, Value>, r: &Map<String, Value>) {
    for (k, v) in r {
        match (l.get_mut(k), v) {
            (Some(Value::Object(lo)), Value::Object(ro)) => deep_merge(lo, ro),
            (Some(lv), v) => *lv = v.clone(),
            (None, v) => {
                l.insert(k.clone(), v.clone());
            }
        }
    }
}

/// `s / sep`: no parts for an empty string, the characters for an empty separator.
fn split(s: &str, sep: &str) -> Vec<Value> {
    if s.is_empty() {
        Vec::new()
    } else if sep.is_empty() {
        s.chars().map(|c| Value::String(c.to_string())).collect()
    } else {
        s.split(sep).map(Value::from).collect()
    }
}

/// `-v`
pub(super) fn neg(v: &Value) -> Result<Value, Fail> {
    match v {
        Value::Number(n) => match num(n) {
            Num::Int(i) => int(i.checked_neg()),
            Num::Big(_) => Err(Fail::Delegate),
            Num::Float(f) => float(-f),
        },
        _ => Err(Fail::Error(error_type(v, "number"))),
    }
}
