//! Looking into values as jaq (jaq-json 2 `Val`) does: `.[k]`, `.[]`, `has`, `length`, `del`.

use serde_json::Value;

use super::Fail;
use super::json::{error_index, error_type};
use super::num::{Num, float, int, num};

/// An array index: negative counts from the end; `None` outside the array.
fn position(i: i64, len: usize) -> Option<usize> {
    let abs = usize::try_from(i.unsigned_abs()).ok()?;
    let at = if i >= 0 {
        Some(abs)
    } else {
        len.checked_sub(abs)
    };
    at.filter(|at| *at < len)
}

static NULL: Value = Value::Null;

/// `.[k]`: `null` for what is missing; an error for what cannot be indexed.
/// Objects up to this size are searched key by key: cheaper than hashing the key.
const SCAN_UP_TO: usize = 8;

/// The value of field `k`.
fn field<'v>(o: &'v serde_json::Map<String, Value>, k: &str) -> Option<&'v Value> {
    if o.len() <= SCAN_UP_TO {
        o.iter().find(|(key, _)| key.as_str() == k).map(|(_, v)| v)
    } else {
        o.get(k)
    }
}

pub(super) fn index<'v>(v: &'v Value, k: &Value) -> Result<&'v Value, Fail> {
    match (v, k) {
        (Value::Null, _) => Ok(&NULL),
        (Value::Object(o), Value::String(k)) => Ok(field(o, k).unwrap_or(&NULL)),
        // Non-string keys can be looked up in jaq, and are never found in a record.
        (Value::Object(_), _) => Ok(&NULL),
        (Value::Array(a), Value::Number(n)) => match num(n) {
            Num::Int(i) => Ok(position(i, a.len()).map_or(&NULL, |i| &a[i])),
            Num::Big(_) => Ok(&NULL),
            Num::Float(_) => Err(Fail::Error(error_index(v, k))),
        },
        // Indices of a sub-array; slices by `{start, end}`.
        (Value::Array(_), Value::Array(_))
        | (Value::Array(_) | Value::String(_), Value::Object(_)) => Err(Fail::Delegate),
        _ => Err(Fail::Error(error_index(v, k))),
    }
}

/// `has(k)`: whether `.[k]` finds something.
pub(super) fn has(v: &Value, k: &Value) -> Result<bool, Fail> {
    match (v, k) {
        (Value::Null, _) => Ok(false),
        (Value::Object(o), Value::String(k)) => Ok(o.contains_key(k)),
        (Value::Object(_), _) => Ok(false),
        (Value::Array(a), Value::Number(n)) => match num(n) {
            Num::Int(i) => Ok(position(i, a.len()).is_some()),
            Num::Big(_) => Ok(false),
            Num::Float(_) => Err(Fail::Error(error_index(v, k))),
        },
        (Value::Array(_), Value::Array(_)) => Ok(true),
        (Value::Array(_) | Value::String(_), Value::Object(_)) => Err(Fail::Delegate),
        _ => Err(Fail::Error(error_index(v, k))),
    }
}

/// `.[]`: the elements of an array or the values of an object.
pub(super) fn values(v: &Value) -> Result<Box<dyn Iterator<Item = &Value> + '_>, Fail> {
    match v {
        Value::Array(a) => Ok(Box::new(a.iter())),
        Value::Object(o) => Ok(Box::new(o.values())),
        _ => Err(Fail::Error(error_type(v, "iterable (array or object)"))),
    }
}

/// `length`: 0 for null, the absolute value of a number, the characters of a string.
pub(super) fn length(v: &Value) -> Result<Value, Fail> {
    match v {
        Value::Null => Ok(Value::from(0)),
        Value::Bool(_) => Err(Fail::Error(format!("{v} has no length"))),
        Value::Number(n) => match num(n) {
            Num::Int(i) => int(i.checked_abs()),
            Num::Big(_) => Ok(v.clone()),
            Num::Float(f) => float(f.abs()),
        },
        Value::String(s) => Ok(Value::from(s.chars().count())),
        Value::Array(a) => Ok(Value::from(a.len())),
        Value::Object(o) => Ok(Value::from(o.len())),
    }
}

/// `del(.k1.k2...)`, as jaq's `path |= empty`: a missing key on the way is created (as the result
/// of deleting below `null`), a removed object key takes the place of the last key.
pub(super) fn delete(v: Value, path: &[(Value, bool)]) -> Result<Value, Fail> {
    let Some(((key, optional), rest)) = path.split_first() else {
        return Ok(v);
    };
    let fail = |v: Value| {
        if *optional {
            Ok(v)
        } else {
            Err(Fail::Error(error_type(&v, "iterable (array or object)")))
        }
    };
    match (v, key) {
        (Value::Object(mut o), Value::String(k)) => {
            if rest.is_empty() {
                o.swap_remove(k);
            } else {
                match o.get_mut(k) {
                    Some(child) => *child = delete(std::mem::take(child), rest)?,
                    None => {
                        let y = delete(Value::Null, rest)?;
                        o.insert(k.clone(), y);
                    }
                }
            }
            Ok(Value::Object(o))
        }
        // A non-string key is never found; below it jaq would insert a non-string key.
        (Value::Object(o), _) if rest.is_empty() => Ok(Value::Object(o)),
        (Value::Object(_), _) => Err(Fail::Delegate),
        (Value::Array(mut a), k) => {
            let at = match k {
                Value::Number(n) => match num(n) {
                    Num::Int(i) => position(i, a.len()),
                    _ => None,
                },
                _ => None,
            };
            let Some(at) = at else {
                return if *optional {
                    Ok(Value::Array(a))
                } else {
                    Err(Fail::Error(format!("cannot delete {k} of an array")))
                };
            };
            if rest.is_empty() {
                a.remove(at);
            } else {
                a[at] = delete(std::mem::take(&mut a[at]), rest)?;
            }
            Ok(Value::Array(a))
        }
        (v, _) => fail(v),
    }
}
