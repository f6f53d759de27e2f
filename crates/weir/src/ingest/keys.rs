//! The idempotency store: requests that carried an `Idempotency-Key`, in SQLite
//! (`<data_dir>/ingest.sqlite`, WAL).
//!
//! ```text
//! requests  (pipeline, key) primary key
//!           body_crc, body_len   CRC32C and length of the body: a reused key with another body is refused
//!           records              how many records the body holds
//!           runs                 JSON, per partition the request writes to:
//!                                {"p": 3, "total": 5, "present": [[120, 5]], "pending": null}
//!                                present: stored runs [first offset, count], in record order;
//!                                pending: [snapshot, count] of an append in flight
//!           done                 1 once every record is stored (the answer is then final)
//!           created_ms           when the key was first seen; keys older than the window are forgotten
//! ```
//!
//! Protocol for a request with a key (see `ingest` for the whole flow): before appending, the
//! row is written with every append it is about to make as `pending` — the partition's next
//! offset at that moment (the snapshot) and the count — durably (`synchronous=FULL`); the first
//! record of each append carries the tag `i:<key>` in its log key. After the appends it is
//! rewritten with the runs `present` and `done = 1`. After a crash, [`KeyStore::pending`] lists
//! the rows with appends in flight and the ingest service looks for each tagged record at or
//! after its snapshot: weir-log gives an append's records consecutive offsets and a crash cuts
//! only a suffix, so finding the tagged record at offset `a` means records `a ..
//! min(a + count, next offset)` of that append are stored (nothing else has been appended since
//! the restart when this runs), and not finding it means none are. A retry of the request then
//! appends only what is missing.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// One partition's share of a request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    /// The partition.
    pub p: u32,
    /// Records of the request for this partition.
    pub total: u64,
    /// Stored runs `[first offset, count]`, in record order.
    pub present: Vec<(u64, u64)>,
    /// An append in flight: `[snapshot of the next offset, count]`.
    pub pending: Option<(u64, u64)>,
}

impl Run {
    /// Records of this partition already stored.
    #[must_use]
    pub fn stored(&self) -> u64 {
        self.present.iter().map(|(_, n)| n).sum()
    }
}

/// A remembered request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The pipeline.
    pub pipeline: String,
    /// The idempotency key.
    pub key: String,
    /// CRC32C of the body.
    pub body_crc: u32,
    /// Length of the body.
    pub body_len: u64,
    /// Records in the body.
    pub records: u64,
    /// Per partition.
    pub runs: Vec<Run>,
    /// Whether every record is stored.
    pub done: bool,
    /// When the key was first seen (ms since the Unix epoch).
    pub created_ms: i64,
}

/// The store failed.
#[derive(Debug, thiserror::Error)]
#[error("idempotency store {path}: {source}")]
pub struct KeyStoreError {
    path: String,
    #[source]
    source: rusqlite::Error,
}

/// The idempotency database.
#[derive(Debug)]
pub struct KeyStore {
    path: PathBuf,
    conn: Mutex<Connection>,
}

const SCHEMA: &str = r"
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
CREATE TABLE IF NOT EXISTS requests (
    pipeline TEXT NOT NULL,
    key TEXT NOT NULL,
    body_crc INTEGER NOT NULL,
    body_len INTEGER NOT NULL,
    records INTEGER NOT NULL,
    runs TEXT NOT NULL,
    done INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (pipeline, key)
);
CREATE TABLE IF NOT EXISTS replay_intents (
    pipeline TEXT NOT NULL,
    key TEXT NOT NULL,
    entry_ids TEXT NOT NULL,
    body BLOB NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (pipeline, key)
);
";

fn row_to_request(r: &rusqlite::Row<'_>) -> rusqlite::Result<Request> {
    let runs: String = r.get(5)?;
    Ok(Request {
        pipeline: r.get(0)?,
        key: r.get(1)?,
        body_crc: r.get::<_, i64>(2)? as u32,
        body_len: r.get::<_, i64>(3)? as u64,
        records: r.get::<_, i64>(4)? as u64,
        runs: serde_json::from_str(&runs).unwrap_or_default(),
        done: r.get(6)?,
        created_ms: r.get(7)?,
    })
}

const COLUMNS: &str = "pipeline, key, body_crc, body_len, records, runs, done, created_ms";

/// A `dlq replay --to-log` batch written down before it is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayIntent {
    /// The pipeline.
    pub pipeline: String,
    /// The idempotency key the batch is sent with.
    pub key: String,
    /// The dead-letter entries it carries.
    pub entry_ids: Vec<i64>,
    /// The NDJSON body.
    pub body: Vec<u8>,
}

