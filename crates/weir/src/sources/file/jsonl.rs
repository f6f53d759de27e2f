//! JSON lines: one JSON value per line; blank lines are skipped. A record's offset is the byte
//! offset of its line. A line that is not valid JSON becomes a failed record (reason `parse`)
//! with its raw bytes; the lane goes on. A batch's lines are read first and parsed afterwards,
//! a large batch on the shared worker pool in contiguous chunks, so parsing uses every core
//! and the records keep the file's order.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::{BatchReader, IdMaker, io_error};
use crate::record::{FailedPayload, FailedRecord, Record, RecordMeta};
use crate::sources::projection::Projection;
use crate::sources::{SourceBatch, SourceError};

pub(super) struct JsonlReader {
    path: PathBuf,
    file: BufReader<File>,
    offset: u64,
    /// The batch's lines, back to back.
    text: Vec<u8>,
    /// Each line's byte offset in the file and its range in `text`.
    lines: Vec<(u64, std::ops::Range<usize>)>,
    ids: IdMaker,
    stage: std::sync::Arc<str>,
    projection: Option<std::sync::Arc<Projection>>,
}

impl JsonlReader {
    pub(super) fn open(
        path: &Path,
        offset: u64,
        ids: IdMaker,
        projection: Option<std::sync::Arc<Projection>>,
    ) -> Result<Self, SourceError> {
        let mut file = File::open(path).map_err(io_error(path))?;
        file.seek(SeekFrom::Start(offset)).map_err(io_error(path))?;
        Ok(Self {
            path: path.to_path_buf(),
            file: BufReader::with_capacity(256 * 1024, file),
            offset,
            text: Vec::with_capacity(1 << 20),
            lines: Vec::new(),
            ids,
            stage: "source".into(),
            projection,
        })
    }
}

/// Lines in a batch below which parsing stays on the reading thread.
const PARALLEL_FROM: usize = 512;
/// Lines per parallel parsing task.
const PARSE_CHUNK: usize = 256;

impl JsonlReader {
    /// Reads up to `max` non-blank lines into `text`/`lines`.
    fn read_lines(&mut self, max: usize) -> Result<(), SourceError> {
        self.text.clear();
        self.lines.clear();
        while self.lines.len() < max {
            let start = self.offset;
            let at = self.text.len();
            let n = self
                .file
                .read_until(b'\n', &mut self.text)
                .map_err(io_error(&self.path))?;
            if n == 0 {
                break;
            }
            self.offset += n as u64;
            let line = &self.text[at..];
            let lead = line.len() - line.trim_ascii_start().len();
            let trimmed = line.trim_ascii().len();
            if trimmed == 0 {
                self.text.truncate(at);
                continue;
            }
            self.lines.push((start, at + lead..at + lead + trimmed));
        }
        Ok(())
    }
}

impl BatchReader for JsonlReader {
    fn read_batch(&mut self, max: usize) -> Result<Option<SourceBatch>, SourceError> {
        use rayon::prelude::*;
        let begin = self.offset;
        self.read_lines(max)?;
        let text = &self.text;
        let projection = self.projection.as_deref();
        let parse = |(_, range): &(u64, std::ops::Range<usize>)| {
            let line = &text[range.clone()];
            match projection {
                Some(p) => p
                    .parse(line)
                    .map(|(v, partial)| (v, partial.then(|| Box::<[u8]>::from(line)))),
                None => serde_json::from_slice(line).map(|v| (v, None)),
            }
        };
        let parsed: Vec<_> = if self.lines.len() >= PARALLEL_FROM {
            self.lines
                .par_iter()
                .with_min_len(PARSE_CHUNK)
                .map(parse)
                .collect()
        } else {
            self.lines.iter().map(parse).collect()
        };
        let mut batch = SourceBatch {
            records: Vec::with_capacity(self.lines.len()),
            ..SourceBatch::default()
        };
        for ((start, range), value) in self.lines.iter().zip(parsed) {
            match value {
                Ok((value, raw)) => {
                    let mut record = Record::new(value, RecordMeta::new(self.ids.id(*start)));
                    record.raw = raw;
                    batch.records.push(record);
                }
                Err(e) => batch.failed.push(FailedRecord {
                    id: self.ids.id(*start),
                    stage: self.stage.clone(),
                    class: crate::error::ErrorClass::Permanent,
                    payload: FailedPayload::Raw(text[range.clone()].to_vec()),
                    reason: "parse",
                    message: format!("not valid JSON: {e}"),
                }),
            }
        }
        batch.next_offset = self.offset;
        Ok((self.offset > begin).then_some(batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(text: &str, offset: u64) -> (tempfile::NamedTempFile, JsonlReader) {
        let f = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(f.path(), text).expect("write");
        let ids = IdMaker {
            source: "s".into(),
            partition: "p".into(),
        };
        let r = JsonlReader::open(f.path(), offset, ids, None).expect("open");
        (f, r)
    }

    #[test]
    fn reads_records_with_byte_offsets_and_keeps_bad_lines() {
        let (_f, mut r) = reader("{\"a\":1}\n\nnot json\n{\"a\":2}", 0);
        let b = r.read_batch(10).expect("read").expect("batch");
        assert_eq!(b.records.len(), 2);
        assert_eq!(b.records[0].meta.id.offset, 0);
        assert_eq!(b.records[1].meta.id.offset, 18);
        assert_eq!(b.failed.len(), 1);
        assert_eq!(b.failed[0].id.offset, 9);
        assert!(matches!(&b.failed[0].payload, FailedPayload::Raw(raw) if raw == b"not json"));
        assert_eq!(b.next_offset, 25);
        assert!(r.read_batch(10).expect("read").is_none());
    }

    #[test]
    fn resumes_at_an_offset_in_batches() {
        let (_f, mut r) = reader("{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n", 8);
        let b = r.read_batch(1).expect("read").expect("batch");
        assert_eq!(b.records[0].value, serde_json::json!({"a": 2}));
        assert_eq!(b.next_offset, 16);
        let b = r.read_batch(5).expect("read").expect("batch");
        assert_eq!(b.records.len(), 1);
        assert!(r.read_batch(5).expect("read").is_none());
    }
}
