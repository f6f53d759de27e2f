//! The SQLite dead-letter store (see the module doc of [`crate::dlq`] for the schema).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{DeadLetter, DlqError};
use crate::epoch::{Epoch, LaneId};
use crate::record::{FailedPayload, FailedRecord, RecordId};

/// An operation staged by a lane in an epoch.
#[derive(Clone, Debug)]
pub enum PendingOp {
    /// The record failed (again).
    Fail {
        /// The failure.
        record: FailedRecord,
        /// When, in milliseconds since the Unix epoch.
        at_ms: i64,
    },
    /// A replayed record went through: its entry leaves the DLQ.
    Resolve(RecordId),
}

/// Which entries a command applies to.
#[derive(Clone, Debug, Default)]
pub struct DlqFilter {
    /// Only this pipeline.
    pub pipeline: Option<String>,
    /// Only this reason.
    pub reason: Option<String>,
    /// Only entries whose latest failure is at or after this time (ms).
    pub since_ms: Option<i64>,
    /// Only entries whose latest failure is before this time (ms).
    pub before_ms: Option<i64>,
}

impl DlqFilter {
    fn sql(&self) -> (String, Vec<rusqlite::types::Value>) {
        use rusqlite::types::Value as V;
        let mut clause = String::from("resolved_epoch IS NULL");
        let mut args = Vec::new();
        if let Some(p) = &self.pipeline {
            clause.push_str(" AND pipeline = ?");
            args.push(V::Text(p.clone()));
        }
        if let Some(r) = &self.reason {
            clause.push_str(" AND reason = ?");
            args.push(V::Text(r.clone()));
        }
        if let Some(t) = self.since_ms {
            clause.push_str(" AND last_failure_ms >= ?");
            args.push(V::Integer(t));
        }
        if let Some(t) = self.before_ms {
            clause.push_str(" AND last_failure_ms < ?");
            args.push(V::Integer(t));
        }
        (clause, args)
    }
}

/// The dead-letter database.
#[derive(Debug)]
pub struct DlqStore {
    path: PathBuf,
    conn: Mutex<Connection>,
}

const SCHEMA: &str = r#"
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline TEXT NOT NULL,
    source TEXT NOT NULL,
    partition TEXT NOT NULL,
    "offset" INTEGER NOT NULL,
    stage TEXT NOT NULL,
    class TEXT NOT NULL,
    reason TEXT NOT NULL,
    message TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    first_failure_ms INTEGER NOT NULL,
    last_failure_ms INTEGER NOT NULL,
    raw INTEGER NOT NULL,
    record BLOB NOT NULL,
    lane TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    resolved_lane TEXT,
    resolved_epoch INTEGER,
    UNIQUE (pipeline, source, partition, "offset")
);
CREATE INDEX IF NOT EXISTS dead_letters_lane ON dead_letters (pipeline, lane, epoch);
CREATE TABLE IF NOT EXISTS pending (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline TEXT NOT NULL,
    lane TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    op TEXT NOT NULL,
    source TEXT NOT NULL,
    partition TEXT NOT NULL,
    "offset" INTEGER NOT NULL,
    stage TEXT,
    class TEXT,
    reason TEXT,
    message TEXT,
    at_ms INTEGER,
    raw INTEGER,
    record BLOB
);
CREATE INDEX IF NOT EXISTS pending_lane ON pending (pipeline, lane, epoch);
"#;

const COLUMNS: &str = r#"id, pipeline, stage, class, reason, message, attempts, first_failure_ms, last_failure_ms, source, partition, "offset", raw, record"#;

fn row_to_entry(row: &rusqlite::Row<'_>) -> rusqlite::Result<DeadLetter> {
    let raw: bool = row.get(12)?;
    let bytes: Vec<u8> = row.get(13)?;
    let (record, record_raw) = if raw {
        (None, Some(String::from_utf8_lossy(&bytes).into_owned()))
    } else {
        (serde_json::from_slice(&bytes).ok(), None)
    };
    Ok(DeadLetter {
        id: row.get(0)?,
        pipeline: row.get(1)?,
        stage: row.get(2)?,
        class: row.get(3)?,
        reason: row.get(4)?,
        message: row.get(5)?,
        attempts: row.get(6)?,
        first_failure_ms: row.get(7)?,
        last_failure_ms: row.get(8)?,
        source: row.get(9)?,
        partition: row.get(10)?,
        offset: row.get::<_, i64>(11)? as u64,
        record,
        record_raw,
    })
}

