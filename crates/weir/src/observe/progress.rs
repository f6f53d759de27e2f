//! Progress of bounded runs: a progress bar on a terminal, periodic log lines otherwise.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Counters the lanes update and the reporter reads.
#[derive(Debug, Default)]
pub struct Progress {
    total: AtomicU64,
    done: AtomicU64,
    records: AtomicU64,
}

impl Progress {
    /// Adds input of `bytes` to process.
    pub fn add_total(&self, bytes: u64) {
        self.total.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Marks `bytes` of input processed, holding `records` records.
    pub fn advance(&self, bytes: u64, records: u64) {
        self.done.fetch_add(bytes, Ordering::Relaxed);
        self.records.fetch_add(records, Ordering::Relaxed);
    }

    /// Takes back `bytes` and `records` marked processed: a lane reads them again.
    pub fn rewind(&self, bytes: u64, records: u64) {
        self.done.fetch_sub(bytes, Ordering::Relaxed);
        self.records.fetch_sub(records, Ordering::Relaxed);
    }

    fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.total.load(Ordering::Relaxed),
            self.done.load(Ordering::Relaxed),
            self.records.load(Ordering::Relaxed),
        )
    }
}

/// Reports progress until dropped.
pub struct Reporter {
    task: tokio::task::JoinHandle<()>,
    bar: Option<indicatif::ProgressBar>,
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Starts reporting on `progress`: a bar when stderr is a terminal, otherwise a log line every
/// `every`.
#[must_use]
pub fn start(progress: Arc<Progress>, every: Duration) -> Reporter {
    if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let b = bar.clone();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            loop {
                let (total, done, records) = progress.snapshot();
                b.set_length(total);
                b.set_position(done);
                let rate = records as f64 / started.elapsed().as_secs_f64().max(1e-3);
                b.set_message(format!("{records} records, {rate:.0}/s"));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        Reporter {
            task,
            bar: Some(bar),
        }
    } else {
        let task = tokio::spawn(async move {
            let started = Instant::now();
            loop {
                tokio::time::sleep(every).await;
                let (total, done, records) = progress.snapshot();
                let pct = if total == 0 {
                    100.0
                } else {
                    done as f64 * 100.0 / total as f64
                };
                let rate = records as f64 / started.elapsed().as_secs_f64().max(1e-3);
                tracing::info!(
                    "progress: {pct:.1}% of input ({done}/{total} bytes), {records} records, {rate:.0} records/s"
                );
            }
        });
        Reporter { task, bar: None }
    }
}
