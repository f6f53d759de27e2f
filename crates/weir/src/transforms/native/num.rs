//! Numbers as jaq (jaq-json 2 `Num`) has them, held in `serde_json::Number`.
//!
//! An integer that fits an `i64` is an integer, a larger one a big integer, anything else a
//! float. `+ - * %` of two integers stay integers; `/` and anything with a float yield a float.
//! Results jaq would hold as big integers or as non-finite floats (which print as `null`) are
//! [`Fail::Delegate`]d, as are big integers wherever they would be computed with.

use std::cmp::Ordering;

use jaq_core::ops::Math;
use serde_json::{Number, Value};

use super::Fail;

/// A number as jaq sees it.
#[derive(Clone, Copy, Debug)]
pub(super) enum Num {
    Int(i64),
    /// Above `i64::MAX`: a big integer in jaq.
    Big(u64),
    Float(f64),
}

pub(super) fn num(n: &Number) -> Num {
    match (n.as_i64(), n.as_u64()) {
        (Some(i), _) => Num::Int(i),
        (None, Some(u)) => Num::Big(u),
        // `as_f64` is `Some` for every number without `arbitrary_precision`.
        (None, None) => Num::Float(n.as_f64().unwrap_or(f64::NAN)),
    }
}

/// A float result; a non-finite one is left to jaq.
pub(super) fn float(f: f64) -> Result<Value, Fail> {
    Number::from_f64(f).map(Value::Number).ok_or(Fail::Delegate)
}

pub(super) fn int(i: Option<i64>) -> Result<Value, Fail> {
    i.map(Value::from).ok_or(Fail::Delegate)
}

/// jaq's `0.0 == -0.0`; NaN does not occur (non-finite floats are delegated).
fn float_cmp(l: f64, r: f64) -> Ordering {
    if l == 0.0 && r == 0.0 {
        Ordering::Equal
    } else {
        l.total_cmp(&r)
    }
}

pub(super) fn num_cmp(l: Num, r: Num) -> Result<Ordering, Fail> {
    use Num::{Big, Float, Int};
    Ok(match (l, r) {
        (Int(x), Int(y)) => x.cmp(&y),
        (Big(x), Big(y)) => x.cmp(&y),
        (Int(_), Big(_)) => Ordering::Less,
        (Big(_), Int(_)) => Ordering::Greater,
        (Int(i), Float(f)) => float_cmp(i as f64, f),
        (Float(f), Int(i)) => float_cmp(f, i as f64),
        (Float(x), Float(y)) => float_cmp(x, y),
        (Big(_), Float(_)) | (Float(_), Big(_)) => return Err(Fail::Delegate),
    })
}

/// `l op r` of two numbers (`x % 0` of integers is an error the caller has caught).
pub(super) fn num_math(op: Math, l: Num, r: Num) -> Result<Value, Fail> {
    use Num::{Big, Float, Int};
    let (x, y) = match (l, r) {
        (Big(_), _) | (_, Big(_)) => return Err(Fail::Delegate),
        (Int(x), Int(y)) => match op {
            Math::Add => return int(x.checked_add(y)),
            Math::Sub => return int(x.checked_sub(y)),
            Math::Mul => return int(x.checked_mul(y)),
            // `i64::MIN % -1` is 0 in jaq; `x % 0` is an error, caught by the caller.
            Math::Rem => return int(Some(x.checked_rem(y).unwrap_or(0))),
            Math::Div => (x as f64, y as f64),
        },
        (Int(i), Float(f)) => (i as f64, f),
        (Float(f), Int(i)) => (f, i as f64),
        (Float(x), Float(y)) => (x, y),
    };
    float(match op {
        Math::Add => x + y,
        Math::Sub => x - y,
        Math::Mul => x * y,
        Math::Div => x / y,
        Math::Rem => x % y,
    })
}
