//! The `jq` transform: natively for the common subset of jq, on jaq for the rest.
//!
//! The program is parsed and compiled once per pipeline; a compile error names the offset in the
//! program so the configuration diagnostic can point at it. A program that lies in the subset
//! of `transforms/native` also gets a native program, which runs each record unless that record
//! needs jaq to be exact (then that record runs on jaq). A run-time error fails that one record
//! (Permanent): its partial outputs are discarded, the lane goes on.

use std::sync::Arc;

use jaq_core::data::JustLut;
use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Native, Vars, unwrap_valr};
use jaq_json::Val;

use super::jq_value::{from_jaq, to_jaq};
use super::native::{Fail, NativeProgram};
use super::{Transform, TransformError};
use crate::record::Record;

type Filter = jaq_core::compile::Filter<Native<JustLut<Val>>>;

/// A jq program that does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct JqCompileError {
    /// Byte offset in the program where the problem is, when known.
    pub offset: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// A compiled jq program.
pub struct JqTransform {
    name: Arc<str>,
    filter: Filter,
    native: Option<NativeProgram>,
}

impl std::fmt::Debug for JqTransform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JqTransform")
            .field("name", &self.name)
            .field("engine", &self.engine())
            .finish_non_exhaustive()
    }
}

fn offset_in(code: &str, part: &str) -> Option<usize> {
    let start = code.as_ptr() as usize;
    let at = part.as_ptr() as usize;
    (at >= start && at <= start + code.len()).then(|| at - start)
}

impl JqTransform {
    /// Compiles `program`; `name` is the stage name.
    ///
    /// # Errors
    /// The first problem found, with its offset in the program.
    pub fn compile(name: impl Into<Arc<str>>, program: &str) -> Result<Self, JqCompileError> {
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs());
        let funs = jaq_core::funs()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs());
        let loader = Loader::new(defs);
        let arena = Arena::default();
        let modules = loader
            .load(
                &arena,
                File {
                    code: program,
                    path: (),
                },
            )
            .map_err(|errs| {
                use jaq_core::load::Error;
                let first = errs.into_iter().next().map(|(_, e)| e);
                match first {
                    Some(Error::Lex(errs)) => {
                        errs.first()
                            .map_or_else(unknown, |(expect, found)| JqCompileError {
                                offset: offset_in(program, found),
                                message: format!("jq syntax error: expected {}", expect.as_str()),
                            })
                    }
                    Some(Error::Parse(errs)) => {
                        errs.first()
                            .map_or_else(unknown, |(expect, found)| JqCompileError {
                                offset: offset_in(program, found),
                                message: if found.is_empty() {
                                    format!(
                                        "jq syntax error: expected {} but the program ended",
                                        expect.as_str()
                                    )
                                } else {
                                    format!(
                                        "jq syntax error: expected {}, found `{found}`",
                                        expect.as_str()
                                    )
                                },
                            })
                    }
                    Some(Error::Io(errs)) => {
                        errs.first()
                            .map_or_else(unknown, |(path, msg)| JqCompileError {
                                offset: offset_in(program, path),
                                message: format!("jq module `{path}` cannot be loaded: {msg}"),
                            })
                    }
                    None => unknown(),
                }
            })?;
        let filter = Compiler::default()
            .with_funs(funs)
            .compile(modules)
            .map_err(|errs| {
                let first = errs
                    .into_iter()
                    .next()
                    .and_then(|(_, es)| es.into_iter().next());
                match first {
                    Some((name, undefined)) => JqCompileError {
                        offset: offset_in(program, name),
                        message: format!("jq error: undefined {} `{name}`", undefined.as_str()),
                    },
                    None => unknown(),
                }
            })?;
        Ok(Self {
            name: name.into(),
            filter,
            native: NativeProgram::compile(program),
        })
    }

    /// What runs the program: `"native"` when it lies in the natively executed subset of jq
    /// (see `transforms/native`), else `"jaq"`.
    #[must_use]
    pub fn engine(&self) -> &'static str {
        if self.native.is_some() {
            "native"
        } else {
            "jaq"
        }
    }

    /// The outputs of the native program, or `None` when there is none or it delegates the
    /// record to jaq.
    #[cfg(test)]
    pub(super) fn run_native(
        &self,
        value: &serde_json::Value,
    ) -> Option<Result<Vec<serde_json::Value>, String>> {
        let native = self.native.as_ref()?;
        let mut out = Vec::new();
        let result = native.run(value, &mut |v| out.push(v.into_owned()));
        match result {
            Ok(()) => Some(Ok(out)),
            Err(Fail::Error(msg)) => Some(Err(msg)),
            Err(Fail::Delegate) => None,
        }
    }

    /// The outputs of the program on jaq.
    pub(super) fn run_jaq(
        &self,
        value: &serde_json::Value,
    ) -> Result<Vec<serde_json::Value>, String> {
        let input = to_jaq(value);
        let ctx = Ctx::<JustLut<Val>>::new(&self.filter.lut, Vars::new([]));
        self.filter
            .id
            .run((ctx, input))
            .map(|r| {
                unwrap_valr(r)
                    .map(|v| from_jaq(&v))
                    .map_err(|e| e.to_string())
            })
            .collect()
    }
}

