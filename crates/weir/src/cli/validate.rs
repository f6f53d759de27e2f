//! `weir validate CONFIG`: parse and validate, then print each pipeline's guarantee and what
//! runs each of its jq transforms (the native executor or jaq).

use std::path::Path;
use std::process::ExitCode;

use super::outln;
use crate::config::model::FileFormat;
use crate::config::{SourcePlan, TransformPlan};
use crate::transforms::Transform;
use crate::transforms::jq::JqTransform;

/// Exit 0 and one line per pipeline (then one per transform), or exit 2 with every problem.
pub fn validate(config: &Path) -> ExitCode {
    let plan = match super::load(config) {
        Ok(p) => p,
        Err(code) => return code,
    };
    outln!("{}: ok", config.display());
    for p in &plan.pipelines {
        let sinks: Vec<String> = p
            .sinks
            .iter()
            .map(|s| format!("{} ({})", s.name(), s.guarantee().as_str()))
            .collect();
        outln!(
            "pipeline {}: {} — sinks: {}",
            p.name,
            p.guarantee().as_str(),
            sinks.join(", ")
        );
        for (i, t) in p.transforms.iter().enumerate() {
            match t {
                TransformPlan::Jq { name, filter } => {
                    // Validation compiled it already; this only asks which engine runs it,
                    // and whether the source may parse only the fields it reads.
                    let compiled = JqTransform::compile(name.as_str(), filter);
                    let engine = compiled.as_ref().map_or("does not compile", |t| t.engine());
                    let projected = matches!(
                        &p.source,
                        SourcePlan::File {
                            format: FileFormat::Jsonl,
                            schema: None,
                            ..
                        }
                    ) && i == 0;
                    let fields = compiled
                        .ok()
                        .filter(|_| projected)
                        .and_then(|t| t.input_fields());
                    match fields {
                        Some(f) => {
                            let f: Vec<String> = f.iter().map(|k| format!(".{k}")).collect();
                            outln!(
                                "  transforms[{i}] jq: {engine}; records are read as {} only",
                                f.join(", ")
                            );
                        }
                        None => outln!("  transforms[{i}] jq: {engine}"),
                    }
                }
                TransformPlan::EnrichHttp(e) => {
                    let optional = if e.fallback.is_some() {
                        "optional (fallback)"
                    } else {
                        "required"
                    };
                    outln!(
                        "  transforms[{i}] enrich_http: dependency {} ({optional}), into .{}",
                        e.dependency.name,
                        e.into.join(".")
                    );
                }
                TransformPlan::Validate {
                    rules,
                    schema,
                    on_failure,
                    ..
                } => {
                    let schema = schema
                        .as_ref()
                        .map(|(path, _)| format!(" + JSON Schema {}", path.display()))
                        .unwrap_or_default();
                    outln!(
                        "  transforms[{i}] validate: {} field rules{schema}, on failure {on_failure:?}",
                        rules.len()
                    );
                }
            }
        }
    }
    ExitCode::SUCCESS
}
