//! Evaluating a node that yields exactly one item (a value or an error) on every input, without
//! the streaming machinery of `eval.rs`. Sub-filters run exactly when jaq runs them: `l op r`
//! and object entries also after an earlier one failed (the first error is the item), so that
//! whatever the native values cannot follow ([`Fail::Delegate`]) is found where jaq meets it.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::Fail;
use super::eval::until_error;
use super::ir::{Expr, Node, Part, Step};
use super::{access, json, ops, order};

/// Evaluates a node that yields exactly one item (`n.single`): its value, or its error.
pub(super) fn eval1<'a>(n: &'a Node, input: &'a Value) -> Result<Cow<'a, Value>, Fail> {
    let owned = |v: Value| Ok(Cow::Owned(v));
    match &n.expr {
        Expr::Id => Ok(Cow::Borrowed(input)),
        Expr::Const(v) => Ok(Cow::Borrowed(v)),
        Expr::Path(t, steps) => {
            // jaq has every key before it takes a step; the first error (of a key or a step) is
            // the item.
            let mut v = Ok(eval1(t, input)?);
            for step in steps {
                let Part::Index(k) = &step.part else {
                    return Err(Fail::Delegate);
                };
                v = match (v, delegated(eval1(k, input))?) {
                    (Err(e), _) | (_, Err(e)) => Err(e),
                    (Ok(Cow::Borrowed(v)), Ok(k)) => access::index(v, &k).map(Cow::Borrowed),
                    (Ok(Cow::Owned(v)), Ok(k)) => {
                        access::index(&v, &k).map(|c| Cow::Owned(c.clone()))
                    }
                };
                v = delegated(v)?;
            }
            v
        }
        Expr::Pipe(l, r) => match eval1(l, input)? {
            Cow::Borrowed(v) => eval1(r, v),
            Cow::Owned(v) => owned(eval1(r, &v)?.into_owned()),
        },
        Expr::Arr(f) => {
            let mut items = Vec::new();
            until_error(f, input, &mut |v| items.push(v.into_owned()))?;
            owned(Value::Array(items))
        }
        Expr::Obj(entries) => {
            // jaq builds every entry, also after one failed.
            let mut m = Ok(Map::with_capacity(entries.len()));
            for (k, v) in entries {
                let k = delegated(eval1(k, input).and_then(key))?;
                let v = delegated(eval1(v, input))?;
                m = match (m, k, v) {
                    (Err(e), ..) | (_, Err(e), _) | (.., Err(e)) => Err(e),
                    (Ok(mut m), Ok(k), Ok(v)) => {
                        m.insert(k, v.into_owned());
                        Ok(m)
                    }
                };
            }
            owned(Value::Object(m?))
        }
        Expr::Neg(f) => owned(ops::neg(&*eval1(f, input)?)?),
        Expr::Math(l, op, r) => {
            let (x, y) = both(eval1(l, input), eval1(r, input))?;
            owned(ops::math(*op, &x, &y)?)
        }
        Expr::Cmp(l, op, r) => {
            let (x, y) = both(eval1(l, input), eval1(r, input))?;
            owned(Value::Bool(order::cmp(*op, &x, &y)?))
        }
        Expr::Logic(l, stop, r) => {
            let b = if order::truthy(&*eval1(l, input)?) == *stop {
                *stop
            } else {
                order::truthy(&*eval1(r, input)?)
            };
            owned(Value::Bool(b))
        }
        Expr::Alt(l, r) => {
            let x = eval1(l, input)?;
            if order::truthy(&x) {
                Ok(x)
            } else {
                eval1(r, input)
            }
        }
        Expr::If(c, t, e) => {
            let c = order::truthy(&*eval1(c, input)?);
            eval1(if c { t } else { e }, input)
        }
        Expr::Not => owned(Value::Bool(!order::truthy(input))),
        Expr::Length => owned(access::length(input)?),
        Expr::ToString => owned(json::tostring(input)),
        Expr::Has(k) => owned(Value::Bool(access::has(input, &*eval1(k, input)?)?)),
        Expr::Del(path) => owned(access::delete(input.clone(), path)?),
        // Never single.
        Expr::Empty | Expr::Comma(..) | Expr::Select(_) | Expr::ToNumber => Err(Fail::Delegate),
    }
}

/// `r`, unless it is [`Fail::Delegate`]: that ends the evaluation at once.
pub(super) fn delegated<T>(r: Result<T, Fail>) -> Result<Result<T, Fail>, Fail> {
    match r {
        Err(Fail::Delegate) => Err(Fail::Delegate),
        r => Ok(r),
    }
}

/// Both operands of `l op r`: jaq runs `r` even when `l` failed (an error of `l` comes first).
fn both<A, B>(l: Result<A, Fail>, r: Result<B, Fail>) -> Result<(A, B), Fail> {
    let (l, r) = (delegated(l)?, delegated(r)?);
    Ok((l?, r?))
}

/// An object key: jaq accepts any value as a key, records only strings.
pub(super) fn key(k: Cow<'_, Value>) -> Result<String, Fail> {
    match k {
        Cow::Borrowed(Value::String(s)) => Ok(s.clone()),
        Cow::Owned(Value::String(s)) => Ok(s),
        _ => Err(Fail::Delegate),
    }
}

/// The keys of a path's index steps, evaluated on the path's input; jaq has them all (or the
/// first error among them) before it takes a step.
pub(super) fn keys<'a>(steps: &'a [Step], input: &'a Value) -> Result<Vec<Cow<'a, Value>>, Fail> {
    let mut keys = Ok(Vec::with_capacity(steps.len()));
    for step in steps {
        if let Part::Index(k) = &step.part {
            keys = match (keys, delegated(eval1(k, input))?) {
                (Err(e), _) | (_, Err(e)) => Err(e),
                (Ok(mut keys), Ok(k)) => {
                    keys.push(k);
                    Ok(keys)
                }
            };
        }
    }
    keys
}
