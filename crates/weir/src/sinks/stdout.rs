//! The stdout sink: one JSON line per record. At-least-once: records are printed when written,
//! so an epoch replayed after a crash is printed again.

use std::io::Write;

use async_trait::async_trait;

use super::{Sink, SinkError, SinkFactory};
use crate::config::Guarantee;
use crate::epoch::{Epoch, LaneId};
use crate::record::Record;

/// Builds stdout writers.
#[derive(Debug)]
pub struct StdoutSinkFactory {
    name: String,
}

impl StdoutSinkFactory {
    /// A stdout sink named `name`.
    #[must_use]
    pub fn new(name: String) -> Self {
        Self { name }
    }
}

impl SinkFactory for StdoutSinkFactory {
    fn name(&self) -> &str {
        &self.name
    }

    fn guarantee(&self) -> Guarantee {
        Guarantee::AtLeastOnce
    }

    fn for_lane(&self, _lane: &LaneId) -> Box<dyn Sink> {
        Box::new(StdoutSink { buf: Vec::new() })
    }
}

struct StdoutSink {
    buf: Vec<u8>,
}

impl StdoutSink {
    fn flush(&mut self) -> Result<(), SinkError> {
        let mut out = std::io::stdout().lock();
        out.write_all(&self.buf)
            .and_then(|()| out.flush())
            .map_err(|source| SinkError::Io {
                op: "write",
                path: "stdout".into(),
                source,
            })?;
        self.buf.clear();
        Ok(())
    }
}

#[async_trait]
impl Sink for StdoutSink {
    async fn recover(&mut self, _committed: Epoch) -> Result<(), SinkError> {
        Ok(())
    }

    async fn write(&mut self, _epoch: Epoch, records: &[Record]) -> Result<(), SinkError> {
        for r in records {
            serde_json::to_writer(&mut self.buf, &r.value).map_err(|e| SinkError::Io {
                op: "serialize",
                path: "stdout".into(),
                source: e.into(),
            })?;
            self.buf.push(b'\n');
        }
        if self.buf.len() >= 64 * 1024 {
            self.flush()?;
        }
        Ok(())
    }

    async fn precommit(&mut self, _epoch: Epoch) -> Result<(), SinkError> {
        self.flush()
    }

    async fn commit(&mut self, _epoch: Epoch) -> Result<(), SinkError> {
        Ok(())
    }

    async fn abort(&mut self, _epoch: Epoch) -> Result<(), SinkError> {
        self.buf.clear();
        Ok(())
    }
}
