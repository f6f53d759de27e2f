//! [`Log`]: a directory of topics, opened (and recovered) as a whole.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak, mpsc};
use std::thread::{self, JoinHandle};

use parking_lot::{Mutex, RwLock};

use crate::completion::AppendAck;
use crate::config::{Fsync, LogConfig};
use crate::error::{Error, Result};
use crate::journal::{self, Journal};
use crate::layout::{Layout, check_name, tmp_path};
use crate::partition::{LogShared, NewRecord, Partition, PartitionShared, now_ms};
use crate::reader::{Reader, StartAt};
use crate::recovery::{PartitionRecovery, RecoveryReport, recover_partition, remove_tmp};
use crate::replay::replay;
use crate::retention::{self, RetentionReport};
use crate::signal::Signal;
use crate::stats::{LogStats, TopicStats};
use crate::storage::{self, DiskStorage, Storage};
use crate::topic_writer::TopicWriter;
use crate::writer::Writer;

const TOPIC_MAGIC: [u8; 4] = *b"WTOP";
const TOPIC_VERSION: u32 = 1;
/// Most partitions a topic may have.
const MAX_PARTITIONS: u32 = 4096;

fn encode_meta(partitions: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0..4].copy_from_slice(&TOPIC_MAGIC);
    b[4..8].copy_from_slice(&TOPIC_VERSION.to_le_bytes());
    b[8..12].copy_from_slice(&partitions.to_le_bytes());
    let crc = crc32c::crc32c(&b[..12]);
    b[12..16].copy_from_slice(&crc.to_le_bytes());
    b
}

fn decode_meta(bytes: &[u8]) -> Option<u32> {
    let b: &[u8; 16] = bytes.try_into().ok()?;
    let ok = b[0..4] == TOPIC_MAGIC
        && b[4..8] == TOPIC_VERSION.to_le_bytes()
        && crc32c::crc32c(&b[..12]).to_le_bytes() == b[12..16];
    let partitions = u32::from_le_bytes([b[8], b[9], b[10], b[11]]);
    (ok && (1..=MAX_PARTITIONS).contains(&partitions)).then_some(partitions)
}

#[derive(Debug)]
struct LogInner {
    shared: Arc<LogShared>,
    topics: RwLock<BTreeMap<String, Vec<Partition>>>,
    writers: Mutex<Vec<JoinHandle<()>>>,
}

impl LogInner {
    fn all_partitions(&self) -> Vec<Partition> {
        self.topics.read().values().flatten().cloned().collect()
    }

    fn enforce_retention_at(&self, now_ms: i64) -> Result<RetentionReport> {
        let mut report = RetentionReport::default();
        let policy = &self.shared.config.retention;
        for p in self.all_partitions() {
            retention::apply(&p.shared, policy, now_ms, &mut report)?;
        }
        Ok(report)
    }

    /// Recovers a topic's partitions, replays its journal and starts its writer thread.
    fn start_topic(
        &self,
        topic: &str,
        partitions: u32,
    ) -> Result<(Vec<Partition>, Vec<PartitionRecovery>)> {
        let shared = &self.shared;
        let storage = shared.storage.as_ref();
        let signal = Arc::new(Signal::default());
        let mut parts = Vec::new();
        let mut writers = Vec::new();
        let mut reports = Vec::new();
        for id in 0..partitions {
            let layout = shared.layout.partition(topic, id);
            let rec = recover_partition(storage, &layout, &shared.config, topic, id)?;
            shared.add_usage(rec.bytes);
            let Some(active) = rec.segments.last().cloned() else {
                return Err(Error::io(
                    "recover",
                    &layout.dir,
                    std::io::Error::other("no segment"),
                ));
            };
            let part = Arc::new(PartitionShared::new(
                shared.clone(),
                topic,
                id,
                rec.segments,
                rec.next_offset,
                rec.consumers,
                signal.clone(),
            ));
            writers.push(Writer::new(part.clone(), active));
            parts.push(Partition { shared: part });
            reports.push(rec.report);
        }
        let journal = self.open_journal(topic, partitions, &mut writers, &mut reports)?;
        let topic_writer = TopicWriter::new(shared.clone(), writers, journal, signal);
        let handle = thread::Builder::new()
            .name(format!("wlog-{topic}"))
            .spawn(move || topic_writer.run())
            .map_err(|e| Error::io("spawn writer for", shared.layout.topic_dir(topic), e))?;
        self.writers.lock().push(handle);
        Ok((parts, reports))
    }

