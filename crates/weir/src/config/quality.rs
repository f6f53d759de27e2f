//! Validation of the data-quality settings: `validate` transforms, source schemas, epoch audits
//! and the failure-ratio gate.

use std::collections::BTreeMap;

use serde_saphyr::Spanned;

use super::diagnostic::{Pos, locate_value};
use super::model::{OnFailure, RawAudit, RawFieldRules, RawFieldSchema, RawQuality};
use super::plan::TransformPlan;
use super::validate::{Ctx, pos};
use crate::quality::audit::Audit;
use crate::quality::coerce::{FieldSchema, RecordSchema};
use crate::quality::rules::FieldRules;

/// Default window of the failure-ratio gate.
pub const DEFAULT_GATE_WINDOW: usize = 1000;

pub(super) fn source_schema(
    cx: &mut Ctx<'_>,
    at: Pos,
    raw: &BTreeMap<String, RawFieldSchema>,
) -> Option<RecordSchema> {
    if raw.is_empty() {
        return None;
    }
    let mut fields = Vec::new();
    for (name, f) in raw {
        if let Some(d) = &f.default
            && !d.is_null()
            && !f.ty.matches(d)
        {
            cx.err(
                locate_value(cx.source, at, name),
                format!(
                    "schema field `{name}`: default {d} is not of type {}",
                    f.ty.as_str()
                ),
            );
        }
        fields.push(FieldSchema {
            name: name.clone(),
            ty: f.ty,
            required: f.required,
            default: f.default.clone(),
        });
    }
    Some(RecordSchema { fields })
}

pub(super) fn validate_transform(
    cx: &mut Ctx<'_>,
    index: usize,
    at: Pos,
    raw: &BTreeMap<String, RawFieldRules>,
    schema: Option<&str>,
    on_failure: OnFailure,
) -> Option<TransformPlan> {
    let before = cx.problems_len();
    let mut rules = Vec::new();
    for (field, r) in raw {
        if field.is_empty() || field.split('.').any(str::is_empty) {
            cx.err(
                locate_value(cx.source, at, "rules"),
                format!("transforms[{index}]: `{field}` is not a field path"),
            );
            continue;
        }
        let regex = match &r.regex {
            Some(text) => match regex::Regex::new(text) {
                Ok(re) => Some(re),
                Err(e) => {
                    cx.err(locate_value(cx.source, at, "regex"), format!("transforms[{index}]: rule `{field}.regex` is not a valid regular expression: {e}"));
                    None
                }
            },
            None => None,
        };
        if let (Some(min), Some(max)) = (r.min, r.max)
            && min > max
        {
            cx.err(
                locate_value(cx.source, at, field),
                format!("transforms[{index}]: rule `{field}`: min {min} is greater than max {max}"),
            );
        }
        rules.push(FieldRules {
            field: field.clone(),
            required: r.required,
            not_null: r.not_null,
            ty: r.ty,
            min: r.min,
            max: r.max,
            min_length: r.min_length,
            max_length: r.max_length,
            regex,
            one_of: r.one_of.clone(),
        });
    }
    let schema = match schema {
        None => None,
        Some(path) => {
            let file = cx.resolve(path);
            let loc = locate_value(cx.source, at, "schema");
            match std::fs::read_to_string(&file) {
                Err(e) => {
                    cx.err(
                        loc,
                        format!(
                            "transforms[{index}]: cannot read JSON Schema {}: {e}",
                            file.display()
                        ),
                    );
                    None
                }
                Ok(text) => {
                    match serde_json::from_str::<serde_json::Value>(&text) {
                        Err(e) => {
                            cx.err(
                                loc,
                                format!("transforms[{index}]: {} is not JSON: {e}", file.display()),
                            );
                            None
                        }
                        Ok(doc) => {
                            match jsonschema::draft202012::new(&doc) {
                                Err(e) => {
                                    cx.err(loc, format!("transforms[{index}]: {} is not a valid JSON Schema: {e}", file.display()));
                                    None
                                }
                                Ok(_) => Some((file, doc)),
                            }
                        }
                    }
                }
            }
        }
    };
    if rules.is_empty() && schema.is_none() && cx.problems_len() == before {
        cx.err(
            at,
            format!("transforms[{index}]: a validate transform needs `rules` or `schema`"),
        );
    }
    (cx.problems_len() == before).then(|| TransformPlan::Validate {
        name: format!("validate_{index}"),
        rules,
        schema,
        on_failure,
    })
}

fn ratio(cx: &mut Ctx<'_>, at: Pos, what: &str, v: f64) {
    if !(0.0..=1.0).contains(&v) {
        cx.err(
            at,
            format!("`{what}` must be a ratio between 0 and 1, not {v}"),
        );
    }
}

pub(super) fn audits(cx: &mut Ctx<'_>, raw: &[Spanned<RawAudit>]) -> Vec<Audit> {
    let mut out = Vec::new();
    for a in raw {
        let at = pos(a);
        let audit = match &a.value {
            RawAudit::RowCountRatio { min, max } => {
                let (min, max) = (min.unwrap_or(0.0), max.unwrap_or(f64::INFINITY));
                if min > max {
                    cx.err(
                        at,
                        format!("audit row_count_ratio: min {min} is greater than max {max}"),
                    );
                }
                Audit::RowCountRatio { min, max }
            }
            RawAudit::NullRatio { field, max } => {
                ratio(
                    cx,
                    locate_value(cx.source, at, "max"),
                    "null_ratio.max",
                    *max,
                );
                Audit::NullRatio {
                    field: field.clone(),
                    max: *max,
                }
            }
            RawAudit::Mean { field, min, max } => {
                let (min, max) = (
                    min.unwrap_or(f64::NEG_INFINITY),
                    max.unwrap_or(f64::INFINITY),
                );
                if min > max {
                    cx.err(
                        at,
                        format!("audit mean: min {min} is greater than max {max}"),
                    );
                }
                Audit::Mean {
                    field: field.clone(),
                    min,
                    max,
                }
            }
            RawAudit::Unique { field } => Audit::Unique {
                field: field.clone(),
            },
            RawAudit::MinRows { count } => Audit::MinRows { count: *count },
        };
        out.push(audit);
    }
    out
}

pub(super) fn gate(cx: &mut Ctx<'_>, raw: Option<&Spanned<RawQuality>>) -> Option<(f64, usize)> {
    let q = raw?;
    ratio(
        cx,
        locate_value(cx.source, pos(q), "max_failure_ratio"),
        "quality.max_failure_ratio",
        q.value.max_failure_ratio,
    );
    let window = q.value.window.unwrap_or(DEFAULT_GATE_WINDOW);
    if window == 0 {
        cx.err(
            locate_value(cx.source, pos(q), "window"),
            "`quality.window` must be at least 1",
        );
    }
    Some((q.value.max_failure_ratio, window.max(1)))
}
