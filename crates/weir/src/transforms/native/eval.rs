//! Running a native program: a tree walk over borrowed values.
//!
//! As in jaq, a filter yields a stream of items, each a value or an error, and an error does not
//! end the stream: consumers pass error items on, except that `l op r` (and object
//! construction) pairs each item of `l` with each item of `r`, so nothing of `l`, errors
//! included, comes out when `r` yields nothing, and `[f]` stops at the first error of `f`. Items
//! come in jaq's order (for `l op r`: each item of `l`, with each item of `r`, `l` outermost), and
//! a sub-filter runs exactly when jaq runs it. Values are borrowed from the input wherever
//! possible; nodes known to yield exactly one item skip the streaming machinery (`single.rs`).
//!
//! Hence nothing after the first error of a stream can change a record's outcome: an error item
//! either reaches the output, and the record fails there ([`until_error`]), or it is dropped
//! with everything else of its stream (paired with nothing).

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::Fail;
use super::ir::{Expr, Node, Part, Step};
use super::single::{eval1, key, keys};
use super::{access, json, ops, order};

/// Ends a run early.
pub(super) enum Abort {
    /// The native values cannot follow jaq here: run the record on jaq.
    Delegate,
    /// The sink has seen enough (an error it stops at).
    Stop,
}

/// One output of a filter: a value, or an error message.
pub(super) type Item<'v> = Result<Cow<'v, Value>, String>;

