//! Liveness and readiness, shared between the runtime and the server.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::dependency::StateCell;

/// What `/health/*` reports.
#[derive(Debug, Default)]
pub struct Health {
    recovered: AtomicBool,
    failed: Mutex<Vec<String>>,
    /// `pipeline/dependency` and its breaker state.
    breakers: Mutex<Vec<(String, StateCell)>>,
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

    /// Watches a dependency's breaker: the process is not ready while it is open or half-open.
    pub fn watch_breaker(&self, pipeline: &str, dependency: &str, state: StateCell) {
        if let Ok(mut b) = self.breakers.lock() {
            b.push((format!("{pipeline}/{dependency}"), state));
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
        let mut why = Vec::new();
        if !failed.is_empty() {
            why.push(format!("failed pipelines: {}", failed.join(", ")));
        }
        let breakers: Vec<String> = self
            .breakers
            .lock()
            .map(|b| {
                b.iter()
                    .filter_map(|(name, cell)| match cell.load(Ordering::Acquire) {
                        2 => Some(format!("{name} (open)")),
                        1 => Some(format!("{name} (half-open)")),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        if !breakers.is_empty() {
            why.push(format!(
                "circuit breaker open, lanes paused: {}",
                breakers.join(", ")
            ));
        }
        if why.is_empty() {
            Ok(())
        } else {
            Err(why.join("; "))
        }
    }
}
