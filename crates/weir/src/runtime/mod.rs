//! The runtime: builds pipelines, recovers every lane, runs lanes under supervision, and stops
//! them cleanly.

pub mod build;
pub mod error;
pub mod lane;
pub mod recover;
pub mod supervisor;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::checkpoint::CheckpointStore;
use crate::checkpoint::local::LocalStore;
use crate::config::Plan;
use crate::layout::Layout;
use crate::observe::health::Health;
use crate::observe::metrics::metrics;
use crate::observe::progress::{self, Progress};
use lane::LaneExit;

/// How a run ended.
#[derive(Debug, Default)]
pub struct RunReport {
    /// Pipelines that failed, with the failure that exhausted the restart strategy.
    pub failed: BTreeMap<String, String>,
    /// Whether the run was stopped by a signal before all input was processed.
    pub stopped: bool,
}

/// Options of a run that are not part of the configuration.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Interval of progress log lines when stderr is not a terminal.
    pub progress_every: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            progress_every: Duration::from_secs(10),
        }
    }
}

/// Runs every pipeline of `plan` until its input is processed, `shutdown` becomes `true`, or it
/// fails.
///
/// # Errors
/// When the run cannot start: the data directory or a source cannot be opened, or a lane cannot
/// be recovered.
pub async fn run(
    plan: &Plan,
    options: &RunOptions,
    health: &Health,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<RunReport> {
    crate::durable::create_dir_all_synced(&plan.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            plan.data_dir.display()
        )
    })?;
    let store: Arc<dyn CheckpointStore> = Arc::new(LocalStore::new(Layout::new(&plan.data_dir)));
    let progress = Arc::new(Progress::default());

    let mut tasks = Vec::new();
    let mut stops = Vec::new();
    for p in &plan.pipelines {
        let pipeline = Arc::new(build::build(p, Arc::clone(&store))?);
        let sink_names: Vec<&str> = pipeline.sinks.iter().map(|s| s.name()).collect();
        metrics().register_pipeline(&pipeline.name, &sink_names);
        let (stop_tx, stop_rx) = watch::channel(false);
        let permits = Arc::new(Semaphore::new(pipeline.parallelism));
        let lanes = pipeline
            .source
            .lanes()
            .await
            .with_context(|| format!("pipeline `{}`", pipeline.name))?;
        for spec in lanes {
            let recovered = recover::recover(&pipeline, &spec.id)
                .await
                .with_context(|| {
                    format!(
                        "pipeline `{}`: cannot recover lane {}",
                        pipeline.name, spec.id
                    )
                })?;
            progress.add_total(
                spec.size_hint
                    .unwrap_or(0)
                    .saturating_sub(recovered.next_offset),
            );
            tasks.push(supervisor::LaneTask {
                pipeline: Arc::clone(&pipeline),
                spec,
                recovered: Some(recovered),
                permits: Arc::clone(&permits),
                stop: stop_rx.clone(),
                progress: Arc::clone(&progress),
            });
        }
        stops.push((pipeline.name.to_string(), stop_tx));
    }
    health.set_recovered();
    tracing::info!(
        pipelines = plan.pipelines.len(),
        lanes = tasks.len(),
        "recovered; running"
    );

    let _reporter = progress::start(Arc::clone(&progress), options.progress_every);
    let mut set = JoinSet::new();
    for task in tasks {
        let name = task.pipeline.name.to_string();
        set.spawn(async move { (name, supervisor::supervise(task).await) });
    }
    let stops = Arc::new(stops);
    let forward = {
        let stops = Arc::clone(&stops);
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            if shutdown.wait_for(|s| *s).await.is_ok() {
                for (_, tx) in stops.iter() {
                    let _ = tx.send(true);
                }
            }
        })
    };
    let mut report = RunReport::default();
    while let Some(joined) = set.join_next().await {
        let (name, result) = joined.context("lane supervisor task ended abnormally")?;
        match result {
            Ok(LaneExit::Finished) => {}
            Ok(LaneExit::Stopped) => report.stopped = true,
            Err(error) => {
                health.set_failed(&name);
                if let Some((_, tx)) = stops.iter().find(|(n, _)| *n == name) {
                    let _ = tx.send(true);
                }
                report.failed.entry(name).or_insert(error);
            }
        }
    }
    forward.abort();
    Ok(report)
}
