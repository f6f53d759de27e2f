//! The local checkpoint store: manifests in `data_dir` (see [`crate::layout::Layout`]).

use std::fs;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;

use super::manifest::{self, Checkpoint};
use super::recovery::{self, Candidate, Choice, Rejected};
use super::{CheckpointError, CheckpointStore, KEEP};
use crate::durable;
use crate::epoch::{Epoch, LaneId};
use crate::layout::Layout;

/// Manifests as files under the data directory.
#[derive(Debug)]
pub struct LocalStore {
    layout: Layout,
    poisoned: AtomicBool,
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> CheckpointError + 'a {
    move |source| CheckpointError::Io {
        op,
        path: path.display().to_string(),
        source,
    }
}

impl LocalStore {
    /// A store over `layout`'s data directory.
    #[must_use]
    pub fn new(layout: Layout) -> Self {
        Self {
            layout,
            poisoned: AtomicBool::new(false),
        }
    }

    fn manifests(
        &self,
        pipeline: &str,
        lane: &LaneId,
    ) -> Result<Vec<(Epoch, std::path::PathBuf)>, CheckpointError> {
        let dir = self.layout.lane_checkpoints(pipeline, lane);
        let mut out = list(&dir, |name, path| {
            Layout::manifest_epoch(name).map(|epoch| (epoch, path.to_path_buf()))
        })?;
        out.sort();
        Ok(out)
    }

    fn load_blocking(&self, pipeline: &str, lane: &LaneId) -> Result<Choice, CheckpointError> {
        let mut candidates = Vec::new();
        for (epoch, path) in self.manifests(pipeline, lane)?.into_iter().rev() {
            let decoded = match fs::read(&path) {
                Ok(bytes) => manifest::decode(&bytes),
                Err(e) => return Err(io_err("read", &path)(e)),
            };
            let valid = decoded.is_ok();
            candidates.push(Candidate {
                epoch,
                path,
                decoded,
            });
            if valid {
                break;
            }
        }
        Ok(recovery::choose(pipeline, lane.as_str(), candidates))
    }

    fn save_blocking(&self, cp: &Checkpoint) -> Result<(), CheckpointError> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(CheckpointError::Poisoned);
        }
        let lane = LaneId::sanitized(&cp.lane);
        let dir = self.layout.lane_checkpoints(&cp.pipeline, &lane);
        durable::create_dir_all_synced(&dir).map_err(io_err("create", &dir))?;
        let path = self.layout.manifest(&cp.pipeline, &lane, cp.epoch);
        let tmp = self.layout.manifest_tmp(&cp.pipeline, &lane, cp.epoch);
        if let Err(e) = durable::write_atomic(&path, &tmp, &manifest::encode(cp)) {
            // After a failed write or sync the state of the file is unknown: refuse to go on
            // pretending, the lane restarts from what is known to be durable.
            self.poisoned.store(true, Ordering::Release);
            return Err(io_err("write", &path)(e));
        }
        // Keep the manifest just written and the newest older ones; a stale newer file (left
        // by a life the lane was recovered out of) never pushes the new one out.
        let older: Vec<_> = self
            .manifests(&cp.pipeline, &lane)?
            .into_iter()
            .filter(|(e, _)| *e < cp.epoch)
            .collect();
        let keep_from = older.len().saturating_sub(KEEP - 1);
        for (_, old) in &older[..keep_from] {
            fs::remove_file(old).map_err(io_err("prune", old))?;
        }
        Ok(())
    }

    fn set_aside_blocking(&self, rejected: &[Rejected]) -> Result<(), CheckpointError> {
        let mut dirs = std::collections::BTreeSet::new();
        for r in rejected {
            let mut to = r.path.clone().into_os_string();
            to.push(".rejected");
            match fs::rename(&r.path, &to) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err("set aside", &r.path)(e)),
            }
            if let Some(d) = r.path.parent() {
                dirs.insert(d.to_path_buf());
            }
        }
        for d in dirs {
            durable::sync_dir(&d).map_err(io_err("fsync", &d))?;
        }
        Ok(())
    }
}

