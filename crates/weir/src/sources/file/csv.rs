//! CSV with a header row: each row becomes a JSON object of strings keyed by the header names
//! (typing comes from a declared schema, not from guessing). Quoted fields may hold commas,
//! quotes and newlines. A record's offset is the byte offset of its row; a row with the wrong
//! number of fields or invalid UTF-8 becomes a failed record (reason `parse`) with its raw bytes.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::{BatchReader, IdMaker, io_error};
use crate::record::{FailedPayload, FailedRecord, Record, RecordMeta};
use crate::sources::{SourceBatch, SourceError};

pub(super) struct CsvReader {
    path: PathBuf,
    rdr: csv::Reader<File>,
    headers: Vec<String>,
    row: csv::ByteRecord,
    ids: IdMaker,
    stage: std::sync::Arc<str>,
}

impl CsvReader {
    pub(super) fn open(path: &Path, offset: u64, ids: IdMaker) -> Result<Self, SourceError> {
        let file = File::open(path).map_err(io_error(path))?;
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(file);
        let headers = rdr
            .headers()
            .map_err(|e| SourceError::Format {
                path: path.display().to_string(),
                message: format!("cannot read the CSV header row: {e}"),
            })?
            .iter()
            .map(str::to_owned)
            .collect::<Vec<_>>();
        if offset > rdr.position().byte() {
            let mut pos = csv::Position::new();
            pos.set_byte(offset);
            rdr.seek(pos).map_err(|e| SourceError::Format {
                path: path.display().to_string(),
                message: format!("cannot resume at byte {offset}: {e}"),
            })?;
        }
        Ok(Self {
            path: path.to_path_buf(),
            rdr,
            headers,
            row: csv::ByteRecord::new(),
            ids,
            stage: "source".into(),
        })
    }

    fn raw_bytes(&self, start: u64, end: u64) -> Vec<u8> {
        let mut buf = vec![0; end.saturating_sub(start) as usize];
        let read = File::open(&self.path).and_then(|mut f| {
            f.seek(SeekFrom::Start(start))?;
            f.read_exact(&mut buf)
        });
        if read.is_err() {
            buf.clear();
        }
        while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            buf.pop();
        }
        buf
    }

    fn to_value(&self) -> Result<serde_json::Value, String> {
        let mut obj = serde_json::Map::with_capacity(self.headers.len());
        for (i, field) in self.row.iter().enumerate() {
            let text = std::str::from_utf8(field)
                .map_err(|e| format!("field {} is not valid UTF-8: {e}", i + 1))?;
            obj.insert(
                self.headers[i].clone(),
                serde_json::Value::String(text.to_owned()),
            );
        }
        Ok(serde_json::Value::Object(obj))
    }
}

impl BatchReader for CsvReader {
    fn read_batch(&mut self, max: usize) -> Result<Option<SourceBatch>, SourceError> {
        let begin = self.rdr.position().byte();
        let mut batch = SourceBatch {
            records: Vec::with_capacity(max),
            ..SourceBatch::default()
        };
        for _ in 0..max {
            let start = self.rdr.position().byte();
            let result = self.rdr.read_byte_record(&mut self.row);
            let end = self.rdr.position().byte();
            let problem = match result {
                Ok(false) => break,
                Ok(true) => match self.to_value() {
                    Ok(value) => {
                        batch
                            .records
                            .push(Record::new(value, RecordMeta::new(self.ids.id(start))));
                        continue;
                    }
                    Err(message) => message,
                },
                Err(e) if matches!(e.kind(), csv::ErrorKind::Io(_)) => {
                    return Err(SourceError::Io {
                        path: self.path.display().to_string(),
                        source: std::io::Error::other(e.to_string()),
                    });
                }
                Err(e) => match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => {
                        format!("row has {len} fields, the header has {expected_len}")
                    }
                    _ => e.to_string(),
                },
            };
            if end == start {
                // The parser made no progress: nothing more can be read from this file.
                return Err(SourceError::Format {
                    path: self.path.display().to_string(),
                    message: format!("at byte {start}: {problem}"),
                });
            }
            batch.failed.push(FailedRecord {
                id: self.ids.id(start),
                stage: self.stage.clone(),
                class: crate::error::ErrorClass::Permanent,
                payload: FailedPayload::Raw(self.raw_bytes(start, end)),
                reason: "parse",
                message: format!("bad CSV row: {problem}"),
            });
        }
        batch.next_offset = self.rdr.position().byte();
        Ok((batch.next_offset > begin).then_some(batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn open(text: &str, offset: u64) -> (tempfile::NamedTempFile, CsvReader) {
        let f = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(f.path(), text).expect("write");
        let ids = IdMaker {
            source: "s".into(),
            partition: "p".into(),
        };
        let r = CsvReader::open(f.path(), offset, ids).expect("open");
        (f, r)
    }

    #[test]
    fn quotes_commas_and_embedded_newlines() {
        let text = "id,name,note\n1,\"Smith, J\",\"said \"\"hi\"\"\nthen left\"\n2,plain,\n";
        let (_f, mut r) = open(text, 0);
        let b = r.read_batch(10).expect("read").expect("batch");
        assert_eq!(b.records.len(), 2);
        assert_eq!(
            b.records[0].value,
            json!({"id": "1", "name": "Smith, J", "note": "said \"hi\"\nthen left"})
        );
        assert_eq!(
            b.records[1].value,
            json!({"id": "2", "name": "plain", "note": ""})
        );
        assert_eq!(b.records[0].meta.id.offset, 13);
        assert_eq!(b.next_offset, text.len() as u64);
    }

    #[test]
    fn resumes_at_the_offset_of_a_row_after_a_multiline_one() {
        let text = "id,note\n1,\"a\nb\"\n2,c\n3,d\n";
        let (_f, mut r) = open(text, 0);
        let first = r.read_batch(1).expect("read").expect("batch");
        assert_eq!(first.records[0].value, json!({"id": "1", "note": "a\nb"}));
        let (_g, mut r) = open(text, first.next_offset);
        let rest = r.read_batch(10).expect("read").expect("batch");
        let ids: Vec<_> = rest.records.iter().map(|r| r.value["id"].clone()).collect();
        assert_eq!(ids, vec![json!("2"), json!("3")]);
        assert_eq!(rest.records[0].meta.id.offset, first.next_offset);
    }

    #[test]
    fn a_row_with_the_wrong_field_count_fails_alone() {
        let text = "a,b\n1,2\n1,2,3\n4,5\n";
        let (_f, mut r) = open(text, 0);
        let b = r.read_batch(10).expect("read").expect("batch");
        assert_eq!(b.records.len(), 2);
        assert_eq!(b.failed.len(), 1);
        assert_eq!(b.failed[0].id.offset, 8);
        assert!(
            b.failed[0].message.contains("3 fields"),
            "{}",
            b.failed[0].message
        );
        assert!(matches!(&b.failed[0].payload, FailedPayload::Raw(raw) if raw == b"1,2,3"));
    }

    #[test]
    fn invalid_utf8_fails_the_row() {
        let f = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(f.path(), b"a\n\xff\xfe\nok\n").expect("write");
        let ids = IdMaker {
            source: "s".into(),
            partition: "p".into(),
        };
        let mut r = CsvReader::open(f.path(), 0, ids).expect("open");
        let b = r.read_batch(10).expect("read").expect("batch");
        assert_eq!(b.records.len(), 1);
        assert_eq!(b.failed.len(), 1);
    }
}
