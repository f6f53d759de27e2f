//! JSON lines: one JSON value per line; blank lines are skipped. A record's offset is the byte
//! offset of its line. A line that is not valid JSON becomes a failed record (reason `parse`)
//! with its raw bytes; the lane goes on.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::{BatchReader, IdMaker, io_error};
use crate::record::{FailedPayload, FailedRecord, Record, RecordMeta};
use crate::sources::{SourceBatch, SourceError};

pub(super) struct JsonlReader {
    path: PathBuf,
    file: BufReader<File>,
    offset: u64,
    line: Vec<u8>,
    ids: IdMaker,
    stage: std::sync::Arc<str>,
}

impl JsonlReader {
    pub(super) fn open(path: &Path, offset: u64, ids: IdMaker) -> Result<Self, SourceError> {
        let mut file = File::open(path).map_err(io_error(path))?;
        file.seek(SeekFrom::Start(offset)).map_err(io_error(path))?;
        Ok(Self {
            path: path.to_path_buf(),
            file: BufReader::with_capacity(256 * 1024, file),
            offset,
            line: Vec::with_capacity(1024),
            ids,
            stage: "source".into(),
        })
    }
}

impl BatchReader for JsonlReader {
    fn read_batch(&mut self, max: usize) -> Result<Option<SourceBatch>, SourceError> {
        let mut batch = SourceBatch {
            records: Vec::with_capacity(max),
            ..SourceBatch::default()
        };
        let begin = self.offset;
        let mut seen = 0;
        while seen < max {
            self.line.clear();
            let start = self.offset;
            let n = self
                .file
                .read_until(b'\n', &mut self.line)
                .map_err(io_error(&self.path))?;
            if n == 0 {
                break;
            }
            self.offset += n as u64;
            let text = self.line.trim_ascii();
            if text.is_empty() {
                continue;
            }
            seen += 1;
            match serde_json::from_slice(text) {
                Ok(value) => batch
                    .records
                    .push(Record::new(value, RecordMeta::new(self.ids.id(start)))),
                Err(e) => batch.failed.push(FailedRecord {
                    id: self.ids.id(start),
                    stage: self.stage.clone(),
                    class: crate::error::ErrorClass::Permanent,
                    payload: FailedPayload::Raw(text.to_vec()),
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
        let r = JsonlReader::open(f.path(), offset, ids).expect("open");
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
