//! The writer thread of a topic: group commit across its partitions.
//!
//! Appenders encode their frames into a partition's queue (under a short lock), wake the thread
//! and wait. The thread takes everything queued in every partition at once and writes each
//! partition's frames to its segment. Under `Fsync::Always` it then makes the group durable:
//! with records in one partition, by fsyncing that segment; with records in two or more, by
//! writing the same frames to the topic's journal and fsyncing the journal alone (one fsync for
//! the group instead of one per partition; see `journal.rs`). Only then does it handle roll and
//! sync requests, make the records visible and acknowledge every appender. While it fsyncs, the
//! next group forms.
//!
//! When a group does not fit in what is left of the journal, the thread syncs every segment
//! written since the last reuse, this group's writes included (which makes the group durable),
//! and starts the journal's next generation (a checkpoint). A failed journal write or fsync poisons every partition of the
//! topic: the journal is shared, and nothing is known of what reached it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::config::Fsync;
use crate::error::{Error, Result};
use crate::journal::Journal;
use crate::partition::LogShared;
use crate::signal::Signal;
use crate::writer::{Taken, Writer};

/// State owned by a topic's writer thread.
pub(crate) struct TopicWriter {
    log: Arc<LogShared>,
    writers: Vec<Writer>,
    /// The topic's journal, when it has several partitions and appends are fsynced.
    journal: Option<Journal>,
    signal: Arc<Signal>,
}

impl TopicWriter {
    pub fn new(
        log: Arc<LogShared>,
        writers: Vec<Writer>,
        journal: Option<Journal>,
        signal: Arc<Signal>,
    ) -> Self {
        Self {
            log,
            writers,
            journal,
            signal,
        }
    }

    /// Runs until every partition of the topic is closed.
    pub fn run(mut self) {
        loop {
            self.signal.wait(self.next_interval_sync());
            let taken: Vec<Taken> = self.writers.iter_mut().map(Writer::take).collect();
            let outcomes = self.process(&taken);
            let mut all_closing = true;
            for ((writer, taken), outcome) in self.writers.iter_mut().zip(taken).zip(outcomes) {
                all_closing &= taken.closing;
                writer.finish(taken, &outcome);
            }
            if all_closing {
                return;
            }
        }
    }

    /// When the next sync is due under `Fsync::Interval`.
    fn next_interval_sync(&self) -> Option<Instant> {
        let Fsync::Interval(every) = self.log.config.fsync else {
            return None;
        };
        self.writers
            .iter()
            .filter_map(Writer::dirty_since)
            .min()
            .map(|since| since + every)
    }

    /// Writes, makes durable and answers one group; one outcome per partition.
    fn process(&mut self, taken: &[Taken]) -> Vec<Result<()>> {
        let mut outcomes: Vec<Result<()>> = self
            .writers
            .iter()
            .zip(taken)
            .map(|(w, t)| match &t.poisoned {
                Some(cause) => Err(Error::Poisoned {
                    topic: w.shared().topic.clone(),
                    partition: w.shared().id,
                    cause: cause.clone(),
                }),
                None => Ok(()),
            })
            .collect();
        let mut written = Vec::new();
        for (i, (writer, t)) in self.writers.iter_mut().zip(taken).enumerate() {
            if outcomes[i].is_ok() && !t.batch.records.is_empty() {
                outcomes[i] = writer.write(&t.batch);
                writer
                    .shared()
                    .counters
                    .batches
                    .fetch_add(1, Ordering::Relaxed);
                if outcomes[i].is_ok() {
                    written.push(i);
                }
            }
        }
        if let Err(err) = self.make_durable(taken, &written, &mut outcomes) {
            return outcomes.iter().map(|_| Err(err.clone())).collect();
        }
        for (i, (writer, t)) in self.writers.iter_mut().zip(taken).enumerate() {
            // A partition with nothing taken has nothing to publish: its readers sleep on.
            let idle = t.batch.records.is_empty() && t.requests.is_empty() && !t.closing;
            if outcomes[i].is_ok() && !idle {
                outcomes[i] = writer.after_batch(t);
            }
        }
        outcomes
    }

    /// Makes what was just written to the partitions `written` durable as the fsync mode asks.
    /// An error here concerns the whole topic (the journal); one of a segment sync concerns
    /// that partition and goes to its outcome.
    fn make_durable(
        &mut self,
        taken: &[Taken],
        written: &[usize],
        outcomes: &mut [Result<()>],
    ) -> Result<()> {
        match self.log.config.fsync {
            Fsync::Always => {
                let frames: usize = written.iter().map(|&i| taken[i].batch.bytes.len()).sum();
                let bytes = Journal::entry_bytes(written.len(), frames);
                match &self.journal {
                    Some(j) if written.len() >= 2 && j.can_take(bytes) => {
                        if j.fits(bytes) {
                            self.write_journal(taken, written)
                        } else {
                            // Syncs every segment, this group's writes included: durable.
                            self.checkpoint()
                        }
                    }
                    _ => {
                        for &i in written {
                            outcomes[i] = self.writers[i].sync_active();
                        }
                        Ok(())
                    }
                }
            }
            Fsync::Interval(every) => {
                for (i, w) in self.writers.iter_mut().enumerate() {
                    let due = w.dirty_since().is_some_and(|s| s.elapsed() >= every);
                    if due && outcomes[i].is_ok() {
                        outcomes[i] = w.sync_active();
                    }
                }
                Ok(())
            }
            Fsync::Never => Ok(()),
        }
    }

    fn write_journal(&mut self, taken: &[Taken], written: &[usize]) -> Result<()> {
        let Some(journal) = self.journal.as_mut() else {
            return Ok(());
        };
        let entries = written
            .iter()
            .map(|&i| (self.writers[i].shared().id, taken[i].batch.bytes.as_slice()));
        journal
            .write_synced(entries)
            .map_err(|e| Error::io("write", &journal.path, e))
    }

    /// Syncs every segment written since the journal's generation began, then starts the next
    /// generation: from then on the journal is not needed for what it held.
    fn checkpoint(&mut self) -> Result<()> {
        for w in &mut self.writers {
            if w.dirty_since().is_some() {
                w.sync_active()?;
            }
        }
        if let Some(journal) = self.journal.as_mut() {
            journal
                .restart()
                .map_err(|e| Error::io("restart", &journal.path, e))?;
        }
        Ok(())
    }
}
