//! The log sink: appends a pipeline's output to a topic of the embedded log, exactly once per
//! epoch (under `log.fsync: always`), partitioned by its `key` path like HTTP ingest.
//!
//! ```text
//! <data_dir>/pipelines/<pipeline>/log-sinks/<sink>/<lane>/<epoch:012>.jsonl   staged epoch
//! <data_dir>/pipelines/<pipeline>/log-sinks/<sink>/<lane>/appended.json       append marker
//!   {"epoch": 7, "done": false,
//!    "runs": [{"p": 2, "total": 40, "present": [[1200, 40]], "pending": null},
//!             {"p": 3, "total": 12, "present": [], "pending": [881, 12]}]}
//! ```
//!
//! An append to the log cannot be staged invisibly and withdrawn, so the epoch's records are
//! staged in a file of their own and appended at `commit`, and the append is made idempotent:
//!
//! - `write(e)` adds the records to the staging file of `e`; `precommit(e)` fsyncs it.
//! - `commit(e)`, after the checkpoint: unless the marker already says `e` is done, it writes
//!   the marker with every append about to be made as `pending` — the partition's next offset at
//!   that moment and the count — atomically and durably, then appends each partition's records,
//!   each record's log key carrying the tag `s:<lane id>:<e>` (see [`crate::keypath`]; the lane
//!   id is a hash of pipeline, sink and lane), then writes the marker with the runs `present`
//!   and `done`, then deletes the staging file. A commit of an epoch the marker says is done
//!   does nothing.
//! - A commit interrupted anywhere (a crash, a failed append) is finished by the next `commit`
//!   or `recover`: for each `pending` append it counts the records tagged for the epoch from the
//!   snapshot on — weir-log gives an append's records consecutive offsets and a crash cuts only
//!   a suffix, so those are the first records of that append — and appends only the rest.
//! - `recover(c)` rolls staged epochs `<= c` forward through `commit` in order and deletes
//!   staged epochs `> c`.
//! - Appended records cannot be withdrawn, so the marker also keeps where the lane's source
//!   resumes after its epoch (`next_offset`, from `epoch_ends_at`), and the sink reports it as
//!   its committed position: when the newest checkpoint is unreadable and an older one would be
//!   used, recovery resumes from the marker's epoch instead (every other sink has that epoch
//!   precommitted at least — the marker is written after the checkpoint — and rolls it
//!   forward), so nothing is appended twice. Only a marker without a position (written while
//!   rolling an epoch forward during recovery) leaves the epochs after `c` to be appended again
//!   — at-least-once for those records, and a warning.
//!
//! Under `log.fsync: interval | never` an acknowledged append can be lost in a crash while the
//! marker says it is done, so the sink is at-least-once there (`weir validate` says so).

mod marker;

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use weir_log::Partition;

use super::blocking::BlockingSink;
use super::{Sink, SinkError, SinkFactory};
use crate::buffer::{Buffer, KeyedRecords, append_group};
use crate::config::{Guarantee, LogSinkPlan};
use crate::durable;
use crate::epoch::{Epoch, LaneId};
use crate::keypath::{self, KeyPath};
use crate::record::Record;
use marker::{Marker, Run, find_run};

const EXT: &str = ".jsonl";
const MARKER: &str = "appended.json";

/// Builds per-lane log sink writers.
#[derive(Debug)]
pub struct LogSinkFactory {
    plan: LogSinkPlan,
    pipeline: Arc<str>,
    buffer: Arc<Buffer>,
    partitions: Arc<[Partition]>,
}

impl LogSinkFactory {
    /// A log sink of `pipeline` over the open `buffer` (whose topic exists).
    ///
    /// # Errors
    /// When the topic does not have the planned partitions.
    pub fn new(
        plan: LogSinkPlan,
        pipeline: Arc<str>,
        buffer: Arc<Buffer>,
    ) -> weir_log::Result<Self> {
        let partitions = (0..plan.partitions)
            .map(|p| buffer.log().partition(&plan.topic, p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            plan,
            pipeline,
            buffer,
            partitions: partitions.into(),
        })
    }
}

impl SinkFactory for LogSinkFactory {
    fn name(&self) -> &str {
        &self.plan.name
    }

    fn guarantee(&self) -> Guarantee {
        if self.plan.durable {
            Guarantee::ExactlyOnce
        } else {
            Guarantee::AtLeastOnce
        }
    }

    fn for_lane(&self, lane: &LaneId) -> Box<dyn Sink> {
        Box::new(self.lane(lane))
    }
}

