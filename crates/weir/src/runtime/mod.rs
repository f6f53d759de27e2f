//! The runtime: builds pipelines, recovers every lane, runs lanes under supervision, and stops
//! them cleanly. The same machinery replays the dead-letter queue.

pub mod apply;
pub mod build;
pub mod error;
pub mod lane;
pub mod poison;
pub mod recover;
mod refusal;
mod retention;
pub mod supervisor;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::buffer::{self, Buffer};
use crate::checkpoint::CheckpointStore;
use crate::checkpoint::local::LocalStore;
use crate::config::Plan;
use crate::dlq::{DlqFilter, DlqStore};
use crate::error::{Classified, ErrorClass};
use crate::layout::Layout;
use crate::observe::health::Health;
use crate::observe::metrics::metrics;
use crate::observe::progress::{self, Progress};
use crate::sources::dlq::DlqSource;
use lane::LaneExit;

/// How a run ended.
#[derive(Debug, Default)]
pub struct RunReport {
    /// Pipelines that failed, with the failure that exhausted the restart strategy.
    pub failed: BTreeMap<String, String>,
    /// Pipelines halted by a quality gate, with the reason.
    pub halted: BTreeMap<String, String>,
    /// Whether the run was stopped by a signal before all input was processed.
    pub stopped: bool,
}

/// What a run processes.
#[derive(Clone, Debug, Default)]
pub enum Work {
    /// Every pipeline's source.
    #[default]
    Sources,
    /// The dead-letter entries matching the filter, back through their pipelines (all of them,
    /// or the filter's pipeline).
    Replay(DlqFilter),
}

/// Options of a run that are not part of the configuration.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Interval of progress log lines when stderr is not a terminal.
    pub progress_every: Duration,
    /// What to process.
    pub work: Work,
    /// The embedded log, when the caller has opened it already (`weir run` does, to serve HTTP
    /// ingest); otherwise `run` opens it if a pipeline needs it.
    pub buffer: Option<Arc<Buffer>>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            progress_every: Duration::from_secs(10),
            work: Work::Sources,
            buffer: None,
        }
    }
}

/// Opens the embedded log of `plan` and settles HTTP requests a crash interrupted (which must
/// happen before anything else appends to the log).
///
/// # Errors
/// When the log is open in another process or cannot be opened.
pub fn open_buffer(plan: &Plan) -> anyhow::Result<(Arc<Buffer>, Arc<crate::ingest::Ingest>)> {
    let buffer = Buffer::open(plan).context("cannot open the embedded log")?;
    let ingest = crate::ingest::Ingest::open(plan, Arc::clone(&buffer))
        .context("cannot open the ingest idempotency store")?;
    Ok((buffer, ingest))
}

/// Opens the dead-letter store of `plan`'s data directory.
///
/// # Errors
/// When the data directory or the database cannot be created.
pub fn open_dlq(plan: &Plan) -> anyhow::Result<Arc<DlqStore>> {
    crate::durable::create_dir_all_synced(&plan.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            plan.data_dir.display()
        )
    })?;
    Ok(Arc::new(DlqStore::open(
        &Layout::new(&plan.data_dir).dlq(),
    )?))
}