fn unknown() -> JqCompileError {
    JqCompileError {
        offset: None,
        message: "jq program does not compile".to_owned(),
    }
}

impl Transform for JqTransform {
    fn name(&self) -> &Arc<str> {
        &self.name
    }

    fn input_fields(&self) -> Option<Vec<String>> {
        self.native.as_ref()?.input_fields()
    }

    fn apply(&self, record: &Record, out: &mut Vec<Record>) -> Result<(), TransformError> {
        let start = out.len();
        if let Some(native) = &self.native {
            let result = native.run(&record.value, &mut |v| {
                out.push(Record::new(v.into_owned(), record.meta.clone()));
            });
            match result {
                Ok(()) => return Ok(()),
                Err(Fail::Error(msg)) => {
                    out.truncate(start);
                    return Err(TransformError::Jq(msg));
                }
                // This record needs jaq to be exact.
                Err(Fail::Delegate) => out.truncate(start),
            }
        }
        let outputs = self.run_jaq(&record.value).map_err(TransformError::Jq)?;
        out.extend(
            outputs
                .into_iter()
                .map(|v| Record::new(v, record.meta.clone())),
        );
        Ok(())
    }

    /// The native path without copies: an output that is the input itself (`select(...)`,
    /// `.`) takes the input's value, and the last output takes its metadata.
    fn apply_owned(
        &self,
        record: Record,
        out: &mut Vec<Record>,
    ) -> Result<(), Box<(Record, TransformError)>> {
        let Some(native) = &self.native else {
            return super::apply_borrowed(self, record, out);
        };
        let mut outputs = Outputs::default();
        let input = &record.value;
        let result = native.run(input, &mut |v| {
            outputs.push(match v {
                std::borrow::Cow::Borrowed(b) if std::ptr::eq(b, input) => None,
                v => Some(v.into_owned()),
            });
        });
        match result {
            Ok(()) => {}
            Err(Fail::Error(msg)) => return Err(Box::new((record, TransformError::Jq(msg)))),
            // This record needs jaq to be exact.
            Err(Fail::Delegate) => match self.run_jaq(&record.value) {
                Ok(values) => {
                    outputs = Outputs::default();
                    values.into_iter().for_each(|v| outputs.push(Some(v)));
                }
                Err(msg) => return Err(Box::new((record, TransformError::Jq(msg)))),
            },
        }
        let Record { value, meta, .. } = record;
        let mut value = Some(value);
        let mut wholes = outputs.iter().filter(|o| o.is_none()).count();
        let mut meta = Some(meta);
        let last = outputs.len().saturating_sub(1);
        for (i, o) in outputs.into_iter().enumerate() {
            let v = match o {
                Some(v) => v,
                None => {
                    wholes -= 1;
                    if wholes == 0 {
                        value.take().unwrap_or_default()
                    } else {
                        value.clone().unwrap_or_default()
                    }
                }
            };
            let m = if i == last { meta.take() } else { meta.clone() };
            if let Some(m) = m {
                out.push(Record::new(v, m));
            }
        }
        Ok(())
    }
}

/// A record's outputs, `None` standing for the input itself. Most programs give at most one:
/// it is kept apart, so only a program with several outputs allocates for them.
#[derive(Default)]
struct Outputs {
    first: Option<Option<serde_json::Value>>,
    more: Vec<Option<serde_json::Value>>,
}