/// Counts of dead letters added by a commit, by reason.
pub type Added = BTreeMap<String, u64>;

impl DlqStore {
    /// Opens (creating if needed) the database at `path`.
    ///
    /// # Errors
    /// When the database cannot be opened or its schema created.
    pub fn open(path: &Path) -> Result<Self, DlqError> {
        let err = |source| DlqError::Sqlite {
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

    fn err(&self) -> impl Fn(rusqlite::Error) -> DlqError + '_ {
        |source| DlqError::Sqlite {
            path: self.path.display().to_string(),
            source,
        }
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, DlqError> {
        let mut conn = self.conn.lock().map_err(|_| DlqError::Poisoned)?;
        f(&mut conn).map_err(self.err())
    }

    /// Stages `ops` of `lane`'s `epoch`, durably (replacing anything staged for that epoch).
    ///
    /// # Errors
    /// When the database cannot be written.
    pub fn stage(
        &self,
        pipeline: &str,
        lane: &LaneId,
        epoch: Epoch,
        ops: &[PendingOp],
    ) -> Result<(), DlqError> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            tx.execute("DELETE FROM pending WHERE pipeline = ?1 AND lane = ?2 AND epoch = ?3", params![pipeline, lane.as_str(), epoch.0 as i64])?;
            {
                let mut ins = tx.prepare_cached(
                    r#"INSERT INTO pending (pipeline, lane, epoch, op, source, partition, "offset", stage, class, reason, message, at_ms, raw, record)
                       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"#,
                )?;
                for op in ops {
                    match op {
                        PendingOp::Fail { record, at_ms } => {
                            let (raw, bytes) = match &record.payload {
                                FailedPayload::Raw(b) => (true, b.clone()),
                                FailedPayload::Value(v) => (false, serde_json::to_vec(v).unwrap_or_default()),
                            };
                            ins.execute(params![
                                pipeline,
                                lane.as_str(),
                                epoch.0 as i64,
                                "fail",
                                &*record.id.source,
                                &*record.id.partition,
                                record.id.offset as i64,
                                &*record.stage,
                                record.class.as_str(),
                                record.reason,
                                record.message,
                                at_ms,
                                raw,
                                bytes
                            ])?;
                        }
                        PendingOp::Resolve(id) => {
                            ins.execute(params![
                                pipeline,
                                lane.as_str(),
                                epoch.0 as i64,
                                "resolve",
                                &*id.source,
                                &*id.partition,
                                id.offset as i64,
                                None::<String>,
                                None::<String>,
                                None::<String>,
                                None::<String>,
                                None::<i64>,
                                None::<bool>,
                                None::<Vec<u8>>
                            ])?;
                        }
                    }
                }
            }
            tx.commit()
        })
    }

    /// Applies every staged operation of `lane` up to `epoch` (idempotent: applied operations
    /// are removed in the same transaction). Returns the failures added, by reason.
    ///
    /// # Errors
    /// When the database cannot be written.
    pub fn commit(&self, pipeline: &str, lane: &LaneId, epoch: Epoch) -> Result<Added, DlqError> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            let added = apply(&tx, pipeline, lane, epoch)?;
            tx.commit()?;
            Ok(added)
        })
    }

    /// Drops what `lane` staged for `epoch`.
    ///
    /// # Errors
    /// When the database cannot be written.
    pub fn abort(&self, pipeline: &str, lane: &LaneId, epoch: Epoch) -> Result<(), DlqError> {
        self.with(|conn| {
            conn.execute(
                "DELETE FROM pending WHERE pipeline = ?1 AND lane = ?2 AND epoch = ?3",
                params![pipeline, lane.as_str(), epoch.0 as i64],
            )
            .map(|_| ())
        })
    }

    /// Brings `lane` in line with its committed `epoch` (see the module doc).
    ///
    /// # Errors
    /// When the database cannot be written.
    pub fn recover(&self, pipeline: &str, lane: &LaneId, epoch: Epoch) -> Result<Added, DlqError> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            let added = apply(&tx, pipeline, lane, epoch)?;
            let e = epoch.0 as i64;
            tx.execute("DELETE FROM pending WHERE pipeline = ?1 AND lane = ?2 AND epoch > ?3", params![pipeline, lane.as_str(), e])?;
            let withdrawn = tx.execute("DELETE FROM dead_letters WHERE pipeline = ?1 AND lane = ?2 AND epoch > ?3", params![pipeline, lane.as_str(), e])?;
            let unresolved = tx.execute(
                "UPDATE dead_letters SET resolved_lane = NULL, resolved_epoch = NULL WHERE pipeline = ?1 AND resolved_lane = ?2 AND resolved_epoch > ?3",
                params![pipeline, lane.as_str(), e],
            )?;
            if withdrawn + unresolved > 0 {
                tracing::warn!(pipeline, lane = %lane, withdrawn, unresolved, "dead letters of epochs after the checkpoint resumed from were withdrawn; their records are processed again");
            }
            tx.commit()?;
            Ok(added)
        })
    }

    /// Entries matching `filter`, oldest first, at most `limit`.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub fn list(
        &self,
        filter: &DlqFilter,
        limit: Option<u64>,
    ) -> Result<Vec<DeadLetter>, DlqError> {
        let (clause, args) = filter.sql();
        let limit = limit.map_or(String::new(), |l| format!(" LIMIT {l}"));
        self.with(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {COLUMNS} FROM dead_letters WHERE {clause} ORDER BY id{limit}"
            ))?;
            stmt.query_map(rusqlite::params_from_iter(args), row_to_entry)?
                .collect()
        })
    }

    /// Entries matching `filter` with an id greater than `after`, oldest first, at most `limit`.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub fn list_after(
        &self,
        filter: &DlqFilter,
        after: i64,
        limit: u64,
    ) -> Result<Vec<DeadLetter>, DlqError> {
        let (clause, mut args) = filter.sql();
        args.push(rusqlite::types::Value::Integer(after));
        self.with(|conn| {
            let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM dead_letters WHERE {clause} AND id > ? ORDER BY id LIMIT {limit}"))?;
            stmt.query_map(rusqlite::params_from_iter(args), row_to_entry)?.collect()
        })
    }

    /// One entry (resolved or not).
    ///
    /// # Errors
    /// When the database cannot be read.
    pub fn get(&self, id: i64) -> Result<Option<DeadLetter>, DlqError> {
        self.with(|conn| {
            conn.query_row(
                &format!("SELECT {COLUMNS} FROM dead_letters WHERE id = ?1"),
                [id],
                row_to_entry,
            )
            .optional()
        })
    }

    /// Deletes the entries matching `filter`; returns how many.
    ///
    /// # Errors
    /// When the database cannot be written.
    pub fn purge(&self, filter: &DlqFilter) -> Result<u64, DlqError> {
        let (clause, args) = filter.sql();
        self.with(|conn| {
            conn.execute(
                &format!("DELETE FROM dead_letters WHERE {clause}"),
                rusqlite::params_from_iter(args),
            )
            .map(|n| n as u64)
        })
    }

    /// Deletes replay resolutions of `lane` up to `epoch`: those records are in the output for
    /// good, their entries are no longer needed to undo anything.
    ///
    /// # Errors
    /// When the database cannot be written.
    pub fn forget_resolved(
        &self,
        pipeline: &str,
        lane: &LaneId,
        epoch: Epoch,
    ) -> Result<u64, DlqError> {
        self.with(|conn| {
            conn.execute(
                "DELETE FROM dead_letters WHERE pipeline = ?1 AND resolved_lane = ?2 AND resolved_epoch <= ?3",
                params![pipeline, lane.as_str(), epoch.0 as i64],
            )
            .map(|n| n as u64)
        })
    }

    /// Deletes the entries with these ids (those that still exist); returns how many.
    ///
    /// # Errors
    /// When the database cannot be written.
    pub fn remove(&self, ids: &[i64]) -> Result<u64, DlqError> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            let mut n = 0;
            {
                let mut del = tx.prepare_cached("DELETE FROM dead_letters WHERE id = ?1")?;
                for id in ids {
                    n += del.execute([id])? as u64;
                }
            }
            tx.commit()?;
            Ok(n)
        })
    }

    /// Entries of `pipeline` in the DLQ now.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub fn depth(&self, pipeline: &str) -> Result<u64, DlqError> {
        self.with(|conn| {
            conn.query_row(
                "SELECT COUNT(*) FROM dead_letters WHERE pipeline = ?1 AND resolved_epoch IS NULL",
                [pipeline],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
        })
    }
}

