//! The file sink: exactly-once JSON lines files, one per lane per epoch.
//!
//! ```text
//! <path>/<lane>-<epoch:012>.jsonl          committed output (visible)
//! <path>/.staging/<lane>/<epoch:012>.jsonl an epoch being written or precommitted
//! ```
//!
//! Invariants: the committed output is exactly the `*.jsonl` files directly under `<path>`;
//! a file appears there only complete (written in staging, fsynced, renamed, directory
//! fsynced); sorting the names of one lane's files gives its commit order. Recovery to epoch `e`
//! renames staged epochs `<= e` into place, deletes staged epochs `> e`, and withdraws
//! committed files of epochs `> e` (they exist only when the newest checkpoint was unreadable
//! and an older one is used: the records are produced again).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::blocking::BlockingSink;
use super::{Sink, SinkError, SinkFactory};
use crate::config::Guarantee;
use crate::durable;
use crate::epoch::{Epoch, LaneId};
use crate::record::Record;

const STAGING: &str = ".staging";
const EXT: &str = ".jsonl";

/// Builds per-lane file writers for one output directory.
#[derive(Debug)]
pub struct FileSinkFactory {
    name: String,
    dir: PathBuf,
}

impl FileSinkFactory {
    /// A file sink writing under `dir`.
    #[must_use]
    pub fn new(name: String, dir: PathBuf) -> Self {
        Self { name, dir }
    }
}

impl SinkFactory for FileSinkFactory {
    fn name(&self) -> &str {
        &self.name
    }

    fn guarantee(&self) -> Guarantee {
        Guarantee::ExactlyOnce
    }

    fn for_lane(&self, lane: &LaneId) -> Box<dyn Sink> {
        Box::new(FileSink {
            dir: self.dir.clone(),
            staging: self.dir.join(STAGING).join(lane.as_str()),
            lane: lane.clone(),
            open: None,
            poisoned: false,
        })
    }
}

/// The name of a committed file.
#[must_use]
pub fn committed_name(lane: &LaneId, epoch: Epoch) -> String {
    format!("{lane}-{:012}{EXT}", epoch.0)
}

/// The epoch of `file_name` if it is a committed file of `lane`.
#[must_use]
pub fn committed_epoch(lane: &LaneId, file_name: &str) -> Option<Epoch> {
    let stem = file_name.strip_suffix(EXT)?;
    let (l, digits) = stem.rsplit_once('-')?;
    (l == lane.as_str() && digits.len() == 12 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok().map(Epoch))?
}

fn staged_epoch(file_name: &str) -> Option<Epoch> {
    let digits = file_name.strip_suffix(EXT)?;
    (digits.len() == 12 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok().map(Epoch))?
}

struct FileSink {
    dir: PathBuf,
    staging: PathBuf,
    lane: LaneId,
    open: Option<(Epoch, BufWriter<File>)>,
    poisoned: bool,
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> SinkError + 'a {
    move |source| SinkError::Io {
        op,
        path: path.display().to_string(),
        source,
    }
}

fn list(dir: &Path) -> Result<Vec<String>, SinkError> {
    match fs::read_dir(dir) {
        Ok(entries) => {
            let mut names = Vec::new();
            for e in entries {
                let e = e.map_err(io_err("list", dir))?;
                if let Some(n) = e.file_name().to_str() {
                    names.push(n.to_owned());
                }
            }
            names.sort();
            Ok(names)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io_err("list", dir)(e)),
    }
}

impl FileSink {
    fn staged_path(&self, epoch: Epoch) -> PathBuf {
        self.staging.join(format!("{:012}{EXT}", epoch.0))
    }

    fn committed_path(&self, epoch: Epoch) -> PathBuf {
        self.dir.join(committed_name(&self.lane, epoch))
    }

    fn check(&self) -> Result<(), SinkError> {
        if self.poisoned {
            Err(SinkError::Poisoned)
        } else {
            Ok(())
        }
    }
}

impl BlockingSink for FileSink {
    fn poison(&mut self) {
        self.poisoned = true;
        self.open = None;
    }

