//! Recovery of one lane (DESIGN.md): load the newest checkpoint that verifies (reporting the
//! ones passed over), let every sink roll that epoch forward and drop anything newer, and say
//! where the source resumes.

use super::build::Pipeline;
use super::error::LaneError;
use crate::dlq::DlqWriter;
use crate::epoch::{Epoch, LaneId};
use crate::observe::events::{CheckpointRejected, LaneRecovered};
use crate::sinks::Sink;
use std::sync::Arc;

/// A lane restored to its last committed epoch, ready to go on.
pub struct Recovered {
    /// The committed epoch (`Epoch::NONE` when starting fresh).
    pub epoch: Epoch,
    /// Where the source resumes.
    pub next_offset: u64,
    /// Input records consumed up to the committed epoch.
    pub records_in: u64,
    /// Records written up to the committed epoch.
    pub records_out: u64,
    /// The lane's sink writers, recovered, in the pipeline's sink order.
    pub sinks: Vec<Box<dyn Sink>>,
    /// The lane's dead-letter writer, recovered (`None` when the DLQ is off).
    pub dlq: Option<DlqWriter>,
}

/// Recovers `lane` of `pipeline`.
///
/// # Errors
/// When the checkpoint store cannot be read or a sink cannot be repaired.
pub async fn recover(pipeline: &Pipeline, lane: &LaneId) -> Result<Recovered, LaneError> {
    let choice = if pipeline.checkpoint.enabled {
        pipeline.store.load(&pipeline.name, lane).await?
    } else {
        crate::checkpoint::Choice::default()
    };
    for r in &choice.rejected {
        CheckpointRejected {
            pipeline: &pipeline.name,
            lane,
            path: &r.path,
            reason: r.error.code(),
            message: r.error.to_string(),
        }
        .emit();
    }
    let mut epoch = choice.epoch();
    let (mut next_offset, records_in, records_out) = choice
        .checkpoint
        .as_ref()
        .map_or((0, 0, 0), |c| (c.next_offset, c.records_in, c.records_out));
    let sink_err = |factory: &Arc<dyn crate::sinks::SinkFactory>| {
        let sink = factory.name().to_owned();
        move |source| LaneError::Sink { sink, source }
    };
    let mut sinks: Vec<Box<dyn Sink>> = pipeline.sinks.iter().map(|f| f.for_lane(lane)).collect();
    // A sink that keeps the lane's position itself may be ahead of a lost checkpoint.
    for (sink, factory) in sinks.iter_mut().zip(pipeline.sinks.iter()) {
        if let Some((e, offset)) = sink.committed_position().await.map_err(sink_err(factory))?
            && e > epoch
        {
            tracing::warn!(pipeline = %pipeline.name, lane = %lane, sink = factory.name(), sink_epoch = e.0, checkpoint_epoch = epoch.0,
                "sink `{}` has committed epoch {e}, newer than the checkpoint: resuming from its position (offset {offset})", factory.name());
            epoch = e;
            next_offset = offset;
        }
    }
    for (sink, factory) in sinks.iter_mut().zip(pipeline.sinks.iter()) {
        sink.recover(epoch).await.map_err(sink_err(factory))?;
    }
    if !choice.rejected.is_empty() {
        pipeline.store.set_aside(&choice.rejected).await?;
    }
    let dlq = match &pipeline.dlq {
        Some(store) => {
            let mut w = DlqWriter::new(Arc::clone(store), Arc::clone(&pipeline.name), lane.clone());
            w.recover(epoch)?;
            Some(w)
        }
        None => None,
    };
    LaneRecovered {
        pipeline: &pipeline.name,
        lane,
        epoch,
        offset: next_offset,
    }
    .emit();
    Ok(Recovered {
        epoch,
        next_offset,
        records_in,
        records_out,
        sinks,
        dlq,
    })
}