impl LogSinkFactory {
    fn lane(&self, lane: &LaneId) -> LogSink {
        let dir = self
            .buffer
            .layout()
            .log_sink_lane(&self.pipeline, &self.plan.name, lane);
        let id = fnv1a(&[
            self.pipeline.as_bytes(),
            self.plan.name.as_bytes(),
            lane.as_str().as_bytes(),
        ]);
        LogSink {
            dir,
            lane_tag: format!("s:{id:016x}"),
            key: self.plan.key.clone(),
            partitions: Arc::clone(&self.partitions),
            open: None,
            poisoned: false,
            ends: None,
        }
    }
}

/// FNV-1a (64 bit) over parts separated by NUL: a stable short id.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            // The NUL separator: xor with 0 leaves h as is.
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        for &b in *part {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// One output record, ready to append.
struct Staged {
    partition: u32,
    key: Option<String>,
    value: Vec<u8>,
}

struct LogSink {
    dir: PathBuf,
    lane_tag: String,
    key: Option<KeyPath>,
    partitions: Arc<[Partition]>,
    /// The epoch being written: its staging file and its records.
    open: Option<(Epoch, BufWriter<File>, Vec<Staged>)>,
    poisoned: bool,
    /// Where the lane resumes after an epoch (from `epoch_ends_at`).
    ends: Option<(Epoch, u64)>,
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> SinkError + 'a {
    move |source| SinkError::Io {
        op,
        path: path.display().to_string(),
        source,
    }
}

fn log_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(weir_log::Error) -> SinkError + 'a {
    move |e| SinkError::Io {
        op,
        path: path.display().to_string(),
        source: io::Error::other(e),
    }
}

fn staged_epoch(name: &str) -> Option<Epoch> {
    let digits = name.strip_suffix(EXT)?;
    (digits.len() == 12 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok().map(Epoch))?
}

impl LogSink {
    fn staged_path(&self, epoch: Epoch) -> PathBuf {
        self.dir.join(format!("{:012}{EXT}", epoch.0))
    }

    fn marker_path(&self) -> PathBuf {
        self.dir.join(MARKER)
    }

    fn stage(&self, value: &serde_json::Value) -> Staged {
        let key = self
            .key
            .as_ref()
            .and_then(|k| k.extract(value))
            .map(|k| serde_json::to_string(k).unwrap_or_default());
        let bytes = serde_json::to_vec(value).unwrap_or_default();
        let n = self.partitions.len() as u32;
        let partition = keypath::partition_of(key.as_ref().map_or(&bytes[..], |k| k.as_bytes()), n);
        Staged {
            partition,
            key,
            value: bytes,
        }
    }

    /// The records staged for `epoch`: in memory, or read back from the staging file.
    fn load_staged(&mut self, epoch: Epoch) -> Result<Option<Vec<Staged>>, SinkError> {
        if let Some((e, _, _)) = &self.open
            && *e == epoch
        {
            return Ok(self.open.take().map(|(_, _, kept)| kept));
        }
        let path = self.staged_path(epoch);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("open", &path)(e)),
        };
        let mut out = Vec::new();
        for line in io::BufReader::new(file).lines() {
            let line = line.map_err(io_err("read", &path))?;
            let value: serde_json::Value = serde_json::from_str(&line).map_err(|e| {
                io_err("parse", &path)(io::Error::new(io::ErrorKind::InvalidData, e))
            })?;
            out.push(self.stage(&value));
        }
        Ok(Some(out))
    }

    /// Turns the marker's pending appends into what actually reached the log.
    fn settle(&self, marker: &mut Marker, tag: &str) -> Result<(), SinkError> {
        for run in &mut marker.runs {
            let Some((snapshot, _)) = run.pending.take() else {
                continue;
            };
            let part = &self.partitions[run.p as usize];
            if let Some(found) =
                find_run(part, snapshot, tag.as_bytes()).map_err(log_err("read", &self.dir))?
            {
                run.present.push(found);
            }
        }
        Ok(())
    }

    fn remove_staged(&self, epoch: Epoch) -> Result<(), SinkError> {
        let path = self.staged_path(epoch);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("remove", &path)(e)),
        }
    }
}

