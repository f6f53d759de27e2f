//! jq's order of values and truthiness, as jaq (jaq-json 2 `Val`) has them.

use std::cmp::Ordering;

use jaq_core::ops::Cmp;
use serde_json::Value;

use super::Fail;
use super::num::{num, num_cmp};

/// Neither `null` nor `false`.
pub(super) fn truthy(v: &Value) -> bool {
    !matches!(v, Value::Null | Value::Bool(false))
}

fn rank(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

/// jq's total order: null < false < true < numbers < strings < arrays < objects; objects by
/// their sorted keys, then by the values in that key order.
pub(super) fn compare(l: &Value, r: &Value) -> Result<Ordering, Fail> {
    Ok(match (l, r) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => num_cmp(num(x), num(y))?,
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (a, b) in x.iter().zip(y) {
                let o = compare(a, b)?;
                if o.is_ne() {
                    return Ok(o);
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => match (x.len(), y.len()) {
            (0, 0) => Ordering::Equal,
            (0, _) => Ordering::Less,
            (_, 0) => Ordering::Greater,
            _ => {
                let mut x: Vec<_> = x.iter().collect();
                let mut y: Vec<_> = y.iter().collect();
                x.sort_unstable_by(|a, b| a.0.cmp(b.0));
                y.sort_unstable_by(|a, b| a.0.cmp(b.0));
                let keys = x.iter().map(|e| e.0).cmp(y.iter().map(|e| e.0));
                if keys.is_ne() {
                    return Ok(keys);
                }
                for ((_, a), (_, b)) in x.iter().zip(&y) {
                    let o = compare(a, b)?;
                    if o.is_ne() {
                        return Ok(o);
                    }
                }
                Ordering::Equal
            }
        },
        _ => rank(l).cmp(&rank(r)),
    })
}

/// `l op r` for a comparison operator.
pub(super) fn cmp(op: Cmp, l: &Value, r: &Value) -> Result<bool, Fail> {
    let o = compare(l, r)?;
    Ok(match op {
        Cmp::Lt => o.is_lt(),
        Cmp::Le => o.is_le(),
        Cmp::Gt => o.is_gt(),
        Cmp::Ge => o.is_ge(),
        Cmp::Eq => o.is_eq(),
        Cmp::Ne => o.is_ne(),
    })
}
