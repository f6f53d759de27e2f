//! The acknowledgement of an append or a request to the writer: waited on by a blocking caller
//! (condvar) or awaited by an async one (waker), whichever runtime it runs on.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, Result};

#[derive(Debug, Default)]
struct State {
    result: Option<Result<()>>,
    waker: Option<Waker>,
}

/// Completed once by the writer thread; waited on by the caller.
#[derive(Debug, Default)]
pub(crate) struct Completion {
    state: Mutex<State>,
    cv: Condvar,
}

impl Completion {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A completion that is complete already.
    pub fn done(result: Result<()>) -> Arc<Self> {
        let c = Self::new();
        c.complete(result);
        c
    }

    pub fn complete(&self, result: Result<()>) {
        let waker = {
            let mut s = self.state.lock();
            s.result = Some(result);
            s.waker.take()
        };
        self.cv.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Blocks until complete.
    pub fn wait(&self) -> Result<()> {
        let mut s = self.state.lock();
        loop {
            if let Some(r) = s.result.take() {
                return r;
            }
            self.cv.wait(&mut s);
        }
    }

    fn poll(&self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let mut s = self.state.lock();
        match s.result.take() {
            Some(r) => Poll::Ready(r),
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// Offsets given to the records of one append: `first_offset..next_offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendAck {
    /// Offset of the first record.
    pub first_offset: u64,
    /// Offset after the last record.
    pub next_offset: u64,
}

/// Resolves when an append is acknowledged (durable under `Fsync::Always`). The records are
/// queued when the future is created: dropping it does not cancel the append. Works on any
/// async runtime; it is woken by the log's writer thread.
#[derive(Debug)]
#[must_use = "the append is queued, but its acknowledgement or error is in the future"]
pub struct AppendFuture {
    state: Result<(AppendAck, Arc<Completion>), Option<Error>>,
}

impl AppendFuture {
    pub(crate) fn queued(ack: AppendAck, completion: Arc<Completion>) -> Self {
        Self {
            state: Ok((ack, completion)),
        }
    }

    pub(crate) fn failed(err: Error) -> Self {
        Self {
            state: Err(Some(err)),
        }
    }

    /// Blocks the current thread until the append is acknowledged.
    ///
    /// # Errors
    /// As [`Partition::append`](crate::Partition::append).
    pub fn wait(self) -> Result<AppendAck> {
        match self.state {
            Ok((ack, c)) => c.wait().map(|()| ack),
            Err(e) => Err(e.unwrap_or(Error::Closed)),
        }
    }
}

impl Future for AppendFuture {
    type Output = Result<AppendAck>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().state {
            Ok((ack, c)) => c.poll(cx).map(|r| r.map(|()| *ack)),
            Err(e) => Poll::Ready(Err(e.take().unwrap_or(Error::Closed))),
        }
    }
}
