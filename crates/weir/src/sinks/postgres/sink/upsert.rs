//! Upsert mode: a plain COPY under a savepoint first, the staging table when a key exists.

use bytes::Bytes;

use super::super::error::PgError;
use super::super::sql;
use super::PgSink;

/// Upsert epochs written through the staging table after a plain COPY met an existing key.
pub(super) const SLOW_EPOCHS: u32 = 16;

impl PgSink {
    /// Upsert of the epoch inside the open transaction, then `COMMIT`. First optimistically
    /// as a plain `COPY` into the table under a savepoint (new keys only: as fast as a bulk
    /// load); when a key exists already (or twice in the epoch) that is rolled back and the
    /// rows go through the staging table: the last row of each key, `ON CONFLICT DO UPDATE`.
    /// After a conflict the next epochs take the staging path directly for a while.
    pub(super) async fn try_upsert(&mut self, copy: &str, pieces: &[Bytes]) -> Result<(), PgError> {
        if self.slow_epochs == 0 {
            self.exec("SAVEPOINT weir_plain").await?;
            match self.copy(copy, pieces).await {
                Ok(()) => return self.exec("COMMIT").await,
                Err(e) if e.sqlstate() == Some("23505") => {
                    self.exec("ROLLBACK TO SAVEPOINT weir_plain").await?;
                    self.slow_epochs = SLOW_EPOCHS;
                }
                Err(e) => return Err(e),
            }
        } else {
            self.slow_epochs -= 1;
        }
        self.upsert_staged(pieces).await
    }

    /// The staged half of an upsert: the rows through `weir_stage`, `ON CONFLICT DO UPDATE`,
    /// then `COMMIT`.
    pub(super) async fn upsert_staged(&mut self, pieces: &[Bytes]) -> Result<(), PgError> {
        let table = self.shared.table.clone();
        let staged = self.conn.as_ref().is_some_and(|c| c.staged);
        if !staged {
            self.exec(&sql::create_stage(&table)).await?;
        }
        let stage_copy = sql::copy_in(&sql::ident(sql::STAGE), &self.columns);
        self.copy(&stage_copy, pieces).await?;
        let finish = sql::upsert_from_stage(&table, &self.columns, &self.shared.plan.key);
        self.exec(&finish).await?;
        self.exec("COMMIT").await?;
        if let Some(c) = self.conn.as_mut() {
            c.staged = true;
        }
        Ok(())
    }
}