#[async_trait]
impl CheckpointStore for LocalStore {
    async fn load(&self, pipeline: &str, lane: &LaneId) -> Result<Choice, CheckpointError> {
        tokio::task::block_in_place(|| self.load_blocking(pipeline, lane))
    }

    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        tokio::task::block_in_place(|| self.save_blocking(checkpoint))
    }

    async fn set_aside(&self, rejected: &[Rejected]) -> Result<(), CheckpointError> {
        tokio::task::block_in_place(|| self.set_aside_blocking(rejected))
    }

    async fn lanes(&self, pipeline: &str) -> Result<Vec<LaneId>, CheckpointError> {
        let dir = self.layout.checkpoints(pipeline);
        let mut lanes = list(&dir, |name, _| LaneId::parse(name))?;
        lanes.sort();
        Ok(lanes)
    }
}

/// What `pick` makes of the entries of `dir` (by name and path); a missing directory is empty.
fn list<T>(
    dir: &std::path::Path,
    pick: impl Fn(&str, &std::path::Path) -> Option<T>,
) -> Result<Vec<T>, CheckpointError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("list", dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err("list", dir))?;
        let path = entry.path();
        if let Some(t) = entry
            .file_name()
            .to_str()
            .and_then(|name| pick(name, &path))
        {
            out.push(t);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp(epoch: u64) -> Checkpoint {
        Checkpoint {
            pipeline: "p".into(),
            lane: "a.jsonl".into(),
            epoch: Epoch(epoch),
            next_offset: epoch * 100,
            records_in: epoch,
            records_out: epoch,
            created_at_ms: 0,
            state: serde_json::Map::new(),
            sinks: serde_json::Map::new(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn keeps_the_newest_three_and_falls_back_past_a_corrupt_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::new(dir.path());
        let store = LocalStore::new(layout.clone());
        let lane = LaneId::sanitized("a.jsonl");
        for e in 1..=5 {
            store.save(&cp(e)).await.expect("save");
        }
        let names: Vec<_> = store
            .manifests("p", &lane)
            .expect("list")
            .into_iter()
            .map(|(e, _)| e.0)
            .collect();
        assert_eq!(names, vec![3, 4, 5]);
        assert_eq!(
            store.load("p", &lane).await.expect("load").checkpoint,
            Some(cp(5))
        );

        let newest = layout.manifest("p", &lane, Epoch(5));
        let bytes = fs::read(&newest).expect("read");
        fs::write(&newest, &bytes[..bytes.len() / 2]).expect("truncate");
        let choice = store.load("p", &lane).await.expect("load");
        assert_eq!(choice.checkpoint, Some(cp(4)));
        assert_eq!(choice.rejected.len(), 1);
        assert_eq!(choice.rejected[0].path, newest);
        assert_eq!(store.lanes("p").await.expect("lanes"), vec![lane]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_lane_starting_over_keeps_the_checkpoints_it_writes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::new(dir.path());
        let store = LocalStore::new(layout.clone());
        let lane = LaneId::sanitized("a.jsonl");
        for e in 8..=10 {
            store.save(&cp(e)).await.expect("save");
            let p = layout.manifest("p", &lane, Epoch(e));
            fs::write(&p, b"torn").expect("corrupt");
        }
        let choice = store.load("p", &lane).await.expect("load");
        assert_eq!(choice.epoch(), Epoch::NONE);
        assert_eq!(choice.rejected.len(), 3);
        store.set_aside(&choice.rejected).await.expect("set aside");
        for e in 1..=4 {
            store.save(&cp(e)).await.expect("save");
            assert_eq!(
                store.load("p", &lane).await.expect("load").checkpoint,
                Some(cp(e))
            );
        }
        let left: Vec<_> = store
            .manifests("p", &lane)
            .expect("list")
            .into_iter()
            .map(|(e, _)| e.0)
            .collect();
        assert_eq!(left, vec![2, 3, 4]);
        assert!(
            layout
                .manifest("p", &lane, Epoch(10))
                .with_extension("ckpt.rejected")
                .exists()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_stale_newer_manifest_never_evicts_the_one_just_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalStore::new(Layout::new(dir.path()));
        let lane = LaneId::sanitized("a.jsonl");
        for e in [20, 21, 22, 1] {
            store.save(&cp(e)).await.expect("save");
        }
        let left: Vec<_> = store
            .manifests("p", &lane)
            .expect("list")
            .into_iter()
            .map(|(e, _)| e.0)
            .collect();
        assert!(left.contains(&1), "{left:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn reopening_many_times_always_finds_the_last_saved() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lane = LaneId::sanitized("a.jsonl");
        for e in 1..=20 {
            let store = LocalStore::new(Layout::new(dir.path()));
            assert_eq!(
                store.load("p", &lane).await.expect("load").epoch(),
                Epoch(e - 1)
            );
            store.save(&cp(e)).await.expect("save");
        }
    }
}
