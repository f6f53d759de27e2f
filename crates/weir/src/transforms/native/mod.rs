//! Native execution of the common subset of jq, on `serde_json::Value`, without jaq.
//!
//! A call into jaq costs microseconds per record (the record is converted to jaq values and
//! back, and every object built goes through jaq's maps); the filters people write most —
//! `select(.amount > 10) | {id, user, amount}` — need a small fraction of that. So a jq program
//! is parsed once by jaq's own parser (syntax and errors are jaq's) and, when its syntax tree
//! lies entirely in the subset below, compiled into a [`NativeProgram`] that walks the tree over
//! borrowed record values. Anything else runs on jaq, unchanged.
//!
//! # The subset
//!
//! ```text
//! .   .a   .a.b   ."k"   .["k"]   .[0]   .[-1]   .[.k]   .[]   .a?   .[]?   (f).a
//!                                         (a key is any filter of the subset with one output)
//! null  true  false  numbers  "strings"  "interpolated \(f)"
//! [f]   {a, "b", c: f, "d": f, (f): g}
//! f | g   f, g   f // g   f and g   f or g   not   empty
//! ==  !=  <  <=  >  >=   +  -  *  /  %   -f
//! if c then f elif c2 then g else h end
//! select(f)   has(f)   del(.a.b[0])   length   tostring   tonumber
//! ```
//!
//! Outside it (so on jaq): variables and `as`, `def`, `reduce`/`foreach`, `try`/`catch` and `?`
//! after anything but a path step, `..`, slices, assignments and updates (`=`, `|=`, `+=`, ...),
//! `@format` strings, every other filter (`map`, `test`, `ascii_downcase`, ...), module
//! directives, a `del` path that is not literal keys, number literals jaq keeps as big
//! integers, and decimal literals that jaq would print differently from the float they denote
//! (`1e2`, `0.10`; `1.5` and `1.0` are in).
//!
//! # Semantics
//!
//! jaq's (jaq-core 3, jaq-std 3, jaq-json 2), value for value, in jaq's output order, errors
//! included: `eval.rs` and `single.rs` for streams and errors, `num.rs`, `order.rs`, `ops.rs` and `access.rs`
//! for values, `json.rs` for `tostring` and `tonumber`. Where a record would make jaq compute
//! something the native values cannot hold exactly (a result beyond `i64`, a non-finite float,
//! a big integer in arithmetic, an object key that is not a string, an array or `{start, end}`
//! index), evaluation stops with [`Fail::Delegate`] and the caller runs that record on jaq
//! instead: correctness over speed.
//!
//! Choices of jaq this follows where jq 1.7 differs: `l op r` runs `l` outermost
//! (`(1,2) + (10,20)` is 11, 21, 12, 22); an error of `l` vanishes when `r` yields nothing;
//! `//` keeps the errors of its left side; `{} | .[0]` is `null`; `del(.a)` moves the last key
//! into the place of `a`; `%` of floats is a float remainder; `"1 2" | tonumber` yields two
//! numbers.

mod access;
mod compile;
mod demand;
mod eval;
mod ir;
mod json;
mod num;
mod ops;
mod order;
mod single;

#[cfg(test)]
mod differential;
#[cfg(test)]
mod tests;

use std::borrow::Cow;

use serde_json::Value;

/// Why a native program produced no result for a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Fail {
    /// The record fails, as it does on jaq; the message is worded like jaq's.
    Error(String),
    /// The native values cannot follow jaq exactly on this record: run it on jaq.
    Delegate,
}

/// A jq program of the subset, compiled to run without jaq.
#[derive(Clone, Debug)]
pub(crate) struct NativeProgram {
    root: ir::Node,
}

impl NativeProgram {
    /// Compiles `program`, which jaq has accepted already; `None` if it leaves the subset.
    pub(crate) fn compile(program: &str) -> Option<Self> {
        // The main program of a file without module directives is exactly one term.
        let term = jaq_core::load::parse(program, |p| p.term())?;
        compile::term(&term).map(|root| Self { root })
    }

    /// The top-level fields of its input the program reads, when it reads no others and never
    /// uses the input itself as a value (see [`demand`]).
    pub(crate) fn input_fields(&self) -> Option<Vec<String>> {
        demand::input_fields(&self.root)
    }

    /// Runs the program on `input`, handing each output to `out` in order.
    ///
    /// # Errors
    /// The record's first jq error, or [`Fail::Delegate`]. Outputs already handed to `out` are
    /// then to be discarded.
    pub(crate) fn run(
        &self,
        input: &Value,
        out: &mut dyn FnMut(Cow<'_, Value>),
    ) -> Result<(), Fail> {
        eval::until_error(&self.root, input, out)
    }
}
