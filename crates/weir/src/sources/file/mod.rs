//! The file source: every file matching a glob pattern is a lane, read from a byte offset.
//!
//! Each lane is read on a blocking thread that fills a bounded queue of batches, so reading
//! overlaps with transforming and writing and a slow sink holds the reader back.

mod csv;
mod jsonl;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::{LaneReader, LaneSpec, Source, SourceBatch, SourceError};
use crate::config::FileFormat;
use crate::epoch::LaneId;
use crate::sources::projection::Projection;

/// Batches queued between the reader thread and the lane.
const QUEUE_BATCHES: usize = 4;

/// Files matching a pattern.
#[derive(Debug)]
pub struct FileSource {
    name: Arc<str>,
    pattern: String,
    base_dir: PathBuf,
    format: FileFormat,
    batch_size: usize,
    projection: Option<Arc<Projection>>,
}

impl FileSource {
    /// A source over the files matching `pattern` (absolute); lane names are the paths relative
    /// to the pattern's fixed leading directories (`/in/data/*.jsonl` names `/in/data/a.jsonl`
    /// lane `a.jsonl`).
    #[must_use]
    pub fn new(
        name: impl Into<Arc<str>>,
        pattern: String,
        format: FileFormat,
        batch_size: usize,
    ) -> Self {
        let base_dir = glob_base(&pattern);
        Self {
            name: name.into(),
            pattern,
            base_dir,
            format,
            batch_size,
            projection: None,
        }
    }

    /// JSON lines objects are parsed into these fields only (see [`Projection`]).
    #[must_use]
    pub fn with_projection(mut self, projection: Option<Projection>) -> Self {
        self.projection = projection.map(Arc::new);
        self
    }

    fn path_of(&self, lane: &LaneSpec) -> PathBuf {
        self.base_dir.join(&*lane.partition)
    }
}

/// The leading directories of a glob pattern that hold no wildcard.
fn glob_base(pattern: &str) -> PathBuf {
    let mut base = PathBuf::new();
    let components: Vec<_> = Path::new(pattern).components().collect();
    for (i, c) in components.iter().enumerate() {
        let text = c.as_os_str().to_string_lossy();
        if i + 1 == components.len() || text.contains(['*', '?', '[', '{']) {
            break;
        }
        base.push(c);
    }
    base
}

/// Reads one batch from a positioned file.
trait BatchReader: Send + 'static {
    fn read_batch(&mut self, max: usize) -> Result<Option<SourceBatch>, SourceError>;
}

#[async_trait]
impl Source for FileSource {
    fn name(&self) -> &Arc<str> {
        &self.name
    }

    fn bounded(&self) -> bool {
        true
    }

    async fn lanes(&self) -> Result<Vec<LaneSpec>, SourceError> {
        let paths = glob::glob(&self.pattern).map_err(|e| SourceError::Format {
            path: self.pattern.clone(),
            message: format!("invalid pattern: {}", e.msg),
        })?;
        let mut lanes: Vec<LaneSpec> = Vec::new();
        for path in paths {
            let path = path.map_err(|e| SourceError::Io {
                path: e.path().display().to_string(),
                source: e.into(),
            })?;
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let rel = path.strip_prefix(&self.base_dir).unwrap_or(&path);
            let partition = rel.to_string_lossy().into_owned();
            lanes.push(LaneSpec {
                id: LaneId::sanitized(&partition),
                partition: partition.into(),
                size_hint: Some(meta.len()),
            });
        }
        lanes.sort_by(|a, b| a.id.cmp(&b.id));
        if let Some(w) = lanes.windows(2).find(|w| w[0].id == w[1].id) {
            return Err(SourceError::Format {
                path: self.pattern.clone(),
                message: format!(
                    "files `{}` and `{}` map to the same lane name `{}`",
                    w[0].partition, w[1].partition, w[0].id
                ),
            });
        }
        Ok(lanes)
    }

    async fn open(&self, lane: &LaneSpec, offset: u64) -> Result<Box<dyn LaneReader>, SourceError> {
        let path = self.path_of(lane);
        let ids = IdMaker {
            source: self.name.clone(),
            partition: lane.partition.clone(),
        };
        let reader: Box<dyn BatchReader> = match self.format {
            FileFormat::Jsonl => Box::new(jsonl::JsonlReader::open(
                &path,
                offset,
                ids,
                self.projection.clone(),
            )?),
            FileFormat::Csv => Box::new(csv::CsvReader::open(&path, offset, ids)?),
        };
        Ok(Box::new(spawn_pump(reader, self.batch_size)))
    }
}

/// Makes the record ids of one lane.
#[derive(Clone, Debug)]
struct IdMaker {
    source: Arc<str>,
    partition: Arc<str>,
}

impl IdMaker {
    fn id(&self, offset: u64) -> crate::record::RecordId {
        crate::record::RecordId {
            source: self.source.clone(),
            partition: self.partition.clone(),
            offset,
        }
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> SourceError + '_ {
    move |source| SourceError::Io {
        path: path.display().to_string(),
        source,
    }
}

struct Pump {
    rx: mpsc::Receiver<Result<SourceBatch, SourceError>>,
}

fn spawn_pump(mut reader: Box<dyn BatchReader>, batch_size: usize) -> Pump {
    let (tx, rx) = mpsc::channel(QUEUE_BATCHES);
    tokio::task::spawn_blocking(move || {
        loop {
            match reader.read_batch(batch_size) {
                Ok(Some(batch)) => {
                    if tx.blocking_send(Ok(batch)).is_err() {
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    Pump { rx }
}

#[async_trait]
impl LaneReader for Pump {
    async fn next_batch(&mut self) -> Option<Result<SourceBatch, SourceError>> {
        self.rx.recv().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_glob_base_is_the_wildcard_free_prefix() {
        assert_eq!(glob_base("/in/data/*.jsonl"), PathBuf::from("/in/data"));
        assert_eq!(glob_base("/in/data/**/x.csv"), PathBuf::from("/in/data"));
        assert_eq!(glob_base("/in/one.jsonl"), PathBuf::from("/in"));
    }
}
