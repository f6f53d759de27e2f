//! Streaming the open epoch while the lane reads (see [`super::super::stream`]).

use super::super::error::PgError;
use super::super::sql;
use super::super::stream::Stream;
use super::PgSink;
use super::upsert::SLOW_EPOCHS;
use crate::epoch::Epoch;
use crate::policy::breaker::BreakerState;

impl PgSink {
    /// Whether the open epoch may be streamed (see [`super::stream`]).
    pub(super) fn may_stream(&self, epoch: Epoch) -> bool {
        self.tried != Some(epoch)
            && self.no_stream != Some(epoch)
            && (self.transactional() || self.slow_epochs == 0)
            && self.shared.dep.state() == BreakerState::Closed
            && self.conn.as_ref().is_some_and(|c| !c.client.is_closed())
    }

    pub(super) async fn start_stream(&mut self, epoch: Epoch) -> Result<(), PgError> {
        self.exec("BEGIN").await?;
        if !self.transactional() {
            self.exec("SAVEPOINT weir_plain").await?;
        }
        let copy = sql::copy_in(&self.shared.table, &self.columns);
        let t = self.timeout();
        let client = self.client().await?;
        self.stream = Some(Stream::start(client, &copy, epoch, t).await?);
        Ok(())
    }

    /// Ends a streamed epoch: the rest of its rows, then its end (prepare, or commit — or for
    /// an upsert that met an existing key, the staged path). Any failure leaves the epoch to
    /// the full path.
    pub(super) async fn finish_stream(
        &mut self,
        stream: Stream,
        epoch: Epoch,
    ) -> Result<(), PgError> {
        self.tried = Some(epoch);
        let copied = stream.finish(&self.rows.buf).await;
        if self.transactional() {
            copied?;
            return self.prepare_epoch(epoch).await;
        }
        match copied {
            Ok(()) => self.exec("COMMIT").await,
            Err(e) if e.sqlstate() == Some("23505") => {
                self.exec("ROLLBACK TO SAVEPOINT weir_plain").await?;
                self.slow_epochs = SLOW_EPOCHS;
                let pieces = self.rows.pieces();
                self.upsert_staged(&pieces).await
            }
            Err(e) => Err(e),
        }
    }
}
