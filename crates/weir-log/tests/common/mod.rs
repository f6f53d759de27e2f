//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use weir_log::{Log, LogConfig, Partition, Record, StartAt};

/// The value of test record `i`: its length varies so frames do not line up.
pub fn value(i: u64) -> Vec<u8> {
    let len = 20 + (i * 37 % 180) as usize;
    let mut v = format!("record-{i}-").into_bytes();
    v.resize(len, b'a' + (i % 26) as u8);
    v
}

/// A small-segment configuration, so a few hundred records make several segments.
pub fn small_segments() -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        index_interval_bytes: 256,
        ..LogConfig::default()
    }
}

/// Every visible record of a partition, from the first.
pub fn read_all(p: &Partition) -> Vec<Record> {
    let mut reader = p.reader(StartAt::Earliest).expect("reader");
    let mut out = Vec::new();
    loop {
        let batch = reader.read(1000, usize::MAX).expect("read");
        if batch.is_empty() {
            return out;
        }
        out.extend(batch);
    }
}

/// Partition 0 of `topic`.
pub fn partition(log: &Log, topic: &str) -> Partition {
    log.partition(topic, 0).expect("partition")
}

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a future to completion on this thread (the log's futures need no runtime).
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        thread::park();
    }
}