/// Receives the items of a filter, in order.
pub(super) type Sink<'s> = &'s mut dyn FnMut(Item<'_>) -> Result<(), Abort>;

/// Runs `n` on `input` until its first error: the values go to `out`.
pub(super) fn until_error(
    n: &Node,
    input: &Value,
    out: &mut dyn FnMut(Cow<'_, Value>),
) -> Result<(), Fail> {
    let mut error = None;
    let result = run(n, input, &mut |item| match item {
        Ok(v) => {
            out(v);
            Ok(())
        }
        Err(e) => {
            error = Some(e);
            Err(Abort::Stop)
        }
    });
    match (result, error) {
        (Err(Abort::Delegate), _) => Err(Fail::Delegate),
        (_, Some(e)) => Err(Fail::Error(e)),
        (Ok(()), None) => Ok(()),
        (Err(Abort::Stop), None) => Err(Fail::Delegate),
    }
}

fn emit(r: Result<Cow<'_, Value>, Fail>, out: Sink<'_>) -> Result<(), Abort> {
    match r {
        Ok(v) => out(Ok(v)),
        Err(Fail::Error(e)) => out(Err(e)),
        Err(Fail::Delegate) => Err(Abort::Delegate),
    }
}

fn emit_value(r: Result<Value, Fail>, out: Sink<'_>) -> Result<(), Abort> {
    emit(r.map(Cow::Owned), out)
}

/// Runs `n` on `input`, handing each item to `out`.
pub(super) fn run(n: &Node, input: &Value, out: Sink<'_>) -> Result<(), Abort> {
    if n.single {
        return emit(eval1(n, input), out);
    }
    match &n.expr {
        Expr::Empty => Ok(()),
        Expr::Comma(l, r) => {
            run(l, input, out)?;
            run(r, input, out)
        }
        Expr::Pipe(l, r) => run(l, input, &mut |x| match x {
            Ok(v) => run(r, &v, out),
            Err(e) => out(Err(e)),
        }),
        Expr::Select(f) => run(f, input, &mut |c| match c {
            Ok(c) if order::truthy(&c) => out(Ok(Cow::Borrowed(input))),
            Ok(_) => Ok(()),
            Err(e) => out(Err(e)),
        }),
        Expr::Path(t, steps) => run(t, input, &mut |v| match v {
            Ok(v) => path(steps, input, v, out),
            Err(e) => out(Err(e)),
        }),
        Expr::Obj(entries) => object(entries, input, &mut |m| {
            out(m.map(|m| Cow::Owned(Value::Object(m))))
        }),
        Expr::Neg(f) => run(f, input, &mut |v| match v {
            Ok(v) => emit_value(ops::neg(&v), out),
            Err(e) => out(Err(e)),
        }),
        Expr::Math(l, op, r) => pairs(l, r, input, out, &|x, y| ops::math(*op, x, y)),
        Expr::Cmp(l, op, r) => pairs(l, r, input, out, &|x, y| {
            order::cmp(*op, x, y).map(Value::Bool)
        }),
        Expr::Logic(l, stop, r) => run(l, input, &mut |x| match x {
            Ok(x) if order::truthy(&x) == *stop => out(Ok(Cow::Owned(Value::Bool(*stop)))),
            Ok(_) => run(r, input, &mut |y| {
                out(y.map(|y| Cow::Owned(Value::Bool(order::truthy(&y)))))
            }),
            Err(e) => out(Err(e)),
        }),
        Expr::Alt(l, r) => {
            // The truthy values and the errors of `l`, else the items of `r`.
            let mut any = false;
            run(l, input, &mut |x| match x {
                Ok(v) if !order::truthy(&v) => Ok(()),
                x => {
                    any = true;
                    out(x)
                }
            })?;
            if any { Ok(()) } else { run(r, input, out) }
        }
        Expr::If(c, t, e) => run(c, input, &mut |x| match x {
            Ok(x) => run(if order::truthy(&x) { t } else { e }, input, out),
            Err(err) => out(Err(err)),
        }),
        Expr::ToNumber => json::tonumber(input)
            .into_iter()
            .try_for_each(|item| emit_value(item, out)),
        Expr::Has(k) => run(k, input, &mut |k| match k {
            Ok(k) => emit_value(access::has(input, &k).map(Value::Bool), out),
            Err(e) => out(Err(e)),
        }),
        // Always single.
        Expr::Id
        | Expr::Const(_)
        | Expr::Arr(_)
        | Expr::Not
        | Expr::Length
        | Expr::ToString
        | Expr::Del(_) => emit(eval1(n, input), out),
    }
}

/// jaq's cartesian product: each item of `l` with each item of `r` (`r` runs anew for each
/// item of `l`); an error of `l` comes before one of `r`.
fn pairs(
    l: &Node,
    r: &Node,
    input: &Value,
    out: Sink<'_>,
    f: &dyn Fn(&Value, &Value) -> Result<Value, Fail>,
) -> Result<(), Abort> {
    run(l, input, &mut |x| {
        run(r, input, &mut |y| match (&x, y) {
            (Err(e), _) => out(Err(e.clone())),
            (Ok(_), Err(e)) => out(Err(e)),
            (Ok(x), Ok(y)) => emit_value(f(x, &y), out),
        })
    })
}

/// The path `steps` from `v`, an output of the path's start run on `root`.
fn path(steps: &[Step], root: &Value, v: Cow<'_, Value>, out: Sink<'_>) -> Result<(), Abort> {
    match keys(steps, root) {
        Ok(keys) => walk(steps, &keys, v, out),
        Err(e) => emit(Err(e), out),
    }
}

/// The remaining `steps` (with the `keys` of their index steps) from `v`. A step marked `?`
/// drops its own error; errors further on pass.
fn walk(
    steps: &[Step],
    keys: &[Cow<'_, Value>],
    v: Cow<'_, Value>,
    out: Sink<'_>,
) -> Result<(), Abort> {
    let Some((step, rest)) = steps.split_first() else {
        return out(Ok(v));
    };
    let failed = |e: Fail, out: Sink<'_>| match e {
        Fail::Error(_) if step.optional => Ok(()),
        e => emit(Err(e), out),
    };
    match (&step.part, keys.split_first()) {
        (Part::Index(_), Some((k, keys))) => {
            let child = match &v {
                Cow::Borrowed(v) => access::index(v, k).map(Cow::Borrowed),
                Cow::Owned(v) => access::index(v, k).map(|c| Cow::Owned(c.clone())),
            };
            match child {
                Ok(c) => walk(rest, keys, c, out),
                Err(e) => failed(e, out),
            }
        }
        (Part::Index(_), None) => Err(Abort::Delegate),
        (Part::Iter, _) => match access::values(&v) {
            Ok(mut items) => items.try_for_each(|c| walk(rest, keys, Cow::Borrowed(c), out)),
            Err(e) => failed(e, out),
        },
    }
}

type MapSink<'s> = &'s mut dyn FnMut(Result<Map<String, Value>, String>) -> Result<(), Abort>;

/// The items of `{k1: v1, ...}`, which jaq builds as `{k1: v1} + ({k2: v2} + ...)`: each item
/// of the first entry (each key with each value) with each item of the rest; an object keeps
/// the first position and the last value of a repeated key.
fn object(entries: &[(Node, Node)], input: &Value, out: MapSink<'_>) -> Result<(), Abort> {
    let Some(((k, v), rest)) = entries.split_first() else {
        return out(Ok(Map::new()));
    };
    run(k, input, &mut |kx| {
        run(v, input, &mut |vx| {
            let first = match (&kx, vx) {
                (Err(e), _) => Err(e.clone()),
                (Ok(_), Err(e)) => Err(e),
                (Ok(k), Ok(v)) => match key(Cow::Borrowed(&**k)) {
                    Ok(k) => Ok((k, v.into_owned())),
                    Err(_) => return Err(Abort::Delegate),
                },
            };
            if rest.is_empty() {
                return out(first.map(|(k, v)| Map::from_iter([(k, v)])));
            }
            object(rest, input, &mut |others| {
                out(match (&first, others) {
                    (Err(e), _) => Err(e.clone()),
                    (Ok(_), Err(e)) => Err(e),
                    (Ok((k, v)), Ok(others)) => {
                        let mut m = Map::with_capacity(others.len() + 1);
                        m.insert(k.clone(), v.clone());
                        m.extend(others);
                        Ok(m)
                    }
                })
            })
        })
    })
}
