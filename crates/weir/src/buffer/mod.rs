//! The durable buffer: the one embedded log (weir-log) of a data directory, shared by the HTTP
//! ingest endpoint, `log` sources and `log` sinks of every pipeline in the configuration.
//!
//! Opening it takes the log lock (see [`lock`]), opens (and recovers) the log under
//! `<data_dir>/log`, creates the topics the configuration writes — the topic of an `http`
//! pipeline is named after the pipeline — and registers each consuming pipeline as a weir-log
//! consumer (`pipeline.<name>`), so retention never deletes a record before the pipeline has
//! checkpointed past it: after every checkpoint a lane commits its checkpointed offset as the
//! consumer's offset.

pub mod lock;
pub mod view;

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::{Plan, SinkPlan, SourcePlan};
use crate::error::{Classified, ErrorClass};
use crate::layout::Layout;
use lock::{LockError, LogLock};

/// The embedded log could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum BufferError {
    /// Another process has it open.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// weir-log refused.
    #[error("embedded log: {0}")]
    Log(#[from] weir_log::Error),
    /// A topic a `log` source reads does not exist.
    #[error(
        "pipeline `{pipeline}` reads topic `{topic}`, which does not exist in {dir}: it is created by the http source or log sink that writes it"
    )]
    NoTopic {
        /// The pipeline.
        pipeline: String,
        /// The topic.
        topic: String,
        /// The log directory.
        dir: String,
    },
    /// The data directory could not be created.
    #[error("cannot create the data directory {dir}: {source}")]
    Io {
        /// The directory.
        dir: String,
        /// The error.
        source: std::io::Error,
    },
}

impl Classified for BufferError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Log(e) if e.is_retryable() => ErrorClass::Transient,
            _ => ErrorClass::Fatal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Lock(LockError::Held { .. }) => "log_locked",
            Self::Lock(_) | Self::Io { .. } => "log_io",
            Self::Log(e) => e.code(),
            Self::NoTopic { .. } => "unknown_topic",
        }
    }
}

/// The open log of a data directory. Field order matters: the log is closed (flushed) before
/// the lock is released.
#[derive(Debug)]
pub struct Buffer {
    log: weir_log::Log,
    config: weir_log::LogConfig,
    layout: Layout,
    lock: LogLock,
}

/// The weir-log consumer name of a pipeline.
#[must_use]
pub fn consumer(pipeline: &str) -> String {
    format!("pipeline.{pipeline}")
}

/// A partition's records to append: key bytes and value of each.
pub type KeyedRecords<'a> = Vec<(Option<Vec<u8>>, &'a [u8])>;

