//! Which top-level fields of its input record a native program reads.
//!
//! When a program only ever looks at a fixed set of top-level fields of the record and never
//! uses the record itself as a value (never outputs it, compares it, counts its keys or prints
//! it in an error), it computes the same outputs and errors on an object holding only those
//! fields. The source can then parse only them and skip the rest of each line (see
//! `sources/projection.rs`): that is most of the parsing cost of a wide record.
//!
//! The analysis is conservative: anything it does not know to be safe needs the whole record.

use std::collections::BTreeSet;

use serde_json::Value;

use super::ir::{Expr, Node, Part};

/// What evaluating a node on the record needs.
struct Reads {
    /// Top-level fields it may read.
    fields: BTreeSet<String>,
    /// It may output the record itself (`.`, `select(...)`).
    passes: bool,
}

impl Reads {
    fn none() -> Self {
        Self {
            fields: BTreeSet::new(),
            passes: false,
        }
    }

    fn union(mut self, other: Reads) -> Self {
        self.fields.extend(other.fields);
        self.passes |= other.passes;
        self
    }
}

/// The top-level fields `root` reads of its input, or `None` when it needs the whole record.
pub(super) fn input_fields(root: &Node) -> Option<Vec<String>> {
    let r = reads(root)?;
    // The program's output must never be the record itself: it would be the partial one.
    (!r.passes).then(|| r.fields.into_iter().collect())
}

/// A node whose output is used as a value: it must not be the record.
fn value(n: &Node) -> Option<Reads> {
    let r = reads(n)?;
    (!r.passes).then_some(r)
}

fn reads(n: &Node) -> Option<Reads> {
    Some(match &n.expr {
        Expr::Id => Reads {
            fields: BTreeSet::new(),
            passes: true,
        },
        Expr::Const(_) | Expr::Empty | Expr::Not => Reads::none(),
        Expr::Path(base, steps) => {
            let b = reads(base)?;
            let mut r = Reads {
                fields: b.fields,
                passes: false,
            };
            for (i, step) in steps.iter().enumerate() {
                match &step.part {
                    Part::Index(k) => {
                        // The key is computed on the record too.
                        r = r.union(value(k)?);
                        if i == 0 && b.passes {
                            // `.k` of the record itself: a literal string key only.
                            let Expr::Const(Value::String(key)) = &k.expr else {
                                return None;
                            };
                            r.fields.insert(key.clone());
                        }
                    }
                    Part::Iter if i == 0 && b.passes => return None,
                    Part::Iter => {}
                }
            }
            if steps.is_empty() && b.passes {
                return None;
            }
            r
        }
        Expr::Pipe(l, r) => {
            let left = reads(l)?;
            if left.passes {
                // `r` sees the record (among other values).
                let right = reads(r)?;
                Reads {
                    fields: left.fields.into_iter().chain(right.fields).collect(),
                    passes: right.passes,
                }
            } else {
                // `r` only sees values computed from the fields `l` read.
                left
            }
        }
        Expr::Comma(l, r) | Expr::Alt(l, r) => reads(l)?.union(reads(r)?),
        // Conditions only count as true or false, and an object is always true.
        Expr::If(c, t, e) => {
            let c = reads(c)?;
            let out = reads(t)?.union(reads(e)?);
            Reads {
                fields: c.fields.into_iter().chain(out.fields).collect(),
                passes: out.passes,
            }
        }
        Expr::Select(f) => Reads {
            fields: reads(f)?.fields,
            passes: true,
        },
        Expr::Logic(l, _, r) => Reads {
            fields: reads(l)?
                .fields
                .into_iter()
                .chain(reads(r)?.fields)
                .collect(),
            passes: false,
        },
        Expr::Arr(f) | Expr::Neg(f) => value(f)?,
        Expr::Math(l, _, r) | Expr::Cmp(l, _, r) => value(l)?.union(value(r)?),
        Expr::Obj(entries) => {
            let mut r = Reads::none();
            for (k, v) in entries {
                r = r.union(value(k)?).union(value(v)?);
            }
            r
        }
        // `has("k")` of the record: whether the field exists, which a partial record keeps.
        Expr::Has(k) => match &k.expr {
            Expr::Const(Value::String(key)) => Reads {
                fields: BTreeSet::from([key.clone()]),
                passes: false,
            },
            _ => return None,
        },
        // These look at the whole record (its size, its text, its keys).
        Expr::Length | Expr::ToString | Expr::ToNumber | Expr::Del(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::NativeProgram;

    fn fields(program: &str) -> Option<Vec<String>> {
        NativeProgram::compile(program)
            .expect("in the subset")
            .input_fields()
    }

    #[test]
    fn programs_that_read_fixed_fields_name_them() {
        let cases: &[(&str, &[&str])] = &[
            (
                "select(.amount > 10) | {id, user, amount}",
                &["amount", "id", "user"],
            ),
            ("{id, total: (.a * 2)}", &["a", "id"]),
            (".a.b", &["a"]),
            (".a[0], .b[]", &["a", "b"]),
            ("if .a then {b} else empty end", &["a", "b"]),
            (".a // .b", &["a", "b"]),
            ("\"\\(.a)-\\(.b)\"", &["a", "b"]),
            ("select(has(\"x\")) | .y", &["x", "y"]),
            ("select(.a and .b) | [.c]", &["a", "b", "c"]),
            (".a | length", &["a"]),
            ("(.a, .) | .b", &["a", "b"]),
            ("select(not) | .a", &["a"]),
            ("1", &[]),
        ];
        for (program, expected) in cases {
            let mut want: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
            want.sort();
            want.dedup();
            assert_eq!(fields(program), Some(want), "{program}");
        }
    }

    #[test]
    fn programs_that_use_the_record_itself_need_all_of_it() {
        for program in [
            ".",
            "select(.a > 1)",
            "select(.a) | .",
            "{x: .}",
            "[.]",
            ". == {}",
            "length",
            "tostring",
            "del(.a)",
            ".[]",
            ".[0]",
            "has(0)",
            "if .a then . else {b} end",
            ". + {a: 1}",
            ".a, .",
            ".[.k]",
        ] {
            assert_eq!(fields(program), None, "{program}");
        }
    }
}
