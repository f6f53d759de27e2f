//! `weir checkpoints CONFIG`: each lane's latest committed epoch, offset and age.

use std::path::Path;
use std::process::ExitCode;

use super::outln;

use crate::checkpoint::CheckpointStore;
use crate::checkpoint::local::LocalStore;
use crate::layout::Layout;

/// Prints a table of lanes; exit 2 on a bad configuration.
pub fn checkpoints(config: &Path) -> ExitCode {
    let plan = match super::load(config) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let rt = match super::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async {
        let store = LocalStore::new(Layout::new(&plan.data_dir));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        outln!(
            "{:<16} {:<40} {:>8} {:>14} {:>12} {:>10}",
            "PIPELINE",
            "LANE",
            "EPOCH",
            "NEXT_OFFSET",
            "RECORDS_IN",
            "AGE"
        );
        let mut status = ExitCode::SUCCESS;
        for p in &plan.pipelines {
            let lanes = match store.lanes(&p.name).await {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("error: {e}");
                    status = ExitCode::from(super::EXIT_FAILED);
                    continue;
                }
            };
            if lanes.is_empty() {
                outln!("{:<16} (no checkpoints yet)", p.name);
            }
            for lane in lanes {
                match store.load(&p.name, &lane).await {
                    Ok(choice) => {
                        for r in &choice.rejected {
                            eprintln!("warning: {} is unusable: {}", r.path.display(), r.error);
                        }
                        match choice.checkpoint {
                            Some(c) => {
                                let age =
                                    humantime::format_duration(std::time::Duration::from_secs(
                                        now.saturating_sub(c.created_at_ms) / 1000,
                                    ));
                                outln!(
                                    "{:<16} {:<40} {:>8} {:>14} {:>12} {:>10}",
                                    p.name,
                                    lane.as_str(),
                                    c.epoch.0,
                                    c.next_offset,
                                    c.records_in,
                                    age.to_string()
                                );
                            }
                            None => outln!(
                                "{:<16} {:<40} {:>8} {:>14} {:>12} {:>10}",
                                p.name,
                                lane.as_str(),
                                "-",
                                0,
                                0,
                                "-"
                            ),
                        }
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        status = ExitCode::from(super::EXIT_FAILED);
                    }
                }
            }
        }
        status
    })
}
