//! `weir validate CONFIG`: parse and validate, then print each pipeline's guarantee.

use std::path::Path;
use std::process::ExitCode;

use super::outln;

/// Exit 0 and one line per pipeline, or exit 2 with every problem.
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
    }
    ExitCode::SUCCESS
}
