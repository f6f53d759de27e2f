//! From jaq's syntax tree to a native program, or `None` when the program leaves the subset.
//!
//! The tree comes from jaq's own parser, so what is accepted and how it is read (precedence,
//! `?`, string escapes) is jaq's. Names resolve to jaq's standard definitions because the main
//! program of a native program defines nothing itself (`def` is outside the subset).

use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::{BinaryOp, Term};
use jaq_core::ops::Math;
use jaq_core::path::{self, Opt};
use serde_json::{Map, Value};

use super::ir::{Expr, Node, Part, Step};
use super::json;

/// Compiles a term, or `None` if any part of it is outside the subset.
pub(super) fn term(t: &Term<&str>) -> Option<Node> {
    let expr = match t {
        Term::Id => Expr::Id,
        Term::Num(n) => Expr::Const(number(n)?),
        Term::Str(None, parts) => return string(parts),
        Term::Arr(None) => Expr::Const(Value::Array(Vec::new())),
        Term::Arr(Some(f)) => Expr::Arr(Box::new(term(f)?)),
        Term::Obj(entries) if entries.is_empty() => Expr::Const(Value::Object(Map::new())),
        Term::Obj(entries) => Expr::Obj(
            entries
                .iter()
                .map(|(k, v)| entry(k, v.as_ref()))
                .collect::<Option<_>>()?,
        ),
        Term::Neg(f) => Expr::Neg(Box::new(term(f)?)),
        Term::BinOp(l, op, r) => binop(l, op, r)?,
        Term::Path(t, path) => Expr::Path(
            Box::new(term(t)?),
            path.0.iter().map(step).collect::<Option<_>>()?,
        ),
        Term::Call(name, args) => return call(name, args),
        Term::IfThenElse(if_thens, else_) => return ite(if_thens, else_.as_deref()),
        _ => return None,
    };
    Some(Node::new(expr))
}

/// A number literal: jaq reads an `isize` as an integer, any other integer as a big integer
/// (outside the subset) and keeps anything else as decimal text (see [`json::decimal`]).
fn number(text: &str) -> Option<Value> {
    match text.parse::<i64>() {
        Ok(i) => Some(Value::from(i)),
        Err(_) => json::decimal(text),
    }
}

/// A string, possibly interpolated: jaq adds its parts up, right to left, each `\(f)` being
/// `f | tostring`. Adjacent literal parts are joined first (string addition is associative).
fn string(parts: &[StrPart<&str, Term<&str>>]) -> Option<Node> {
    let text = |s: String| Node::new(Expr::Const(Value::String(s)));
    let mut pieces = Vec::new();
    let mut literal: Option<String> = None;
    for part in parts {
        match part {
            StrPart::Str(s) => literal.get_or_insert_with(String::new).push_str(s),
            StrPart::Char(c) => literal.get_or_insert_with(String::new).push(*c),
            StrPart::Term(f) => {
                pieces.extend(literal.take().map(text));
                let f = Box::new(term(f)?);
                pieces.push(Node::new(Expr::Pipe(f, Node::boxed(Expr::ToString))));
            }
        }
    }
    pieces.extend(literal.take().map(text));
    let mut rev = pieces.into_iter().rev();
    let last = rev.next().unwrap_or_else(|| text(String::new()));
    Some(rev.fold(last, |acc, p| {
        Node::new(Expr::Math(Box::new(p), Math::Add, Box::new(acc)))
    }))
}

/// An object entry; `{k}` stands for `{k: .[k]}`.
fn entry(key: &Term<&str>, value: Option<&Term<&str>>) -> Option<(Node, Node)> {
    if matches!(key, Term::Var(_)) {
        return None;
    }
    let key = term(key)?;
    let value = match value {
        Some(v) => term(v)?,
        None if key.single => {
            let part = Part::Index(key.clone());
            let step = Step {
                part,
                optional: false,
            };
            Node::new(Expr::Path(Node::boxed(Expr::Id), vec![step]))
        }
        None => return None,
    };
    Some((key, value))
}

fn binop(l: &Term<&str>, op: &BinaryOp<&str>, r: &Term<&str>) -> Option<Expr> {
    let (l, r) = (Box::new(term(l)?), Box::new(term(r)?));
    Some(match op {
        BinaryOp::Pipe(None) => Expr::Pipe(l, r),
        BinaryOp::Comma => Expr::Comma(l, r),
        BinaryOp::Alt => Expr::Alt(l, r),
        BinaryOp::Or => Expr::Logic(l, true, r),
        BinaryOp::And => Expr::Logic(l, false, r),
        BinaryOp::Math(op) => Expr::Math(l, *op, r),
        BinaryOp::Cmp(op) => Expr::Cmp(l, *op, r),
        _ => return None,
    })
}

/// A path step: an index with a single-valued key, or `[]`; slices are outside the subset.
fn step((part, opt): &(path::Part<Term<&str>>, Opt)) -> Option<Step> {
    let part = match part {
        path::Part::Index(k) => Part::Index(term(k).filter(|k| k.single)?),
        path::Part::Range(None, None) => Part::Iter,
        path::Part::Range(..) => return None,
    };
    let optional = matches!(opt, Opt::Optional);
    Some(Step { part, optional })
}

/// A call of a filter of jaq's standard library.
fn call(name: &str, args: &[Term<&str>]) -> Option<Node> {
    let expr = match (name, args) {
        ("empty", []) => Expr::Empty,
        ("not", []) => Expr::Not,
        ("length", []) => Expr::Length,
        ("tostring", []) => Expr::ToString,
        ("tonumber", []) => Expr::ToNumber,
        ("null", []) => Expr::Const(Value::Null),
        ("true", []) => Expr::Const(Value::Bool(true)),
        ("false", []) => Expr::Const(Value::Bool(false)),
        ("select", [f]) => Expr::Select(Box::new(term(f)?)),
        ("has", [k]) => Expr::Has(Box::new(term(k)?)),
        ("del", [p]) => Expr::Del(del_path(p)?),
        _ => return None,
    };
    Some(Node::new(expr))
}

/// The path of `del(...)`: `.k1.k2...` with literal string or integer keys only.
fn del_path(p: &Term<&str>) -> Option<Vec<(Value, bool)>> {
    let Term::Path(start, path) = p else {
        return None;
    };
    if !matches!(**start, Term::Id) {
        return None;
    }
    let key = |k: &Term<&str>| match k {
        Term::Str(None, parts) => match &parts[..] {
            [StrPart::Str(s)] => Some(Value::from(*s)),
            _ => None,
        },
        Term::Num(n) => n.parse::<i64>().ok().map(Value::from),
        Term::Neg(n) => match &**n {
            Term::Num(n) => n.parse::<i64>().ok()?.checked_neg().map(Value::from),
            _ => None,
        },
        _ => None,
    };
    path.0
        .iter()
        .map(|(part, opt)| match part {
            path::Part::Index(k) => Some((key(k)?, matches!(opt, Opt::Optional))),
            path::Part::Range(..) => None,
        })
        .collect()
}

/// `if c1 then t1 elif c2 then t2 ... else e end`, nested from the last branch.
fn ite(if_thens: &[(Term<&str>, Term<&str>)], else_: Option<&Term<&str>>) -> Option<Node> {
    let mut acc = match else_ {
        Some(e) => term(e)?,
        None => Node::new(Expr::Id),
    };
    for (c, t) in if_thens.iter().rev() {
        let (c, t) = (Box::new(term(c)?), Box::new(term(t)?));
        acc = Node::new(Expr::If(c, t, Box::new(acc)));
    }
    Some(acc)
}
