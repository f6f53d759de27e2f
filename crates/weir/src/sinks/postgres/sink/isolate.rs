//! Finding the rows the database refuses.
//!
//! When writing an epoch fails on a data exception or a constraint violation (SQLSTATE class
//! 22 or 23), the rows are written again in a transaction of their own, range by range under
//! savepoints: a range that fails is rolled back and halved, down to single rows, which are the
//! refused ones. Ranges go in order, so the rows that stay are written exactly as they would
//! have been without the refused ones (an upsert keeps the last row of each key, a unique key
//! repeated later in the epoch is refused where it repeats). The transaction is then rolled
//! back: the lane writes the epoch again without the refused records (see
//! `runtime/refusal.rs`). With k refused rows among n this writes about n·log2(k) rows.

use std::ops::Range;

use super::super::error::PgError;
use super::super::sql;
use super::PgSink;
use crate::error::Classified;
use crate::sinks::Refusal;

/// Whether the error says a row is wrong, not the connection, the table or the protocol.
pub(super) fn is_data_error(e: &PgError) -> bool {
    e.sqlstate()
        .is_some_and(|c| c.starts_with("22") || c.starts_with("23"))
}

impl PgSink {
    /// The refused rows of the open epoch, found as the module doc says; none if the failure
    /// cannot be pinned on single rows (a deferred constraint, say).
    pub(super) async fn isolate(&mut self) -> Result<Vec<Refusal>, PgError> {
        let upsert = !self.transactional();
        self.exec("BEGIN").await?;
        if upsert && !self.conn.as_ref().is_some_and(|c| c.staged) {
            let table = self.shared.table.clone();
            self.exec(&sql::create_stage(&table)).await?;
        }
        let mut refused = Vec::new();
        let mut todo: Vec<Range<usize>> = Vec::new();
        todo.push(0..self.rows.len());
        while let Some(range) = todo.pop() {
            if range.is_empty() {
                continue;
            }
            self.exec("SAVEPOINT weir_isolate").await?;
            match self.write_range(range.clone(), upsert).await {
                Ok(()) => self.exec("RELEASE SAVEPOINT weir_isolate").await?,
                Err(e) if is_data_error(&e) => {
                    self.exec("ROLLBACK TO SAVEPOINT weir_isolate").await?;
                    if range.len() == 1 {
                        refused.push(Refusal {
                            id: self.rows.id(range.start).clone(),
                            code: e.code(),
                            message: e.to_string(),
                        });
                    } else {
                        let mid = range.start + range.len() / 2;
                        todo.push(mid..range.end);
                        todo.push(range.start..mid);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        // The staging table, if this created it, goes with the transaction: `staged` stays.
        self.exec("ROLLBACK").await?;
        Ok(refused)
    }

    /// Writes rows `range` inside the open transaction: a COPY into the table, or for an
    /// upsert through the staging table (emptied afterwards).
    async fn write_range(&mut self, range: Range<usize>, upsert: bool) -> Result<(), PgError> {
        let pieces = self.rows.pieces_of(range);
        if !upsert {
            let copy = sql::copy_in(&self.shared.table, &self.columns);
            return self.copy(&copy, &pieces).await;
        }
        let stage = sql::ident(sql::STAGE);
        let stage_copy = sql::copy_in(&stage, &self.columns);
        self.copy(&stage_copy, &pieces).await?;
        let finish =
            sql::upsert_from_stage(&self.shared.table, &self.columns, &self.shared.plan.key);
        self.exec(&finish).await?;
        self.exec(&format!("DELETE FROM {stage}")).await
    }
}
