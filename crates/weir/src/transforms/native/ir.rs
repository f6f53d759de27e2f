//! The native program: a small tree of jq constructs, each node knowing whether it always yields
//! exactly one output (so the evaluator can skip the streaming machinery for it).

use jaq_core::ops::{Cmp, Math};
use serde_json::Value;

/// A node of the native program.
#[derive(Clone, Debug)]
pub(super) struct Node {
    pub(super) expr: Expr,
    /// Yields exactly one value or an error, on every input.
    pub(super) single: bool,
}

/// A jq construct of the subset. Children are evaluated on the node's input unless said otherwise.
#[derive(Clone, Debug)]
pub(super) enum Expr {
    /// `.`
    Id,
    /// A literal (`null`, `true`, `1`, `"s"`, `[]`, `{}`).
    Const(Value),
    /// `t` followed by path steps, e.g. `.a.b[0]`, `.[]?`; the keys are evaluated on the input.
    Path(Box<Node>, Vec<Step>),
    /// `l | r`: `r` runs on each output of `l`.
    Pipe(Box<Node>, Box<Node>),
    /// `l, r`
    Comma(Box<Node>, Box<Node>),
    /// `empty`
    Empty,
    /// `[f]`
    Arr(Box<Node>),
    /// `{k1: v1, ...}`, which jaq computes as `{k1: v1} + ({k2: v2} + ...)`.
    Obj(Vec<(Node, Node)>),
    /// `-f`
    Neg(Box<Node>),
    /// `l + r`, ... (every output of `l` with every output of `r`, `l` outermost).
    Math(Box<Node>, Math, Box<Node>),
    /// `l == r`, ...
    Cmp(Box<Node>, Cmp, Box<Node>),
    /// `l or r` when the flag is true, `l and r` when false (the value that short-circuits).
    Logic(Box<Node>, bool, Box<Node>),
    /// `l // r`
    Alt(Box<Node>, Box<Node>),
    /// `if c then t else e end` (`elif` chains nest; a missing `else` is `.`).
    If(Box<Node>, Box<Node>, Box<Node>),
    /// `select(f)`
    Select(Box<Node>),
    /// `not`
    Not,
    /// `length`
    Length,
    /// `tostring`, and each `\(f)` of a string interpolation (after `f`).
    ToString,
    /// `tonumber`
    ToNumber,
    /// `has(k)`
    Has(Box<Node>),
    /// `del(.k1.k2...)` with literal keys (strings or integers) and their optionality.
    Del(Vec<(Value, bool)>),
}

/// One step of a path.
#[derive(Clone, Debug)]
pub(super) struct Step {
    pub(super) part: Part,
    /// `?`: an error of this step yields nothing instead.
    pub(super) optional: bool,
}

/// What a path step does.
#[derive(Clone, Debug)]
pub(super) enum Part {
    /// `.[k]` (`.k`, `."k"`, `.[0]`); `k` is single-valued.
    Index(Node),
    /// `.[]`
    Iter,
}

impl Node {
    /// Wraps `expr`, working out whether it always yields exactly one output.
    pub(super) fn new(expr: Expr) -> Self {
        let single = match &expr {
            Expr::Id
            | Expr::Const(_)
            | Expr::Arr(_)
            | Expr::Not
            | Expr::Length
            | Expr::ToString
            | Expr::Del(_) => true,
            Expr::Empty | Expr::Comma(..) | Expr::Select(_) | Expr::ToNumber => false,
            Expr::Path(t, steps) => {
                t.single
                    && steps
                        .iter()
                        .all(|s| !s.optional && matches!(s.part, Part::Index(_)))
            }
            Expr::Pipe(l, r)
            | Expr::Math(l, _, r)
            | Expr::Cmp(l, _, r)
            | Expr::Logic(l, _, r)
            | Expr::Alt(l, r) => l.single && r.single,
            Expr::Obj(entries) => entries.iter().all(|(k, v)| k.single && v.single),
            Expr::Neg(f) | Expr::Has(f) => f.single,
            Expr::If(c, t, e) => c.single && t.single && e.single,
        };
        Self { expr, single }
    }

    /// A boxed node.
    pub(super) fn boxed(expr: Expr) -> Box<Self> {
        Box::new(Self::new(expr))
    }
}
