//! Streaming an epoch's rows to the server while the lane is still reading: once the open
//! epoch has [`STREAM_AFTER`] bytes of rows, the sink begins its transaction and a `COPY ...
//! FROM STDIN` whose data a background task sends as the lane writes more; `precommit` sends
//! the rest and only has the short end of the epoch left to do. This overlaps the server's
//! work with the lane's reading and encoding.
//!
//! It is an optimistic fast path and nothing more: it starts only while the dependency's
//! breaker is closed, on a connection that is up, and for an epoch that has not failed yet. The
//! epoch's rows stay buffered in the sink, so when anything about the stream fails, the
//! connection is dropped and `precommit` writes the whole epoch again the normal way, through
//! the policy stack.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use futures_util::SinkExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_postgres::Client;

use super::error::PgError;
use crate::epoch::Epoch;

/// Bytes of rows in the open epoch before streaming starts (and the size of a piece).
pub(super) const STREAM_AFTER: usize = 256 * 1024;

/// Runs a client future under a timeout.
pub(super) async fn timed<T>(
    d: Duration,
    f: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, PgError> {
    match tokio::time::timeout(d, f).await {
        Ok(r) => r.map_err(PgError::from),
        Err(_) => Err(PgError::Timeout(d)),
    }
}

/// A `COPY` in progress for one epoch.
pub(super) struct Stream {
    /// The epoch it belongs to.
    pub epoch: Epoch,
    tx: Option<mpsc::Sender<Bytes>>,
    task: JoinHandle<Result<(), PgError>>,
    /// Bytes of the epoch's rows handed to the task.
    sent: usize,
    failed: bool,
}

impl Stream {
    /// Starts `COPY` (`statement`) on `client`, inside the transaction the caller began.
    pub(super) async fn start(
        client: &Client,
        statement: &str,
        epoch: Epoch,
        timeout: Duration,
    ) -> Result<Stream, PgError> {
        let sink = timed(timeout, client.copy_in::<_, Bytes>(statement)).await?;
        let (tx, mut rx) = mpsc::channel::<Bytes>(4);
        let task = tokio::spawn(async move {
            futures_util::pin_mut!(sink);
            while let Some(piece) = rx.recv().await {
                timed(timeout, sink.send(piece)).await?;
            }
            timed(timeout, sink.as_mut().finish()).await?;
            Ok(())
        });
        Ok(Stream {
            epoch,
            tx: Some(tx),
            task,
            sent: 0,
            failed: false,
        })
    }

    /// Hands the rows of `buf` not sent yet to the task, when there are at least `min` bytes.
    /// A stream whose task has failed takes nothing more (`finish` reports why).
    pub(super) async fn feed(&mut self, buf: &[u8], min: usize) {
        if self.failed || buf.len().saturating_sub(self.sent) < min.max(1) {
            return;
        }
        let piece = Bytes::copy_from_slice(&buf[self.sent..]);
        match &self.tx {
            Some(tx) if tx.send(piece).await.is_ok() => self.sent = buf.len(),
            _ => self.failed = true,
        }
    }

    /// Sends the rest of `buf` and waits for the `COPY` to end.
    pub(super) async fn finish(mut self, buf: &[u8]) -> Result<(), PgError> {
        self.feed(buf, 1).await;
        drop(self.tx.take());
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(PgError::Protocol(format!(
                "COPY task ended abnormally: {e}"
            ))),
        }
    }

    /// Gives up the stream (its transaction is rolled back when the connection is dropped).
    pub(super) fn abandon(self) {
        self.task.abort();
    }
}
