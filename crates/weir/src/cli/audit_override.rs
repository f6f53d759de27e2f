//! `weir audit-override CONFIG --pipeline P --epoch E [--lane L]`: an operator accepts a halted
//! epoch knowingly. The override is a file under the pipeline's data directory, consumed (and
//! logged) by the run that commits the epoch.

use std::path::Path;
use std::process::ExitCode;

use super::outln;
use crate::epoch::LaneId;
use crate::layout::Layout;

/// Records the override; exit 2 on a bad configuration or an unknown pipeline.
pub fn audit_override(config: &Path, pipeline: &str, epoch: u64, lane: Option<&str>) -> ExitCode {
    let plan = match super::load(config) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if !plan.pipelines.iter().any(|p| p.name == pipeline) {
        eprintln!(
            "error: --pipeline `{pipeline}`: no such pipeline in {}",
            config.display()
        );
        return ExitCode::from(super::EXIT_CONFIG);
    }
    if epoch == 0 {
        eprintln!("error: --epoch must be at least 1");
        return ExitCode::from(super::EXIT_CONFIG);
    }
    let dir = Layout::new(&plan.data_dir).audit_overrides(pipeline);
    let name = match lane {
        Some(l) => format!("{}@{epoch}", LaneId::sanitized(l)),
        None => epoch.to_string(),
    };
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned());
    let when = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
    let body = format!("accepted by {user} at {when}\n");
    let written = crate::durable::create_dir_all_synced(&dir).and_then(|()| {
        crate::durable::write_atomic(
            &dir.join(&name),
            &dir.join(format!(".{name}.tmp")),
            body.as_bytes(),
        )
    });
    match written {
        Ok(()) => {
            tracing::warn!(
                pipeline,
                epoch,
                lane,
                "audit override recorded: the next run commits this epoch even if its audit fails"
            );
            outln!(
                "override recorded: pipeline {pipeline}, epoch {epoch}{}; the next `weir run` commits it despite its audit",
                lane.map(|l| format!(", lane {l}")).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "error: cannot record the override in {}: {e}",
                dir.display()
            );
            ExitCode::from(super::EXIT_FAILED)
        }
    }
}