    /// Replays what the topic's journal holds past the partitions' segments, then starts its
    /// next generation, or removes it when the topic does not use one (a single partition, or
    /// appends not fsynced).
    fn open_journal(
        &self,
        topic: &str,
        partitions: u32,
        writers: &mut [Writer],
        reports: &mut [PartitionRecovery],
    ) -> Result<Option<Journal>> {
        let shared = &self.shared;
        let storage = shared.storage.as_ref();
        let path = shared.layout.topic_journal(topic);
        let topic_dir = shared.layout.topic_dir(topic);
        let found = journal::read(storage, &path).map_err(|e| Error::io("read", &path, e))?;
        if let Some(contents) = &found {
            let restored = replay(contents, &path, writers, reports)?;
            shared.add_usage(restored);
        }
        if partitions < 2 || shared.config.fsync != Fsync::Always {
            if found.is_some() {
                storage
                    .remove_file(&path)
                    .and_then(|()| storage.sync_dir(&topic_dir))
                    .map_err(|e| Error::io("remove", &path, e))?;
            }
            return Ok(None);
        }
        let previous = found.as_ref().map_or(0, |c| c.generation);
        let journal = Journal::start(storage, &path, previous, shared.config.journal_bytes)
            .map_err(|e| Error::io("start", &path, e))?;
        if found.is_none() {
            storage
                .sync_dir(&topic_dir)
                .map_err(|e| Error::io("sync directory", &topic_dir, e))?;
        }
        Ok(Some(journal))
    }
}

/// An embedded durable log: topics of partitions of segment files in one directory.
///
/// Opening recovers every partition (see the crate doc) and starts one writer thread per
/// topic. Dropping the log (or [`Log::close`]) flushes and fsyncs what is queued and stops
/// the threads; [`Partition`] handles outliving it refuse appends with [`Error::Closed`].
#[derive(Debug)]
pub struct Log {
    inner: Arc<LogInner>,
    report: RecoveryReport,
    maintenance: Mutex<Option<(mpsc::Sender<()>, JoinHandle<()>)>>,
}

impl Log {
    /// Opens (creating if needed) the log in `dir` on the real file system.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`]; [`Error::Io`] when the directory cannot be read or repaired.
    pub fn open(dir: impl AsRef<Path>, config: LogConfig) -> Result<Log> {
        Self::open_with_storage(Arc::new(DiskStorage), dir, config)
    }

    /// Opens the log in `dir` of `storage` (tests use [`crate::MemStorage`]).
    ///
    /// # Errors
    /// As [`Log::open`].
    pub fn open_with_storage(
        storage: Arc<dyn Storage>,
        dir: impl AsRef<Path>,
        config: LogConfig,
    ) -> Result<Log> {
        config.validate()?;
        let dir = dir.as_ref();
        let layout = Layout::new(dir);
        let topics_dir = layout.topics_dir();
        storage
            .create_dir_all(&topics_dir)
            .map_err(|e| Error::io("create directory", &topics_dir, e))?;
        storage
            .sync_dir(dir)
            .map_err(|e| Error::io("sync directory", dir, e))?;
        let names = storage
            .list(&topics_dir)
            .map_err(|e| Error::io("list", &topics_dir, e))?;
        let check_interval = config.retention.check_interval;
        let mut log = Log {
            inner: Arc::new(LogInner {
                shared: Arc::new(LogShared {
                    storage,
                    config,
                    layout,
                    usage: 0.into(),
                }),
                topics: RwLock::default(),
                writers: Mutex::default(),
            }),
            report: RecoveryReport::default(),
            maintenance: Mutex::default(),
        };
        // From here on an error drops `log`, which stops the writers started so far.
        for name in names {
            if check_name("topic", &name).is_err() {
                continue;
            }
            let shared = &log.inner.shared;
            let meta = shared.layout.topic_meta(&name);
            remove_tmp(shared.storage.as_ref(), &meta)?;
            let partitions = storage::read_file(shared.storage.as_ref(), &meta)
                .ok()
                .and_then(|b| decode_meta(&b));
            let Some(partitions) = partitions else {
                log.report.incomplete_topics.push(name);
                continue;
            };
            let (parts, reports) = log.inner.start_topic(&name, partitions)?;
            log.report.partitions.extend(reports);
            log.inner.topics.write().insert(name, parts);
        }
        log.report.log();
        if let Some(every) = check_interval {
            let (tx, rx) = mpsc::channel::<()>();
            let weak: Weak<LogInner> = Arc::downgrade(&log.inner);
            let handle = thread::Builder::new()
                .name("weir-log-retention".to_owned())
                .spawn(move || retention_loop(&weak, &rx, every))
                .map_err(|e| Error::io("spawn retention thread in", &topics_dir, e))?;
            *log.maintenance.lock() = Some((tx, handle));
        }
        Ok(log)
    }

