//! Transactional mode's bookkeeping: the lane's position in `weir_epochs`, prepared
//! transactions, and their resolution on recovery.

use super::super::error::PgError;
use super::super::sql;
use super::super::stream::timed;
use super::PgSink;
use crate::epoch::Epoch;

/// Bookkeeping rows older than this many epochs are pruned.
const KEEP_EPOCHS: i64 = 100;

impl PgSink {
    pub(super) async fn try_position(&mut self) -> Result<Option<(Epoch, u64)>, PgError> {
        self.try_prepare_schema().await?;
        let t = self.timeout();
        let stmt = format!(
            "SELECT epoch, next_offset FROM {} WHERE pipeline = $1 AND sink = $2 AND lane = $3 ORDER BY epoch DESC LIMIT 1",
            self.shared.epochs
        );
        let (p, s, l) = self.keys();
        let client = self.client().await?;
        let row = timed(t, client.query_opt(&stmt, &[&p, &s, &l])).await?;
        Ok(row.map(|r| {
            let e: i64 = r.get(0);
            let o: i64 = r.get(1);
            (Epoch(e.max(0) as u64), o.max(0) as u64)
        }))
    }

    pub(super) async fn prepared(&mut self) -> Result<Vec<(Epoch, String)>, PgError> {
        let t = self.timeout();
        let tag = self.tag.clone();
        let client = self.client().await?;
        let rows = timed(
            t,
            client.query(
                "SELECT gid FROM pg_catalog.pg_prepared_xacts WHERE database = current_database() AND left(gid, length($1)) = $1",
                &[&tag],
            ),
        )
        .await?;
        let mut out = Vec::new();
        for r in rows {
            let gid: String = r.get(0);
            if let Some(e) = gid.strip_prefix(&tag).and_then(|e| e.parse().ok()) {
                out.push((Epoch(e), gid));
            }
        }
        out.sort();
        Ok(out)
    }

    pub(super) async fn try_recover(&mut self, committed: Epoch) -> Result<(), PgError> {
        self.try_prepare_schema().await?;
        if !self.transactional() {
            return Ok(());
        }
        for (epoch, gid) in self.prepared().await? {
            let verb = if epoch <= committed {
                "COMMIT"
            } else {
                "ROLLBACK"
            };
            tracing::info!(pipeline = %self.shared.pipeline, sink = %self.shared.plan.name, lane = %self.lane,
                epoch = epoch.0, committed = committed.0, "postgres recovery: {verb} PREPARED of epoch {}", epoch.0);
            self.exec(&format!("{verb} PREPARED {}", sql::literal(&gid)))
                .await?;
        }
        Ok(())
    }

    /// Ends a transactional epoch whose rows are in the open transaction: its bookkeeping row,
    /// then `PREPARE TRANSACTION`.
    pub(super) async fn prepare_epoch(&mut self, epoch: Epoch) -> Result<(), PgError> {
        let t = self.timeout();
        let offset = match self.next_offset {
            Some((e, o)) if e == epoch => o,
            _ => {
                return Err(PgError::Protocol(format!(
                    "epoch {epoch} precommitted without its end offset"
                )));
            }
        };
        let (p, s, l) = self.keys();
        let e = epoch.0 as i64;
        let o = offset as i64;
        let insert = format!(
            "INSERT INTO {} (pipeline, sink, lane, epoch, next_offset) VALUES ($1, $2, $3, $4, $5)",
            self.shared.epochs
        );
        let prune = format!(
            "DELETE FROM {} WHERE pipeline = $1 AND sink = $2 AND lane = $3 AND epoch < $4",
            self.shared.epochs
        );
        let client = self.client().await?;
        timed(t, client.execute(&insert, &[&p, &s, &l, &e, &o])).await?;
        let old = e - KEEP_EPOCHS;
        timed(t, client.execute(&prune, &[&p, &s, &l, &old])).await?;
        let gid = self.gid(epoch);
        self.exec(&format!("PREPARE TRANSACTION {}", sql::literal(&gid)))
            .await
    }

    pub(super) async fn try_commit(&mut self, epoch: Epoch) -> Result<(), PgError> {
        let gid = self.gid(epoch);
        match self
            .exec(&format!("COMMIT PREPARED {}", sql::literal(&gid)))
            .await
        {
            Err(e) if e.sqlstate() == Some("42704") => {
                // Not prepared (any more): committed already if its bookkeeping row is there.
                let t = self.timeout();
                let stmt = format!(
                    "SELECT 1 FROM {} WHERE pipeline = $1 AND sink = $2 AND lane = $3 AND epoch = $4",
                    self.shared.epochs
                );
                let (p, s, l) = self.keys();
                let ep = epoch.0 as i64;
                let client = self.client().await?;
                let found = timed(t, client.query_opt(&stmt, &[&p, &s, &l, &ep])).await?;
                if found.is_some() {
                    Ok(())
                } else {
                    Err(PgError::Protocol(format!(
                        "epoch {epoch} of lane {} is neither prepared nor committed in PostgreSQL",
                        self.lane
                    )))
                }
            }
            r => r,
        }
    }
}