/// Queues, for each `(partition, records)` of `groups`, those records of `partitions`, all in
/// one group commit (one fsync of the topic's journal; a full quota refuses them whole), each
/// timestamped now. The futures come in `groups` order.
#[must_use]
pub fn append_group(
    partitions: &[weir_log::Partition],
    groups: &[(u32, KeyedRecords<'_>)],
) -> Vec<weir_log::AppendFuture> {
    let news: Vec<Vec<weir_log::NewRecord<'_>>> = groups
        .iter()
        .map(|(_, records)| {
            records
                .iter()
                .map(|(key, value)| weir_log::NewRecord {
                    key: key.as_deref(),
                    value,
                    timestamp_ms: None,
                })
                .collect()
        })
        .collect();
    let appends: Vec<(&weir_log::Partition, &[weir_log::NewRecord<'_>])> = groups
        .iter()
        .zip(&news)
        .map(|((p, _), new)| (&partitions[*p as usize], &new[..]))
        .collect();
    weir_log::Partition::append_all(&appends)
}

/// Whether any pipeline of `plan` uses the embedded log.
#[must_use]
pub fn needed(plan: &Plan) -> bool {
    plan.pipelines.iter().any(|p| {
        matches!(p.source, SourcePlan::Http(_) | SourcePlan::Log { .. })
            || p.sinks.iter().any(|s| matches!(s, SinkPlan::Log(_)))
    })
}

impl Buffer {
    /// Takes the lock and opens the log of `plan`'s data directory with its `log:` settings,
    /// creating the topics the configuration writes and registering its consumers.
    ///
    /// # Errors
    /// [`BufferError::Lock`] when another process has the log open; weir-log errors (a topic
    /// that exists with another partition count); [`BufferError::NoTopic`].
    pub fn open(plan: &Plan) -> Result<Arc<Buffer>, BufferError> {
        let layout = Layout::new(&plan.data_dir);
        crate::durable::create_dir_all_synced(&plan.data_dir).map_err(|source| {
            BufferError::Io {
                dir: plan.data_dir.display().to_string(),
                source,
            }
        })?;
        let lock = LogLock::acquire(&layout.log_lock())?;
        let log = weir_log::Log::open(layout.log(), plan.log.clone())?;
        let buffer = Buffer {
            log,
            config: plan.log.clone(),
            layout,
            lock,
        };
        for p in &plan.pipelines {
            if let SourcePlan::Http(h) = &p.source {
                buffer.log.ensure_topic(&p.name, h.partitions)?;
            }
            for s in &p.sinks {
                if let SinkPlan::Log(l) = s {
                    buffer.log.ensure_topic(&l.topic, l.partitions)?;
                }
            }
        }
        for p in &plan.pipelines {
            let topic = match &p.source {
                SourcePlan::Http(_) => p.name.as_str(),
                SourcePlan::Log { topic } => topic.as_str(),
                SourcePlan::File { .. } => continue,
            };
            buffer.register(&p.name, topic)?;
        }
        Ok(Arc::new(buffer))
    }

    /// Takes the lock and opens the log as it is, creating nothing (for `weir log`).
    ///
    /// # Errors
    /// As [`Buffer::open`].
    pub fn inspect(plan: &Plan) -> Result<Arc<Buffer>, BufferError> {
        let layout = Layout::new(&plan.data_dir);
        crate::durable::create_dir_all_synced(&plan.data_dir).map_err(|source| {
            BufferError::Io {
                dir: plan.data_dir.display().to_string(),
                source,
            }
        })?;
        let lock = LogLock::acquire(&layout.log_lock())?;
        let log = weir_log::Log::open(layout.log(), plan.log.clone())?;
        Ok(Arc::new(Buffer {
            log,
            config: plan.log.clone(),
            layout,
            lock,
        }))
    }

    /// Registers `pipeline` as a consumer of every partition of `topic` (at the first stored
    /// offset) unless it is one already.
    fn register(&self, pipeline: &str, topic: &str) -> Result<(), BufferError> {
        let Some((_, partitions)) = self.log.topics().into_iter().find(|(t, _)| t == topic) else {
            return Err(BufferError::NoTopic {
                pipeline: pipeline.to_owned(),
                topic: topic.to_owned(),
                dir: self.layout.log().display().to_string(),
            });
        };
        let name = consumer(pipeline);
        for id in 0..partitions {
            let part = self.log.partition(topic, id)?;
            if part.committed(&name).is_none() {
                part.commit(&name, part.first_offset())?;
            }
        }
        Ok(())
    }

    /// The log.
    #[must_use]
    pub fn log(&self) -> &weir_log::Log {
        &self.log
    }

    /// Statistics for `weir log stats`.
    #[must_use]
    pub fn view(&self) -> view::LogView {
        view::stats(
            &self.log,
            &self.layout.log().display().to_string(),
            &self.config,
        )
    }

    /// The data directory's layout.
    #[must_use]
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Writes this process's server address into the lock file, for `weir log` and
    /// `weir dlq replay --to-log` to find.
    pub fn announce(&self, server: SocketAddr) {
        self.lock.announce(server);
    }
}
