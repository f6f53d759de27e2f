//! Every path under `data_dir`, named in one place.
//!
//! ```text
//! <data_dir>/
//!   pipelines/<pipeline>/checkpoints/<lane>/<epoch:012>.ckpt      manifests, newest 3 kept
//!   pipelines/<pipeline>/checkpoints/<lane>/.<epoch:012>.ckpt.tmp being written (never read)
//!   pipelines/<pipeline>/lanes/<lane>.marker                     crash marker (poison pills)
//!   pipelines/<pipeline>/audit-overrides/<epoch>|<lane>@<epoch>  operator accepts a halted epoch
//!   pipelines/<pipeline>/log-sinks/<sink>/<lane>/<epoch:012>.jsonl  a log sink's staged epoch
//!   pipelines/<pipeline>/log-sinks/<sink>/<lane>/appended.json     what it appended last (see sinks::log)
//!   dlq.sqlite (+ -wal, -shm)                                    the dead-letter queue
//!   log/                                                         the embedded log (weir-log): topics
//!   log.lock                                                     held by the process that has the log open
//!   ingest.sqlite (+ -wal, -shm)                                 HTTP ingest: idempotency keys, replay intents
//! ```

use std::path::{Path, PathBuf};

use crate::epoch::{Epoch, LaneId};

const MANIFEST_EXT: &str = "ckpt";

/// Names the files of a data directory.
#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The layout of the data directory at `root`.
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The data directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A pipeline's directory.
    #[must_use]
    pub fn pipeline(&self, pipeline: &str) -> PathBuf {
        self.root.join("pipelines").join(pipeline)
    }

    /// The directory holding every lane's checkpoint directory.
    #[must_use]
    pub fn checkpoints(&self, pipeline: &str) -> PathBuf {
        self.pipeline(pipeline).join("checkpoints")
    }

    /// One lane's checkpoint directory.
    #[must_use]
    pub fn lane_checkpoints(&self, pipeline: &str, lane: &LaneId) -> PathBuf {
        self.checkpoints(pipeline).join(lane.as_str())
    }

    /// The manifest of `epoch`.
    #[must_use]
    pub fn manifest(&self, pipeline: &str, lane: &LaneId, epoch: Epoch) -> PathBuf {
        self.lane_checkpoints(pipeline, lane)
            .join(format!("{:012}.{MANIFEST_EXT}", epoch.0))
    }

    /// The temporary file a manifest is written to before it is renamed into place.
    #[must_use]
    pub fn manifest_tmp(&self, pipeline: &str, lane: &LaneId, epoch: Epoch) -> PathBuf {
        self.lane_checkpoints(pipeline, lane)
            .join(format!(".{:012}.{MANIFEST_EXT}.tmp", epoch.0))
    }

    /// A lane's crash marker (see `runtime::poison`).
    #[must_use]
    pub fn lane_marker(&self, pipeline: &str, lane: &LaneId) -> PathBuf {
        self.pipeline(pipeline)
            .join("lanes")
            .join(format!("{lane}.marker"))
    }

    /// Operators' audit overrides of a pipeline: `<epoch>` or `<lane>@<epoch>` files.
    #[must_use]
    pub fn audit_overrides(&self, pipeline: &str) -> PathBuf {
        self.pipeline(pipeline).join("audit-overrides")
    }

    /// The dead-letter database.
    #[must_use]
    pub fn dlq(&self) -> PathBuf {
        self.root.join("dlq.sqlite")
    }

    /// The embedded log's directory (weir-log: `topics/<topic>/<partition>/...`).
    #[must_use]
    pub fn log(&self) -> PathBuf {
        self.root.join("log")
    }

    /// The lock file held by the one process that has the log open; it names that process and
    /// the address of its server.
    #[must_use]
    pub fn log_lock(&self) -> PathBuf {
        self.root.join("log.lock")
    }

    /// The HTTP ingest database: idempotency keys and `dlq replay --to-log` intents.
    #[must_use]
    pub fn ingest_db(&self) -> PathBuf {
        self.root.join("ingest.sqlite")
    }

    /// One lane's directory of a log sink: staged epochs and the append marker.
    #[must_use]
    pub fn log_sink_lane(&self, pipeline: &str, sink: &str, lane: &LaneId) -> PathBuf {
        self.pipeline(pipeline)
            .join("log-sinks")
            .join(sink)
            .join(lane.as_str())
    }

    /// The directory holding every lane directory of a log sink.
    #[must_use]
    pub fn log_sink(&self, pipeline: &str, sink: &str) -> PathBuf {
        self.pipeline(pipeline).join("log-sinks").join(sink)
    }

    /// The epoch a manifest file name stands for, if it is one.
    #[must_use]
    pub fn manifest_epoch(file_name: &str) -> Option<Epoch> {
        let digits = file_name.strip_suffix(".ckpt")?;
        (digits.len() == 12 && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| digits.parse().ok().map(Epoch))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_names_round_trip() {
        let l = Layout::new("/d");
        let lane = LaneId::sanitized("a.jsonl");
        let p = l.manifest("orders", &lane, Epoch(42));
        assert_eq!(
            p,
            Path::new("/d/pipelines/orders/checkpoints/a.jsonl/000000000042.ckpt")
        );
        let name = p.file_name().and_then(|n| n.to_str()).expect("utf-8 name");
        assert_eq!(Layout::manifest_epoch(name), Some(Epoch(42)));
        assert_eq!(Layout::manifest_epoch(".000000000042.ckpt.tmp"), None);
        assert_eq!(Layout::manifest_epoch("42.ckpt"), None);
    }
}
