//! Supervision of one lane: run it, and when it fails (an error or a panic) restart it from its
//! last checkpoint under the restart policy; when the policy gives up, the pipeline fails.

use std::sync::Arc;

use tokio::sync::{Semaphore, watch};

use super::build::Pipeline;
use super::error::LaneError;
use super::lane::{self, LaneExit};
use super::poison::{self, MarkerFile, Mode};
use super::recover::{self, Recovered};
use crate::observe::events::{LaneRestarting, PipelineFailed};
use crate::observe::metrics::metrics;
use crate::observe::progress::Progress;
use crate::policy::restart::Restarts;
use crate::sources::LaneSpec;
use std::path::PathBuf;

/// Why a supervised lane ended without finishing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LaneFailure {
    /// The restart strategy gave up; the last failure.
    Failed(String),
    /// A quality gate halted the pipeline.
    Halted(String),
}

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
    /// The lane's crash marker file.
    pub marker: PathBuf,
    /// Whether this is a DLQ replay lane.
    pub replay: bool,
}

/// Runs the lane to its end.
///
/// # Errors
/// The last failure once the restart strategy gives up, or the halt of a quality gate.
pub async fn supervise(mut task: LaneTask) -> Result<LaneExit, LaneFailure> {
    let name = task.pipeline.name.clone();
    let permit = tokio::select! {
        p = Arc::clone(&task.permits).acquire_owned() => p.map_err(|e| LaneFailure::Failed(e.to_string()))?,
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

async fn supervise_permitted(task: &mut LaneTask) -> Result<LaneExit, LaneFailure> {
    let clock = std::time::Instant::now();
    let mut restarts = Restarts::new(task.pipeline.restart);
    let mut last_error: Option<String> = None;
    loop {
        let pipeline = Arc::clone(&task.pipeline);
        let spec = task.spec.clone();
        let recovered = task.recovered.take();
        let stop = task.stop.clone();
        let progress = Arc::clone(&task.progress);
        let marker_path = task.marker.clone();
        let replay = task.replay;
        let error_before = last_error.take();
        let handle = tokio::spawn(async move {
            let state = match recovered {
                Some(s) => s,
                None => recover::recover(&pipeline, &spec.id).await?,
            };
            let previous = MarkerFile::load(&marker_path);
            let (marker, mode) = poison::on_start(
                previous.as_ref(),
                state.next_offset,
                error_before,
                pipeline.quarantine_after,
            );
            if let Mode::Isolated { until, quarantine } = &mode {
                tracing::warn!(pipeline = %pipeline.name, lane = %spec.id, crashes = marker.crashes, until,
                    quarantine = quarantine.as_ref().map(|q| q.0),
                    "the lane keeps crashing at the same offset: processing record by record to find the record that crashes it");
            }
            let marker = MarkerFile::create(&marker_path, marker).map_err(|e| {
                LaneError::Source(crate::sources::SourceError::Io {
                    path: marker_path.display().to_string(),
                    source: e,
                })
            })?;
            let run = lane::LaneRun {
                mode,
                marker: Some(marker),
                replay,
            };
            lane::run(&pipeline, &spec, state, run, stop, &progress).await
        });
        let error = match handle.await {
            Ok(Ok(exit)) => return Ok(exit),
            // A stop that came while recovery waited for a dependency.
            Ok(Err(e)) if e.is_stop() => return Ok(LaneExit::Stopped),
            Ok(Err(LaneError::Halted(message))) => {
                tracing::error!(pipeline = %task.pipeline.name, lane = %task.spec.id, "pipeline halted: {message}");
                return Err(LaneFailure::Halted(message));
            }
            Ok(Err(e)) => e.to_string(),
            Err(join) if join.is_panic() => {
                let payload = join.into_panic();
                format!("panic: {}", super::apply::panic_message(&*payload))
            }
            Err(join) => join.to_string(),
        };
        last_error = Some(error.clone());
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
                return Err(LaneFailure::Failed(error));
            }
        }
    }
}