fn apply(
    tx: &Transaction<'_>,
    pipeline: &str,
    lane: &LaneId,
    epoch: Epoch,
) -> rusqlite::Result<Added> {
    let e = epoch.0 as i64;
    let mut added = Added::new();
    let mut rows: Vec<(String, i64)> = Vec::new();
    {
        let mut stmt = tx.prepare_cached("SELECT op, epoch, reason FROM pending WHERE pipeline = ?1 AND lane = ?2 AND epoch <= ?3 ORDER BY seq")?;
        let mut q = stmt.query(params![pipeline, lane.as_str(), e])?;
        while let Some(r) = q.next()? {
            let op: String = r.get(0)?;
            if op == "fail" {
                let reason: String = r.get(2)?;
                *added.entry(reason).or_default() += 1;
            }
            rows.push((op, r.get(1)?));
        }
    }
    if rows.is_empty() {
        return Ok(added);
    }
    tx.execute(
        r#"INSERT INTO dead_letters (pipeline, source, partition, "offset", stage, class, reason, message, attempts, first_failure_ms, last_failure_ms, raw, record, lane, epoch)
           SELECT pipeline, source, partition, "offset", stage, class, reason, message, 1, at_ms, at_ms, raw, record, lane, epoch
           FROM pending WHERE pipeline = ?1 AND lane = ?2 AND epoch <= ?3 AND op = 'fail' ORDER BY seq
           ON CONFLICT (pipeline, source, partition, "offset") DO UPDATE SET
             stage = excluded.stage, class = excluded.class, reason = excluded.reason, message = excluded.message,
             attempts = dead_letters.attempts + 1, last_failure_ms = excluded.last_failure_ms,
             resolved_lane = NULL, resolved_epoch = NULL"#,
        params![pipeline, lane.as_str(), e],
    )?;
    tx.execute(
        r#"UPDATE dead_letters SET resolved_lane = ?2, resolved_epoch = (
               SELECT MAX(p.epoch) FROM pending p WHERE p.pipeline = ?1 AND p.lane = ?2 AND p.epoch <= ?3 AND p.op = 'resolve'
                 AND p.source = dead_letters.source AND p.partition = dead_letters.partition AND p."offset" = dead_letters."offset")
           WHERE pipeline = ?1 AND resolved_epoch IS NULL AND EXISTS (
               SELECT 1 FROM pending p WHERE p.pipeline = ?1 AND p.lane = ?2 AND p.epoch <= ?3 AND p.op = 'resolve'
                 AND p.source = dead_letters.source AND p.partition = dead_letters.partition AND p."offset" = dead_letters."offset")"#,
        params![pipeline, lane.as_str(), e],
    )?;
    tx.execute(
        "DELETE FROM pending WHERE pipeline = ?1 AND lane = ?2 AND epoch <= ?3",
        params![pipeline, lane.as_str(), e],
    )?;
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorClass;

    fn failed(offset: u64, reason: &'static str) -> PendingOp {
        PendingOp::Fail {
            record: FailedRecord {
                id: RecordId {
                    source: "s".into(),
                    partition: "a.jsonl".into(),
                    offset,
                },
                stage: "jq_0".into(),
                class: ErrorClass::Permanent,
                payload: FailedPayload::Value(serde_json::json!({"n": offset})),
                reason,
                message: "boom".into(),
            },
            at_ms: 1000 + offset as i64,
        }
    }

    fn id(offset: u64) -> RecordId {
        RecordId {
            source: "s".into(),
            partition: "a.jsonl".into(),
            offset,
        }
    }

    #[test]
    fn staged_entries_appear_only_at_commit_and_commit_is_idempotent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = DlqStore::open(&dir.path().join("dlq.sqlite")).expect("open");
        let lane = LaneId::sanitized("a.jsonl");
        s.stage(
            "p",
            &lane,
            Epoch(1),
            &[failed(1, "parse"), failed(2, "transform")],
        )
        .expect("stage");
        assert_eq!(s.depth("p").expect("depth"), 0);
        let added = s.commit("p", &lane, Epoch(1)).expect("commit");
        assert_eq!(added.values().sum::<u64>(), 2);
        assert!(s.commit("p", &lane, Epoch(1)).expect("again").is_empty());
        assert_eq!(s.depth("p").expect("depth"), 2);
        let all = s
            .list(
                &DlqFilter {
                    reason: Some("parse".into()),
                    ..DlqFilter::default()
                },
                None,
            )
            .expect("list");
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].offset, 1);
        assert_eq!(all[0].record, Some(serde_json::json!({"n": 1})));
    }

    #[test]
    fn recovery_rolls_forward_drops_newer_and_withdraws_after_fallback() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = DlqStore::open(&dir.path().join("dlq.sqlite")).expect("open");
        let lane = LaneId::sanitized("a.jsonl");
        s.stage("p", &lane, Epoch(1), &[failed(1, "parse")])
            .expect("stage");
        s.commit("p", &lane, Epoch(1)).expect("commit");
        s.stage("p", &lane, Epoch(2), &[failed(2, "parse")])
            .expect("stage"); // checkpointed, not committed
        s.stage("p", &lane, Epoch(3), &[failed(3, "parse")])
            .expect("stage"); // not checkpointed
        s.recover("p", &lane, Epoch(2)).expect("recover");
        let offsets: Vec<u64> = s
            .list(&DlqFilter::default(), None)
            .expect("list")
            .iter()
            .map(|e| e.offset)
            .collect();
        assert_eq!(offsets, vec![1, 2]);
        s.recover("p", &lane, Epoch(1)).expect("fallback");
        let offsets: Vec<u64> = s
            .list(&DlqFilter::default(), None)
            .expect("list")
            .iter()
            .map(|e| e.offset)
            .collect();
        assert_eq!(offsets, vec![1]);
    }

    #[test]
    fn a_replay_resolves_or_counts_another_attempt() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = DlqStore::open(&dir.path().join("dlq.sqlite")).expect("open");
        let lane = LaneId::sanitized("a.jsonl");
        let replay = LaneId::sanitized("dlq~replay");
        s.stage(
            "p",
            &lane,
            Epoch(1),
            &[failed(1, "transform"), failed(2, "transform")],
        )
        .expect("stage");
        s.commit("p", &lane, Epoch(1)).expect("commit");
        s.stage(
            "p",
            &replay,
            Epoch(1),
            &[PendingOp::Resolve(id(1)), failed(2, "transform")],
        )
        .expect("stage");
        s.commit("p", &replay, Epoch(1)).expect("commit");
        let left = s.list(&DlqFilter::default(), None).expect("list");
        assert_eq!(left.len(), 1);
        assert_eq!((left[0].offset, left[0].attempts), (2, 2));
        // A fallback of the replay lane to before its epoch 1 brings entry 1 back.
        s.recover("p", &replay, Epoch::NONE).expect("recover");
        assert_eq!(s.depth("p").expect("depth"), 2);
        s.stage("p", &replay, Epoch(1), &[PendingOp::Resolve(id(1))])
            .expect("stage");
        s.commit("p", &replay, Epoch(1)).expect("commit");
        assert_eq!(
            s.forget_resolved("p", &replay, Epoch(1)).expect("forget"),
            1
        );
        assert_eq!(s.depth("p").expect("depth"), 1);
    }
}