impl BlockingSink for LogSink {
    fn recover_blocking(&mut self, committed: Epoch) -> Result<(), SinkError> {
        self.open = None;
        self.poisoned = false;
        let marker_path = self.marker_path();
        let marker = Marker::load(&marker_path).map_err(io_err("read", &marker_path))?;
        if marker.epoch > committed.0 {
            tracing::warn!(dir = %self.dir.display(), appended = marker.epoch, committed = committed.0,
                "the log sink appended epochs after the checkpoint resumed from; appended records cannot be withdrawn, so those records are appended again (at-least-once for them)");
            let tmp = self.dir.join(format!(".{MARKER}.tmp"));
            let reset = Marker {
                epoch: committed.0,
                runs: Vec::new(),
                done: true,
                next_offset: None,
            };
            reset
                .store(&marker_path, &tmp)
                .map_err(io_err("write", &marker_path))?;
        }
        let mut staged: Vec<Epoch> = match fs::read_dir(&self.dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str().and_then(staged_epoch))
                .collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_err("list", &self.dir)(e)),
        };
        staged.sort();
        for e in staged {
            if e <= committed {
                self.commit_blocking(e)?;
            } else {
                self.remove_staged(e)?;
            }
        }
        Ok(())
    }

    fn write_blocking(&mut self, epoch: Epoch, records: &[Record]) -> Result<(), SinkError> {
        if self.poisoned {
            return Err(SinkError::Poisoned);
        }
        if self.open.as_ref().is_some_and(|(e, _, _)| *e != epoch) {
            self.open = None;
        }
        if self.open.is_none() {
            durable::create_dir_all_synced(&self.dir).map_err(io_err("create", &self.dir))?;
            let path = self.staged_path(epoch);
            let f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)
                .map_err(io_err("create", &path))?;
            self.open = Some((epoch, BufWriter::with_capacity(256 * 1024, f), Vec::new()));
        }
        let path = self.staged_path(epoch);
        let staged: Vec<Staged> = records.iter().map(|r| self.stage(&r.value)).collect();
        let Some((_, w, kept)) = self.open.as_mut() else {
            unreachable!("opened above")
        };
        for s in &staged {
            w.write_all(&s.value)
                .and_then(|()| w.write_all(b"\n"))
                .map_err(io_err("write", &path))?;
        }
        kept.extend(staged);
        Ok(())
    }

    fn precommit_blocking(&mut self, epoch: Epoch) -> Result<(), SinkError> {
        if self.poisoned {
            return Err(SinkError::Poisoned);
        }
        let Some((e, w, kept)) = self.open.take() else {
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
        durable::sync_dir(&self.dir).map_err(io_err("fsync", &self.dir))?;
        // Kept for commit, which follows at once unless the process dies.
        self.open = Some((epoch, BufWriter::new(f), kept));
        Ok(())
    }

    fn commit_blocking(&mut self, epoch: Epoch) -> Result<(), SinkError> {
        let marker_path = self.marker_path();
        let mut marker = Marker::load(&marker_path).map_err(io_err("read", &marker_path))?;
        if marker.epoch > epoch.0 || (marker.epoch == epoch.0 && marker.done) {
            self.open = None;
            return self.remove_staged(epoch);
        }
        let Some(records) = self.load_staged(epoch)? else {
            // Nothing was written in this epoch.
            return Ok(());
        };
        let tag = format!("{}:{}", self.lane_tag, epoch.0);
        if marker.epoch == epoch.0 {
            self.settle(&mut marker, &tag)?;
        } else {
            marker = Marker {
                epoch: epoch.0,
                runs: Vec::new(),
                done: false,
                next_offset: None,
            };
            for s in &records {
                match marker.runs.iter_mut().find(|r| r.p == s.partition) {
                    Some(r) => r.total += 1,
                    None => marker.runs.push(Run {
                        p: s.partition,
                        total: 1,
                        ..Run::default()
                    }),
                }
            }
        }
        if let Some((e, offset)) = self.ends
            && e == epoch
        {
            marker.next_offset = Some(offset);
        }
        let tmp = self.dir.join(format!(".{MARKER}.tmp"));
        let mut plan = Vec::new();
        for run in &mut marker.runs {
            let stored = run.stored();
            if stored < run.total {
                let part = &self.partitions[run.p as usize];
                run.pending = Some((part.next_offset(), run.total - stored));
                plan.push((run.p, stored as usize));
            }
        }
        marker
            .store(&marker_path, &tmp)
            .map_err(io_err("write", &marker_path))?;
        // All partitions in one group commit: one fsync of the topic's journal.
        let groups: Vec<(u32, KeyedRecords<'_>)> = plan
            .iter()
            .map(|&(p, skip)| {
                let keyed = records
                    .iter()
                    .filter(|s| s.partition == p)
                    .skip(skip)
                    .map(|s| {
                        (
                            keypath::encode_key(s.key.as_deref(), Some(&tag)),
                            &s.value[..],
                        )
                    })
                    .collect();
                (p, keyed)
            })
            .collect();
        let futures = append_group(&self.partitions, &groups);
        let mut failure = None;
        for (&(p, _), f) in plan.iter().zip(futures) {
            let result = f.wait();
            let Some(run) = marker.runs.iter_mut().find(|r| r.p == p) else {
                continue;
            };
            match result {
                Ok(ack) => {
                    run.present
                        .push((ack.first_offset, ack.next_offset - ack.first_offset));
                    run.pending = None;
                }
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        if let Some(e) = failure {
            // The marker keeps the failed appends pending; the lane restarts and recovery
            // counts what reached the log.
            return Err(log_err("append to", &self.dir)(e));
        }
        marker.done = true;
        marker
            .store(&marker_path, &tmp)
            .map_err(io_err("write", &marker_path))?;
        self.remove_staged(epoch)
    }

    fn abort_blocking(&mut self, epoch: Epoch) -> Result<(), SinkError> {
        if self.open.as_ref().is_some_and(|(e, _, _)| *e == epoch) {
            self.open = None;
        }
        self.remove_staged(epoch)
    }

    fn poison(&mut self) {
        self.poisoned = true;
        self.open = None;
    }

    fn epoch_ends_at_blocking(&mut self, epoch: Epoch, next_offset: u64) {
        self.ends = Some((epoch, next_offset));
    }

    fn committed_position_blocking(&mut self) -> Result<Option<(Epoch, u64)>, SinkError> {
        let marker_path = self.marker_path();
        let marker = Marker::load(&marker_path).map_err(io_err("read", &marker_path))?;
        Ok(marker
            .next_offset
            .filter(|_| marker.epoch > 0)
            .map(|o| (Epoch(marker.epoch), o)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SinkPlan;
    use crate::record::{RecordId, RecordMeta};
    use weir_log::NewRecord;

    fn setup(dir: &Path) -> (Arc<Buffer>, LogSinkFactory) {
        std::fs::write(dir.join("in.jsonl"), "{}\n").expect("input");
        let yaml = "data_dir: state
pipelines:
  p:
    source: { type: file, path: in.jsonl }
    sinks: [ { type: log, topic: t, partitions: 2, key: .k } ]
";
        let plan = crate::config::load_str(&dir.join("weir.yaml"), yaml, |_| None).expect("plan");
        let buffer = Buffer::open(&plan).expect("open the log");
        let SinkPlan::Log(sink) = plan.pipelines[0].sinks[0].clone() else {
            panic!("a log sink")
        };
        let f = LogSinkFactory::new(sink, "p".into(), Arc::clone(&buffer)).expect("factory");
        (buffer, f)
    }

    fn records(n: u64) -> Vec<Record> {
        (0..n)
            .map(|i| {
                let meta = RecordMeta::new(RecordId {
                    source: "s".into(),
                    partition: "x".into(),
                    offset: i,
                });
                Record::new(serde_json::json!({"k": i % 3, "i": i}), meta)
            })
            .collect()
    }

    /// Every record of topic `t` as (k, i), per partition in offset order.
    fn topic(buffer: &Buffer) -> Vec<Vec<(u64, u64)>> {
        (0..2)
            .map(|p| {
                let mut r = buffer
                    .log()
                    .reader("t", p, weir_log::StartAt::Earliest)
                    .expect("reader");
                r.read(1000, 1 << 20)
                    .expect("read")
                    .iter()
                    .map(|rec| {
                        let v: serde_json::Value =
                            serde_json::from_slice(&rec.value).expect("json");
                        (v["k"].as_u64().expect("k"), v["i"].as_u64().expect("i"))
                    })
                    .collect()
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn the_sink_keeps_the_lanes_position_so_an_older_checkpoint_appends_nothing_twice() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (buffer, f) = setup(dir.path());
        let lane = LaneId::sanitized("a");
        let mut s = f.lane(&lane);
        s.recover(Epoch::NONE).await.expect("recover");
        assert_eq!(s.committed_position().await.expect("position"), None);
        for (e, offset) in [(1u64, 40u64), (2, 90)] {
            s.write(Epoch(e), &records(5)).await.expect("write");
            s.epoch_ends_at(Epoch(e), offset);
            s.precommit(Epoch(e)).await.expect("precommit");
            s.commit(Epoch(e)).await.expect("commit");
        }
        drop(s);
        let before = topic(&buffer);
        // Recovery with the checkpoint of epoch 1 (the newest one unreadable) asks the sinks
        // first: this one has epoch 2 and says where the lane resumes after it.
        let mut s = f.lane(&lane);
        assert_eq!(
            s.committed_position().await.expect("position"),
            Some((Epoch(2), 90))
        );
        s.recover(Epoch(2)).await.expect("recover");
        s.write(Epoch(3), &records(1)).await.expect("write");
        s.epoch_ends_at(Epoch(3), 99);
        s.precommit(Epoch(3)).await.expect("precommit");
        s.commit(Epoch(3)).await.expect("commit");
        let after: usize = topic(&buffer).iter().map(Vec::len).sum();
        assert_eq!(after, before.iter().map(Vec::len).sum::<usize>() + 1);
        assert_eq!(
            s.committed_position().await.expect("position"),
            Some((Epoch(3), 99))
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_commit_interrupted_after_part_of_its_appends_appends_only_the_rest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (buffer, f) = setup(dir.path());
        let lane = LaneId::sanitized("a");
        let mut s = f.lane(&lane);
        s.recover(Epoch::NONE).await.expect("recover");
        s.write(Epoch(1), &records(10)).await.expect("write");
        s.precommit(Epoch(1)).await.expect("precommit");
        // The process dies during commit(1) (after the checkpoint): the marker lists both
        // appends as pending, and only the first two records of partition 0's append reached
        // the log (a crash keeps a prefix of an append).
        let staged = s.load_staged(Epoch(1)).expect("load").expect("staged");
        let tag = format!("{}:1", s.lane_tag);
        let mut marker = Marker {
            epoch: 1,
            runs: Vec::new(),
            done: false,
            next_offset: None,
        };
        for p in 0..2u32 {
            let total = staged.iter().filter(|r| r.partition == p).count() as u64;
            marker.runs.push(Run {
                p,
                total,
                present: Vec::new(),
                pending: Some((0, total)),
            });
        }
        assert!(marker.runs.iter().all(|r| r.total >= 2), "{marker:?}");
        let tmp = s.dir.join("tmp");
        marker.store(&s.marker_path(), &tmp).expect("marker");
        let first_two: Vec<&Staged> = staged.iter().filter(|r| r.partition == 0).take(2).collect();
        let keys: Vec<_> = first_two
            .iter()
            .map(|r| keypath::encode_key(r.key.as_deref(), Some(&tag)))
            .collect();
        let new: Vec<NewRecord<'_>> = first_two
            .iter()
            .zip(&keys)
            .map(|(r, k)| NewRecord {
                key: k.as_deref(),
                value: &r.value,
                timestamp_ms: None,
            })
            .collect();
        buffer.log().append("t", 0, &new).expect("partial append");
        drop(s);

        let mut s = f.lane(&lane);
        s.recover(Epoch(1))
            .await
            .expect("recover rolls epoch 1 forward");
        let after = topic(&buffer);
        let mut all: Vec<u64> = after.iter().flatten().map(|(_, i)| *i).collect();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>(), "{after:?}");
        for part in &after {
            for k in 0..3 {
                let of_k: Vec<u64> = part
                    .iter()
                    .filter(|(kk, _)| *kk == k)
                    .map(|(_, i)| *i)
                    .collect();
                assert!(
                    of_k.windows(2).all(|w| w[0] < w[1]),
                    "key {k} out of order: {part:?}"
                );
            }
        }
        // Committing or recovering epoch 1 again appends nothing.
        s.commit(Epoch(1)).await.expect("commit again");
        s.recover(Epoch(1)).await.expect("recover again");
        assert_eq!(topic(&buffer), after);
        assert!(!s.staged_path(Epoch(1)).exists());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn staged_epochs_after_the_checkpoint_are_dropped_and_never_appended() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (buffer, f) = setup(dir.path());
        let lane = LaneId::sanitized("a");
        let mut s = f.lane(&lane);
        s.recover(Epoch::NONE).await.expect("recover");
        s.write(Epoch(1), &records(4)).await.expect("write");
        s.precommit(Epoch(1)).await.expect("precommit");
        s.commit(Epoch(1)).await.expect("commit");
        s.write(Epoch(2), &records(3)).await.expect("write");
        s.precommit(Epoch(2)).await.expect("precommit"); // no checkpoint: the crash comes first
        drop(s);
        let mut s = f.lane(&lane);
        s.recover(Epoch(1)).await.expect("recover");
        assert_eq!(topic(&buffer).iter().map(Vec::len).sum::<usize>(), 4);
        assert!(!s.staged_path(Epoch(2)).exists());
    }
}