impl KeyStore {
    /// Opens (creating if needed) the database at `path`.
    ///
    /// # Errors
    /// When it cannot be opened or its schema created.
    pub fn open(path: &Path) -> Result<Self, KeyStoreError> {
        let err = |source| KeyStoreError {
            path: path.display().to_string(),
            source,
        };
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        Ok(Self {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, KeyStoreError> {
        let err = |source| KeyStoreError {
            path: self.path.display().to_string(),
            source,
        };
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| err(rusqlite::Error::InvalidQuery))?;
        f(&mut conn).map_err(err)
    }

    /// The request remembered under `key`, if any.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub fn get(&self, pipeline: &str, key: &str) -> Result<Option<Request>, KeyStoreError> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM requests WHERE pipeline = ?1 AND key = ?2"),
                params![pipeline, key],
                row_to_request,
            )
            .optional()
        })
    }

    /// Writes `r` durably (insert or replace).
    ///
    /// # Errors
    /// When the database cannot be written.
    pub fn put(&self, r: &Request) -> Result<(), KeyStoreError> {
        let runs = serde_json::to_string(&r.runs).unwrap_or_default();
        self.with(|c| {
            c.execute(
                &format!("INSERT OR REPLACE INTO requests ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                params![
                    r.pipeline,
                    r.key,
                    i64::from(r.body_crc),
                    r.body_len as i64,
                    r.records as i64,
                    runs,
                    r.done,
                    r.created_ms
                ],
            )
            .map(|_| ())
        })
    }

    /// Rows with an append in flight (left by a crash).
    ///
    /// # Errors
    /// When the database cannot be read.
    pub fn pending(&self) -> Result<Vec<Request>, KeyStoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {COLUMNS} FROM requests WHERE runs LIKE '%\"pending\":[%'"
            ))?;
            stmt.query_map([], row_to_request)?.collect()
        })
    }

    /// Forgets keys of `pipeline` first seen before `before_ms`; returns how many.
    ///
    /// # Errors
    /// When the database cannot be written.
    pub fn expire(&self, pipeline: &str, before_ms: i64) -> Result<u64, KeyStoreError> {
        self.with(|c| {
            c.execute(
                "DELETE FROM requests WHERE pipeline = ?1 AND created_ms < ?2",
                params![pipeline, before_ms],
            )
            .map(|n| n as u64)
        })
    }

    /// Writes a replay intent durably.
    ///
    /// # Errors
    /// When the database cannot be written.
    pub fn put_intent(&self, i: &ReplayIntent, now_ms: i64) -> Result<(), KeyStoreError> {
        let ids = serde_json::to_string(&i.entry_ids).unwrap_or_default();
        self.with(|c| {
            c.execute(
                "INSERT OR REPLACE INTO replay_intents (pipeline, key, entry_ids, body, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![i.pipeline, i.key, ids, i.body, now_ms],
            )
            .map(|_| ())
        })
    }

    /// The replay intents of `pipeline` not yet finished, oldest first.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub fn intents(&self, pipeline: &str) -> Result<Vec<ReplayIntent>, KeyStoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT pipeline, key, entry_ids, body FROM replay_intents WHERE pipeline = ?1 ORDER BY created_ms, key",
            )?;
            stmt.query_map([pipeline], |r| {
                let ids: String = r.get(2)?;
                Ok(ReplayIntent {
                    pipeline: r.get(0)?,
                    key: r.get(1)?,
                    entry_ids: serde_json::from_str(&ids).unwrap_or_default(),
                    body: r.get(3)?,
                })
            })?
            .collect()
        })
    }

    /// Removes a finished replay intent.
    ///
    /// # Errors
    /// When the database cannot be written.
    pub fn remove_intent(&self, pipeline: &str, key: &str) -> Result<(), KeyStoreError> {
        self.with(|c| {
            c.execute(
                "DELETE FROM replay_intents WHERE pipeline = ?1 AND key = ?2",
                params![pipeline, key],
            )
            .map(|_| ())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_pending_ones_are_listed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = KeyStore::open(&dir.path().join("ingest.sqlite")).expect("open");
        let mut r = Request {
            pipeline: "events".into(),
            key: "k1".into(),
            body_crc: 7,
            body_len: 100,
            records: 3,
            runs: vec![Run {
                p: 1,
                total: 3,
                present: vec![],
                pending: Some((10, 3)),
            }],
            done: false,
            created_ms: 1000,
        };
        s.put(&r).expect("put");
        assert_eq!(s.get("events", "k1").expect("get"), Some(r.clone()));
        assert_eq!(s.pending().expect("pending").len(), 1);
        r.runs[0].pending = None;
        r.runs[0].present = vec![(10, 3)];
        r.done = true;
        s.put(&r).expect("put");
        assert!(s.pending().expect("pending").is_empty());
        drop(s);
        let s = KeyStore::open(&dir.path().join("ingest.sqlite")).expect("reopen");
        assert_eq!(s.get("events", "k1").expect("get"), Some(r));
        assert_eq!(s.expire("events", 2000).expect("expire"), 1);
        assert_eq!(s.get("events", "k1").expect("get"), None);
    }
}