    fn write_blocking(&mut self, epoch: Epoch, records: &[Record]) -> Result<(), SinkError> {
        self.check()?;
        if self.open.as_ref().is_some_and(|(e, _)| *e != epoch) {
            self.open = None;
        }
        if self.open.is_none() {
            durable::create_dir_all_synced(&self.staging)
                .map_err(io_err("create", &self.staging))?;
            let path = self.staged_path(epoch);
            // Truncate: a leftover of a crashed attempt at this epoch must not be appended to.
            let f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)
                .map_err(io_err("create", &path))?;
            self.open = Some((epoch, BufWriter::with_capacity(256 * 1024, f)));
        }
        let path = self.staged_path(epoch);
        let Some((_, w)) = self.open.as_mut() else {
            unreachable!("opened above")
        };
        for r in records {
            serde_json::to_writer(&mut *w, &r.value).map_err(|e| SinkError::Io {
                op: "write",
                path: path.display().to_string(),
                source: e.into(),
            })?;
            w.write_all(b"\n").map_err(io_err("write", &path))?;
        }
        Ok(())
    }

    fn precommit_blocking(&mut self, epoch: Epoch) -> Result<(), SinkError> {
        self.check()?;
        let Some((e, w)) = self.open.take() else {
            return Ok(());
        };
        if e != epoch {
            return Ok(());
        }
        let path = self.staged_path(epoch);
        let f = w
            .into_inner()
            .map_err(|e| io_err("flush", &path)(e.into_error()))?;
        f.sync_all().map_err(io_err("fsync", &path))?;
        durable::sync_dir(&self.staging).map_err(io_err("fsync", &self.staging))
    }

    fn commit_blocking(&mut self, epoch: Epoch) -> Result<(), SinkError> {
        self.check()?;
        let staged = self.staged_path(epoch);
        match fs::rename(&staged, self.committed_path(epoch)) {
            Ok(()) => durable::sync_dir(&self.dir).map_err(io_err("fsync", &self.dir)),
            // Already committed, or the epoch wrote nothing.
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("rename", &staged)(e)),
        }
    }

    fn abort_blocking(&mut self, epoch: Epoch) -> Result<(), SinkError> {
        if self.open.as_ref().is_some_and(|(e, _)| *e == epoch) {
            self.open = None;
        }
        let staged = self.staged_path(epoch);
        match fs::remove_file(&staged) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("remove", &staged)(e)),
        }
    }

    fn recover_blocking(&mut self, committed: Epoch) -> Result<(), SinkError> {
        self.open = None;
        self.poisoned = false;
        durable::create_dir_all_synced(&self.dir).map_err(io_err("create", &self.dir))?;
        for name in list(&self.staging)? {
            match staged_epoch(&name) {
                Some(e) if e <= committed => self.commit_blocking(e)?,
                _ => {
                    let p = self.staging.join(&name);
                    fs::remove_file(&p).map_err(io_err("remove", &p))?;
                }
            }
        }
        let mut withdrawn = false;
        for name in list(&self.dir)? {
            if let Some(e) = committed_epoch(&self.lane, &name)
                && e > committed
            {
                let p = self.dir.join(&name);
                tracing::warn!(file = %p.display(), epoch = e.0, committed = committed.0,
                    "withdrawing output of an epoch newer than the checkpoint resumed from; its records are produced again");
                fs::remove_file(&p).map_err(io_err("remove", &p))?;
                withdrawn = true;
            }
        }
        if withdrawn {
            durable::sync_dir(&self.dir).map_err(io_err("fsync", &self.dir))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{RecordId, RecordMeta};

    fn recs(values: &[i64]) -> Vec<Record> {
        values
            .iter()
            .map(|v| {
                Record::new(
                    serde_json::json!({ "v": v }),
                    RecordMeta::new(RecordId {
                        source: "s".into(),
                        partition: "p".into(),
                        offset: *v as u64,
                    }),
                )
            })
            .collect()
    }

    fn committed(dir: &Path) -> Vec<String> {
        list(dir)
            .expect("list")
            .into_iter()
            .filter(|n| n.ends_with(EXT))
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn an_epoch_is_visible_only_after_commit_and_commit_is_idempotent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lane = LaneId::sanitized("a.jsonl");
        let mut s = FileSinkFactory::new("file".into(), dir.path().to_path_buf()).for_lane(&lane);
        s.recover(Epoch::NONE).await.expect("recover");
        s.write(Epoch(1), &recs(&[1, 2])).await.expect("write");
        s.precommit(Epoch(1)).await.expect("precommit");
        assert!(committed(dir.path()).is_empty());
        s.commit(Epoch(1)).await.expect("commit");
        s.commit(Epoch(1)).await.expect("commit again");
        assert_eq!(committed(dir.path()), vec!["a.jsonl-000000000001.jsonl"]);
        let text = fs::read_to_string(dir.path().join("a.jsonl-000000000001.jsonl")).expect("read");
        assert_eq!(text, "{\"v\":1}\n{\"v\":2}\n");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn recovery_rolls_forward_the_checkpointed_epoch_and_drops_newer_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lane = LaneId::sanitized("a.jsonl");
        let f = FileSinkFactory::new("file".into(), dir.path().to_path_buf());
        let mut s = f.for_lane(&lane);
        s.recover(Epoch::NONE).await.expect("recover");
        for e in 1..=2 {
            s.write(Epoch(e), &recs(&[e as i64])).await.expect("write");
            s.precommit(Epoch(e)).await.expect("precommit");
            s.commit(Epoch(e)).await.expect("commit");
        }
        // Epoch 3 precommitted (checkpoint written, crash before commit); epoch 4 half written.
        s.write(Epoch(3), &recs(&[3])).await.expect("write");
        s.precommit(Epoch(3)).await.expect("precommit");
        s.write(Epoch(4), &recs(&[4])).await.expect("write");
        drop(s);

        let mut s = f.for_lane(&lane);
        s.recover(Epoch(3)).await.expect("recover");
        assert_eq!(committed(dir.path()).len(), 3);
        assert!(
            list(&dir.path().join(STAGING).join("a.jsonl"))
                .expect("list")
                .is_empty()
        );

        // Falling back to epoch 1 (newer manifests unreadable) withdraws epochs 2 and 3.
        let mut s2 = f.for_lane(&lane);
        s2.recover(Epoch(1)).await.expect("recover");
        assert_eq!(committed(dir.path()), vec!["a.jsonl-000000000001.jsonl"]);
        drop(s);
    }

    #[test]
    fn committed_names_parse_back_only_for_their_lane() {
        let a = LaneId::sanitized("a");
        let ab = LaneId::sanitized("a-b");
        assert_eq!(
            committed_epoch(&a, &committed_name(&a, Epoch(9))),
            Some(Epoch(9))
        );
        assert_eq!(committed_epoch(&a, &committed_name(&ab, Epoch(9))), None);
        assert_eq!(
            committed_epoch(&ab, &committed_name(&ab, Epoch(9))),
            Some(Epoch(9))
        );
    }
}
