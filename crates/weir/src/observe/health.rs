//! Liveness and readiness, shared between the runtime and the server.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// What `/health/*` reports.
#[derive(Debug, Default)]
pub struct Health {
    recovered: AtomicBool,
    failed: Mutex<Vec<String>>,
}

impl Health {
    /// Marks recovery as done: the process is ready.
    pub fn set_recovered(&self) {
        self.recovered.store(true, Ordering::Release);
    }

    /// Records a failed pipeline: the process is no longer ready.
    pub fn set_failed(&self, pipeline: &str) {
        if let Ok(mut f) = self.failed.lock() {
            f.push(pipeline.to_owned());
        }
    }

    /// `Ok` when ready, otherwise why not.
    ///
    /// # Errors
    /// The reason the process is not ready.
    pub fn ready(&self) -> Result<(), String> {
        if !self.recovered.load(Ordering::Acquire) {
            return Err("recovering: lanes are being restored from their checkpoints".to_owned());
        }
        let failed = self.failed.lock().map(|f| f.clone()).unwrap_or_default();
        if failed.is_empty() {
            Ok(())
        } else {
            Err(format!("failed pipelines: {}", failed.join(", ")))
        }
    }
}