impl Outputs {
    fn push(&mut self, o: Option<serde_json::Value>) {
        if self.first.is_none() {
            self.first = Some(o);
        } else {
            self.more.push(o);
        }
    }

    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.more.len()
    }

    fn iter(&self) -> impl Iterator<Item = &Option<serde_json::Value>> {
        self.first.iter().chain(&self.more)
    }

    fn into_iter(self) -> impl Iterator<Item = Option<serde_json::Value>> {
        self.first.into_iter().chain(self.more)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{RecordId, RecordMeta};
    use serde_json::json;

    fn rec(v: serde_json::Value) -> Record {
        Record::new(
            v,
            RecordMeta::new(RecordId {
                source: "s".into(),
                partition: "p".into(),
                offset: 7,
            }),
        )
    }

    fn run(program: &str, v: serde_json::Value) -> Result<Vec<serde_json::Value>, TransformError> {
        let t = JqTransform::compile("jq", program).expect("compiles");
        let mut out = Vec::new();
        t.apply(&rec(v), &mut out)?;
        Ok(out.into_iter().map(|r| r.value).collect())
    }

    #[test]
    fn emits_zero_one_or_many_records_keeping_the_id() {
        assert_eq!(
            run("select(.a > 1)", json!({"a": 1})).expect("runs"),
            Vec::<serde_json::Value>::new()
        );
        assert_eq!(
            run("{id, total: (.a * 2)}", json!({"id": 3, "a": 2})).expect("runs"),
            vec![json!({"id": 3, "total": 4})]
        );
        assert_eq!(
            run(".xs[]", json!({"xs": [1, 2, 3]})).expect("runs"),
            vec![json!(1), json!(2), json!(3)]
        );
        let t = JqTransform::compile("jq", ".xs[]").expect("compiles");
        let mut out = Vec::new();
        t.apply(&rec(json!({"xs": [1, 2]})), &mut out)
            .expect("runs");
        assert!(out.iter().all(|r| r.meta.id.offset == 7));
    }

    #[test]
    fn a_runtime_error_fails_the_record_and_discards_partial_output() {
        let err = run(".a, (.b | tonumber)", json!({"a": 1, "b": "x"})).expect_err("fails");
        assert!(matches!(err, TransformError::Jq(_)), "{err:?}");
        let err = run(".a + 1", json!({"a": "text"})).expect_err("fails");
        assert!(err.to_string().contains("jq error"), "{err}");
    }

    #[test]
    fn the_owned_path_gives_what_the_borrowed_one_gives() {
        let cases = [
            ("select(.a > 1)", json!({"a": 2, "b": [1]})),
            ("select(.a > 1)", json!({"a": 1})),
            (". , .", json!({"a": 1})),
            (".b[], .", json!({"b": [1, 2]})),
            ("{a, c: (.a + 1)}, .", json!({"a": 5})),
            (".a as $x | $x + 1", json!({"a": 5})),
            (".a + 1", json!({"a": "text"})),
        ];
        for (program, input) in cases {
            let t = JqTransform::compile("jq", program).expect("compiles");
            let mut borrowed = Vec::new();
            let expected = t.apply(&rec(input.clone()), &mut borrowed);
            let mut owned = Vec::new();
            match (expected, t.apply_owned(rec(input.clone()), &mut owned)) {
                (Ok(()), Ok(())) => assert_eq!(owned, borrowed, "{program}"),
                (Err(a), Err(b)) => {
                    assert_eq!(a.to_string(), b.1.to_string(), "{program}");
                    assert_eq!(b.0, rec(input), "{program}: the failed record comes back");
                    assert!(owned.is_empty(), "{program}");
                }
                (a, b) => panic!("{program}: {a:?} vs {:?}", b.map_err(|f| f.1)),
            }
        }
    }

    #[test]
    fn compile_errors_name_the_offset() {
        let err = JqTransform::compile("jq", "select(.a > )").expect_err("bad syntax");
        assert!(err.message.contains("syntax"), "{err:?}");
        assert!(err.offset.is_some());
        let err = JqTransform::compile("jq", ".a | nosuchfn").expect_err("undefined");
        assert_eq!(err.offset, Some(5), "{err:?}");
        assert!(err.message.contains("nosuchfn"), "{err:?}");
    }
}
