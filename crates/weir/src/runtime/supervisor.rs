//! Supervision of one lane: run it, and when it fails (an error or a panic) restart it from its
//! last checkpoint under the restart policy; when the policy gives up, the pipeline fails.

use std::sync::Arc;

use tokio::sync::{Semaphore, watch};

use super::build::Pipeline;
use super::lane::{self, LaneExit};
use super::recover::{self, Recovered};
use crate::observe::events::{LaneRestarting, PipelineFailed};
use crate::observe::metrics::metrics;
use crate::observe::progress::Progress;
use crate::policy::restart::Restarts;
use crate::sources::LaneSpec;

/// Everything a supervised lane needs.
pub struct LaneTask {
    /// Its pipeline.
    pub pipeline: Arc<Pipeline>,
    /// The lane.
    pub spec: LaneSpec,
    /// State restored before the run started (recovery is redone on every restart).
    pub recovered: Option<Recovered>,
    /// Limits how many lanes of the pipeline run at once.
    pub permits: Arc<Semaphore>,
    /// Becomes `true` when the lane must commit its open epoch and stop.
    pub stop: watch::Receiver<bool>,
    /// Shared progress counters.
    pub progress: Arc<Progress>,
}

/// Runs the lane to its end; `Err` with the last failure when the restart policy gives up.
///
/// # Errors
/// The last failure's description once the lane is given up on.
pub async fn supervise(mut task: LaneTask) -> Result<LaneExit, String> {
    let name = task.pipeline.name.clone();
    let permit = tokio::select! {
        p = Arc::clone(&task.permits).acquire_owned() => p.map_err(|e| e.to_string())?,
        _ = task.stop.wait_for(|s| *s) => return Ok(LaneExit::Stopped),
    };
    let running = metrics().lanes_running.with_label_values(&[&name]);
    running.inc();
    let result = supervise_permitted(&mut task).await;
    running.dec();
    drop(permit);
    if result == Ok(LaneExit::Finished) {
        metrics().lanes_finished.with_label_values(&[&name]).inc();
    }
    result
}

async fn supervise_permitted(task: &mut LaneTask) -> Result<LaneExit, String> {
    let clock = std::time::Instant::now();
    let mut restarts = Restarts::new(task.pipeline.restart);
    loop {
        let pipeline = Arc::clone(&task.pipeline);
        let spec = task.spec.clone();
        let recovered = task.recovered.take();
        let stop = task.stop.clone();
        let progress = Arc::clone(&task.progress);
        let handle = tokio::spawn(async move {
            let state = match recovered {
                Some(s) => s,
                None => recover::recover(&pipeline, &spec.id).await?,
            };
            lane::run(&pipeline, &spec, state, stop, &progress).await
        });
        let error = match handle.await {
            Ok(Ok(exit)) => return Ok(exit),
            Ok(Err(e)) => e.to_string(),
            Err(join) if join.is_panic() => {
                let payload = join.into_panic();
                let msg = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-text panic payload".to_owned());
                format!("panic: {msg}")
            }
            Err(join) => join.to_string(),
        };
        match restarts.on_failure(clock.elapsed()) {
            Some(delay) => {
                LaneRestarting {
                    pipeline: &task.pipeline.name,
                    lane: &task.spec.id,
                    restarts: restarts.count(),
                    error: &error,
                    delay,
                }
                .emit();
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    _ = task.stop.wait_for(|s| *s) => return Ok(LaneExit::Stopped),
                }
            }
            None => {
                PipelineFailed {
                    pipeline: &task.pipeline.name,
                    lane: &task.spec.id,
                    error: &error,
                }
                .emit();
                return Err(error);
            }
        }
    }
}