/// Runs `plan` until its input is processed, `shutdown` becomes `true`, or it fails.
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
    let layout = Layout::new(&plan.data_dir);
    let dlq = open_dlq(plan)?;
    let store: Arc<dyn CheckpointStore> = Arc::new(LocalStore::new(layout.clone()));
    let progress = Arc::new(Progress::default());
    let buffer = match &options.buffer {
        Some(b) => Some(Arc::clone(b)),
        None if buffer::needed(plan) => Some(open_buffer(plan)?.0),
        None => None,
    };

    let mut tasks = Vec::new();
    let mut stops = Vec::new();
    let mut retention = Vec::new();
    let mut replays = Vec::new();
    for p in &plan.pipelines {
        let mut pipeline = build::build(
            p,
            Arc::clone(&store),
            Some(Arc::clone(&dlq)),
            layout.audit_overrides(&p.name),
            buffer.as_ref(),
        )?;
        let replay = match &options.work {
            Work::Sources => false,
            Work::Replay(filter) => {
                if filter.pipeline.as_ref().is_some_and(|f| *f != p.name) {
                    continue;
                }
                let filter = DlqFilter {
                    pipeline: Some(p.name.clone()),
                    ..filter.clone()
                };
                pipeline.source = Arc::new(DlqSource::new(
                    Arc::clone(&pipeline.name),
                    Arc::clone(&dlq),
                    filter,
                    p.batch_size,
                ));
                true
            }
        };
        let pipeline = Arc::new(pipeline);
        let sink_names: Vec<&str> = pipeline.sinks.iter().map(|s| s.name()).collect();
        metrics().register_pipeline(&pipeline.name, &sink_names);
        if let Ok(depth) = dlq.depth(&pipeline.name) {
            metrics()
                .dlq_depth
                .with_label_values(&[&*pipeline.name])
                .set(i64::try_from(depth).unwrap_or(i64::MAX));
        }
        if let (Some(keep), false) = (p.dlq.retention, replay) {
            retention.push((Arc::clone(&pipeline.name), keep));
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        for d in &pipeline.dependencies {
            d.bind_stop(stop_rx.clone());
            health.watch_breaker(&pipeline.name, d.name(), d.state_cell());
        }
        let lanes = pipeline
            .source
            .lanes()
            .await
            .with_context(|| format!("pipeline `{}`", pipeline.name))?;
        // A lane of an unbounded source never finishes, so it would hold its permit for good:
        // every lane of one must run at once.
        let permitted = if pipeline.source.bounded() || replay {
            pipeline.parallelism
        } else {
            if pipeline.parallelism < lanes.len() {
                tracing::info!(pipeline = %pipeline.name, parallelism = pipeline.parallelism, lanes = lanes.len(),
                    "the source is unbounded: all its lanes run at once");
            }
            pipeline.parallelism.max(lanes.len())
        };
        let permits = Arc::new(Semaphore::new(permitted));
        // Cores are shared by the lanes that run at once; a single big file gets them all.
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let running = permitted.min(lanes.len()).max(1);
        pipeline.transform_threads.store(
            (cores / running).max(1),
            std::sync::atomic::Ordering::Relaxed,
        );
        for spec in lanes {
            // Recovery may wait for a dependency (a database that is down): a stop ends it.
            let mut stopping = shutdown.clone();
            let recovering = recover::recover(&pipeline, &spec.id);
            let recovered = tokio::select! {
                r = recovering => Some(r),
                _ = stopping.wait_for(|s| *s) => None,
            };
            let Some(recovered) = recovered else {
                let _ = stop_tx.send(true);
                tracing::info!(pipeline = %pipeline.name, lane = %spec.id, "stopped during recovery");
                return Ok(RunReport {
                    stopped: true,
                    ..RunReport::default()
                });
            };
            let mut recovered = match recovered {
                Ok(r) => Some(r),
                // A dependency that is failing now (the retries ran out before its breaker
                // opened): the supervisor recovers the lane again under its restart strategy.
                Err(e) if !replay && e.class() == ErrorClass::Transient => {
                    tracing::warn!(pipeline = %pipeline.name, lane = %spec.id,
                        "cannot recover the lane yet ({e}); retrying under the restart strategy");
                    None
                }
                Err(e) => {
                    return Err(anyhow::Error::new(e).context(format!(
                        "pipeline `{}`: cannot recover lane {}",
                        pipeline.name, spec.id
                    )));
                }
            };
            if replay && let Some(recovered) = recovered.as_mut() {
                // A replay always walks the whole DLQ again: entries delivered by committed
                // epochs are no longer listed, so nothing is replayed twice.
                recovered.next_offset = 0;
                replays.push((Arc::clone(&pipeline), spec.id.clone()));
            }
            progress.add_total(
                spec.size_hint
                    .unwrap_or(0)
                    .saturating_sub(recovered.as_ref().map_or(0, |r| r.next_offset)),
            );
            tasks.push(supervisor::LaneTask {
                marker: layout.lane_marker(&pipeline.name, &spec.id),
                pipeline: Arc::clone(&pipeline),
                spec,
                recovered,
                permits: Arc::clone(&permits),
                stop: stop_rx.clone(),
                progress: Arc::clone(&progress),
                replay,
            });
        }
        stops.push((pipeline.name.to_string(), stop_tx));
    }
    health.set_recovered();
    tracing::info!(
        pipelines = stops.len(),
        lanes = tasks.len(),
        "recovered; running"
    );

    let _reporter = progress::start(Arc::clone(&progress), options.progress_every);
    let _retention = retention::start(Arc::clone(&dlq), retention);
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
            Err(failure) => {
                health.set_failed(&name);
                if let Some((_, tx)) = stops.iter().find(|(n, _)| *n == name) {
                    let _ = tx.send(true);
                }
                match failure {
                    supervisor::LaneFailure::Failed(error) => {
                        report.failed.entry(name).or_insert(error)
                    }
                    supervisor::LaneFailure::Halted(reason) => {
                        report.halted.entry(name).or_insert(reason)
                    }
                };
            }
        }
    }
    forward.abort();
    for (pipeline, lane) in replays {
        // Entries delivered by committed epochs are in the output for good: drop them.
        let committed = store.load(&pipeline.name, &lane).await?.epoch();
        let n =
            tokio::task::block_in_place(|| dlq.forget_resolved(&pipeline.name, &lane, committed))?;
        tracing::info!(pipeline = %pipeline.name, delivered = n, remaining = dlq.depth(&pipeline.name).unwrap_or(0), "replay done");
    }
    Ok(report)
}