    /// What recovery found and did when the log was opened.
    #[must_use]
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.report
    }

    /// Creates a topic with `partitions` partitions (1 to 4096), durably: its `topic.meta` is
    /// written atomically, then its partition directories.
    ///
    /// # Errors
    /// [`Error::InvalidName`], [`Error::InvalidConfig`] for a bad partition count,
    /// [`Error::TopicExists`], [`Error::Io`].
    pub fn create_topic(&self, name: &str, partitions: u32) -> Result<()> {
        check_name("topic", name)?;
        if !(1..=MAX_PARTITIONS).contains(&partitions) {
            return Err(Error::InvalidConfig(vec![format!(
                "a topic has 1 to {MAX_PARTITIONS} partitions, not {partitions}"
            )]));
        }
        let mut topics = self.inner.topics.write();
        if let Some(existing) = topics.get(name) {
            return Err(Error::TopicExists {
                topic: name.to_owned(),
                partitions: existing.len() as u32,
            });
        }
        let shared = &self.inner.shared;
        let storage = shared.storage.as_ref();
        let topic_dir = shared.layout.topic_dir(name);
        let topics_dir = shared.layout.topics_dir();
        storage
            .create_dir_all(&topic_dir)
            .and_then(|()| storage.sync_dir(&topics_dir))
            .map_err(|e| Error::io("create directory", &topic_dir, e))?;
        let meta = shared.layout.topic_meta(name);
        storage::write_atomic(storage, &meta, &tmp_path(&meta), &encode_meta(partitions))
            .map_err(|e| Error::io("write", &meta, e))?;
        let (parts, _) = self.inner.start_topic(name, partitions)?;
        topics.insert(name.to_owned(), parts);
        Ok(())
    }

    /// Creates the topic unless it exists with that partition count.
    ///
    /// # Errors
    /// [`Error::TopicExists`] if it exists with another count; as [`Log::create_topic`].
    pub fn ensure_topic(&self, name: &str, partitions: u32) -> Result<()> {
        if let Some(existing) = self.inner.topics.read().get(name) {
            return if existing.len() as u32 == partitions {
                Ok(())
            } else {
                Err(Error::TopicExists {
                    topic: name.to_owned(),
                    partitions: existing.len() as u32,
                })
            };
        }
        match self.create_topic(name, partitions) {
            Err(Error::TopicExists { partitions: n, .. }) if n == partitions => Ok(()),
            other => other,
        }
    }

    /// Topic names with their partition counts.
    #[must_use]
    pub fn topics(&self) -> Vec<(String, u32)> {
        let topics = self.inner.topics.read();
        topics
            .iter()
            .map(|(k, v)| (k.clone(), v.len() as u32))
            .collect()
    }

    /// A handle to one partition.
    ///
    /// # Errors
    /// [`Error::UnknownTopic`], [`Error::UnknownPartition`].
    pub fn partition(&self, topic: &str, partition: u32) -> Result<Partition> {
        let topics = self.inner.topics.read();
        let parts = topics
            .get(topic)
            .ok_or_else(|| Error::UnknownTopic(topic.to_owned()))?;
        parts
            .get(partition as usize)
            .cloned()
            .ok_or_else(|| Error::UnknownPartition {
                topic: topic.to_owned(),
                partition,
                partitions: parts.len() as u32,
            })
    }

    /// Appends to one partition; see [`Partition::append`].
    ///
    /// # Errors
    /// As [`Log::partition`] and [`Partition::append`].
    pub fn append(
        &self,
        topic: &str,
        partition: u32,
        records: &[NewRecord<'_>],
    ) -> Result<AppendAck> {
        self.partition(topic, partition)?.append(records)
    }

    /// A reader of one partition; see [`Partition::reader`].
    ///
    /// # Errors
    /// As [`Log::partition`] and [`Partition::reader`].
    pub fn reader(&self, topic: &str, partition: u32, start: StartAt) -> Result<Reader> {
        self.partition(topic, partition)?.reader(start)
    }

    /// Makes everything appended so far durable, in every partition.
    ///
    /// # Errors
    /// The first error of [`Partition::sync`].
    pub fn sync(&self) -> Result<()> {
        for p in self.inner.all_partitions() {
            p.sync()?;
        }
        Ok(())
    }

    /// Applies the retention policy now.
    ///
    /// # Errors
    /// [`Error::Io`] if a file cannot be removed.
    pub fn enforce_retention(&self) -> Result<RetentionReport> {
        self.inner.enforce_retention_at(now_ms())
    }

    /// Applies the retention policy as if it were `now_ms` (ms since the Unix epoch).
    ///
    /// # Errors
    /// As [`Log::enforce_retention`].
    pub fn enforce_retention_at(&self, now_ms: i64) -> Result<RetentionReport> {
        self.inner.enforce_retention_at(now_ms)
    }

    /// Topics, partitions, segments, offsets, bytes.
    #[must_use]
    pub fn stats(&self) -> LogStats {
        let topics = self.inner.topics.read();
        LogStats {
            topics: topics
                .iter()
                .map(|(name, parts)| TopicStats {
                    name: name.clone(),
                    partitions: parts.iter().map(Partition::stats).collect(),
                })
                .collect(),
            bytes: self.inner.shared.usage.load(Ordering::Acquire),
            quota_bytes: self.inner.shared.config.quota_bytes,
        }
    }

    /// Flushes and fsyncs what is queued, stops the writer threads.
    ///
    /// # Errors
    /// [`Error::Poisoned`] if a partition's writer failed (now or before): some acknowledged
    /// appends may then not be durable under `Fsync::Interval`/`Never`.
    pub fn close(self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&self) -> Result<()> {
        if let Some((tx, handle)) = self.maintenance.lock().take() {
            drop(tx);
            let _ = handle.join();
        }
        let parts = self.inner.all_partitions();
        for p in &parts {
            p.shared.queue.lock().closing = true;
            p.shared.signal.notify();
        }
        let writers = std::mem::take(&mut *self.inner.writers.lock());
        for w in writers {
            let _ = w.join();
        }
        for p in &parts {
            if let Some(cause) = p.shared.queue.lock().poisoned.clone() {
                return Err(Error::Poisoned {
                    topic: p.shared.topic.clone(),
                    partition: p.shared.id,
                    cause,
                });
            }
        }
        Ok(())
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

fn retention_loop(log: &Weak<LogInner>, stop: &mpsc::Receiver<()>, every: std::time::Duration) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(every) {
        let Some(inner) = log.upgrade() else { return };
        if let Err(err) = inner.enforce_retention_at(now_ms()) {
            tracing::warn!(error = %err, "weir-log: retention pass failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_meta_round_trip_and_damage() {
        let b = encode_meta(7);
        assert_eq!(decode_meta(&b), Some(7));
        let mut bad = b;
        bad[9] ^= 1;
        assert_eq!(decode_meta(&bad), None);
        assert_eq!(decode_meta(&encode_meta(0)), None);
    }
}
